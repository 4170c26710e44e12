"""seqlib.attention: scaled dot-product attention, masks and MultiheadAttention equal torch's."""

from __future__ import annotations

import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import seqlib
from seqlib.attention import (
    MultiheadAttention,
    causal_mask,
    combine_masks,
    padding_mask,
    scaled_dot_product_attention,
    state_dict_from_torch,
    state_dict_to_torch,
)

DOUBLE = torch.float64
TIGHT = {"atol": 1e-10, "rtol": 1e-9}


def _randn(*shape: int, grad: bool = False) -> torch.Tensor:
    return torch.randn(*shape, dtype=DOUBLE, requires_grad=grad)


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


# --- masks ----------------------------------------------------------------------------------------


def test_causal_mask_blocks_exactly_the_future() -> None:
    mask = causal_mask(4)
    assert mask.dtype == torch.bool
    assert mask.tolist() == [[False, True, True, True], [False, False, True, True],
                             [False, False, False, True], [False, False, False, False]]


@pytest.mark.parametrize("size", [1, 5, 17])
def test_causal_mask_equals_generate_square_subsequent_mask(size: int) -> None:
    theirs = nn.Transformer.generate_square_subsequent_mask(size)
    assert torch.equal(causal_mask(size, dtype=torch.float32), theirs)
    assert torch.equal(causal_mask(size), torch.isinf(theirs))
    assert torch.equal(seqlib.Transformer.generate_square_subsequent_mask(size), theirs)


def test_padding_mask_is_true_at_padding() -> None:
    mask = padding_mask(torch.tensor([3, 1, 4]), max_len=5)
    assert mask.shape == (3, 5)
    assert mask.tolist() == [[False, False, False, True, True], [False, True, True, True, True],
                             [False, False, False, False, True]]
    assert padding_mask([2, 2]).shape == (2, 2)


def test_combine_masks_ors_bools_and_adds_floats() -> None:
    attn = causal_mask(3)  # (T, S)
    keys = padding_mask([3, 2])  # (B, S)
    combined = combine_masks(attn, keys)
    assert combined.shape == (2, 1, 3, 3) and combined.dtype == torch.bool
    assert torch.equal(combined[1, 0], attn | keys[1])
    as_float = combine_masks(causal_mask(3, dtype=DOUBLE), keys)
    assert as_float.dtype == DOUBLE
    assert torch.equal(torch.isneginf(as_float), combined)
    assert combine_masks(None, None) is None
    assert combine_masks(attn, None) is attn


# --- scaled dot-product attention -----------------------------------------------------------------


def _mask_cases(B: int, T: int, S: int) -> dict[str, dict]:
    lengths = torch.tensor([S, S - 2, 1][:B])
    return {
        "none": {},
        "causal bool": {"attn_mask": causal_mask(S)[-T:]},
        "float": {"attn_mask": torch.randn(T, S, dtype=DOUBLE)},
        "padding": {"key_padding_mask": padding_mask(lengths, S)},
        "causal + padding": {"attn_mask": causal_mask(S)[-T:], "key_padding_mask": padding_mask(lengths, S)},
        # random blocks, but the diagonal stays open: no fully masked row (torch gives NaN there)
        "per batch and head": {"attn_mask": (torch.rand(B, 1, T, S) < 0.3) & ~torch.eye(T, S, dtype=torch.bool)},
    }


@pytest.mark.parametrize("case", list(_mask_cases(3, 4, 6)))
def test_sdpa_equals_torch_functional_with_polarity_converted(case: str) -> None:
    B, heads, T, S, d_k, d_v = 3, 2, 4, 6, 5, 7
    q = _randn(B, heads, T, d_k, grad=True)
    k, v = _randn(B, heads, S, d_k, grad=True), _randn(B, heads, S, d_v, grad=True)
    masks = _mask_cases(B, T, S)[case]
    ours = scaled_dot_product_attention(q, k, v, **masks)
    # torch's functional form takes one mask, bool True = MAY attend: merge, then invert bools
    merged = combine_masks(masks.get("attn_mask"), masks.get("key_padding_mask"))
    if merged is not None and merged.dtype == torch.bool:
        merged = merged.logical_not()
    theirs = F.scaled_dot_product_attention(q, k, v, attn_mask=merged)
    torch.testing.assert_close(ours, theirs, **TIGHT)
    grads_ours = torch.autograd.grad(ours.square().sum(), (q, k, v))
    grads_theirs = torch.autograd.grad(theirs.square().sum(), (q, k, v))
    for a, b in zip(grads_ours, grads_theirs, strict=True):
        torch.testing.assert_close(a, b, **TIGHT)


def test_bool_mask_polarity_is_torch_nn_not_torch_functional() -> None:
    """seqlib (and nn.MultiheadAttention): True = blocked; F.scaled_dot_product_attention: True = allowed."""
    q, k = _randn(1, 4, 3), _randn(1, 4, 3)
    identity = torch.eye(4, dtype=DOUBLE).unsqueeze(0)  # with v = I the output *is* the weights
    mask = causal_mask(4)
    ours = scaled_dot_product_attention(q, k, identity, attn_mask=mask)
    assert torch.equal(ours[0, 0], torch.tensor([1.0, 0, 0, 0], dtype=DOUBLE)), "query 0 sees only key 0"
    torch.testing.assert_close(ours, F.scaled_dot_product_attention(q, k, identity, attn_mask=~mask), **TIGHT)
    torch.testing.assert_close(ours, F.scaled_dot_product_attention(q, k, identity, is_causal=True), **TIGHT)
    # the same bool tensor, unconverted, means the opposite there: query 0 sees keys 1..3, not 0
    theirs = F.scaled_dot_product_attention(q, k, identity, attn_mask=mask)
    assert theirs[0, 0, 0] == 0 and theirs[0, 0, 1:].gt(0).all()


def test_float_mask_is_added_to_the_scaled_scores() -> None:
    q, k, v = _randn(2, 3, 4), _randn(2, 5, 4), _randn(2, 5, 2)
    bias = _randn(3, 5)
    _, trace = scaled_dot_product_attention(q, k, v, attn_mask=bias, return_trace=True)
    torch.testing.assert_close(trace.masked_scores, trace.scaled_scores + bias)


def test_trace_names_every_step() -> None:
    q, k, v = _randn(2, 3, 4, 8), _randn(2, 3, 6, 8), _randn(2, 3, 6, 5)
    mask = padding_mask([6, 3])
    output, trace = scaled_dot_product_attention(q, k, v, key_padding_mask=mask, return_trace=True)
    torch.testing.assert_close(trace.scores, q @ k.transpose(-2, -1))
    torch.testing.assert_close(trace.scaled_scores, trace.scores / 8**0.5)
    torch.testing.assert_close(trace.weights, torch.softmax(trace.masked_scores, dim=-1))
    torch.testing.assert_close(trace.output, trace.weights @ v)
    assert output is trace.output
    assert trace.weights.shape == (2, 3, 4, 6) and output.shape == (2, 3, 4, 5)
    torch.testing.assert_close(trace.weights.sum(-1), torch.ones(2, 3, 4, dtype=DOUBLE))
    assert torch.equal(trace.weights[1, :, :, 3:], torch.zeros(3, 4, 3, dtype=DOUBLE)), "exactly 0"
    assert torch.isneginf(trace.masked_scores[1, :, :, 3:]).all()


def test_explicit_scale_replaces_one_over_sqrt_dk() -> None:
    q, k, v = _randn(3, 4), _randn(5, 4), _randn(5, 2)
    ours = scaled_dot_product_attention(q, k, v, scale=0.7)
    torch.testing.assert_close(ours, F.scaled_dot_product_attention(q, k, v, scale=0.7), **TIGHT)


def test_default_call_returns_only_the_output() -> None:
    q = _randn(2, 3, 4)
    assert isinstance(scaled_dot_product_attention(q, q, q), torch.Tensor)


# --- fully masked rows ----------------------------------------------------------------------------


def test_fully_masked_query_gets_zero_weights_zero_output_and_finite_gradients() -> None:
    q, k, v = _randn(2, 3, 4, grad=True), _randn(2, 5, 4, grad=True), _randn(2, 5, 6, grad=True)
    mask = torch.zeros(3, 5, dtype=torch.bool)
    mask[1] = True  # query 1 may attend to nothing
    for attn_mask in (mask, torch.zeros(3, 5, dtype=DOUBLE).masked_fill(mask, float("-inf"))):
        output, trace = scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, return_trace=True)
        assert torch.equal(trace.weights[:, 1], torch.zeros(2, 5, dtype=DOUBLE))
        assert torch.equal(output[:, 1], torch.zeros(2, 6, dtype=DOUBLE))
        torch.testing.assert_close(trace.weights[:, [0, 2]].sum(-1), torch.ones(2, 2, dtype=DOUBLE))
        grads = torch.autograd.grad(output.sum(), (q, k, v))
        assert all(torch.isfinite(g).all() for g in grads)
        assert torch.equal(grads[0][:, 1], torch.zeros(2, 4, dtype=DOUBLE)), "blocked query gets no gradient"


def test_fully_padded_sequence_puts_no_nan_into_multihead_attention() -> None:
    mha = MultiheadAttention(8, 2, batch_first=True, dtype=DOUBLE)
    x = _randn(2, 4, 8, grad=True)
    all_padding = torch.tensor([[False] * 4, [True] * 4])
    output, weights = mha(x, x, x, key_padding_mask=all_padding)
    assert torch.isfinite(output).all() and torch.equal(weights[1], torch.zeros(4, 4, dtype=DOUBLE))
    torch.testing.assert_close(output[1], mha.out_proj.bias.expand(4, 8))  # zero attention, then W^O + b
    output.sum().backward()
    assert torch.isfinite(x.grad).all() and all(torch.isfinite(p.grad).all() for p in mha.parameters())


def test_torch_gives_nan_where_seqlib_gives_zero() -> None:
    """Why seqlib defines the fully masked row: torch.nn's explicit path returns NaN weights."""
    theirs = nn.MultiheadAttention(4, 1, batch_first=True)
    x = torch.randn(1, 3, 4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, their_weights = theirs(x, x, x, key_padding_mask=torch.ones(1, 3, dtype=torch.bool))
    assert torch.isnan(their_weights).all()
    _, our_weights = MultiheadAttention.from_torch(theirs)(x, x, x, key_padding_mask=torch.ones(1, 3, dtype=torch.bool))
    assert torch.equal(our_weights, torch.zeros(1, 3, 3))


# --- MultiheadAttention parity --------------------------------------------------------------------


def _inputs(B: int, T: int, S: int, E: int, kdim: int, vdim: int, batch_first: bool) -> tuple[torch.Tensor, ...]:
    def make(length: int, features: int) -> torch.Tensor:
        shape = (B, length, features) if batch_first else (length, B, features)
        return _randn(*shape, grad=True)
    return make(T, E), make(S, kdim), make(S, vdim)


def _mha_masks(name: str, B: int, heads: int, T: int, S: int) -> dict:
    lengths = torch.tensor([S, S - 1, S - 3])[:B]
    return {
        "none": {},
        "causal": {"attn_mask": causal_mask(S)[-T:]},
        "float": {"attn_mask": _randn(T, S)},
        "padding": {"key_padding_mask": padding_mask(lengths, S)},
        "causal + padding": {"attn_mask": causal_mask(S)[-T:], "key_padding_mask": padding_mask(lengths, S)},
        "float + float padding": {"attn_mask": _randn(T, S),
                                  "key_padding_mask": torch.zeros(B, S, dtype=DOUBLE).masked_fill(
                                      padding_mask(lengths, S), float("-inf"))},
        "per head 3-D": {"attn_mask": (torch.rand(B * heads, T, S) < 0.3) & ~torch.eye(T, S, dtype=torch.bool)},
    }[name]


MASKS = ["none", "causal", "float", "padding", "causal + padding", "float + float padding", "per head 3-D"]


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("kdim", [None, 6])
@pytest.mark.parametrize("mask", MASKS)
def test_multihead_attention_matches_torch(batch_first: bool, kdim: int | None, mask: str) -> None:
    B, T, S, E, heads = 3, 4, 5, 8, 2
    theirs = nn.MultiheadAttention(E, heads, kdim=kdim, vdim=kdim and kdim + 1, batch_first=batch_first,
                                   dtype=DOUBLE)
    nn.init.normal_(theirs.in_proj_bias) if theirs.in_proj_bias is not None else None
    nn.init.normal_(theirs.out_proj.bias)
    ours = MultiheadAttention.from_torch(theirs)
    query, key, value = _inputs(B, T, S, E, ours.kdim, ours.vdim, batch_first)
    masks = _mha_masks(mask, B, heads, T, S)
    for average in (True, False):
        out_t, w_t = theirs(query, key, value, average_attn_weights=average, **masks)
        out_o, w_o = ours(query, key, value, average_attn_weights=average, **masks)
        torch.testing.assert_close(out_o, out_t, **TIGHT)
        torch.testing.assert_close(w_o, w_t, **TIGHT)
    assert w_o.shape == (B, heads, T, S)
    grads_t = torch.autograd.grad(out_t.square().sum(), (query, key, value, *theirs.parameters()))
    grads_o = torch.autograd.grad(out_o.square().sum(), (query, key, value, *ours.parameters()))
    for a, b in zip(grads_o[:3], grads_t[:3], strict=True):
        torch.testing.assert_close(a, b, **TIGHT)
    their_param_grads = dict(zip([n for n, _ in theirs.named_parameters()], grads_t[3:], strict=True))
    our_param_grads = dict(zip([n for n, _ in ours.named_parameters()], grads_o[3:], strict=True))
    for name, grad in state_dict_from_torch(their_param_grads).items():
        torch.testing.assert_close(our_param_grads[name], grad, **TIGHT)


def test_multihead_attention_need_weights_false_and_unbatched() -> None:
    theirs = nn.MultiheadAttention(8, 4, dtype=DOUBLE)
    ours = MultiheadAttention.from_torch(theirs)
    x, mem = _randn(5, 8), _randn(7, 8)
    out, weights = ours(x, mem, mem, need_weights=False)
    assert weights is None
    torch.testing.assert_close(out, theirs(x, mem, mem, need_weights=False)[0], **TIGHT)
    out, weights = ours(x, mem, mem, key_padding_mask=padding_mask([5], 7)[0], average_attn_weights=False)
    out_t, weights_t = theirs(x, mem, mem, key_padding_mask=padding_mask([5], 7)[0], average_attn_weights=False)
    assert weights.shape == (4, 5, 7)
    torch.testing.assert_close(out, out_t, **TIGHT)
    torch.testing.assert_close(weights, weights_t, **TIGHT)


def test_multihead_attention_in_float32_and_without_bias() -> None:
    theirs = nn.MultiheadAttention(16, 4, bias=False, batch_first=True)
    ours = MultiheadAttention.from_torch(theirs)
    assert ours.q_proj.bias is None and ours.out_proj.bias is None
    x = torch.randn(2, 6, 16)
    mask = causal_mask(6)
    torch.testing.assert_close(ours(x, x, x, attn_mask=mask)[0], theirs(x, x, x, attn_mask=mask)[0])


def test_is_causal_without_mask_builds_the_causal_mask() -> None:
    ours = MultiheadAttention(8, 2, batch_first=True, dtype=DOUBLE)
    x = _randn(2, 5, 8)
    with_flag = ours(x, x, x, is_causal=True)
    with_mask = ours(x, x, x, attn_mask=causal_mask(5))
    torch.testing.assert_close(with_flag[0], with_mask[0], **TIGHT)
    torch.testing.assert_close(with_flag[1], with_mask[1], **TIGHT)


def test_eval_mode_turns_attention_dropout_off() -> None:
    theirs = nn.MultiheadAttention(8, 2, dropout=0.5, dtype=DOUBLE).eval()
    ours = MultiheadAttention.from_torch(theirs)
    assert not ours.training and ours.dropout == 0.5
    x = _randn(4, 2, 8)
    torch.testing.assert_close(ours(x, x, x)[0], theirs(x, x, x)[0], **TIGHT)
    ours.train()
    _, weights, trace = ours(x, x, x, average_attn_weights=False, return_trace=True)
    assert (trace.weights == 0).any() and torch.equal(weights, trace.weights), "dropped weights are returned"


# --- trace and state_dict -------------------------------------------------------------------------


@pytest.mark.parametrize("batch_first", [False, True])
def test_multihead_trace_has_per_head_steps(batch_first: bool) -> None:
    B, T, S, E, heads = 2, 3, 4, 12, 3
    ours = MultiheadAttention(E, heads, batch_first=batch_first, dtype=DOUBLE)
    query, key, value = _inputs(B, T, S, E, E, E, batch_first)
    output, weights, trace = ours(query, key, value, key_padding_mask=padding_mask([4, 2]), return_trace=True)
    assert trace.q.shape == (B, heads, T, E // heads)
    assert trace.k.shape == trace.v.shape == (B, heads, S, E // heads)
    for field in (trace.scores, trace.scaled_scores, trace.masked_scores, trace.weights):
        assert field.shape == (B, heads, T, S)
    assert trace.head_outputs.shape == (B, heads, T, E // heads)
    torch.testing.assert_close(trace.weights.mean(dim=1), weights)
    torch.testing.assert_close(trace.weights.sum(-1), torch.ones(B, heads, T, dtype=DOUBLE))
    assert torch.equal(trace.weights[1, :, :, 2:], torch.zeros(heads, T, 2, dtype=DOUBLE))
    # the q of head 0 is the first d_head output features of q_proj
    seq_first_query = query if not batch_first else query.transpose(0, 1)
    torch.testing.assert_close(trace.q[:, 0], ours.q_proj(seq_first_query)[..., : E // heads].transpose(0, 1))
    # the trace reproduces the output: concat heads, then W^O
    concat = trace.head_outputs.transpose(1, 2).reshape(B, T, E)
    expected = ours.out_proj(concat)
    torch.testing.assert_close(output if batch_first else output.transpose(0, 1), expected)
    assert len(ours(query, key, value)) == 2, "no trace unless asked"


def test_state_dict_converts_both_ways() -> None:
    for kdim in (None, 5):
        theirs = nn.MultiheadAttention(8, 2, kdim=kdim, vdim=kdim)
        converted = state_dict_from_torch(theirs.state_dict())
        assert set(converted) == {f"{p}.{t}" for p in ("q_proj", "k_proj", "v_proj", "out_proj")
                                  for t in ("weight", "bias")}
        back = state_dict_to_torch(MultiheadAttention.from_torch(theirs).state_dict())
        assert back.keys() == theirs.state_dict().keys()
        for name, tensor in theirs.state_dict().items():
            assert torch.equal(back[name], tensor)
        assert torch.equal(MultiheadAttention.from_torch(theirs).to_torch().in_proj_bias, theirs.in_proj_bias)
    theirs = nn.MultiheadAttention(8, 2)
    assert torch.equal(converted_q := state_dict_from_torch(theirs.state_dict())["q_proj.weight"],
                       theirs.in_proj_weight[:8])
    assert converted_q.shape == (8, 8)


def test_init_matches_torch_distribution() -> None:
    ours = MultiheadAttention(64, 4)
    bound = (6 / (64 + 3 * 64)) ** 0.5  # torch draws the packed (3E, E) weight
    for proj in (ours.q_proj, ours.k_proj, ours.v_proj):
        assert proj.weight.abs().max() <= bound and proj.weight.abs().max() > 0.9 * bound
        assert torch.equal(proj.bias, torch.zeros(64))
    assert torch.equal(ours.out_proj.bias, torch.zeros(64))


def test_top_level_exports_the_torch_nn_mirrors_and_the_masks() -> None:
    for name in ("scaled_dot_product_attention", "causal_mask", "padding_mask", "combine_masks",
                 "MultiheadAttention"):
        assert hasattr(seqlib, name) and name in seqlib.__all__
    for name in ("AttentionTrace", "MultiheadAttentionTrace"):  # named results stay in their topic module
        assert hasattr(seqlib.attention, name) and name not in seqlib.__all__


def test_self_attention_packed_projection_equals_three_projections() -> None:
    ours = MultiheadAttention(12, 3, batch_first=True, dtype=DOUBLE)
    nn.init.normal_(ours.k_proj.bias)
    x = _randn(2, 5, 12, grad=True)
    packed = ours(x, x, x, attn_mask=causal_mask(5), return_trace=True)  # one tensor: one stacked matmul
    separate = ours(x, x.clone(), x.clone(), attn_mask=causal_mask(5), return_trace=True)
    for a, b in zip((packed[0], packed[1], *packed[2]), (separate[0], separate[1], *separate[2]), strict=True):
        torch.testing.assert_close(a, b, **TIGHT)
    grads_packed = torch.autograd.grad(packed[0].sum(), (x, *ours.parameters()))
    grads_separate = torch.autograd.grad(separate[0].sum(), (x, *ours.parameters()))
    for a, b in zip(grads_packed, grads_separate, strict=True):
        torch.testing.assert_close(a, b, **TIGHT)


def test_padding_mask_from_token_ids_equals_the_one_from_lengths() -> None:
    tokens = torch.tensor([[5, 6, 0, 0], [7, 0, 0, 0], [1, 2, 3, 4]])
    torch.testing.assert_close(padding_mask(tokens=tokens, pad_id=0), padding_mask([2, 1, 4], 4))
    with pytest.raises(ValueError, match="not both"):
        padding_mask([2, 1, 4], tokens=tokens, pad_id=0)
    with pytest.raises(ValueError, match="tokens and pad_id"):
        padding_mask(tokens=tokens)

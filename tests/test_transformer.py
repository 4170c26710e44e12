"""seqlib.transformer: layers, stacks and Transformer equal torch.nn's (eval mode, dropout off)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from seqlib.attention import causal_mask, padding_mask, state_dict_from_torch
from seqlib.transformer import (
    LayerNorm,
    Transformer,
    TransformerDecoder,
    TransformerDecoderLayer,
    TransformerEncoder,
    TransformerEncoderLayer,
)

pytestmark = pytest.mark.filterwarnings("ignore:enable_nested_tensor is True")

DOUBLE = torch.float64
TIGHT = {"atol": 1e-9, "rtol": 1e-7}
D, NHEAD, FF, B, S, T = 8, 2, 16, 3, 6, 5


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def _seq(length: int, batch_first: bool, grad: bool = True) -> torch.Tensor:
    shape = (B, length, D) if batch_first else (length, B, D)
    return torch.randn(*shape, dtype=DOUBLE, requires_grad=grad)


def _randomize(module: nn.Module) -> nn.Module:
    """Non-trivial biases and LayerNorm affine parameters, so that every parameter is tested."""
    with torch.no_grad():
        for p in module.parameters():
            if p.dim() == 1:
                p.add_(0.1 * torch.randn_like(p))
    return module.eval()


def _assert_same_outputs_and_grads(ours: nn.Module, theirs: nn.Module, inputs: tuple[torch.Tensor, ...],
                                   out_ours: torch.Tensor, out_theirs: torch.Tensor) -> None:
    torch.testing.assert_close(out_ours, out_theirs, **TIGHT)
    their_params = dict(theirs.named_parameters())
    our_params = dict(ours.named_parameters())
    grads_t = torch.autograd.grad(out_theirs.square().sum(), (*inputs, *their_params.values()))
    grads_o = torch.autograd.grad(out_ours.square().sum(), (*inputs, *our_params.values()))
    for a, b in zip(grads_o[: len(inputs)], grads_t[: len(inputs)], strict=True):
        torch.testing.assert_close(a, b, **TIGHT)
    their_param_grads = state_dict_from_torch(dict(zip(their_params, grads_t[len(inputs):], strict=True)))
    our_param_grads = dict(zip(our_params, grads_o[len(inputs):], strict=True))
    assert their_param_grads.keys() == our_param_grads.keys()
    for name, grad in their_param_grads.items():
        torch.testing.assert_close(our_param_grads[name], grad, **TIGHT, msg=lambda m, n=name: f"{n}: {m}")


def _capture_weights(attention: nn.MultiheadAttention, store: list) -> None:
    """Records torch's per-head weights for every call (torch's layers ask for none)."""
    def hook(module: nn.MultiheadAttention, args: tuple, kwargs: dict) -> None:
        kwargs = {**kwargs, "need_weights": True, "average_attn_weights": False, "is_causal": False}
        with torch.no_grad():
            weights = nn.MultiheadAttention.forward(module, *args, **kwargs)[1]
        store.append(weights)
    attention.register_forward_pre_hook(hook, with_kwargs=True)


def _masks(name: str, length: int) -> dict:
    lengths = torch.tensor([length, length - 2, 2])
    return {
        "none": {},
        "causal": {"mask": causal_mask(length)},
        "padding": {"padding": padding_mask(lengths, length)},
        "causal + padding": {"mask": causal_mask(length), "padding": padding_mask(lengths, length)},
    }[name]


# --- LayerNorm ------------------------------------------------------------------------------------


@pytest.mark.parametrize("bias", [True, False])
def test_layer_norm_equals_torch(bias: bool) -> None:
    theirs = _randomize(nn.LayerNorm(D, eps=1e-3, bias=bias, dtype=DOUBLE))
    nn.init.normal_(theirs.weight)
    ours = LayerNorm.from_torch(theirs)
    x = torch.randn(4, 3, D, dtype=DOUBLE, requires_grad=True)
    _assert_same_outputs_and_grads(ours, theirs, (x,), ours(x), theirs(x))
    assert torch.equal(ours.to_torch().weight, theirs.weight)


# --- encoder layer --------------------------------------------------------------------------------


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("mask", ["none", "causal", "padding", "causal + padding"])
def test_encoder_layer_matches_torch(norm_first: bool, activation: str, batch_first: bool, mask: str) -> None:
    theirs = _randomize(nn.TransformerEncoderLayer(D, NHEAD, FF, dropout=0.1, activation=activation,
                                                   batch_first=batch_first, norm_first=norm_first, dtype=DOUBLE))
    ours = TransformerEncoderLayer.from_torch(theirs)
    assert not ours.training
    src = _seq(S, batch_first)
    masks = _masks(mask, S)
    kwargs = {"src_mask": masks.get("mask"), "src_key_padding_mask": masks.get("padding")}
    captured: list = []
    _capture_weights(theirs.self_attn, captured)
    out_theirs = theirs(src, **kwargs)
    out_ours, trace = ours(src, **kwargs, return_trace=True)
    _assert_same_outputs_and_grads(ours, theirs, (src,), out_ours, out_theirs)
    assert trace.self_attn_weights.shape == (B, NHEAD, S, S)
    torch.testing.assert_close(trace.self_attn_weights, captured[0], **TIGHT)
    torch.testing.assert_close(ours(src, **kwargs), out_ours, **TIGHT)  # no trace: just the tensor


# --- decoder layer --------------------------------------------------------------------------------


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("masked", [False, True])
def test_decoder_layer_matches_torch(norm_first: bool, activation: str, batch_first: bool, masked: bool) -> None:
    theirs = _randomize(nn.TransformerDecoderLayer(D, NHEAD, FF, dropout=0.1, activation=activation,
                                                   batch_first=batch_first, norm_first=norm_first, dtype=DOUBLE))
    ours = TransformerDecoderLayer.from_torch(theirs)
    tgt, memory = _seq(T, batch_first), _seq(S, batch_first)
    kwargs = {}
    if masked:
        kwargs = {"tgt_mask": causal_mask(T), "tgt_key_padding_mask": padding_mask([T, T - 1, 3], T),
                  "memory_key_padding_mask": padding_mask([S, 4, 2], S),
                  "memory_mask": torch.rand(T, S) < 0.3}
        kwargs["memory_mask"][:, 0] = False  # every query keeps one key: no fully masked row (NaN in torch)
    self_weights, cross_weights = [], []
    _capture_weights(theirs.self_attn, self_weights)
    _capture_weights(theirs.multihead_attn, cross_weights)
    out_theirs = theirs(tgt, memory, **kwargs)
    out_ours, trace = ours(tgt, memory, **kwargs, return_trace=True)
    _assert_same_outputs_and_grads(ours, theirs, (tgt, memory), out_ours, out_theirs)
    assert trace.self_attn_weights.shape == (B, NHEAD, T, T)
    assert trace.cross_attn_weights.shape == (B, NHEAD, T, S)
    torch.testing.assert_close(trace.self_attn_weights, self_weights[0], **TIGHT)
    torch.testing.assert_close(trace.cross_attn_weights, cross_weights[0], **TIGHT)
    if masked:
        assert torch.equal(trace.self_attn_weights.triu(1), torch.zeros_like(trace.self_attn_weights)), "no future"
        assert torch.equal(trace.cross_attn_weights[2, ..., 2:], torch.zeros(NHEAD, T, S - 2, dtype=DOUBLE))


# --- stacks ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("final_norm", [False, True])
def test_encoder_stack_matches_torch(norm_first: bool, final_norm: bool) -> None:
    layer = nn.TransformerEncoderLayer(D, NHEAD, FF, batch_first=True, norm_first=norm_first, dtype=DOUBLE)
    norm = nn.LayerNorm(D, dtype=DOUBLE) if final_norm else None
    theirs = _randomize(nn.TransformerEncoder(layer, 3, norm))
    for p in theirs.layers[1].parameters():  # torch deep-copies the layer: make the layers differ
        nn.init.normal_(p, std=0.3)
    ours = TransformerEncoder.from_torch(theirs)
    assert len(ours.layers) == 3 and (ours.norm is None) == (not final_norm)
    src = _seq(S, batch_first=True)
    kwargs = {"mask": causal_mask(S), "src_key_padding_mask": padding_mask([S, 4, 2], S)}
    captured: list = []
    for torch_layer in theirs.layers:
        _capture_weights(torch_layer.self_attn, captured)
    out_theirs = theirs(src, **kwargs)
    out_ours, trace = ours(src, **kwargs, return_trace=True)
    _assert_same_outputs_and_grads(ours, theirs, (src,), out_ours, out_theirs)
    assert len(trace.self_attn_weights) == 3
    for ours_w, theirs_w in zip(trace.self_attn_weights, captured, strict=True):
        torch.testing.assert_close(ours_w, theirs_w, **TIGHT)


@pytest.mark.parametrize("norm_first", [False, True])
def test_decoder_stack_matches_torch(norm_first: bool) -> None:
    layer = nn.TransformerDecoderLayer(D, NHEAD, FF, norm_first=norm_first, dtype=DOUBLE)
    theirs = _randomize(nn.TransformerDecoder(layer, 2, nn.LayerNorm(D, dtype=DOUBLE)))
    for p in theirs.layers[0].parameters():
        nn.init.normal_(p, std=0.3)
    ours = TransformerDecoder.from_torch(theirs)
    tgt, memory = _seq(T, batch_first=False), _seq(S, batch_first=False)
    kwargs = {"tgt_mask": causal_mask(T), "memory_key_padding_mask": padding_mask([S, 3, 1], S)}
    out_theirs = theirs(tgt, memory, **kwargs)
    out_ours, trace = ours(tgt, memory, **kwargs, return_trace=True)
    _assert_same_outputs_and_grads(ours, theirs, (tgt, memory), out_ours, out_theirs)
    assert [w.shape for w in trace.cross_attn_weights] == [(B, NHEAD, T, S)] * 2
    assert [w.shape for w in trace.self_attn_weights] == [(B, NHEAD, T, T)] * 2


def test_stack_deep_copies_its_layer() -> None:
    layer = TransformerEncoderLayer(D, NHEAD, FF)
    stack = TransformerEncoder(layer, 2)
    assert stack.layers[0] is not layer and stack.layers[0] is not stack.layers[1]
    assert torch.equal(stack.layers[0].linear1.weight, stack.layers[1].linear1.weight)
    with torch.no_grad():
        stack.layers[0].linear1.weight.add_(1.0)
    assert not torch.equal(stack.layers[0].linear1.weight, stack.layers[1].linear1.weight)


# --- Transformer ----------------------------------------------------------------------------------


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_transformer_matches_torch(batch_first: bool, norm_first: bool, activation: str) -> None:
    theirs = _randomize(nn.Transformer(D, NHEAD, 2, 2, FF, activation=activation, batch_first=batch_first,
                                       norm_first=norm_first, dtype=DOUBLE))
    ours = Transformer.from_torch(theirs)
    src, tgt = _seq(S, batch_first), _seq(T, batch_first)
    src_padding = padding_mask([S, 4, 3], S)
    kwargs = {"tgt_mask": nn.Transformer.generate_square_subsequent_mask(T, dtype=DOUBLE),
              "src_key_padding_mask": src_padding.double().masked_fill(src_padding, float("-inf")),
              "memory_key_padding_mask": src_padding}
    kwargs_ours = {**kwargs, "tgt_mask": causal_mask(T)}  # the bool causal mask is the same mask
    kwargs["memory_key_padding_mask"] = kwargs["src_key_padding_mask"]
    out_theirs = theirs(src, tgt, **kwargs)
    out_ours, trace = ours(src, tgt, **kwargs_ours, return_trace=True)
    _assert_same_outputs_and_grads(ours, theirs, (src, tgt), out_ours, out_theirs)
    torch.testing.assert_close(trace.memory, theirs.encoder(src, src_key_padding_mask=kwargs["src_key_padding_mask"]),
                               **TIGHT)
    assert len(trace.encoder.self_attn_weights) == len(trace.decoder.cross_attn_weights) == 2


def test_transformer_unbatched_and_float32() -> None:
    theirs = nn.Transformer(D, NHEAD, 1, 1, FF).eval()
    ours = Transformer.from_torch(theirs)
    src, tgt = torch.randn(S, D, requires_grad=True), torch.randn(T, D, requires_grad=True)
    mask = causal_mask(T)
    torch.testing.assert_close(ours(src, tgt, tgt_mask=mask), theirs(src, tgt, tgt_mask=mask))


def test_transformer_init_and_structure_mirror_torch() -> None:
    ours = Transformer(D, NHEAD, 2, 3, FF)
    theirs = nn.Transformer(D, NHEAD, 2, 3, FF)
    assert set(state_dict_from_torch(theirs.state_dict())) == set(ours.state_dict())
    assert isinstance(ours.encoder.norm, LayerNorm) and isinstance(ours.decoder.norm, LayerNorm)
    assert torch.equal(ours.encoder.layers[0].self_attn.q_proj.bias, torch.zeros(D))
    round_trip = ours.to_torch()
    assert isinstance(round_trip, nn.Transformer)
    for name, tensor in Transformer.from_torch(round_trip).state_dict().items():
        assert torch.equal(tensor, ours.state_dict()[name])


def test_is_causal_flags_build_the_causal_mask() -> None:
    model = Transformer(D, NHEAD, 1, 1, FF, dropout=0.0, batch_first=True, dtype=DOUBLE)
    src, tgt = _seq(S, True, grad=False), _seq(T, True, grad=False)
    torch.testing.assert_close(model(src, tgt, tgt_is_causal=True), model(src, tgt, tgt_mask=causal_mask(T)), **TIGHT)


# --- fully masked rows ----------------------------------------------------------------------------


def test_fully_padded_source_puts_no_nan_into_later_layers_or_gradients() -> None:
    model = Transformer(D, NHEAD, 2, 2, FF, dropout=0.0, batch_first=True, dtype=DOUBLE)
    src, tgt = _seq(S, True), _seq(T, True)
    src_padding = padding_mask([S, 3, 0], S)  # the third source is all padding
    out, trace = model(src, tgt, tgt_mask=causal_mask(T), src_key_padding_mask=src_padding,
                       memory_key_padding_mask=src_padding, return_trace=True)
    assert torch.isfinite(out).all() and torch.isfinite(trace.memory).all()
    for weights in trace.decoder.cross_attn_weights:
        assert torch.equal(weights[2], torch.zeros(NHEAD, T, S, dtype=DOUBLE))
    out.sum().backward()
    assert torch.isfinite(src.grad).all() and torch.isfinite(tgt.grad).all()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())


def test_activation_names_map_to_torch_functions() -> None:
    assert TransformerEncoderLayer(D, NHEAD, FF, activation="gelu").activation is torch.nn.functional.gelu
    assert TransformerDecoderLayer(D, NHEAD, FF, activation="relu").activation is torch.nn.functional.relu
    assert TransformerEncoderLayer(D, NHEAD, FF, activation=torch.tanh).activation is torch.tanh

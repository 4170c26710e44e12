"""seqlib.positional_tasks: the look-back task, the tiny attention model and its scores."""

from __future__ import annotations

import pytest
import torch

from seqlib.attention import MultiheadAttention
from seqlib.positional_tasks import (
    IGNORE,
    LookbackBatch,
    TinyAttentionModel,
    head_offset_weights,
    lookback_accuracy,
    lookback_accuracy_by_position,
    lookback_batch,
    lookback_batches,
    position_blind_ceiling,
    train_lookback,
)

F64 = torch.float64


# --- the look-back task ---------------------------------------------------------------------------


def test_lookback_batch_has_distinct_tokens_and_answers_m_back() -> None:
    batch = lookback_batch(50, 6, 10, (1, 3), generator=torch.Generator().manual_seed(0))
    assert isinstance(batch, LookbackBatch)
    assert batch.tokens.shape == (50, 6) and batch.targets.shape == (50, 6, 2)
    assert batch.tokens.dtype == batch.targets.dtype == torch.long
    assert all(len(set(row.tolist())) == 6 for row in batch.tokens)
    assert batch.tokens.min() >= 0 and batch.tokens.max() < 10
    assert (batch.targets[:, :1, 0] == IGNORE).all() and (batch.targets[:, :3, 1] == IGNORE).all()
    torch.testing.assert_close(batch.targets[:, 1:, 0], batch.tokens[:, :-1])
    torch.testing.assert_close(batch.targets[:, 3:, 1], batch.tokens[:, :-3])


def test_lookback_batches_are_seeded_and_fresh() -> None:
    first, second = next(lookback_batches(4, 5, 8, seed=1)), next(lookback_batches(4, 5, 8, seed=1))
    assert torch.equal(first.tokens, second.tokens)
    stream = lookback_batches(4, 5, 8, seed=1)
    assert not torch.equal(next(stream).tokens, next(stream).tokens)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((4, 9, 8, (1,)), "vocab_size must be >= length"),
        ((4, 3, 8, (3,)), "no position with an answer for offset 3"),
        ((4, 5, 8, ()), "offsets must be a non-empty sequence"),
        ((4, 5, 8, (0,)), "offsets must be a non-empty sequence of positive ints"),
        ((0, 5, 8, (1,)), "batch_size must be a positive int"),
    ],
)
def test_lookback_batch_validates(args: tuple, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        lookback_batch(*args)


def test_position_blind_ceiling() -> None:
    assert position_blind_ceiling(8) == pytest.approx(1 / 7)
    assert position_blind_ceiling(2) == 1.0
    with pytest.raises(ValueError, match="length must be an int >= 2"):
        position_blind_ceiling(1)


def test_the_ceiling_holds_for_any_rule_that_ignores_positions() -> None:
    # a rule g(own token, set) that names another token of the set: it is right 1 / (T - 1) of the time
    batch = lookback_batch(4000, 5, 5, generator=torch.Generator().manual_seed(3))  # every row a permutation of 0..4
    guess = (batch.tokens + 1) % 5  # g(a) = a + 1 mod 5, never a itself
    accuracy = (guess[:, 1:] == batch.targets[:, 1:, 0]).double().mean().item()
    assert abs(accuracy - position_blind_ceiling(5)) < 0.02


# --- the model ------------------------------------------------------------------------------------


@pytest.mark.parametrize("positions", ["none", "sinusoidal", "learned"])
def test_model_shapes_and_trace(positions: str) -> None:
    torch.manual_seed(0)
    model = TinyAttentionModel(12, 8, 2, positions, max_len=10, n_outputs=3)
    tokens = torch.randint(12, (4, 6))
    logits, trace = model(tokens, return_trace=True)
    assert logits.shape == (4, 6, 3, 12) and torch.equal(trace.logits, logits)
    assert trace.embedded.shape == trace.positioned.shape == trace.attended.shape == (4, 6, 8)
    assert trace.attention.weights.shape == (4, 2, 6, 6)
    if positions == "none":
        assert model.positional is None and torch.equal(trace.positioned, trace.embedded)
    else:
        torch.testing.assert_close(trace.positioned, trace.embedded + model.positional.table[:6])
    single, single_trace = model(tokens[1], return_trace=True)
    torch.testing.assert_close(single, logits[1])
    assert single_trace.attention.weights.shape == (2, 6, 6) and single_trace.embedded.shape == (6, 8)
    assert model.positional is None or model.positional.learned == (positions == "learned")


def test_without_positions_the_model_is_permutation_equivariant() -> None:
    torch.manual_seed(1)
    tokens = torch.randint(12, (3, 7))
    perm = torch.tensor([4, 0, 6, 1, 5, 3, 2])
    blind = TinyAttentionModel(12, 8, 2, "none")
    torch.testing.assert_close(blind(tokens[:, perm]), blind(tokens)[:, perm])
    placed = TinyAttentionModel(12, 8, 2, "sinusoidal")
    assert not torch.allclose(placed(tokens[:, perm]), placed(tokens)[:, perm], atol=1e-3)


def test_keep_heads_all_is_the_plain_forward_and_none_kept_is_the_bias() -> None:
    torch.manual_seed(2)
    model = TinyAttentionModel(10, 8, 2, "sinusoidal", n_outputs=2)
    tokens = torch.randint(10, (2, 5))
    torch.testing.assert_close(model(tokens, keep_heads=[0, 1]), model(tokens))
    only_bias = model.readout(model.attention.out_proj.bias).view(2, 10)  # no head: W^O sees zeros
    torch.testing.assert_close(model(tokens, keep_heads=[])[0, 0], only_bias)
    # keeping head 0 alone equals zeroing head 1's share of the concatenation by hand
    _, trace = model(tokens, return_trace=True)
    heads = trace.attention.head_outputs.clone()
    heads[:, 1] = 0
    concat = heads.transpose(1, 2).reshape(2, 5, 8)
    expected = model.readout(model.attention.out_proj(concat)).view(2, 5, 2, 10)
    torch.testing.assert_close(model(tokens, keep_heads=[0]), expected)


def test_model_attention_is_seqlibs_multihead_attention() -> None:
    model = TinyAttentionModel(10, 8, 4, "learned")
    assert isinstance(model.attention, MultiheadAttention) and model.attention.num_heads == 4
    assert model.attention.batch_first
    parameters = {n: sum(p.numel() for p in TinyAttentionModel(10, 8, n, "none").parameters()) for n in (1, 2, 4)}
    assert len(set(parameters.values())) == 1  # the head count does not change the parameter count


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda m: m(torch.zeros(2, 3)), "tokens must be an int64 tensor"),
        (lambda m: m(torch.zeros(1, 0, dtype=torch.long)), "at least one position"),
        (lambda m: m(torch.full((1, 3), 10)), r"token ids must lie in 0 \.\. 9"),
        (lambda m: m(torch.zeros(1, 9, dtype=torch.long)), "longer than the positional table's max_len=8"),
        (lambda m: m(torch.zeros(1, 3, dtype=torch.long), keep_heads=[2]), r"head indices in 0 \.\. 1"),
    ],
)
def test_model_validates_its_inputs(call, message: str) -> None:
    model = TinyAttentionModel(10, 4, 2, "sinusoidal", max_len=8)
    with pytest.raises(ValueError, match=message):
        call(model)


def test_model_validates_its_config() -> None:
    with pytest.raises(ValueError, match="positions must be 'none', 'sinusoidal' or 'learned'"):
        TinyAttentionModel(10, 4, 1, "rotary")
    with pytest.raises(ValueError, match="n_outputs must be a positive int"):
        TinyAttentionModel(10, 4, 1, "none", n_outputs=0)


# --- training and scores --------------------------------------------------------------------------


def test_training_with_positions_solves_the_1_back_task_and_blind_training_cannot() -> None:
    torch.manual_seed(0)
    placed = TinyAttentionModel(12, 16, 1, "sinusoidal")
    result = train_lookback(placed, 6, steps=60, lr=3e-2, seed=0)
    assert result.steps == 60 and len(result.losses) == 60 and result.losses[-1] < result.losses[0]
    assert lookback_accuracy(placed, 6, n_sequences=300)[0] > 0.9
    torch.manual_seed(0)
    blind = TinyAttentionModel(12, 16, 1, "none")
    train_lookback(blind, 6, steps=60, lr=3e-2, seed=0)
    assert lookback_accuracy(blind, 6, n_sequences=300)[0] < position_blind_ceiling(6) + 0.05


def test_accuracy_by_position_and_its_mean() -> None:
    torch.manual_seed(0)
    model = TinyAttentionModel(10, 8, 2, "sinusoidal", n_outputs=2)
    by_position = lookback_accuracy_by_position(model, 6, (1, 2), n_sequences=50)
    assert by_position.shape == (6, 2) and by_position.dtype == F64
    assert torch.isnan(by_position[0]).all() and torch.isnan(by_position[1, 1])  # no answer there
    assert not torch.isnan(by_position[2:]).any() and not torch.isnan(by_position[1, 0])
    torch.testing.assert_close(lookback_accuracy(model, 6, (1, 2), n_sequences=50), by_position.nanmean(dim=0))
    assert model.training  # the mode is restored
    with pytest.raises(ValueError, match="reads out 2 offsets, got 1"):
        lookback_accuracy(model, 6, (1,))
    with pytest.raises(ValueError, match="reads out 2 offsets"):
        train_lookback(model, 6, (1,), steps=1)


def test_head_offset_weights_reads_the_diagonals() -> None:
    torch.manual_seed(0)
    model = TinyAttentionModel(10, 8, 2, "sinusoidal", n_outputs=2)
    weights = head_offset_weights(model, 6, (1, 2), n_sequences=20, seed=5)
    assert weights.shape == (2, 2) and weights.dtype == F64
    tokens = lookback_batch(20, 6, 10, (1, 2), generator=torch.Generator().manual_seed(5)).tokens
    model.eval()
    _, trace = model(tokens, return_trace=True)
    alpha = trace.attention.weights.double()  # (B, n, T, T)
    one_back = torch.stack([alpha[:, :, i, i - 1] for i in range(1, 6)], dim=-1).mean(dim=(0, 2))
    torch.testing.assert_close(weights[:, 0], one_back)

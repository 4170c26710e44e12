"""seqlib.encoder_tasks: masked windows, the masked-character encoder and its ablation variants, the count
baselines, the attention measurements and the signal through a stack."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import nn

import seqlib
from seqlib.encoder_tasks import (
    ARMS,
    BASELINES,
    EncoderLayerVariant,
    MaskedBatch,
    MaskedCharConfig,
    MaskedCharEncoder,
    attention_by_offset,
    baseline_predictions,
    build_masked_char_encoder,
    encoder_layer_steps,
    fit_count_baselines,
    masked_accuracy,
    masked_batch,
    masked_predictions,
    mean_attention_distance,
    one_gap_per_window,
    signal_through_stack,
    train_masked_encoder,
)
from seqlib.transformer import LayerNorm, TransformerEncoder, TransformerEncoderLayer

F64 = torch.float64
CORPUS = torch.arange(200) % 7  # ids 0..6, a periodic text: every window is a run of consecutive ids mod 7


def _layer(norm_first: bool, d: int = 8, nhead: int = 2, seed: int = 0, cls=TransformerEncoderLayer, **flags):
    torch.manual_seed(seed)
    layer = cls(d, nhead, dim_feedforward=12, dropout=0.0, batch_first=True, norm_first=norm_first, **flags).to(F64)
    with torch.no_grad():  # LayerNorms that are not the identity
        for norm in (layer.norm1, layer.norm2):
            if isinstance(norm, LayerNorm):
                norm.weight.normal_(1.0, 0.3)
                norm.bias.normal_(0.0, 0.3)
    return layer


# --- masked windows -------------------------------------------------------------------------------


def test_masked_batch_hides_characters_of_real_windows() -> None:
    batch = masked_batch(CORPUS, 50, 6, 0.3, mask_id=7, generator=torch.Generator().manual_seed(0))
    assert batch.inputs.shape == batch.targets.shape == batch.hidden.shape == (50, 6)
    assert torch.equal(batch.inputs == 7, batch.hidden)
    assert torch.equal(batch.inputs[~batch.hidden], batch.targets[~batch.hidden])
    assert torch.equal((batch.targets[:, 1:] - batch.targets[:, :-1]) % 7, torch.ones(50, 5, dtype=torch.long))
    assert batch.hidden.any(dim=1).all()  # at least one gap per window
    assert 0.2 < batch.hidden.double().mean() < 0.55
    again = masked_batch(CORPUS, 50, 6, 0.3, mask_id=7, generator=torch.Generator().manual_seed(0))
    assert all(torch.equal(a, b) for a, b in zip(batch, again, strict=True))


def test_masked_batch_extremes() -> None:
    none = masked_batch(CORPUS, 20, 5, 0.0, 7, torch.Generator().manual_seed(1))
    assert torch.equal(none.hidden.sum(dim=1), torch.ones(20, dtype=torch.long))  # only the sure one
    every = masked_batch(CORPUS, 20, 5, 1.0, 7, torch.Generator().manual_seed(1))
    assert every.hidden.all()
    with pytest.raises(ValueError, match="mask_prob must be a number in"):
        masked_batch(CORPUS, 2, 5, 1.5, 7)
    with pytest.raises(ValueError, match="fewer than one window"):
        masked_batch(CORPUS[:3], 2, 5, 0.5, 7)
    with pytest.raises(ValueError, match="1-D int64"):
        masked_batch(CORPUS.float(), 2, 5, 0.5, 7)
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        masked_batch(CORPUS, 0, 5, 0.5, 7)


def test_one_gap_per_window_never_at_the_ends() -> None:
    batch = one_gap_per_window(CORPUS, 300, 5, 7, torch.Generator().manual_seed(2))
    assert torch.equal(batch.hidden.sum(dim=1), torch.ones(300, dtype=torch.long))
    positions = batch.hidden.float().argmax(dim=1)
    assert positions.min() == 1 and positions.max() == 3
    with pytest.raises(ValueError, match="at least 3"):
        one_gap_per_window(CORPUS, 3, 2, 7)


# --- the layer variant and the steps of a layer ---------------------------------------------------------


@pytest.mark.parametrize("norm_first", [False, True])
def test_variant_with_both_parts_is_the_layer(norm_first: bool) -> None:
    ours = _layer(norm_first, cls=EncoderLayerVariant)
    theirs = _layer(norm_first)
    x = torch.randn(3, 5, 8, dtype=F64)
    torch.testing.assert_close(ours(x), theirs(x))
    out, trace = ours(x, return_trace=True)
    assert trace.self_attn_weights.shape == (3, 2, 5, 5)


@pytest.mark.parametrize("norm_first", [False, True])
def test_variant_without_residual_or_norm_follows_its_formula(norm_first: bool) -> None:
    x = torch.randn(2, 4, 8, dtype=F64)
    plain = _layer(norm_first, cls=EncoderLayerVariant, residual=False)

    def sa(layer, h):
        return layer.self_attn(h, h, h, need_weights=False)[0]

    def ffn(layer, h):
        return layer.linear2(torch.relu(layer.linear1(h)))

    if norm_first:
        h = sa(plain, plain.norm1(x))
        expected = ffn(plain, plain.norm2(h))
    else:
        h = plain.norm1(sa(plain, x))
        expected = plain.norm2(ffn(plain, h))
    torch.testing.assert_close(plain(x), expected)

    bare = _layer(norm_first, cls=EncoderLayerVariant, layer_norm=False)
    assert isinstance(bare.norm1, nn.Identity) and not any(isinstance(m, LayerNorm) for m in bare.modules())
    h = x + sa(bare, x)
    torch.testing.assert_close(bare(x), h + ffn(bare, h))
    out, trace = bare(x, return_trace=True)
    assert trace.self_attn_weights.shape == (2, 2, 4, 4)
    torch.testing.assert_close(trace.self_attn_weights.sum(-1), torch.ones(2, 2, 4, dtype=F64))

    neither = _layer(norm_first, cls=EncoderLayerVariant, residual=False, layer_norm=False)
    torch.testing.assert_close(neither(x), ffn(neither, sa(neither, x)))
    with pytest.raises(ValueError, match="residual must be a bool"):
        EncoderLayerVariant(8, 2, residual=1)


@pytest.mark.parametrize("norm_first", [False, True])
def test_encoder_layer_steps_end_at_the_layer_and_match_torch(norm_first: bool) -> None:
    layer = _layer(norm_first)
    x = torch.randn(2, 5, 8, dtype=F64)
    steps = encoder_layer_steps(layer, x)
    torch.testing.assert_close(steps.output, layer(x))
    torch.testing.assert_close(steps.output, layer.to_torch()(x))
    assert steps.weights.shape == (2, 2, 5, 5) and steps.ffn_hidden.shape == (2, 5, 12)
    assert (steps.ffn_hidden >= 0).all()  # after the ReLU
    if norm_first:
        torch.testing.assert_close(steps.attention_in, layer.norm1(x))
        torch.testing.assert_close(steps.middle, x + steps.attention)
        torch.testing.assert_close(steps.output, steps.middle + steps.ffn)
    else:
        assert steps.attention_in is x
        torch.testing.assert_close(steps.middle, layer.norm1(x + steps.attention))
        torch.testing.assert_close(steps.output, layer.norm2(steps.middle + steps.ffn))
    variant = _layer(norm_first, cls=EncoderLayerVariant, residual=False)
    torch.testing.assert_close(encoder_layer_steps(variant, x).output, variant(x))
    with pytest.raises(ValueError, match="with d = 8"):
        encoder_layer_steps(layer, torch.randn(2, 5, 7, dtype=F64))
    with pytest.raises(ValueError, match="seqlib TransformerEncoderLayer"):
        encoder_layer_steps(nn.Linear(8, 8), x)


# --- the model ----------------------------------------------------------------------------------------


def test_masked_char_encoder_shapes_trace_and_stack() -> None:
    torch.manual_seed(0)
    model = MaskedCharEncoder(7, d_model=8, nhead=2, num_layers=3, dim_feedforward=12, max_len=10)
    ids = torch.randint(8, (4, 6))
    logits, trace = model(ids, return_trace=True)
    assert logits.shape == (4, 6, 7) and model.mask_id == 7 and model.embedding.num_embeddings == 8
    assert len(trace.self_attn_weights) == 3 and trace.self_attn_weights[0].shape == (4, 2, 6, 6)
    torch.testing.assert_close(model(ids), logits)
    assert isinstance(model.encoder, TransformerEncoder) and isinstance(model.encoder.norm, LayerNorm)
    first, second = (torch.cat([p.flatten() for p in layer.parameters()]) for layer in model.encoder.layers[:2])
    assert torch.equal(first, second)  # every layer starts as a copy of one, as in torch.nn.TransformerEncoder
    with pytest.raises(ValueError, match=r"ids must lie in \[0, 7\]"):
        model(torch.full((1, 3), 8))
    with pytest.raises(ValueError, match="ids must be a"):
        model(torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match="divisible by nhead"):
        MaskedCharEncoder(7, d_model=9, nhead=2)


def test_arms_build_the_layers_they_name() -> None:
    config = MaskedCharConfig(d_model=8, nhead=2, num_layers=2, dim_feedforward=12)
    for arm, flags in ARMS.items():
        model = build_masked_char_encoder(config.with_arm(arm), 7, seed=0)
        layer = model.encoder.layers[0]
        assert layer.norm_first == flags["norm_first"]
        assert getattr(layer, "residual", True) == flags["residual"]
        has_norm = any(isinstance(m, LayerNorm) for m in model.modules())
        assert has_norm == flags["layer_norm"]
        assert (model.encoder.norm is not None) == (flags["norm_first"] and flags["layer_norm"])
    assert type(build_masked_char_encoder(config, 7, 0).encoder.layers[0]) is TransformerEncoderLayer
    with pytest.raises(ValueError, match="arm must be one of"):
        config.with_arm("no attention")
    a, b = build_masked_char_encoder(config, 7, 3), build_masked_char_encoder(config, 7, 3)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))


def test_training_is_repeatable_and_lowers_the_loss() -> None:
    config = MaskedCharConfig(d_model=16, nhead=2, num_layers=1, dim_feedforward=16, length=6, batch_size=16,
                              steps=30, lr=0.02)
    evaluation = one_gap_per_window(CORPUS, 64, 6, 7, torch.Generator().manual_seed(5))
    runs = []
    for _ in range(2):
        model = build_masked_char_encoder(config, 7, seed=1)
        runs.append((model, train_masked_encoder(model, CORPUS, config, seed=1, eval_batch=evaluation, eval_every=15)))
    (model, result), (_, again) = runs
    assert result.steps == 30 and result.losses == again.losses
    assert [r.step for r in result.history] == [15, 30]
    assert sum(result.losses[-10:]) < sum(result.losses[:10])
    assert result.final.metrics["accuracy"] == masked_accuracy(model, evaluation)
    predictions = masked_predictions(model, evaluation, chunk=10)
    assert predictions.shape == (64,)
    truth = evaluation.targets[evaluation.hidden]
    assert masked_accuracy(model, evaluation) == float((predictions == truth).double().mean())
    with pytest.raises(ValueError, match="MaskedCharEncoder"):
        train_masked_encoder(nn.Linear(2, 2), CORPUS, config)


# --- count baselines ----------------------------------------------------------------------------------


def test_count_baselines_by_hand() -> None:
    # "a b c a b c a b d" with a=0, b=1, c=2, d=3
    corpus = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1, 3])
    counts = fit_count_baselines(corpus, 4)
    assert counts.unigram.tolist() == [3, 3, 2, 1]
    assert counts.bigram[1].tolist() == [0, 0, 2, 1] and counts.around[0, :, 2].tolist() == [0, 2, 0, 0]
    # gaps: "c _ b" (left c, right b) and "a _ d" (left a, right d)
    inputs = torch.tensor([[2, 9, 1], [0, 9, 3]])
    hidden = inputs == 9
    batch = MaskedBatch(inputs, inputs.masked_fill(hidden, 0), hidden)
    guesses = baseline_predictions(counts, batch)
    assert list(guesses) == list(BASELINES)
    assert guesses["unigram"].tolist() == [0, 0]  # a and b tie at 3: the lower id
    assert guesses["left bigram"].tolist() == [0, 1]  # after c comes a; after a comes b
    assert guesses["right bigram"].tolist() == [0, 1]  # before b comes a; before d comes b
    assert guesses["both neighbours"].tolist() == [0, 1]  # "c a b" and "a b d"
    with pytest.raises(ValueError, match="a neighbour on each side"):
        edge = torch.tensor([[9, 1, 2]])
        baseline_predictions(counts, MaskedBatch(edge, edge, edge == 9))
    with pytest.raises(ValueError, match="lie in"):
        fit_count_baselines(corpus, 3)


# --- attention measurements ----------------------------------------------------------------------------


def test_mean_attention_distance_of_known_patterns() -> None:
    T = 6
    uniform = torch.full((2, 3, T, T), 1 / T)
    torch.testing.assert_close(mean_attention_distance(uniform), torch.full((3,), (T * T - 1) / (3 * T)))
    identity = torch.eye(T).expand(2, 3, T, T)
    assert mean_attention_distance(identity).tolist() == [0.0, 0.0, 0.0]
    previous = torch.diag(torch.ones(T - 1), -1)
    previous[0, 1] = 1.0  # the first query looks at its right neighbour
    weights = torch.stack([previous, torch.eye(T)]).expand(2, 2, T, T)  # head 1: a neighbour; head 2: itself
    assert mean_attention_distance(weights).tolist() == [1.0, 0.0]
    queries = torch.zeros(2, T, dtype=torch.bool)
    queries[:, 3] = True
    assert mean_attention_distance(uniform, queries).tolist() == pytest.approx([1.5] * 3)  # |3 - j| over j = 0..5
    with pytest.raises(ValueError, match="selects no position"):
        mean_attention_distance(uniform, torch.zeros(2, T, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"\(B, nhead, T, T\)"):
        mean_attention_distance(torch.ones(3, T, T))


def test_attention_by_offset() -> None:
    T = 5
    identity = torch.eye(T).expand(1, 2, T, T)
    profile = attention_by_offset(identity, 2)
    assert profile.shape == (2, 5) and profile[:, 2].tolist() == [1.0, 1.0] and profile.sum() == 2
    uniform = torch.full((1, 1, T, T), 1 / T)
    torch.testing.assert_close(attention_by_offset(uniform, 6), torch.tensor([[0.0, 0.0] + [0.2] * 9 + [0.0, 0.0]]))


# --- the signal through a stack -------------------------------------------------------------------------


def test_signal_through_stack() -> None:
    post = signal_through_stack(4, residual=True, layer_norm=True, norm_first=False, seed=0)
    assert post.activation_rms.shape == post.gradient_norm.shape == post.similarity.shape == (5,)
    torch.testing.assert_close(post.activation_rms[1:], torch.ones(4), atol=1e-3, rtol=0)  # LayerNorm's output
    neither = signal_through_stack(8, residual=False, layer_norm=False, seed=0)
    assert neither.gradient_norm[0] < 1e-3 * neither.gradient_norm[-1]  # the gradient vanishes
    assert neither.similarity[-1] > 0.99  # every position alike
    bare = signal_through_stack(8, residual=True, layer_norm=False, seed=0)
    assert bare.activation_rms[-1] > 5 * bare.activation_rms[0]  # the residual sum grows without a norm
    again = signal_through_stack(4, residual=True, layer_norm=True, norm_first=False, seed=0)
    assert all(torch.equal(a, b) for a, b in zip(post, again, strict=True))
    with pytest.raises(ValueError, match="divisible"):
        signal_through_stack(2, d_model=10, nhead=4)


def test_config_round_trip() -> None:
    config = MaskedCharConfig()
    assert MaskedCharConfig(**config.to_dict()) == config
    assert dataclasses.replace(config, steps=5).steps == 5
    assert config.with_arm("post-norm").norm_first is False and config.norm_first is True
    assert seqlib.TransformerEncoderLayer is TransformerEncoderLayer

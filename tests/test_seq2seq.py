"""seqlib.seq2seq: greedy decoding equals the masked forward pass; a tiny model learns a toy task."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
import torch

from seqlib.seq2seq import (
    BOS_ID,
    EOS_ID,
    PAD_ID,
    TOY_VOCAB_SIZE,
    Seq2SeqTransformer,
    exact_match,
    greedy_decode,
    toy_batch,
    toy_batches,
    train_seq2seq,
)
from seqlib.train import TrainingDiverged

TINY = {"d_model": 32, "nhead": 4, "num_encoder_layers": 1, "num_decoder_layers": 1, "dim_feedforward": 64}


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    """Tiny matrices run faster on one thread, and the shared CI machine has few cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    yield
    torch.set_num_threads(threads)


def _model(**kwargs: object) -> Seq2SeqTransformer:
    return Seq2SeqTransformer(TOY_VOCAB_SIZE, TOY_VOCAB_SIZE, max_len=16, **{**TINY, **kwargs})


def test_toy_batch_is_bos_answer_eos_then_padding() -> None:
    src, tgt = toy_batch("reverse", 4, min_len=2, max_len=5, generator=torch.Generator().manual_seed(1))
    assert src.shape == (4, 5) and tgt.shape == (4, 7)
    for b in range(4):
        n = int((src[b] != PAD_ID).sum())
        assert tgt[b, 0] == BOS_ID and tgt[b, n + 1] == EOS_ID and (tgt[b, n + 2:] == PAD_ID).all()
        assert torch.equal(tgt[b, 1 : n + 1], src[b, :n].flip(0))
    _, sorted_tgt = toy_batch("sort", 3, min_len=4, max_len=4)
    assert (sorted_tgt[:, 1:5].diff(dim=1) >= 0).all()


def test_greedy_decoding_equals_the_full_masked_forward_pass() -> None:
    model = _model(dropout=0.3).train()  # decoding must switch dropout off and restore the mode
    src, _ = toy_batch("reverse", 5, max_len=6, generator=torch.Generator().manual_seed(2))
    tokens, trace = greedy_decode(model, src, max_len=7, bos_id=BOS_ID, eos_id=EOS_ID, return_trace=True)
    assert model.training
    L = tokens.shape[1]
    assert trace.step_logits.shape == (5, L, TOY_VOCAB_SIZE)
    # one pass over the whole prefix the decoder fed itself: BOS y1 .. y_{L-1}
    prefix = torch.cat([torch.full((5, 1), BOS_ID), tokens[:, :-1]], dim=1)
    model.eval()
    with torch.no_grad():
        full_logits, full_trace = model(src, prefix, return_trace=True)
    torch.testing.assert_close(full_logits, trace.step_logits, atol=1e-5, rtol=1e-5)
    # and the last step's cross-attention maps are those of the full pass
    for step_map, full_map in zip(trace.decoder.cross_attn_weights, full_trace.decoder.cross_attn_weights,
                                  strict=True):
        torch.testing.assert_close(step_map, full_map, atol=1e-5, rtol=1e-5)
    still_running = torch.cat([torch.ones(5, 1, dtype=torch.bool), (tokens != EOS_ID).cumprod(1)[:, :-1].bool()], 1)
    assert torch.equal(full_logits.argmax(-1)[still_running], tokens[still_running])
    assert (tokens[~still_running] == PAD_ID).all(), "after EOS only padding"


def test_causal_mask_hides_the_future_from_the_decoder() -> None:
    model = _model(dropout=0.0).eval()
    src, tgt = toy_batch("copy", 3, min_len=5, max_len=5)
    changed = tgt.clone()
    changed[:, 3:] = (changed[:, 3:] + 1) % TOY_VOCAB_SIZE
    with torch.no_grad():
        before, after = model(src, tgt), model(src, changed)
    torch.testing.assert_close(before[:, :3], after[:, :3])
    assert not torch.allclose(before[:, 3:], after[:, 3:])


def test_forward_trace_has_per_layer_per_head_maps_and_ignores_padding() -> None:
    model = _model(num_encoder_layers=2, num_decoder_layers=2, dropout=0.0).eval()
    src, tgt = toy_batch("copy", 4, min_len=2, max_len=6, generator=torch.Generator().manual_seed(3))
    logits, trace = model(src, tgt, return_trace=True)
    assert logits.shape == (4, 8, TOY_VOCAB_SIZE)
    assert [w.shape for w in trace.encoder.self_attn_weights] == [(4, 4, 6, 6)] * 2
    assert [w.shape for w in trace.decoder.cross_attn_weights] == [(4, 4, 8, 6)] * 2
    padded = (src == PAD_ID)[:, None, None, :].expand(4, 4, 8, 6)
    assert (trace.decoder.cross_attn_weights[1][padded] == 0).all()


def test_training_is_deterministic_given_the_seeds() -> None:
    runs = []
    for _ in range(2):
        torch.manual_seed(5)
        model = _model(dropout=0.1)
        runs.append(train_seq2seq(model, toy_batches("sort", 8, seed=7), max_steps=4, lr=1e-3, seed=11).losses)
    assert runs[0] == runs[1] and len(runs[0]) == 4


def test_a_tiny_model_learns_to_reverse_digits_in_seconds() -> None:
    torch.manual_seed(0)
    model = _model(dropout=0.0)
    seen: list[int] = []
    result = train_seq2seq(model, toy_batches("reverse", 64, max_len=6, seed=1), max_steps=300, lr=3e-3,
                           progress=lambda step, loss: seen.append(step))
    assert result.steps == 300 and seen == list(range(300))
    assert sum(result.losses[-20:]) / 20 < 0.3 < result.losses[0]
    src, tgt = toy_batch("reverse", 200, max_len=6, generator=torch.Generator().manual_seed(99))
    predicted = greedy_decode(model, src, max_len=8, bos_id=BOS_ID, eos_id=EOS_ID)
    assert exact_match(predicted, tgt[:, 1:], EOS_ID, PAD_ID) >= 0.85


def test_exact_match_counts_through_eos_only() -> None:
    target = torch.tensor([[5, 6, EOS_ID, PAD_ID], [7, EOS_ID, PAD_ID, PAD_ID]])
    predicted = torch.tensor([[5, 6, EOS_ID], [7, 8, EOS_ID]])
    assert exact_match(predicted, target, EOS_ID, PAD_ID) == 0.5


# --- bad input (issue 15) -----------------------------------------------------------------------------


def _digits(*rows: list[int]) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.long)


@pytest.mark.parametrize(
    "call,message",
    [
        (lambda m: m(_digits([3, 20]), _digits([BOS_ID, 3])),
         "src must hold token ids in [0, 13) (the vocabulary has V = 13 tokens), got values in [3, 20]: "
         "20 is not a token"),
        (lambda m: m(_digits([3, 4]), _digits([BOS_ID, -1])), "tgt must hold token ids in [0, 13)"),
        (lambda m: m.encode(_digits([99])), "src must hold token ids in [0, 13)"),
        (lambda m: m(torch.randint(3, 13, (1, 17)), _digits([BOS_ID])),
         "src has 17 positions but the model was built with max_len=16 (its positional table ends there)"),
        (lambda m: greedy_decode(m, _digits([3, 4]), 5, bos_id=13, eos_id=EOS_ID),
         "bos_id must be a token id in [0, 13) (the vocabulary has V = 13 tokens), got 13"),
        (lambda m: greedy_decode(m, _digits([3, 4]), 5, bos_id=BOS_ID, eos_id=-3),
         "eos_id must be a token id in [0, 13)"),
        (lambda m: greedy_decode(m, _digits([3, 4]), 5, bos_id=1.0, eos_id=EOS_ID),
         "bos_id must be a token id (an int)"),
        (lambda m: greedy_decode(m, _digits([3, 4]), 17, BOS_ID, EOS_ID),
         "max_len=17 is more than the model's max_len=16: its decoder reads at most 16 positions"),
        (lambda m: greedy_decode(m, _digits([3, 40]), 5, BOS_ID, EOS_ID), "src must hold token ids in [0, 13)"),
        (lambda m: greedy_decode("model", _digits([3]), 5, BOS_ID, EOS_ID), "model must be a Seq2SeqTransformer"),
    ],
)
def test_ids_and_lengths_outside_the_model_are_named_before_any_step(call, message) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        call(_model())


def test_greedy_decode_up_to_the_models_max_len_works() -> None:
    out = greedy_decode(_model(), _digits([3, 4]), 16, BOS_ID, EOS_ID)  # the longest decoding the model can read
    assert out.shape[1] <= 16


@pytest.mark.parametrize(
    "kwargs,message",
    [(dict(lr="fast"), "lr must be a real number, got str ('fast')"), (dict(lr=float("inf")), "lr must be a finite"),
     (dict(clip=-1.0), "clip must be > 0, got -1.0 (clip=None: no clipping)"),
     (dict(progress=3), "progress must be a function or None, got int"), (dict(seed=0.5), "seed must be an int")],
)
def test_bad_training_options_are_refused_before_the_first_step(kwargs, message) -> None:
    model = _model()
    before = [p.detach().clone() for p in model.parameters()]
    with pytest.raises(ValueError, match=re.escape(message)):
        train_seq2seq(model, toy_batches("copy", 4), max_steps=2, **kwargs)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


def test_a_diverging_seq2seq_run_stops_at_the_first_nan_loss() -> None:
    with pytest.raises(TrainingDiverged) as info:
        train_seq2seq(_model(), toy_batches("copy", 8), max_steps=5, lr=1e30, clip=None)
    error = info.value
    assert error.step == 2 and "training diverged at step 2: the loss is nan" in str(error)
    assert error.result.steps == 1 and len(error.result.losses) == 1

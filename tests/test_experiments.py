"""seqlib.experiments: the unrolled RNN, the temperature tools, gradient flow and the long-memory task."""

from __future__ import annotations

import math

import pytest
import torch

import seqlib
from seqlib.data import Vocab
from seqlib.experiments import char_lm, unrolled
from seqlib.language_models import make_language_model, sample

F64 = torch.float64

# --- unrolled --------------------------------------------------------------------------------------


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_wide_layer_equals_the_loop(nonlinearity: str) -> None:
    torch.manual_seed(0)
    rnn = seqlib.RNN(3, 4, nonlinearity=nonlinearity, batch_first=True).to(F64)
    x = torch.randn(2, 5, 3, dtype=F64)
    wide = unrolled.unroll_as_wide_layer(rnn, 5)
    torch.testing.assert_close(unrolled.wide_layer_forward(wide, x), rnn(x)[0], rtol=0, atol=1e-12)


def test_wide_layer_blocks_are_shared_copies() -> None:
    torch.manual_seed(1)
    cell = seqlib.RNNCell(2, 3)
    wide = unrolled.unroll_as_wide_layer(cell, 4)
    assert wide.weight.shape == (12, 8 + 12) and wide.bias.shape == (12,)
    assert wide.num_entries == 12 * 20 + 12 and wide.num_shared_parameters == 6 + 9 + 6
    for t in range(4):
        for s in range(4):
            block_in = wide.weight_in[3 * t : 3 * t + 3, 2 * s : 2 * s + 2]
            block_rec = wide.weight_rec[3 * t : 3 * t + 3, 3 * s : 3 * s + 3]
            assert torch.equal(block_in, cell.weight_ih if s == t else torch.zeros(3, 2))
            assert torch.equal(block_rec, cell.weight_hh if s == t - 1 else torch.zeros(3, 3))
    torch.testing.assert_close(wide.bias[3:6], (cell.bias_ih + cell.bias_hh).detach())


def test_each_pass_fixes_one_more_step() -> None:
    torch.manual_seed(2)
    rnn = seqlib.RNN(2, 3, batch_first=True).to(F64)
    x = torch.randn(3, 4, 2, dtype=F64)
    wide, loop = unrolled.unroll_as_wide_layer(rnn, 4), rnn(x)[0]
    for passes in range(5):
        error = (unrolled.wide_layer_forward(wide, x, passes) - loop).abs().amax(dim=(0, 2))
        assert (error[:passes] < 1e-12).all() and (passes == 4 or error[passes] > 1e-3)


def test_unroll_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="one-layer unidirectional"):
        unrolled.unroll_as_wide_layer(seqlib.RNN(2, 3, num_layers=2), 3)
    with pytest.raises(TypeError, match="RNN or RNNCell"):
        unrolled.unroll_as_wide_layer(seqlib.LSTM(2, 3), 3)
    with pytest.raises(ValueError, match="num_steps"):
        unrolled.unroll_as_wide_layer(seqlib.RNNCell(2, 3), 0)
    wide = unrolled.unroll_as_wide_layer(seqlib.RNNCell(2, 3), 3)
    with pytest.raises(ValueError, match=r"\(B, 3, 2\)"):
        unrolled.wide_layer_forward(wide, torch.zeros(1, 4, 2))


# --- char_lm ---------------------------------------------------------------------------------------


def test_softmax_with_temperature() -> None:
    logits = torch.tensor([[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]])
    torch.testing.assert_close(char_lm.softmax_with_temperature(logits, 1.0), torch.softmax(logits.double(), -1))
    torch.testing.assert_close(char_lm.softmax_with_temperature(logits, 0.5), torch.softmax(2 * logits.double(), -1))
    greedy = char_lm.softmax_with_temperature(logits, 0)
    assert greedy.tolist() == [[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
    hot = char_lm.softmax_with_temperature(logits, 1e6)
    torch.testing.assert_close(hot, torch.full((2, 3), 1 / 3, dtype=F64), rtol=0, atol=1e-5)
    for bad in (-0.5, float("nan"), float("inf"), "1", True):
        with pytest.raises(ValueError, match="temperature"):
            char_lm.softmax_with_temperature(logits, bad)


def test_word_measures() -> None:
    known = {"the", "time", "machine"}
    assert char_lm.real_word_fraction("the time xyz machi", known) == 2 / 3  # 'machi' may be cut: not counted
    assert char_lm.real_word_fraction("the time machine ", known) == 1.0
    assert math.isnan(char_lm.real_word_fraction("unfinished", known))
    assert char_lm.distinct_word_fraction("the the the time ") == 0.5
    assert char_lm.book_words("the time, the machine!") == frozenset({"the", "time", "machine"})


def test_sample_at_temperature_is_seeded_and_measured() -> None:
    torch.manual_seed(0)
    text = "the time machine " * 30
    vocab = Vocab(list(text))
    model = make_language_model("rnn", len(vocab), 8, embedding_dim=4)
    words = char_lm.book_words(text)
    a = char_lm.sample_at_temperature(model, vocab, "the ", 1.0, 40, words, seed=3)
    b = char_lm.sample_at_temperature(model, vocab, "the ", 1.0, 40, words, seed=3)
    assert a.continuation == b.continuation and len(a.continuation) == 40
    assert a.probabilities.shape == (len(vocab),) and a.probabilities[vocab.unk] == 0
    assert abs(float(a.probabilities.sum()) - 1) < 1e-9 and 0 < a.entropy_bits < math.log2(len(vocab))
    greedy = char_lm.sample_at_temperature(model, vocab, "the ", 0, 40, words)
    assert greedy.entropy_bits == 0.0 and "the " + greedy.continuation == sample(model, vocab, "the ", 40, 0)
    with pytest.raises(ValueError, match="prefix"):
        char_lm.sample_at_temperature(model, vocab, "", 1.0, 5, words)

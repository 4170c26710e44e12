"""Notebook 02's exercises: each checker accepts its reference and names every mistake it claims to know."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

import seqlib
from seqlib.course import checker
from seqlib.course import nb02_rnn as nb02
from seqlib.course.checker import EXERCISES
from seqlib.course.nb02_rnn import temperature_explorer
from seqlib.data import Vocab
from seqlib.language_models import make_language_model, sample

F64 = torch.float64

NAMES = sorted(name for name in EXERCISES if name.startswith("02."))


def test_notebook_02_has_at_least_three_exercises() -> None:
    assert NAMES == ["02.perplexity", "02.rnn_forward", "02.softmax_temperature"]


# The reference, the stub, every named mistake and the solution are checked for every registered
# exercise in tests/course/test_checker.py; this file pins what is particular to notebook 02.


def _loop_untransposed(xs, h0, W_ih, W_hh, b_ih, b_hh):
    h, states = h0, []
    for t in range(xs.shape[1]):
        h = torch.tanh(xs[:, t] @ W_ih + b_ih + h @ W_hh + b_hh)  # W_ih (H, I) used as if it were (I, H)
        states.append(h)
    return torch.stack(states, dim=1)


def test_rnn_forward_transposed_weights_on_non_square_input_reports_the_transpose() -> None:
    exercise = EXERCISES["02.rnn_forward"]
    non_square = [case for case in exercise.cases() if case[2].shape[0] != case[2].shape[1]]  # W_ih (H, I), H ≠ I
    assert non_square, "the cases need one where I ≠ H"
    with pytest.raises(RuntimeError, match="cannot be multiplied"):
        _loop_untransposed(*non_square[0])  # the answer cannot even run there...
    only_non_square = dataclasses.replace(exercise, cases=lambda: non_square)
    feedback = checker._diagnose(only_non_square, _loop_untransposed)  # ...and the checker does not crash
    assert feedback.status == "wrong" and "Hint:" in feedback.message
    assert "your code raised RuntimeError" in feedback.message and "cannot be multiplied" in feedback.message
    assert "Likely mistake: the weights are transposed" in feedback.message
    # with the square case first as well, the same mistake is named
    assert "Likely mistake: the weights are transposed" in checker._diagnose(exercise, _loop_untransposed).message


def test_rnn_forward_reference_is_seqlibs_rnn() -> None:
    for xs, h0, W_ih, W_hh, b_ih, b_hh in EXERCISES["02.rnn_forward"].cases():
        rnn = seqlib.RNN(W_ih.shape[1], W_ih.shape[0], batch_first=True).to(F64)
        with torch.no_grad():
            for name, value in [("weight_ih", W_ih), ("weight_hh", W_hh), ("bias_ih", b_ih), ("bias_hh", b_hh)]:
                getattr(rnn, f"{name}_l0").copy_(value)
        output, _ = rnn(xs, h0[None])
        reference = EXERCISES["02.rnn_forward"].reference(xs, h0, W_ih, W_hh, b_ih, b_hh)
        torch.testing.assert_close(reference, output, rtol=0, atol=1e-12)
        assert xs.shape[0] != xs.shape[1]  # B ≠ T: a time-major answer has another shape


def test_rnn_forward_mistakes_written_as_a_learner_would() -> None:
    exercise = EXERCISES["02.rnn_forward"]

    def not_carried(xs, h0, W_ih, W_hh, b_ih, b_hh):
        return torch.stack(
            [torch.tanh(xs[:, t] @ W_ih.T + b_ih + h0 @ W_hh.T + b_hh) for t in range(xs.shape[1])], dim=1
        )

    def last_only(xs, h0, W_ih, W_hh, b_ih, b_hh):
        h = h0
        for x in xs.unbind(1):
            h = torch.tanh(x @ W_ih.T + b_ih + h @ W_hh.T + b_hh)
        return h

    def w_hh_on_x(xs, h0, W_ih, W_hh, b_ih, b_hh):
        h, states = h0, []
        for x in xs.unbind(1):
            h = torch.tanh(torch.matmul(x, W_hh.T) + b_ih + torch.matmul(h, W_ih.T) + b_hh)
            states.append(h)
        return torch.stack(states, 1)

    def bias_outside(xs, h0, W_ih, W_hh, b_ih, b_hh):
        h, states = h0, []
        for x in xs.unbind(1):
            h = torch.tanh(x @ W_ih.T + h @ W_hh.T) + (b_ih + b_hh)
            states.append(h)
        return torch.stack(states, 1)

    assert "state is not carried from step to step" in checker._diagnose(exercise, not_carried).message
    assert "only the last state" in checker._diagnose(exercise, last_only).message
    assert "you swapped the weights" in checker._diagnose(exercise, w_hh_on_x).message
    assert "biases after the tanh" in checker._diagnose(exercise, bias_outside).message


def test_rnn_forward_that_overwrites_h0_is_told_so() -> None:
    def overwrites(xs, h0, W_ih, W_hh, b_ih, b_hh):
        states = []
        for x in xs.unbind(1):
            h0.copy_(torch.tanh(x @ W_ih.T + b_ih + h0 @ W_hh.T + b_hh))  # the caller's h0, updated in place
            states.append(h0.clone())
        return torch.stack(states, 1)

    feedback = checker._diagnose(EXERCISES["02.rnn_forward"], overwrites)
    assert feedback.status == "wrong" and "modified its input `h0` in place" in feedback.message


def test_perplexity_slips_are_named() -> None:
    exercise = EXERCISES["02.perplexity"]

    def nll_on_logits(logits, targets):
        return math.exp(-logits[torch.arange(len(targets)), targets].mean().item())

    def a_tensor(logits, targets):
        return torch.exp(torch.nn.functional.cross_entropy(logits, targets))

    assert "negative log-likelihood of the raw logits" in checker._diagnose(exercise, nll_on_logits).message
    assert "expected a Python float, got a torch.Tensor" in checker._diagnose(exercise, a_tensor).message


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_wide_layer_equals_the_loop(nonlinearity: str) -> None:
    torch.manual_seed(0)
    rnn = seqlib.RNN(3, 4, nonlinearity=nonlinearity, batch_first=True).to(F64)
    x = torch.randn(2, 5, 3, dtype=F64)
    wide = nb02.unroll_as_wide_layer(rnn, 5)
    torch.testing.assert_close(nb02.wide_layer_forward(wide, x), rnn(x)[0], rtol=0, atol=1e-12)


def test_wide_layer_blocks_are_shared_copies() -> None:
    torch.manual_seed(1)
    cell = seqlib.RNNCell(2, 3)
    wide = nb02.unroll_as_wide_layer(cell, 4)
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
    wide, loop = nb02.unroll_as_wide_layer(rnn, 4), rnn(x)[0]
    for passes in range(5):
        error = (nb02.wide_layer_forward(wide, x, passes) - loop).abs().amax(dim=(0, 2))
        assert (error[:passes] < 1e-12).all() and (passes == 4 or error[passes] > 1e-3)


def test_unroll_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="one-layer unidirectional"):
        nb02.unroll_as_wide_layer(seqlib.RNN(2, 3, num_layers=2), 3)
    with pytest.raises(TypeError, match="RNN or RNNCell"):
        nb02.unroll_as_wide_layer(seqlib.LSTM(2, 3), 3)
    with pytest.raises(ValueError, match="num_steps"):
        nb02.unroll_as_wide_layer(seqlib.RNNCell(2, 3), 0)
    wide = nb02.unroll_as_wide_layer(seqlib.RNNCell(2, 3), 3)
    with pytest.raises(ValueError, match=r"\(B, 3, 2\)"):
        nb02.wide_layer_forward(wide, torch.zeros(1, 4, 2))


def test_word_measures() -> None:
    known = {"the", "time", "machine"}
    assert nb02.real_word_fraction("the time xyz machi", known) == 2 / 3  # 'machi' may be cut: not counted
    assert nb02.real_word_fraction("the time machine ", known) == 1.0
    assert math.isnan(nb02.real_word_fraction("unfinished", known))
    assert nb02.distinct_word_fraction("the the the time ") == 0.5
    assert nb02.book_words("the time, the machine!") == frozenset({"the", "time", "machine"})


def test_sample_at_temperature_is_seeded_and_measured() -> None:
    torch.manual_seed(0)
    text = "the time machine " * 30
    vocab = Vocab(list(text))
    model = make_language_model("rnn", len(vocab), 8, embedding_dim=4)
    words = nb02.book_words(text)
    a = nb02.sample_at_temperature(model, vocab, "the ", 1.0, 40, words, seed=3)
    b = nb02.sample_at_temperature(model, vocab, "the ", 1.0, 40, words, seed=3)
    assert a.continuation == b.continuation and len(a.continuation) == 40
    assert a.probabilities.shape == (len(vocab),) and a.probabilities[vocab.unk] == 0
    assert abs(float(a.probabilities.sum()) - 1) < 1e-9 and 0 < a.entropy_bits < math.log2(len(vocab))
    greedy = nb02.sample_at_temperature(model, vocab, "the ", 0, 40, words)
    assert greedy.entropy_bits == 0.0 and "the " + greedy.continuation == sample(model, vocab, "the ", 40, 0)
    with pytest.raises(ValueError, match="prefix"):
        nb02.sample_at_temperature(model, vocab, "", 1.0, 5, words)


TEXT = "the quick brown fox jumps over the lazy dog " * 20


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def lm():
    torch.manual_seed(0)
    vocab = Vocab(list(TEXT))
    model = make_language_model("rnn", len(vocab), 8, embedding_dim=4)
    return model, vocab, set(TEXT.split())


def test_temperature_slider_resamples_and_zero_is_greedy(lm) -> None:
    model, vocab, words = lm
    explorer = temperature_explorer(model, vocab, words, prefix="the ", temperature=1.0, num_chars=30)
    warm = explorer.result
    assert warm.temperature == 1.0 and len(warm.continuation) == 30 and explorer.error is None
    explorer.controls["temperature"].value = 0.0
    greedy = explorer.result
    assert greedy.temperature == 0.0 and greedy.entropy_bits == 0.0 and float(greedy.probabilities.max()) == 1.0
    assert greedy.prefix + greedy.continuation == sample(model, vocab, "the ", 30, temperature=0)
    explorer.controls["temperature"].value = 2.0
    assert explorer.result.entropy_bits > warm.entropy_bits
    assert "entropy" in explorer.summary.value and "real words" in explorer.summary.value


def test_temperature_explorer_empty_prefix_is_a_message(lm) -> None:
    model, vocab, words = lm
    explorer = temperature_explorer(model, vocab, words, prefix="the ", num_chars=5)
    explorer.controls["prefix"].value = ""
    assert explorer.result is None and "prefix must hold at least one character" in explorer.error
    assert "cannot compute" in explorer.summary.value
    explorer.controls["prefix"].value = "a"
    assert explorer.error is None and explorer.result.prefix == "a"


def test_temperature_summary_escapes_html(lm) -> None:
    model, vocab, words = lm
    explorer = temperature_explorer(model, vocab, words, prefix="<b>", num_chars=3)
    assert "&lt;b&gt;" in explorer.summary.value

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
from seqlib.language_models import detach_state, make_language_model, sample
from seqlib.train import train

F64 = torch.float64

NAMES = sorted(name for name in EXERCISES if name.startswith("02."))


def test_notebook_02_has_at_least_three_exercises() -> None:
    assert NAMES == ["02.perplexity", "02.rnn_forward", "02.softmax_temperature", "02.train_step"]


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


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")  # the Explorers draw a figure at every move; outside a notebook nothing closes them


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


@pytest.mark.parametrize("temperature", [1e-320, 5e-324, 1e-300])
def test_a_tiny_temperature_samples_greedily_instead_of_crashing(lm, temperature) -> None:
    model, vocab, words = lm
    explorer = temperature_explorer(model, vocab, words, prefix="the ", num_chars=20)
    explorer.controls["temperature"].value = temperature  # softmax(z / κ) once gave inf / inf = NaN here
    assert explorer.error is None and explorer.result.entropy_bits == 0.0
    assert explorer.result.prefix + explorer.result.continuation == sample(model, vocab, "the ", 20, temperature=0)


def test_a_nan_temperature_or_an_unknown_character_is_a_message(lm) -> None:
    model, vocab, words = lm
    explorer = temperature_explorer(model, vocab, words, prefix="the ", num_chars=5)
    explorer.controls["temperature"].value = float("nan")
    message = "temperature must be a finite number >= 0 (0 = greedy), got nan"
    assert explorer.result is None and explorer.error == message
    explorer.controls["temperature"].value = 1.0
    explorer.controls["prefix"].value = "The Time"  # capitals: never in the vocabulary, once read silently as <unk>
    assert explorer.result is None and "the prefix holds characters the model never saw: 'T'" in explorer.error


def test_temperature_summary_escapes_html(lm) -> None:
    model, vocab, words = lm
    explorer = temperature_explorer(model, vocab, words, prefix="<b>", num_chars=3)  # '<' and '>': never seen
    assert explorer.result is None and "characters the model never saw: '<>'" in explorer.error
    assert "'&lt;>'" in explorer.summary.value and explorer.summary.value.count("<b>") == 1


# --- 02.train_step ------------------------------------------------------------------------------------


def _one_step_of_the_course_loop(model, X, Y, state, max_norm):
    """One step of seqlib.train.train, as train_language_model runs it, on a copy of ``model`` (SGD, lr 0.5)."""
    loop_model = make_language_model("rnn", model.vocab_size, model.recurrent.hidden_size, embedding_dim=2).double()
    loop_model.load_state_dict(model.state_dict())
    carried = [state]

    def loss_fn(batch):
        logits, carried[0] = loop_model(batch[0], carried[0])
        return torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), batch[1].reshape(-1))

    def truncate() -> None:
        carried[0] = detach_state(carried[0])

    optimizer = torch.optim.SGD(loop_model.parameters(), lr=0.5)
    result = train(loop_model, [(X, Y)], loss_fn, optimizer=optimizer, clip=max_norm, max_steps=1, after_step=truncate)
    return loop_model, result.losses[0], carried[0]


def test_train_step_reference_is_one_step_of_the_course_loop() -> None:
    """The exercise's step = one step of seqlib.train.train with the language model's loss, clip and detach."""
    for model, optimizer, X, Y, state, max_norm in EXERCISES["02.train_step"].cases():
        loop_model, loop_loss, loop_state = _one_step_of_the_course_loop(model, X, Y, state, max_norm)
        loss, new_state = nb02.train_step(model, optimizer, X, Y, state, max_norm)
        assert isinstance(loss, float) and loss == pytest.approx(loop_loss, rel=1e-12)
        assert new_state.grad_fn is None and torch.equal(new_state, loop_state)
        for mine, theirs in zip(model.parameters(), loop_model.parameters(), strict=True):
            torch.testing.assert_close(mine, theirs, rtol=0, atol=1e-12)


def test_observed_step_leaves_the_callers_arguments_alone_and_reports_the_graph() -> None:
    model, optimizer, X, Y, state, max_norm = EXERCISES["02.train_step"].cases()[0]
    before = [p.detach().clone() for p in model.parameters()]
    loss, new_state, status, moved = nb02.observed_step(nb02.train_step)(model, optimizer, X, Y, state, max_norm)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
    assert all(p.grad is None for p in model.parameters())
    assert status == "cut from the graph (no grad_fn)" and moved.moved > 0 and "moved by" in repr(moved)

    def attached(model, optimizer, X, Y, state, max_norm):
        logits, state = model(X, state)
        return 0.0, state

    assert "grad_fn" in nb02.observed_step(attached)(model, optimizer, X, Y, state, max_norm)[2]


def test_observed_step_rejects_a_step_that_returns_one_value() -> None:
    case = EXERCISES["02.train_step"].cases()[0]
    with pytest.raises(ValueError, match=r"returns two values, \(loss, new_state\)"):
        nb02.observed_step(lambda *args: 1.0)(*case)


def _learner_step(zero=True, clip="global", after=False, detach=True):
    def step(model, optimizer, X, Y, state, max_norm):
        if zero:
            model.zero_grad()
        logits, state = model(X, state)
        loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), Y.flatten())
        loss.backward()
        if not after:
            if clip == "global":
                torch.nn.utils.clip_grad_norm_(list(model.parameters()), max_norm)
            else:
                for parameter in model.parameters():
                    torch.nn.utils.clip_grad_norm_([parameter], max_norm)
        optimizer.step()
        if after:
            torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
        return loss.item(), state.detach() if detach else state

    return step


def test_train_step_mistakes_written_as_a_learner_would() -> None:
    def message(step) -> str:
        return nb02.check_train_step(step, quiet=True).message

    assert nb02.check_train_step(_learner_step(), quiet=True).passed  # zero first, flatten, list of parameters
    assert "still attached to the graph" in message(_learner_step(detach=False))
    assert "clipping comes after optimizer.step()" in message(_learner_step(after=True))
    assert "gradients were not zeroed" in message(_learner_step(zero=False))
    assert "clipped each parameter on its own" in message(_learner_step(clip="each"))


def test_train_step_loss_as_a_tensor_is_told_to_use_item() -> None:
    def tensor_loss(model, optimizer, X, Y, state, max_norm):
        loss, state = nb02.train_step(model, optimizer, X, Y, state, max_norm)
        return torch.tensor(loss, dtype=torch.float64), state

    feedback = nb02.check_train_step(tensor_loss, quiet=True)
    assert feedback.status == "wrong" and "value 0: expected a Python float" in feedback.message


def test_train_step_stub_is_not_done(capsys) -> None:
    def stub(model, optimizer, X, Y, state, max_norm):
        raise NotImplementedError

    assert nb02.check_train_step(stub).status == "todo"
    assert "not done yet" in capsys.readouterr().out
    assert "train_step(model, optimizer, X, Y, state, max_norm)" in checker.solution("02.train_step")


# --- the first input's survival, W_hh rescaled ----------------------------------------------------------


@pytest.fixture()
def survival_pair():
    torch.manual_seed(0)
    rnn = seqlib.RNN(2, 3, batch_first=True)
    with torch.no_grad():
        rnn.weight_hh_l0.copy_(torch.tensor([[0.5, 0.0, 0.0], [0.0, 0.5, -0.5], [0.25, 0.0, 0.5]]))  # ρ = 0.5
    x_a = torch.randn(1, 30, 2)
    x_b = x_a.clone()
    x_b[0, 0] = -x_a[0, 0]
    return rnn, x_a, x_b


def test_survival_at_the_rnns_own_radius_is_the_unscaled_gap(survival_pair) -> None:
    rnn, x_a, x_b = survival_pair
    result = nb02.first_input_survival(rnn, x_a, x_b, 0.5)
    assert result.scale == pytest.approx(1.0) and result.num_steps == 30
    torch.testing.assert_close(result.gaps, (rnn(x_a)[0] - rnn(x_b)[0]).norm(dim=-1)[0])
    above = result.gaps > result.threshold
    assert above[: result.survival_steps].all() and not above[result.survival_steps]


def test_survival_extremes(survival_pair) -> None:
    rnn, x_a, x_b = survival_pair
    weight = rnn.weight_hh_l0.detach().clone()
    mlp = nb02.first_input_survival(rnn, x_a, x_b, 0.0)
    assert mlp.survival_steps == 1 and (mlp.gaps[1:] == 0).all() and mlp.scale == 0.0  # forgotten at once
    huge = nb02.first_input_survival(rnn, x_a, x_b, 1e6)  # every unit at ±1: the inputs no longer count
    assert huge.saturated == 1.0 and torch.isfinite(huge.gaps).all() and "saturated" in nb02.survival_text(huge)
    # saturated, the two states are either one sign pattern (gap exactly 0, here) or two that never meet
    assert not huge.survives_to_the_end and (huge.gaps[huge.survival_steps :] == 0).all()
    kept = nb02.FirstInputSurvival(1.0, 1.0, torch.ones(4), 0.01, 4, 0.5)
    assert "remembered to the end (4 of 4 steps)" in nb02.survival_text(kept)
    assert torch.equal(rnn.weight_hh_l0, weight)  # the caller's RNN is untouched
    for bad in [-0.1, float("nan"), float("inf"), "1"]:
        with pytest.raises(ValueError, match="spectral radius must be a finite number"):
            nb02.first_input_survival(rnn, x_a, x_b, bad)


def test_survival_needs_a_rescalable_w_hh(survival_pair) -> None:
    rnn, x_a, x_b = survival_pair
    with torch.no_grad():
        rnn.weight_hh_l0.zero_()
    assert nb02.first_input_survival(rnn, x_a, x_b, 0.0).survival_steps == 1
    with pytest.raises(ValueError, match="spectral radius 0"):
        nb02.first_input_survival(rnn, x_a, x_b, 1.0)


def test_survival_slider_drives_and_reports(survival_pair) -> None:
    rnn, x_a, x_b = survival_pair
    explorer = nb02.survival_explorer(rnn, x_a, x_b)
    assert explorer.result.radius == pytest.approx(0.5) and "ρ(W_hh) = 0.50" in explorer.summary.value
    explorer.controls["radius"].value = 0.0
    assert explorer.result.survival_steps == 1 and "1 of 30 steps" in explorer.summary.value
    explorer.controls["radius"].value = 3.0
    assert explorer.result.radius == 3.0 and explorer.error is None


# --- the wide layer as T layers, its figure; the model's size ---------------------------------------------


def test_first_input_reaches_the_last_state_after_t_passes() -> None:
    torch.manual_seed(3)
    rnn = seqlib.RNN(2, 3, batch_first=True).to(F64)
    wide = nb02.unroll_as_wide_layer(rnn, 5)
    reach = nb02.first_input_reach(wide, torch.randn(1, 5, 2, dtype=F64))
    assert reach.passes == (0, 1, 2, 3, 4, 5) and reach.first_nonzero == 5
    assert reach.gradient_norms[:5] == (0.0,) * 5 and reach.gradient_norms[5] > 0
    with pytest.raises(ValueError, match=r"\(1, T, I\)"):
        nb02.first_input_reach(wide, torch.randn(2, 5, 2, dtype=F64))


def test_plot_wide_layer_labels_every_block() -> None:
    import matplotlib.pyplot as plt

    wide = nb02.unroll_as_wide_layer(seqlib.RNNCell(2, 3), 4)
    fig = nb02.plot_wide_layer(wide)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == [f"$x_{{{t}}}$" for t in range(1, 5)] + [
        f"$h_{{{t}}}$" for t in range(1, 5)
    ]
    assert len(ax.get_yticklabels()) == 4 and ax.get_xlabel() and ax.get_ylabel() and len(fig.axes) == 2
    plt.close(fig)


def test_parameter_counts_add_up() -> None:
    model = make_language_model("rnn", 28, 256, embedding_dim=32)
    counts = nb02.parameter_counts(model)
    assert counts == (28 * 32, 32 * 256 + 256 * 256 + 2 * 256, 256 * 28 + 28)
    assert counts.total == sum(p.numel() for p in model.parameters()) == 82_332


# --- the result file of bench/rnn_lm_seeds.py ----------------------------------------------------------


def test_shipped_seed_runs_hold_the_notebooks_settings() -> None:
    runs = nb02.load_seed_runs()
    assert runs.settings["training"] | {"max_steps": 1200} == {
        "batch_size": 32, "num_steps": 35, "lr": 1e-2, "lr_schedule": "cosine", "clip": 1.0, "max_steps": 1200,
        "eval_every": 240, "optimizer": "Adam (seqlib.train.train's default)",
    }
    assert runs.settings["model"] == {"kind": "rnn", "hidden_size": 256, "embedding_dim": 32, "vocab_size": 28,
                                      "parameters": 82_332}
    assert runs.settings["environment"] == {"MKL_CBWR": "COMPATIBLE", "ATEN_CPU_CAPABILITY": "default"}
    assert runs.seeds("notebook") == [0, 1, 2] and runs.run("notebook", 0)["steps"] == [240, 480, 720, 960, 1200]
    assert len(runs.perplexities("notebook")) == 3 and len(runs.perplexities("notebook", "training")) == 3
    with pytest.raises(KeyError, match="0 runs with arm='nope'"):
        runs.run("nope", 0)


def test_load_seed_runs_says_what_is_wrong(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="bench/rnn_lm_seeds.py"):
        nb02.load_seed_runs(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text('{"runs": []}', encoding="utf-8")
    with pytest.raises(ValueError, match="missing \\['settings'\\]"):
        nb02.load_seed_runs(bad)
    good = tmp_path / "good.json"
    good.write_text(nb02.SeedRuns({"a": 1}, [{"arm": "x", "seed": 1}]).to_json(), encoding="utf-8")
    assert nb02.load_seed_runs(good).run("x", 1) == {"arm": "x", "seed": 1}


def test_temperature_is_kappa_in_the_widget(lm) -> None:
    model, vocab, words = lm
    explorer = temperature_explorer(model, vocab, words, prefix="the ", num_chars=3)
    assert "κ" in explorer.controls["temperature"].description and explorer.summary.value.startswith("κ = 1.00")
    assert "τ" not in explorer.summary.value

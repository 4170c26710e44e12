"""seqlib.experiments: the unrolled RNN, the temperature tools, gradient flow and the long-memory task."""

from __future__ import annotations

import math

import pytest
import torch

import seqlib
from seqlib.data import Vocab
from seqlib.experiments import char_lm, unrolled
from seqlib.experiments import gradient_flow as gf
from seqlib.experiments import long_memory as lm
from seqlib.language_models import make_language_model, sample
from seqlib.long_term import hidden_state_gradient_norms

F64 = torch.float64


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Small models: one thread is faster, and on a shared machine two threads can wait on each other."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)

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


# --- gradient_flow ---------------------------------------------------------------------------------



@pytest.fixture(scope="module")
def snippets():
    generator = torch.Generator().manual_seed(0)
    corpus = torch.randint(6, (400,), generator=generator)
    return gf.text_snippets(corpus, num_snippets=3, length=12, stride=100, offset=10)


def test_text_snippets_shape_and_bounds() -> None:
    corpus = torch.arange(50)
    ids = gf.text_snippets(corpus, num_snippets=2, length=4, stride=10, offset=3)
    assert ids.tolist() == [[3, 4, 5, 6, 7], [13, 14, 15, 16, 17]]
    with pytest.raises(ValueError, match="corpus has 50 tokens"):
        gf.text_snippets(corpus, num_snippets=6, length=4, stride=10, offset=3)


def test_rnn_profile_sets_the_radius_and_leaves_the_random_stream(snippets) -> None:
    state = torch.random.get_rng_state()
    small = gf.rnn_gradient_profile(snippets, 6, radius=0.3, hidden_size=5)
    assert torch.equal(state, torch.random.get_rng_state())
    assert abs(small.radius - 0.3) < 1e-9 and small.norms.shape == (12,) and small.relative[-1] == 1
    assert (small.relative[1:] >= small.relative[:-1]).all() and small.relative[0] < 1e-4
    assert abs(small.per_step - float(small.relative[0]) ** (1 / 11)) < 1e-12
    large = gf.rnn_gradient_profile(snippets, 6, radius=4.0, hidden_size=5)
    assert large.relative[0] > 1
    assert gf.rnn_gradient_profile(snippets, 6, radius=None, hidden_size=5).radius < 1  # torch's init
    with pytest.raises(ValueError, match="radius must be a positive number"):
        gf.rnn_gradient_profile(snippets, 6, radius=0.0)


def _manual_lstm_norms(cell: seqlib.LSTMCell, x: torch.Tensor, weights: torch.Tensor):
    """∂L/∂h_t and ∂L/∂c_t by zero perturbations added to each state: the total derivatives."""
    B, T, _ = x.shape
    h = c = torch.zeros(B, cell.hidden_size, dtype=F64)
    eps_h, eps_c, hs = [], [], []
    for t in range(T):
        _, trace = cell(x[:, t], (h, c), return_gates=True)  # gates from (h_{t-1}, c_{t-1})
        e_h, e_c = torch.zeros_like(h, requires_grad=True), torch.zeros_like(c, requires_grad=True)
        c = trace.f * c + trace.i * trace.g + e_c  # c_t, perturbed before h_t reads it
        h = trace.o * torch.tanh(c) + e_h
        eps_h.append(e_h)
        eps_c.append(e_c)
        hs.append(h)
    loss = (torch.stack(hs, dim=1) * weights).sum()
    grads = torch.autograd.grad(loss, eps_h + eps_c)
    return torch.stack([g.norm() for g in grads[:T]]), torch.stack([g.norm() for g in grads[T:]])


def test_lstm_state_gradient_norms_are_the_total_derivatives() -> None:
    torch.manual_seed(3)
    lstm = seqlib.LSTM(3, 4, batch_first=True).to(F64)
    cell = seqlib.LSTMCell(3, 4).to(F64)
    cell.load_state_dict({k[:-3]: v for k, v in lstm.state_dict().items()})
    x = torch.randn(2, 6, 3, dtype=F64)
    weights = torch.randn(2, 6, 4, dtype=F64)
    h_norms, c_norms = gf.lstm_state_gradient_norms(lstm, x, lambda hs: (hs * weights).sum())
    h_ref, c_ref = _manual_lstm_norms(cell, x, weights)
    torch.testing.assert_close(h_norms, h_ref, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(c_norms, c_ref, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(h_norms, hidden_state_gradient_norms(lstm, x, lambda hs: (hs * weights).sum()))
    with pytest.raises(ValueError, match="batch_first=True"):
        gf.lstm_state_gradient_norms(seqlib.LSTM(3, 4), x, lambda hs: hs.sum())


def test_lstm_profile_forget_path(snippets) -> None:
    from seqlib.exercises.nb03 import forget_path

    closed = gf.lstm_gradient_profile(snippets, 6, forget_bias=-2.0, hidden_size=5)
    opened = gf.lstm_gradient_profile(snippets, 6, forget_bias=6.0, hidden_size=5)
    assert closed.forget_path[-1] == 1 and opened.forget_path[-1] == 1
    assert float(opened.forget.mean()) > 0.99 > 0.2 > float(closed.forget.mean())
    assert opened.forget_path[0] > 0.8 and closed.forget_path[0] < 1e-8
    assert opened.c_relative[0] > 1e3 * closed.c_relative[0]
    # the path is the mean over samples and units of ∏_{k>t} f_k (the exercise's reference, per sequence)
    lstm = seqlib.LSTM(6, 5, batch_first=True).double()
    torch.manual_seed(0)
    lstm = seqlib.LSTM(6, 5, batch_first=True).double()
    with torch.no_grad():
        lstm.bias_ih_l0[5:10] = 6.0
        lstm.bias_hh_l0[5:10] = 0.0
    f = lstm(torch.nn.functional.one_hot(snippets[:, :-1], 6).double(), return_gates=True)[2][0][0].f
    expected = torch.stack([forget_path(f[b]) for b in range(len(f))]).mean(dim=(0, 2))
    torch.testing.assert_close(opened.forget_path, expected)


def test_clip_by_global_norm_matches_torch() -> None:
    torch.manual_seed(4)
    grads = [torch.randn(3, 4, dtype=F64) * 10, torch.randn(5, dtype=F64) * 10]
    params = [torch.zeros_like(g, requires_grad=True) for g in grads]
    for p, g in zip(params, grads, strict=True):
        p.grad = g.clone()
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    for mine, p in zip(gf.clip_by_global_norm(grads, 1.0), params, strict=True):
        torch.testing.assert_close(mine, p.grad, rtol=1e-5, atol=1e-8)
    small = [torch.full((2,), 0.1, dtype=F64)]
    assert torch.equal(gf.clip_by_global_norm(small, 1.0)[0], small[0])
    with pytest.raises(ValueError, match="max_norm"):
        gf.clip_by_global_norm(small, 0.0)


def test_clipping_step(snippets) -> None:
    result = gf.clipping_step(snippets, 6, radius=5.0, hidden_size=5)
    assert result.grad_norm > 1 and abs(result.step_clipped - 0.1) < 1e-9
    assert abs(result.step_unclipped - 0.1 * result.grad_norm) < 1e-9 * result.grad_norm
    assert abs(result.cosine_global - 1) < 1e-12 and result.cosine_elementwise <= 1 + 1e-12
    assert 0 <= result.saturated_clipped <= 1 and 0 <= result.saturated_unclipped <= 1


# --- long_memory -----------------------------------------------------------------------------------



def test_marked_recall_task() -> None:
    generator = torch.Generator().manual_seed(0)
    inputs, targets = lm.marked_recall_task(7, lag=4, vocab_size=3, prefix=2, generator=generator)
    assert inputs.shape == (7, 2 + 4 + 1, 4) and targets.shape == (7,) and targets.dtype == torch.long
    assert (inputs[:, :, -1].sum(dim=1) == 1).all() and (inputs[:, 2, -1] == 1).all()  # one marker, at the prefix
    assert torch.equal(inputs[:, 2, :3].argmax(dim=-1), targets)  # the answer is the marked letter
    assert (inputs[:, :, :3].sum(dim=-1) == 1).all()  # one letter per step
    for bad in [{"lag": 0}, {"vocab_size": 1}, {"prefix": -1}, {"num_samples": 0}]:
        kwargs = {"num_samples": 2, "lag": 3, "vocab_size": 4, "prefix": 1} | bad
        with pytest.raises(ValueError):
            lm.marked_recall_task(**kwargs)


@pytest.mark.parametrize("kind", lm.KINDS)
def test_parameter_budget(kind: str) -> None:
    H = lm.hidden_size_for_budget(kind, 4, 5000)
    net = lm.RecallNet(kind, 4, H)
    count = sum(p.numel() for p in net.parameters())
    assert count == lm.parameter_count(kind, 4, H) and abs(count - 5000) < 0.06 * 5000
    assert net(torch.zeros(3, 6, 5)).shape == (3, 4)


def test_gate_bias_init() -> None:
    torch.manual_seed(0)
    lstm = lm.gate_bias_init_(seqlib.LSTM(5, 8, batch_first=True), "chrono", max_lag=20)
    b_f = lstm.bias_ih_l0[8:16] + lstm.bias_hh_l0[8:16]
    b_i = lstm.bias_ih_l0[:8] + lstm.bias_hh_l0[:8]
    assert (b_f >= 0).all() and (b_f <= torch.log(torch.tensor(19.0))).all() and torch.equal(b_i, -b_f)
    gru = lm.gate_bias_init_(seqlib.GRU(5, 8), "forget+1")
    assert torch.equal(gru.bias_ih_l0[8:16] + gru.bias_hh_l0[8:16], torch.ones(8))
    default = seqlib.LSTM(5, 8)
    before = {k: v.clone() for k, v in default.state_dict().items()}
    lm.gate_bias_init_(default, "default")
    assert all(torch.equal(before[k], v) for k, v in default.state_dict().items())
    with pytest.raises(ValueError, match="no gate"):
        lm.gate_bias_init_(seqlib.RNN(5, 8), "chrono")
    with pytest.raises(ValueError, match="no gate"):
        lm.RecallSettings("rnn", 5, gate_init="chrono")
    with pytest.raises(ValueError, match="gate_init"):
        lm.gate_bias_init_(seqlib.LSTM(5, 8), "open")


def test_train_recall_short_lag_is_learned_and_reproducible() -> None:
    settings = lm.RecallSettings("lstm", lag=2, gate_init="chrono", max_steps=200, eval_every=25, test_samples=300)
    run, net = lm.train_recall(settings, seed=0)
    assert run.accuracy > 0.95 and run.steps < 200 and run.history[-1][2] >= 0.99
    again, _ = lm.train_recall(settings, seed=0)
    assert again.accuracy == run.accuracy and again.history == run.history
    inputs, targets = lm.marked_recall_task(16, 2)
    assert lm.input_gradient_norms(net, inputs, targets).shape == (5 + 2 + 1,)


def test_default_gates_let_almost_no_gradient_reach_the_marked_letter() -> None:
    inputs, targets = lm.marked_recall_task(64, 40, generator=torch.Generator().manual_seed(1))
    ratios = {}
    for gate_init in ("default", "chrono"):
        torch.manual_seed(0)
        net = lm.make_recall_net("lstm", gate_init=gate_init, max_lag=41)
        norms = lm.input_gradient_norms(net, inputs, targets)
        ratios[gate_init] = float(norms[5] / norms[-1])  # the marked step against the last one
    assert ratios["default"] < 1e-8 and ratios["chrono"] > 1e3 * ratios["default"]


def _fake_results() -> lm.LongMemoryResults:
    runs = []
    for arm, accuracies in [("rnn", {0.01: [0.3, 0.2], 0.003: [0.9, 0.8]}), ("lstm", {0.01: [1.0, 1.0]})]:
        for lr, values in accuracies.items():
            for seed, accuracy in enumerate(values):
                runs.append({"arm": arm, "lag": 10, "lr": lr, "prefix": 5, "seed": seed, "accuracy": accuracy,
                             "val_accuracy": accuracy, "steps": 600})
    return lm.LongMemoryResults(settings={"chance": 0.25}, runs=runs)


def test_results_pick_the_best_learning_rate_on_validation(tmp_path) -> None:
    results = _fake_results()
    assert results.arms == ["rnn", "lstm"] and results.lags() == [10] and results.seeds == [0, 1]
    assert results.best_lr("rnn", 10, 5) == 0.003 and results.accuracies("rnn", 10, 5) == [0.9, 0.8]
    assert results.accuracies("rnn", 10, 5, lr=0.01) == [0.3, 0.2]
    with pytest.raises(KeyError, match="no runs"):
        results.accuracies("gru", 10, 5)
    path = tmp_path / "r.json"
    path.write_text(results.to_json())
    assert lm.load_results(path) == results
    with pytest.raises(FileNotFoundError, match="bench/long_memory.py"):
        lm.load_results(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(ValueError, match="missing"):
        lm.load_results(tmp_path / "bad.json")

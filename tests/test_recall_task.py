"""seqlib.recall_task: the marked-recall task, its networks at equal parameter budgets, gate inits and training."""

from __future__ import annotations

import pytest
import torch

import seqlib
from seqlib import recall_task as lm
from seqlib.init import spectral_radius

F64 = torch.float64


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Small models: one thread is faster, and on a shared machine two threads can wait on each other."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)

# --- gradient_flow ---------------------------------------------------------------------------------


# --- the task, the networks, the gate inits, training ---------------------------------------------


def test_the_answer_is_the_marked_letter_one_marker_one_letter_per_step() -> None:
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
def test_every_kind_gets_about_the_same_parameter_budget(kind: str) -> None:
    H = lm.hidden_size_for_budget(kind, 4, 5000)
    net = lm.RecallNet(kind, 4, H)
    count = sum(p.numel() for p in net.parameters())
    assert count == lm.parameter_count(kind, 4, H) and abs(count - 5000) < 0.06 * 5000
    assert net(torch.zeros(3, 6, 5)).shape == (3, 4)


def test_gate_inits_open_the_keep_gate_and_refuse_a_gateless_rnn() -> None:
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
    # the plain RNN's own starts: W_hh = I, or torch's W_hh at spectral radius 1; not for gated cells
    rnn = lm.gate_bias_init_(seqlib.RNN(5, 8), "identity")
    assert torch.equal(rnn.weight_hh_l0.detach(), torch.eye(8))
    rnn = lm.gate_bias_init_(seqlib.RNN(5, 8), "radius1")
    assert abs(spectral_radius(rnn.weight_hh_l0) - 1.0) < 1e-5
    with pytest.raises(ValueError, match="plain RNN"):
        lm.gate_bias_init_(seqlib.LSTM(5, 8), "radius1")
    assert lm.make_recall_net("rnn", gate_init="radius1").kind == "rnn"


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



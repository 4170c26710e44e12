"""seqlib's RNN/LSTM/GRU and their cells equal torch.nn's: outputs, states and every gradient."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import nn

import seqlib
from seqlib import recurrent as R

MODES = ["RNN", "LSTM", "GRU"]
I, H, T, B = 3, 4, 5, 2
F64 = torch.float64


def _pair(mode: str, seed: int = 0, **kwargs):
    """A float64 torch.nn module and the seqlib module built from it."""
    torch.manual_seed(seed)
    reference = getattr(nn, mode)(I, H, **kwargs).to(F64)
    return reference, getattr(R, mode).from_torch(reference)


def _states(state) -> tuple[torch.Tensor, ...]:
    return state if isinstance(state, tuple) else (state,)


def _initial_state(mode: str, shape: tuple[int, ...], requires_grad: bool = True):
    states = tuple(torch.randn(shape, dtype=F64, requires_grad=requires_grad) for _ in range(2))
    return states if mode == "LSTM" else states[0]


def _run_and_grad(module, x, hx, weights):
    """Forward, a loss touching output and every final state, backward; returns values and grads."""
    output, state = module(x, hx)
    states = _states(state)
    loss = (output * weights[0]).sum() + sum((s * w).sum() for s, w in zip(states, weights[1:], strict=False))
    leaves = [x, *_states(hx)] if hx is not None else [x]
    grads = torch.autograd.grad(loss, [*leaves, *module.parameters()])
    return output, states, grads


def _assert_parity(mode, x, hx=None, **kwargs):
    """Same output, final state and gradients (input, initial state, every parameter) to 1e-9."""
    reference, mine = _pair(mode, **kwargs)
    output, state = reference(x, hx)
    torch.manual_seed(1)
    weights = [torch.randn_like(output), *(torch.randn_like(s) for s in _states(state))]
    expected = _run_and_grad(reference, x, hx, weights)
    actual = _run_and_grad(mine, x, hx, weights)
    torch.testing.assert_close(actual[0], expected[0], rtol=0, atol=1e-9)
    for got, want in zip(actual[1], expected[1], strict=True):
        assert got.shape == want.shape
        torch.testing.assert_close(got, want, rtol=0, atol=1e-9)
    for got, want in zip(actual[2], expected[2], strict=True):
        torch.testing.assert_close(got, want, rtol=0, atol=1e-9)


CONFIGS = [
    dict(num_layers=layers, bidirectional=bidirectional, batch_first=batch_first, bias=bias)
    for layers, bidirectional, batch_first, bias in itertools.product(
        [1, 2, 3], [False, True], [False, True], [True, False]
    )
]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items()))
def test_module_matches_torch_outputs_states_and_gradients(mode, config):
    torch.manual_seed(2)
    shape = (B, T, I) if config["batch_first"] else (T, B, I)
    x = torch.randn(shape, dtype=F64, requires_grad=True)
    _assert_parity(mode, x, **config)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("case", ["length_1", "batch_1", "unbatched", "given_state", "unbatched_given_state", "long"])
def test_module_edge_cases_match_torch(mode, batch_first, case):
    torch.manual_seed(3)
    layers, directions = 2, 2
    time_steps = {"length_1": 1, "long": 40}.get(case, T)
    batch = 1 if case == "batch_1" else B
    hx = None
    if case.startswith("unbatched"):
        x = torch.randn(time_steps, I, dtype=F64, requires_grad=True)
        if case == "unbatched_given_state":
            hx = _initial_state(mode, (layers * directions, H))
    else:
        shape = (batch, time_steps, I) if batch_first else (time_steps, batch, I)
        x = torch.randn(shape, dtype=F64, requires_grad=True)
        if case == "given_state":
            hx = _initial_state(mode, (layers * directions, batch, H))
    _assert_parity(mode, x, hx, num_layers=layers, bidirectional=True, batch_first=batch_first)


@pytest.mark.parametrize("mode", MODES)
def test_module_float32_matches_torch(mode):
    torch.manual_seed(4)
    reference = getattr(nn, mode)(8, 16, num_layers=2)
    mine = getattr(R, mode).from_torch(reference)
    x = torch.randn(12, 3, 8)
    torch.testing.assert_close(mine(x)[0], reference(x)[0], rtol=1e-5, atol=1e-5)


def test_relu_rnn_matches_torch():
    torch.manual_seed(5)
    x = torch.randn(T, B, I, dtype=F64, requires_grad=True)
    _assert_parity("RNN", x, num_layers=2, nonlinearity="relu", bidirectional=True)


@pytest.mark.parametrize("mode", MODES)
def test_same_seed_gives_torch_initial_weights_and_names(mode):
    torch.manual_seed(6)
    reference = getattr(nn, mode)(I, H, num_layers=2, bidirectional=True)
    torch.manual_seed(6)
    mine = getattr(R, mode)(I, H, num_layers=2, bidirectional=True)
    assert [n for n, _ in mine.named_parameters()] == [n for n, _ in reference.named_parameters()]
    for (name, got), want in zip(mine.named_parameters(), reference.parameters(), strict=True):
        assert got.shape == want.shape, name
        assert torch.equal(got, want), name


@pytest.mark.parametrize("mode", MODES)
def test_state_dict_loads_both_ways(mode):
    torch.manual_seed(7)
    mine = getattr(R, mode)(I, H, num_layers=2, bidirectional=True, batch_first=True)
    reference = getattr(nn, mode)(I, H, num_layers=2, bidirectional=True, batch_first=True)
    reference.load_state_dict(mine.state_dict())
    x = torch.randn(B, T, I)
    torch.testing.assert_close(mine(x)[0], reference(x)[0], rtol=1e-5, atol=1e-6)
    fresh = getattr(R, mode)(I, H, num_layers=2, bidirectional=True, batch_first=True)
    fresh.load_state_dict(reference.state_dict())
    torch.testing.assert_close(fresh(x)[0], reference(x)[0], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("mode", MODES)
def test_from_torch_keeps_config_dtype_and_mode(mode):
    reference = getattr(nn, mode)(I, H, num_layers=3, bias=False, batch_first=True, dropout=0.25)
    reference = reference.to(F64).eval()
    mine = getattr(R, mode).from_torch(reference)
    for name in ["input_size", "hidden_size", "num_layers", "bias", "batch_first", "dropout", "bidirectional"]:
        assert getattr(mine, name) == getattr(reference, name), name
    assert mine.weight_ih_l0.dtype == F64
    assert not mine.training


@pytest.mark.parametrize("mode", MODES)
def test_dropout_only_between_layers_and_only_in_training(mode):
    reference, mine = _pair(mode, num_layers=2, dropout=0.5)
    x = torch.randn(T, B, I, dtype=F64)
    mine.eval()
    reference.eval()
    torch.testing.assert_close(mine(x)[0], reference(x)[0], rtol=0, atol=1e-9)
    mine.train()
    torch.manual_seed(0)
    dropped = mine(x)[0]
    assert not torch.allclose(dropped, reference(x)[0])
    one_layer = getattr(R, mode)(I, H, dropout=0.0).train()
    torch.testing.assert_close(one_layer(x.float())[0], one_layer(x.float())[0])  # no randomness


def test_dropout_with_one_layer_warns_like_torch():
    with pytest.warns(UserWarning, match="num_layers"):
        R.LSTM(I, H, dropout=0.3)


# --- cells -----------------------------------------------------------------------------------------

CELL_CASES = list(itertools.product(["RNN", "LSTM", "GRU"], [True, False], ["batched", "unbatched"], [False, True]))


@pytest.mark.parametrize("mode,bias,layout,given_state", CELL_CASES)
def test_cell_matches_torch(mode, bias, layout, given_state):
    torch.manual_seed(8)
    reference = getattr(nn, mode + "Cell")(I, H, bias=bias).to(F64)
    mine = getattr(R, mode + "Cell").from_torch(reference)
    shape = (B,) if layout == "batched" else ()
    x = torch.randn(*shape, I, dtype=F64, requires_grad=True)
    hx = _initial_state(mode, (*shape, H)) if given_state else None
    expected, actual = _states(reference(x, hx)), _states(mine(x, hx))
    for got, want in zip(actual, expected, strict=True):
        torch.testing.assert_close(got, want, rtol=0, atol=1e-12)
    leaves = [x, *(_states(hx) if given_state else ()), *reference.parameters()]
    loss_ref = sum((s * (k + 1)).sum() for k, s in enumerate(expected))
    loss_mine = sum((s * (k + 1)).sum() for k, s in enumerate(actual))
    grads_ref = torch.autograd.grad(loss_ref, leaves)
    grads_mine = torch.autograd.grad(loss_mine, [x, *(_states(hx) if given_state else ()), *mine.parameters()])
    for got, want in zip(grads_mine, grads_ref, strict=True):
        torch.testing.assert_close(got, want, rtol=0, atol=1e-12)


def test_relu_cell_matches_torch():
    torch.manual_seed(9)
    reference = nn.RNNCell(I, H, nonlinearity="relu").to(F64)
    mine = R.RNNCell.from_torch(reference)
    x = torch.randn(B, I, dtype=F64)
    torch.testing.assert_close(mine(x), reference(x), rtol=0, atol=1e-12)


@pytest.mark.parametrize("mode", MODES)
def test_cell_gradcheck(mode):
    torch.manual_seed(10)
    cell = getattr(R, mode + "Cell")(2, 3).to(F64)
    names = [name for name, _ in cell.named_parameters()]
    params = [p.detach().clone().requires_grad_() for p in cell.parameters()]
    x = torch.randn(2, 2, dtype=F64, requires_grad=True)
    states = tuple(torch.randn(2, 3, dtype=F64, requires_grad=True) for _ in range(2 if mode == "LSTM" else 1))

    def run(x, *tensors):
        state, weights = tensors[: len(states)], tensors[len(states) :]
        hx = state if mode == "LSTM" else state[0]
        out = torch.func.functional_call(cell, dict(zip(names, weights, strict=True)), (x, hx))
        return out

    assert torch.autograd.gradcheck(run, (x, *states, *params))


@pytest.mark.parametrize("mode", MODES)
def test_module_gradcheck_two_layers_bidirectional(mode):
    torch.manual_seed(11)
    module = getattr(R, mode)(2, 2, num_layers=2, bidirectional=True).to(F64)
    names = [name for name, _ in module.named_parameters()]
    params = [p.detach().clone().requires_grad_() for p in module.parameters()]
    x = torch.randn(3, 1, 2, dtype=F64, requires_grad=True)

    def run(x, *weights):
        output, state = torch.func.functional_call(module, dict(zip(names, weights, strict=True)), (x,))
        return output, *_states(state)

    assert torch.autograd.gradcheck(run, (x, *params))


def test_no_fused_recurrent_kernel_is_called(monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("a fused torch recurrent kernel was called")

    for name in ["lstm", "gru", "rnn_tanh", "rnn_relu", "lstm_cell", "gru_cell", "rnn_tanh_cell", "rnn_relu_cell"]:
        monkeypatch.setattr(torch._VF, name, forbidden, raising=False)
    for name in ["RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell"]:
        monkeypatch.setattr(getattr(nn, name), "forward", forbidden)
    x = torch.randn(T, B, I)
    for mode in MODES:
        output, _ = getattr(R, mode)(I, H, num_layers=2, bidirectional=True)(x)
        output.sum().backward()
        getattr(R, mode + "Cell")(I, H)(x[0])


def test_top_level_exports():
    for name in ["RNNCell", "LSTMCell", "GRUCell", "RNN", "LSTM", "GRU"]:
        assert getattr(seqlib, name) is getattr(R, name)
        assert name in seqlib.__all__

"""Gate traces (``return_trace=True``): shapes, and rebuilding h (and c) from the traced gates
reproduces the module's outputs and final states."""

from __future__ import annotations

import pytest
import torch

from seqlib import recurrent as R

I, H, T, B = 3, 4, 6, 2
F64 = torch.float64


def _rebuild(mode: str, trace, h0: torch.Tensor, c0: torch.Tensor | None, reverse: bool):
    """h_t (and c_t) for every t from the traced gates alone; fields (B, T, H)."""
    steps = range(T - 1, -1, -1) if reverse else range(T)
    h, c = h0, c0
    hs, cs = [None] * T, [None] * T
    for t in steps:
        if mode == "RNN":
            h = torch.tanh(trace.pre_activation[:, t])
        elif mode == "LSTM":
            c = trace.f[:, t] * c + trace.i[:, t] * trace.g[:, t]
            h = trace.o[:, t] * torch.tanh(c)
        else:
            h = (1 - trace.z[:, t]) * trace.n[:, t] + trace.z[:, t] * h
        hs[t], cs[t] = h, c
    rebuilt_c = torch.stack(cs, dim=1) if mode == "LSTM" else None
    return torch.stack(hs, dim=1), rebuilt_c


@pytest.mark.parametrize("mode", ["RNN", "LSTM", "GRU"])
@pytest.mark.parametrize("batch_first", [False, True])
def test_rebuilding_h_and_c_from_traced_gates_reproduces_outputs(mode, batch_first):
    torch.manual_seed(0)
    layers, directions = 2, 2
    module = getattr(R, mode)(I, H, num_layers=layers, bidirectional=True, batch_first=batch_first).to(F64)
    x = torch.randn((B, T, I) if batch_first else (T, B, I), dtype=F64)
    initial = tuple(torch.randn(layers * directions, B, H, dtype=F64) for _ in range(2))
    hx = initial if mode == "LSTM" else initial[0]
    output, state, traces = module(x, hx, return_trace=True)
    plain_output, plain_state = module(x, hx)
    torch.testing.assert_close(output, plain_output, rtol=0, atol=0)

    h_n, c_n = state if mode == "LSTM" else (state, None)
    output_bth = output if batch_first else output.transpose(0, 1)  # (B, T, D*H)
    assert len(traces) == layers and all(len(layer) == directions for layer in traces)
    for layer in range(layers):
        for direction in range(directions):
            trace = traces[layer][direction]
            assert type(trace) is {"RNN": R.RNNTrace, "LSTM": R.LSTMTrace, "GRU": R.GRUTrace}[mode]
            assert all(field.shape == (B, T, H) for field in trace)
            index = layer * directions + direction
            c0 = initial[1][index] if mode == "LSTM" else None
            h, c = _rebuild(mode, trace, initial[0][index], c0, reverse=direction == 1)
            torch.testing.assert_close(h, trace.h, rtol=0, atol=1e-12)
            last = 0 if direction == 1 else T - 1
            torch.testing.assert_close(h[:, last], h_n[index], rtol=0, atol=1e-12)
            if mode == "LSTM":
                torch.testing.assert_close(c, trace.c, rtol=0, atol=1e-12)
                torch.testing.assert_close(c[:, last], c_n[index], rtol=0, atol=1e-12)
            if layer == layers - 1:
                torch.testing.assert_close(h, output_bth[..., direction * H : (direction + 1) * H], rtol=0, atol=0)


def test_gates_are_the_activations_of_their_equations():
    torch.manual_seed(1)
    module = R.LSTM(I, H).to(F64)
    x = torch.randn(T, B, I, dtype=F64)
    _, _, traces = module(x, return_trace=True)
    trace = traces[0][0]
    w_ii = module.weight_ih_l0[H : 2 * H]  # rows of the forget gate: i|f|g|o
    w_hf = module.weight_hh_l0[H : 2 * H]
    bias = module.bias_ih_l0[H : 2 * H] + module.bias_hh_l0[H : 2 * H]
    h_prev = torch.cat([torch.zeros(B, 1, H, dtype=F64), trace.h[:, :-1]], dim=1)  # (B, T, H)
    # f_t = σ(W_if x_t + b_if + W_hf h_{t-1} + b_hf)
    f = torch.sigmoid(x.transpose(0, 1) @ w_ii.T + h_prev @ w_hf.T + bias)
    torch.testing.assert_close(trace.f, f, rtol=0, atol=1e-12)
    assert ((trace.i > 0) & (trace.i < 1)).all() and ((trace.g > -1) & (trace.g < 1)).all()


def test_relu_rnn_trace():
    module = R.RNN(I, H, nonlinearity="relu").to(F64)
    x = torch.randn(T, B, I, dtype=F64)
    output, _, traces = module(x, return_trace=True)
    torch.testing.assert_close(torch.relu(traces[0][0].pre_activation), output.transpose(0, 1))


@pytest.mark.parametrize("mode", ["RNN", "LSTM", "GRU"])
def test_unbatched_trace_fields_are_time_by_hidden(mode):
    module = getattr(R, mode)(I, H, num_layers=2, bidirectional=True)
    output, _, traces = module(torch.randn(T, I), return_trace=True)
    assert output.shape == (T, 2 * H)
    assert all(field.shape == (T, H) for layer in traces for trace in layer for field in trace)
    torch.testing.assert_close(traces[1][1].h, output[:, H:], rtol=0, atol=0)


@pytest.mark.parametrize("mode", ["RNN", "LSTM", "GRU"])
@pytest.mark.parametrize("batched", [True, False])
def test_cell_trace_matches_cell_output(mode, batched):
    cell = getattr(R, mode + "Cell")(I, H)
    x = torch.randn(B, I) if batched else torch.randn(I)
    result, trace = cell(x, return_trace=True)
    h = result[0] if mode == "LSTM" else result
    assert torch.equal(trace.h, h)
    assert all(field.shape == h.shape for field in trace)
    if mode == "LSTM":
        assert torch.equal(trace.c, result[1])
        torch.testing.assert_close(trace.c, trace.i * trace.g)  # c_0 = 0


def test_traces_are_differentiable():
    module = R.GRU(I, H)
    _, _, traces = module(torch.randn(T, B, I), return_trace=True)
    traces[0][0].z.sum().backward()
    assert module.weight_hh_l0.grad is not None


def test_default_call_returns_exactly_two_values():
    assert len(R.LSTM(I, H)(torch.randn(T, B, I))) == 2
    assert len(R.LSTM(I, H)(torch.randn(T, B, I), return_trace=True)) == 3


@pytest.mark.parametrize("mode", ["RNN", "LSTM"])
def test_gradient_of_a_loss_on_gates_matches_a_cell_by_cell_unroll(mode):
    """The W_hh gradient computed as one product after the loop is right for any loss, not only
    one on the outputs: here a loss on the gates alone, against autograd through the cells."""
    torch.manual_seed(2)
    module = getattr(R, mode)(I, H, batch_first=True).to(F64)
    cell = getattr(R, mode + "Cell")(I, H).to(F64)
    cell.load_state_dict({name[: -len("_l0")]: value for name, value in module.state_dict().items()})
    x = torch.randn(B, T, I, dtype=F64)
    _, _, traces = module(x, return_trace=True)
    first = traces[0][0][0]  # pre_activation (RNN) or i (LSTM): (B, T, H)
    expected_loss = 0.0
    state = None
    for t in range(T):
        result, trace = cell(x[:, t], state, return_trace=True)
        state = result
        expected_loss = expected_loss + trace[0].square().sum()
    got = torch.autograd.grad(first.square().sum(), list(module.parameters()))
    want = torch.autograd.grad(expected_loss, list(cell.parameters()))
    for g, w in zip(got, want, strict=True):
        torch.testing.assert_close(g, w, rtol=1e-10, atol=1e-12)


def test_only_recurrent_weight_trainable_still_gets_its_gradient():
    module = R.LSTM(I, H)
    for name, parameter in module.named_parameters():
        parameter.requires_grad_(name == "weight_hh_l0")
    output, _ = module(torch.randn(T, B, I))
    output.sum().backward()
    assert module.weight_hh_l0.grad is not None and module.weight_hh_l0.grad.abs().sum() > 0


def test_double_backward_raises_instead_of_returning_wrong_numbers():
    module = R.RNN(I, H).to(F64)
    output, _ = module(torch.randn(T, B, I, dtype=F64))
    (grad,) = torch.autograd.grad(output.square().sum(), module.weight_hh_l0, create_graph=True)
    with pytest.raises(RuntimeError):
        grad.sum().backward()

"""seqlib.gradients: ‖∂L/∂h_t‖ (and ‖∂L/∂c_t‖ for an LSTM) per step are the total derivatives."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import seqlib
from seqlib import recurrent as R
from seqlib.gradients import state_gradient_norms
from seqlib.init import set_spectral_radius_


def hidden_state_gradient_norms(*args, **kwargs) -> torch.Tensor:
    return state_gradient_norms(*args, **kwargs).h

F64 = torch.float64


def _manual_gradient_norms(cell: R.RNNCell, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """∂L/∂h_t by a zero perturbation ε_t added to each h_t: ∂L/∂ε_t is the total derivative."""
    B, T, _ = x.shape
    h = torch.zeros(B, cell.hidden_size, dtype=F64)
    perturbations, hs = [], []
    for t in range(T):
        h = cell(x[:, t], h)
        eps = torch.zeros_like(h, requires_grad=True)
        h = h + eps
        perturbations.append(eps)
        hs.append(h)
    loss = (torch.stack(hs, dim=1) * weights).sum()
    grads = torch.autograd.grad(loss, perturbations)
    return torch.stack([g.norm() for g in grads])


def test_gradient_norms_are_the_total_derivative():
    torch.manual_seed(0)
    rnn = R.RNN(3, 5, batch_first=True).to(F64)
    cell = R.RNNCell(3, 5).to(F64)
    cell.load_state_dict({k[:-3]: v for k, v in rnn.state_dict().items()})
    x = torch.randn(2, 7, 3, dtype=F64)
    weights = torch.randn(2, 7, 5, dtype=F64)
    norms = hidden_state_gradient_norms(rnn, x, lambda hs: (hs * weights).sum())
    torch.testing.assert_close(norms, _manual_gradient_norms(cell, x, weights), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("mode", ["RNN", "LSTM", "GRU"])
def test_gradient_norms_same_for_seqlib_and_torch(mode):
    torch.manual_seed(1)
    reference = getattr(nn, mode)(3, 4, num_layers=2).to(F64)
    mine = getattr(R, mode).from_torch(reference)
    x = torch.randn(6, 2, 3, dtype=F64)

    def loss_fn(hs):
        return hs[:, -1].square().sum()

    torch.testing.assert_close(
        hidden_state_gradient_norms(mine, x, loss_fn), hidden_state_gradient_norms(reference, x, loss_fn)
    )


def test_gradient_vanishes_with_small_spectral_radius():
    torch.manual_seed(2)
    rnn = R.RNN(4, 16, batch_first=True).to(F64)
    set_spectral_radius_(rnn.weight_hh_l0, 0.5)
    norms = hidden_state_gradient_norms(rnn, torch.randn(4, 30, 4, dtype=F64), lambda hs: hs[:, -1].sum())
    assert norms.shape == (30,)
    assert norms[0] < 1e-6 * norms[-1]
    assert (norms[1:] >= norms[:-1]).all()  # monotone decay going back in time


def test_gradient_norms_reject_bidirectional():
    with pytest.raises(ValueError, match="unidirectional"):
        hidden_state_gradient_norms(R.GRU(2, 3, bidirectional=True), torch.randn(4, 1, 2), lambda hs: hs.sum())


def _manual_lstm_norms(cell: seqlib.LSTMCell, x: torch.Tensor, weights: torch.Tensor):
    """∂L/∂h_t and ∂L/∂c_t by zero perturbations added to each state: the total derivatives."""
    B, T, _ = x.shape
    h = c = torch.zeros(B, cell.hidden_size, dtype=F64)
    eps_h, eps_c, hs = [], [], []
    for t in range(T):
        _, trace = cell(x[:, t], (h, c), return_trace=True)  # gates from (h_{t-1}, c_{t-1})
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
    h_norms, c_norms = state_gradient_norms(lstm, x, lambda hs: (hs * weights).sum())
    h_ref, c_ref = _manual_lstm_norms(cell, x, weights)
    torch.testing.assert_close(h_norms, h_ref, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(c_norms, c_ref, rtol=1e-10, atol=1e-12)
    time_major = state_gradient_norms(lstm_t := seqlib.LSTM(3, 4).to(F64), x.transpose(0, 1), lambda hs: hs.sum())
    assert time_major.c is not None and time_major.h.shape == time_major.c.shape == (6,) and lstm_t.mode == "LSTM"


def test_only_the_lstm_reports_a_cell_state_gradient():
    x = torch.randn(2, 5, 3, dtype=F64)
    for module in (R.RNN(3, 4, batch_first=True), R.GRU(3, 4, batch_first=True)):
        norms = state_gradient_norms(module.to(F64), x, lambda hs: hs[:, -1].sum())
        assert norms.c is None and norms.h.shape == (5,)


def test_loss_must_be_a_scalar_and_inputs_3d():
    rnn = R.RNN(3, 4, batch_first=True)
    with pytest.raises(ValueError, match="scalar"):
        state_gradient_norms(rnn, torch.randn(2, 5, 3), lambda hs: hs)
    with pytest.raises(ValueError, match="3-D"):
        state_gradient_norms(rnn, torch.randn(5, 3), lambda hs: hs.sum())

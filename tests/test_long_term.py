"""Long-term-dependency tools: gradient norms per step, the lag-copy task, spectral radius."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from seqlib import recurrent as R
from seqlib.long_term import (
    IGNORE_INDEX,
    hidden_state_gradient_norms,
    lag_copy_task,
    set_spectral_radius_,
    spectral_radius,
)

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


def test_lag_copy_targets_are_inputs_lag_steps_earlier():
    inputs, targets = lag_copy_task(5, 12, 3, 7, generator=torch.Generator().manual_seed(0))
    assert inputs.shape == targets.shape == (5, 12) and inputs.dtype == torch.long
    assert (targets[:, :3] == IGNORE_INDEX).all()
    assert torch.equal(targets[:, 3:], inputs[:, :-3])
    assert 0 <= inputs.min() and inputs.max() < 7
    again, _ = lag_copy_task(5, 12, 3, 7, generator=torch.Generator().manual_seed(0))
    assert torch.equal(inputs, again)


@pytest.mark.parametrize(
    "kwargs,fragment",
    [
        (dict(num_samples=0, length=5, lag=1, vocab_size=3), "num_samples"),
        (dict(num_samples=2, length=5, lag=5, vocab_size=3), "lag must be smaller than length"),
        (dict(num_samples=2, length=5, lag=0, vocab_size=3), "lag"),
        (dict(num_samples=2, length=5, lag=1, vocab_size=1), "vocab_size"),
    ],
)
def test_lag_copy_rejects_bad_arguments(kwargs, fragment):
    with pytest.raises(ValueError, match=fragment):
        lag_copy_task(**kwargs)


def test_set_spectral_radius_square_and_gated():
    torch.manual_seed(3)
    weight = torch.randn(6, 6)
    assert set_spectral_radius_(weight, 0.9) is weight
    assert spectral_radius(weight) == pytest.approx(0.9, rel=1e-5)
    lstm = R.LSTM(3, 5)
    set_spectral_radius_(lstm.weight_hh_l0, 1.5)
    for block in lstm.weight_hh_l0.detach().split(5):
        assert spectral_radius(block) == pytest.approx(1.5, rel=1e-5)


def test_set_spectral_radius_rejects_bad_input():
    with pytest.raises(ValueError, match="radius"):
        set_spectral_radius_(torch.randn(3, 3), 0.0)
    with pytest.raises(ValueError, match="shape"):
        set_spectral_radius_(torch.randn(5, 3), 1.0)
    with pytest.raises(ValueError, match="spectral radius 0"):
        set_spectral_radius_(torch.zeros(3, 3), 1.0)

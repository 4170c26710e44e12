"""Initialisations that decide how long a recurrent network remembers, in place (as ``torch.nn.init``).

* :func:`set_spectral_radius_`: the largest |eigenvalue| ρ of W_hh, the knob between vanishing
  (ρ < 1) and exploding (ρ > 1) gradients for a (near-)linear RNN.
* :func:`set_identity_recurrence_`: W_hh = I, every eigenvalue exactly 1, the plain RNN's best start for
  a long memory (Le, Jaitly & Hinton 2015 for ReLU RNNs; for tanh it keeps a small state almost unchanged).
* :func:`set_forget_bias_`: open the gate that keeps the old state, so that at initialisation the
  state is kept rather than halved at every step (Gers et al. 2000; Jozefowicz et al. 2015 use +1).
* :func:`chrono_init_`: the "chrono" initialisation of Tallec & Ollivier (2018), b_f ~ log U(1, T_max − 1)
  and b_i = −b_f, which gives each unit a memory time scale between 1 and T_max steps.

The gate that keeps the old state is the LSTM's forget gate f (rows H..2H of torch's i|f|g|o layout)
and the GRU's update gate z (rows H..2H of r|z|n: torch's h = (1 − z) ⊙ n + z ⊙ h_prev keeps h_prev
when z is near 1).  A bias is written to ``bias_ih_l0`` and the same rows of ``bias_hh_l0`` are zeroed,
so the sum, what the gate sees, is the value.  Layer 0 only.

Shape legend: H hidden size, G gates (LSTM 4, GRU 3).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from seqlib import _checks

__all__ = ["chrono_init_", "set_forget_bias_", "set_identity_recurrence_", "set_spectral_radius_", "spectral_radius"]


def spectral_radius(matrix: Tensor) -> float:
    """ρ(W) = max |λ_i(W)| of a square matrix.

    A matrix holding NaN or inf has no spectrum (LAPACK's eigenvalue routine may even crash the process
    on one): it is refused with a ``ValueError``, which is what a diverged W_hh gives."""
    _checks.tensor("matrix", matrix)
    if matrix.dim() != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"matrix must be square (H, H), got shape {tuple(matrix.shape)}")
    _checks.finite_tensor("matrix", matrix, "it has no spectral radius (did training diverge? re-initialise it)")
    return torch.linalg.eigvals(matrix.detach().double()).abs().max().item()


@torch.no_grad()
def set_spectral_radius_(weight: Tensor, radius: float) -> Tensor:
    """Rescale W_hh in place so that its spectral radius is ``radius``.

    Args:
        weight: (H, H) for an RNN, or (G*H, H) for a gated cell (LSTM ``weight_hh`` is 4 stacked
            (H, H) blocks, GRU 3): each block is rescaled to ``radius`` on its own.
        radius: the target ρ, > 0.  Below 1 the linearised recurrence contracts (gradients vanish),
            above 1 it expands (they may explode).

    Returns:
        ``weight`` itself (a trailing ``_`` means in place, as in torch).
    """
    if isinstance(radius, bool) or not isinstance(radius, int | float) or not math.isfinite(radius) or radius <= 0:
        raise ValueError(f"radius must be a positive number, got {radius!r}")
    _checks.tensor("weight", weight)
    if weight.dim() != 2 or weight.shape[1] == 0 or weight.shape[0] % weight.shape[1] != 0:
        raise ValueError(f"weight must be (H, H) or (G*H, H), got shape {tuple(weight.shape)}")
    _checks.finite_tensor("weight", weight, "it cannot be rescaled (did training diverge? re-initialise it)")
    hidden_size = weight.shape[1]
    for block in weight.split(hidden_size, dim=0):  # G x (H, H) views into weight
        current = spectral_radius(block)
        if current == 0:
            raise ValueError("a block of weight has spectral radius 0 (all eigenvalues zero): it cannot be rescaled")
        block.mul_(radius / current)
    return weight


@torch.no_grad()
def set_identity_recurrence_(module: nn.Module) -> nn.Module:
    """W_hh = I and b_hh = 0 for a plain RNN (layer 0), in place: h_t = tanh(W_ih x_t + b_ih + h_{t-1}).

    Every eigenvalue of W_hh is 1 (ρ = 1), so along a small state the step Jacobian diag(1 − h_t²) W_hh is
    close to the identity: the gradient neither vanishes nor explodes at the start of training.

    Args:
        module: a seqlib or torch.nn ``RNN``.

    Returns:
        ``module`` itself.
    """
    mode = getattr(module, "mode", type(module).__name__).upper()
    if not mode.startswith("RNN"):
        raise ValueError(f"set_identity_recurrence_ is for a plain RNN (a gated cell has G stacked blocks), got {mode}")
    module.weight_hh_l0.copy_(torch.eye(module.hidden_size, dtype=module.weight_hh_l0.dtype))
    if getattr(module, "bias_hh_l0", None) is not None:
        module.bias_hh_l0.zero_()
    return module


def _gated_mode(module: nn.Module) -> str:
    mode = getattr(module, "mode", type(module).__name__).upper()
    if mode not in ("LSTM", "GRU"):
        raise ValueError(f"the module needs a gate that keeps the state (an LSTM or GRU), got {type(module).__name__}")
    return mode


@torch.no_grad()
def set_forget_bias_(module: nn.Module, bias: float | Tensor) -> nn.Module:
    """Set the bias of the gate that keeps the old state (LSTM f, GRU z), layer 0, in place.

    Args:
        module: a seqlib or torch.nn ``LSTM`` or ``GRU``.
        bias: one number for every unit, or an (H,) tensor.  +1 gives σ(1) = 0.73; 0 leaves the gate
            half open (σ(0) = 0.5: the state halves at every step).

    Returns:
        ``module`` itself.
    """
    _gated_mode(module)
    H = module.hidden_size
    if isinstance(bias, Tensor):
        if bias.dim() > 1 or bias.numel() not in (1, H) or not bias.is_floating_point():
            raise ValueError(f"bias must be a number or a floating (H,) = ({H},) tensor, got {bias.dtype} of shape "
                             f"{tuple(bias.shape)}")
        _checks.finite_tensor("bias", bias)
    else:
        _checks.real_number("bias", bias)
    keep = slice(H, 2 * H)  # LSTM i|f|g|o: f;  GRU r|z|n: z
    module.bias_ih_l0[keep] = bias
    module.bias_hh_l0[keep] = 0.0
    return module


@torch.no_grad()
def chrono_init_(module: nn.Module, max_lag: int, generator: torch.Generator | None = None) -> nn.Module:
    """Tallec & Ollivier's chrono initialisation, layer 0, in place.

    b_f ~ log U(1, max_lag − 1) on the keep gate (LSTM f, GRU z); for the LSTM also b_i = −b_f, so a
    unit writes as slowly as it forgets.

    Args:
        module: a seqlib or torch.nn ``LSTM`` or ``GRU``.
        max_lag: T_max >= 2, the longest dependency expected.
        generator: for reproducible biases.
    """
    mode = _gated_mode(module)
    _checks.int_at_least("max_lag", max_lag, 2)
    H = module.hidden_size
    uniform = torch.rand(H, generator=generator) * (max(max_lag - 1, 1) - 1) + 1  # U(1, max_lag - 1)
    bias = torch.log(uniform)
    set_forget_bias_(module, bias)
    if mode == "LSTM":
        module.bias_ih_l0[:H] = -bias  # input gate: write as slowly as the unit forgets
        module.bias_hh_l0[:H] = 0.0
    return module

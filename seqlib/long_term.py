"""Tools for the long-term-dependency lesson: how far back can a recurrent network learn from?

* :func:`hidden_state_gradient_norms` measures ‖∂L/∂h_t‖ for every step t: backpropagation through
  time multiplies the gradient by the Jacobian ∂h_t/∂h_{t-1} once per step, so it shrinks
  (vanishes) or grows (explodes) geometrically with the distance from the loss.
* :func:`lag_copy_task` makes a task that *needs* a memory of L steps: output the token seen L steps
  earlier.
* :func:`set_spectral_radius_` sets the largest |eigenvalue| of W_hh, the knob that decides between
  vanishing (< 1) and exploding (> 1) for a (near-)linear RNN.

Shape legend: N samples (or B batch), T time steps, I input features, H hidden size.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

__all__ = ["IGNORE_INDEX", "hidden_state_gradient_norms", "lag_copy_task", "set_spectral_radius_", "spectral_radius"]

IGNORE_INDEX = -100
"""Target for steps with nothing to predict; ``torch.nn.functional.cross_entropy`` skips it."""


def hidden_state_gradient_norms(
    recurrent: nn.Module,
    inputs: Tensor,
    loss_fn: Callable[[Tensor], Tensor],
    hx: Tensor | tuple[Tensor, Tensor] | None = None,
    layer: int = -1,
) -> Tensor:
    """‖∂L/∂h_t‖ for every time step t: the whole gradient reaching h_t, through the loss terms at t
    and through every later step.

    The module is stepped one time step at a time, and each step's state gets ``retain_grad()``;
    because that state tensor is what the next step reads, its ``.grad`` after ``backward`` is the
    total derivative.  (The ``h`` of a gate trace is a stacked copy: its gradient would only hold the
    direct path to the loss.)

    Args:
        recurrent: a unidirectional RNN/GRU/LSTM with torch's contract (seqlib or torch.nn).
        inputs: (B, T, I) if ``recurrent.batch_first`` else (T, B, I).
        loss_fn: maps the top layer's hidden states (B, T, H) to a scalar loss, e.g. a linear head
            and cross-entropy on the last step only.
        hx: initial state as the module takes it; zeros if None.
        layer: whose hidden state to measure (default the top one).

    Returns:
        (T,) the Frobenius norm over (B, H) of ∂L/∂h_t of that layer.  Parameter gradients are left
        in ``.grad`` as by any ``backward`` (zero them before training on).
    """
    if getattr(recurrent, "bidirectional", False):
        raise ValueError("hidden_state_gradient_norms needs a unidirectional module (bidirectional=True given)")
    if not isinstance(inputs, Tensor) or inputs.dim() != 3:
        shape = tuple(inputs.shape) if isinstance(inputs, Tensor) else type(inputs).__name__
        raise ValueError(f"inputs must be a 3-D tensor (B, T, I) or (T, B, I), got {shape}")
    time_dim = 1 if recurrent.batch_first else 0
    state, hidden_states, tops = hx, [], []
    for x_t in inputs.split(1, dim=time_dim):  # T x one-step sequences
        _, state = recurrent(x_t, state)
        h = state[0] if isinstance(state, tuple) else state  # (L, B, H)
        h.retain_grad()
        hidden_states.append(h)
        tops.append(h[-1])  # (B, H), the top layer's output at this step
    loss = loss_fn(torch.stack(tops, dim=1))  # from (B, T, H)
    if loss.dim() != 0:
        raise ValueError(f"loss_fn must return a scalar, got shape {tuple(loss.shape)}")
    loss.backward()
    grads = [h.grad[layer] if h.grad is not None else torch.zeros_like(h[layer]) for h in hidden_states]
    return torch.stack([g.norm() for g in grads]).detach()  # (T,)


def lag_copy_task(
    num_samples: int, length: int, lag: int, vocab_size: int, generator: torch.Generator | None = None
) -> tuple[Tensor, Tensor]:
    """Random token sequences whose target at step t is the token seen ``lag`` steps earlier.

    Args:
        num_samples: N.   length: T.   lag: L, 1 <= L < T.   vocab_size: tokens are 0 .. V-1.
        generator: for reproducible data.

    Returns:
        ``(inputs, targets)``, each (N, T) int64; ``targets[:, t] = inputs[:, t - L]`` for t >= L and
        :data:`IGNORE_INDEX` (-100) before, where there is nothing to recall.  A model that
        remembers nothing scores chance (1 / V); solving it needs a memory of L steps.
    """
    for name, value in [("num_samples", num_samples), ("length", length), ("lag", lag), ("vocab_size", vocab_size)]:
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    if lag >= length:
        raise ValueError(f"lag must be smaller than length, got lag={lag} and length={length}")
    if vocab_size < 2:
        raise ValueError(f"vocab_size must be at least 2 for the task to carry information, got {vocab_size}")
    inputs = torch.randint(vocab_size, (num_samples, length), generator=generator)  # (N, T)
    targets = torch.full_like(inputs, IGNORE_INDEX)  # (N, T)
    targets[:, lag:] = inputs[:, :-lag]
    return inputs, targets


def spectral_radius(matrix: Tensor) -> float:
    """ρ(W) = max |λ_i(W)| of a square matrix."""
    if matrix.dim() != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"matrix must be square (H, H), got shape {tuple(matrix.shape)}")
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
    if not isinstance(radius, int | float) or isinstance(radius, bool) or radius <= 0:
        raise ValueError(f"radius must be a positive number, got {radius!r}")
    if weight.dim() != 2 or weight.shape[0] % weight.shape[1] != 0:
        raise ValueError(f"weight must be (H, H) or (G*H, H), got shape {tuple(weight.shape)}")
    hidden_size = weight.shape[1]
    for block in weight.split(hidden_size, dim=0):  # G x (H, H) views into weight
        current = spectral_radius(block)
        if current == 0:
            raise ValueError("a block of weight has spectral radius 0 (all eigenvalues zero): it cannot be rescaled")
        block.mul_(radius / current)
    return weight

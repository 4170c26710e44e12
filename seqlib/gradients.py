"""How far back does the gradient reach?  ‖∂L/∂h_t‖ (and ‖∂L/∂c_t‖) for every time step.

Backpropagation through time multiplies the gradient by the Jacobian ∂h_t/∂h_{t-1} once per step,
so it shrinks (vanishes) or grows (explodes) geometrically with the distance from the loss.  For an
LSTM the cell state has a second path, c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t, whose direct Jacobian is
diag(f_t): :func:`state_gradient_norms` measures both states.

Shape legend: B batch, T time steps, I input features, H hidden size, L layers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import Tensor, nn

__all__ = ["StateGradientNorms", "state_gradient_norms"]


class StateGradientNorms(NamedTuple):
    """``h``: ‖∂L/∂h_t‖ for t = 1 … T, (T,); ``c``: ‖∂L/∂c_t‖ (T,) for an LSTM, None otherwise."""

    h: Tensor
    c: Tensor | None


def state_gradient_norms(
    recurrent: nn.Module,
    inputs: Tensor,
    loss_fn: Callable[[Tensor], Tensor],
    hx: Tensor | tuple[Tensor, Tensor] | None = None,
    layer: int = -1,
) -> StateGradientNorms:
    """‖∂L/∂h_t‖ (and ‖∂L/∂c_t‖ for an LSTM) for every time step t: the whole gradient reaching the
    state, through the loss terms at t and through every later step.

    The module's layers are stepped one time step at a time as cells (``seqlib.RNNCell`` …
    ``seqlib.LSTMCell``) that share the module's own parameters, and each step's h_t (and c_t) gets
    ``retain_grad()``.  Because those very tensors are what the next step, the layer above and the
    loss read, their ``.grad`` after ``backward`` is the total derivative.  (The states a module
    *returns* are copies: the output h_t of the same step is computed from the cell's own c_t, so the
    returned c_t would miss that path; the ``h`` of a gate trace, stacked, would hold only the direct
    path to the loss.)

    Args:
        recurrent: a unidirectional RNN, GRU or LSTM with torch's contract (seqlib or torch.nn), any
            number of layers.
        inputs: (B, T, I) if ``recurrent.batch_first`` else (T, B, I).
        loss_fn: maps the top layer's hidden states (B, T, H) to a scalar loss, e.g. a linear head
            and cross-entropy on the last step only.
        hx: initial state as the module takes it (h_0 (L, B, H), or (h_0, c_0)); zeros if None.
        layer: whose state to measure (default the top one).

    Returns:
        :class:`StateGradientNorms`, each norm the Frobenius norm over (B, H) of that layer's
        gradient.  Parameter gradients are left in the module's ``.grad`` as by any ``backward``
        (zero them before training on).
    """
    if getattr(recurrent, "bidirectional", False):
        raise ValueError("state_gradient_norms needs a unidirectional module (bidirectional=True given)")
    if not isinstance(inputs, Tensor) or inputs.dim() != 3:
        shape = tuple(inputs.shape) if isinstance(inputs, Tensor) else type(inputs).__name__
        raise ValueError(f"inputs must be a 3-D tensor (B, T, I) or (T, B, I), got {shape}")
    lstm = _mode(recurrent) == "LSTM"
    cells = _cells(recurrent)
    if hx is None:
        states: list = [None] * len(cells)
    elif lstm:
        states = [(h, c) for h, c in zip(hx[0].unbind(0), hx[1].unbind(0), strict=True)]
    else:
        states = list(hx.unbind(0))
    hs: list[list[Tensor]] = [[] for _ in cells]  # per layer, per step: h_t (B, H)
    cs: list[list[Tensor]] = [[] for _ in cells]
    for x_t in inputs.unbind(dim=1 if recurrent.batch_first else 0):  # T x (B, I)
        for k, cell in enumerate(cells):
            states[k] = cell(x_t, states[k])  # h_t, or (h_t, c_t)
            h = states[k][0] if lstm else states[k]
            h.retain_grad()
            hs[k].append(h)
            if lstm:
                states[k][1].retain_grad()
                cs[k].append(states[k][1])
            x_t = h  # the layer above reads this layer's h_t
    loss = loss_fn(torch.stack(hs[-1], dim=1))  # from (B, T, H)
    if loss.dim() != 0:
        raise ValueError(f"loss_fn must return a scalar, got shape {tuple(loss.shape)}")
    loss.backward()

    def norms(states_of_layer: list[Tensor]) -> Tensor:
        return torch.stack([s.grad.norm() if s.grad is not None else s.new_zeros(()) for s in states_of_layer])

    return StateGradientNorms(norms(hs[layer]).detach(), norms(cs[layer]).detach() if lstm else None)


def _mode(module: nn.Module) -> str:
    mode = getattr(module, "mode", type(module).__name__).upper()
    return "RNN" if mode.startswith("RNN") else mode


def _cells(module: nn.Module) -> list[nn.Module]:
    """One seqlib cell per layer, holding the module's own parameters (not copies)."""
    from seqlib import recurrent  # the cells

    mode = _mode(module)
    weight = module.weight_ih_l0
    factory = {"device": weight.device, "dtype": weight.dtype}
    cells = []
    for k in range(module.num_layers):
        input_size = module.input_size if k == 0 else module.hidden_size
        with torch.random.fork_rng(devices=[]):  # the cell's own initial weights are replaced: draw nothing
            if mode == "RNN":
                cell = recurrent.RNNCell(input_size, module.hidden_size, module.bias, module.nonlinearity, **factory)
            else:
                cell = getattr(recurrent, f"{mode}Cell")(input_size, module.hidden_size, module.bias, **factory)
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            if hasattr(module, f"{name}_l{k}"):
                setattr(cell, name, getattr(module, f"{name}_l{k}"))  # shared, so the module's .grad fills
        cells.append(cell)
    return cells

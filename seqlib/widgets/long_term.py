"""Widgets of notebook 03: how far back the gradient reaches, for an RNN and an LSTM on real text."""

from __future__ import annotations

from typing import NamedTuple

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
from torch import Tensor

from seqlib.experiments.gradient_flow import (
    LSTMGradientProfile,
    RNNGradientProfile,
    lstm_gradient_profile,
    rnn_gradient_profile,
)
from seqlib.widgets._explorer import Explorer

FLOOR = 1e-300  # a norm that underflowed to 0 is drawn here (and said so), not dropped from a log axis


class GradientFlowView(NamedTuple):
    """What the gradient-flow widget shows: the RNN's profile at the chosen spectral radius and the
    LSTM's at the chosen forget-gate bias, on the same snippets."""

    rnn: RNNGradientProfile
    lstm: LSTMGradientProfile


def gradient_flow(
    ids: Tensor, vocab_size: int, radius: float, forget_bias: float, hidden_size: int = 32, seed: int = 0
) -> GradientFlowView:
    """Both profiles at once (the widget's compute; see :mod:`seqlib.experiments.gradient_flow`)."""
    return GradientFlowView(
        rnn_gradient_profile(ids, vocab_size, radius, hidden_size, seed),
        lstm_gradient_profile(ids, vocab_size, forget_bias, hidden_size, seed),
    )


def _positive(values: Tensor) -> np.ndarray:
    return np.maximum(values.numpy(), FLOOR)


def gradient_flow_explorer(
    ids: Tensor, vocab_size: int, radius: float = 1.0, forget_bias: float = 0.0, hidden_size: int = 32, seed: int = 0
) -> Explorer:
    """Two sliders: ρ(W_hh) of an RNN and the forget-gate bias of an LSTM, both reading the same text.

    Left: ‖∂L/∂h_t‖ / ‖∂L/∂h_T‖ of the RNN against t (log scale).  Right: the LSTM's ‖∂L/∂c_t‖ and
    ‖∂L/∂h_t‖ (relative) and the product of its forget gates ∏ f_k, the path through the forget gate.
    """
    T = ids.shape[1] - 1
    steps = np.arange(1, T + 1)

    def compute(radius: float, forget_bias: float) -> GradientFlowView:
        return gradient_flow(ids, vocab_size, radius, forget_bias, hidden_size, seed)

    def draw(view: GradientFlowView, fig: plt.Figure) -> None:
        left, right = fig.subplots(1, 2, sharey=True)
        left.semilogy(steps, _positive(view.rnn.relative), color="C0", label=f"RNN, ρ(W_hh) = {view.rnn.radius:.2f}")
        left.set_title("RNN: hidden state")
        right.semilogy(steps, _positive(view.lstm.c_relative), color="C2", label="‖∂L/∂c_t‖ (cell state)")
        right.semilogy(steps, _positive(view.lstm.h_relative), color="C1", ls=":", label="‖∂L/∂h_t‖ (hidden state)")
        right.semilogy(steps, _positive(view.lstm.forget_path), color="k", ls="--", lw=1, label="∏ f_k (forget path)")
        mean_f = float(view.lstm.forget.mean())
        right.set_title(f"LSTM: forget bias {view.lstm.forget_bias:+.1f}, mean f = {mean_f:.2f}")
        for ax in (left, right):
            ax.axhline(1.0, color="0.7", lw=0.8)
            ax.set_xlabel(f"time step t (the loss is at t = {T})")
            ax.legend(loc="lower right", fontsize=8)
        left.set_ylabel("gradient norm, relative to t = T")
        fig.tight_layout()

    def describe(view: GradientFlowView) -> str:
        underflow = " (underflowed to 0)" if float(view.rnn.relative[0]) == 0 else ""
        return (
            f"RNN, ρ = {view.rnn.radius:.2f}: ‖∂L/∂h_1‖ / ‖∂L/∂h_{T}‖ = {float(view.rnn.relative[0]):.1e}{underflow}, "
            f"×{view.rnn.per_step:.2f} per step back. LSTM, forget bias {view.lstm.forget_bias:+.1f}: "
            f"‖∂L/∂c_1‖ / ‖∂L/∂c_{T}‖ = {float(view.lstm.c_relative[0]):.1e}, "
            f"∏ f = {float(view.lstm.forget_path[0]):.1e}"
        )

    controls = {
        "radius": widgets.FloatSlider(
            value=radius, min=0.0, max=4.0, step=0.05, description="ρ(W_hh)", continuous_update=False
        ),
        "forget_bias": widgets.FloatSlider(
            value=forget_bias, min=-3.0, max=8.0, step=0.5, description="forget bias", continuous_update=False
        ),
    }
    return Explorer(compute, controls, draw, describe, figsize=(10.0, 3.6))

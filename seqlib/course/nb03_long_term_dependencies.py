"""Notebook 03 · long-term dependencies: what the notebook shows and asks, computed here.

**How far back does the gradient reach?**  ‖∂L/∂h_t‖ for an RNN, ‖∂L/∂c_t‖ for an LSTM, on real text
(measured by ``seqlib.gradients.state_gradient_norms``).  Backpropagation through time multiplies the
gradient by one Jacobian per step.  For the RNN, ∂h_t/∂h_{t-1} = diag(1 - h_t²) W_hh, so the gradient
shrinks or grows roughly like ρ(W_hh)^k over k steps (ρ the spectral radius, the tanh slope ≤ 1 only
shrinking it further): below 1 it vanishes (기울기 소실), well above 1 it can explode (기울기 폭주).  The
LSTM's cell state has a second path, c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t, whose direct Jacobian is
∂c_t/∂c_{t-1} = diag(f_t): along it the gradient is multiplied by the forget gates only, ∏ f_k, which
stays near 1 when the forget gate is open.

The setting: ``num_snippets`` stretches of *The Time Machine*, T characters each, one-hot encoded; a
freshly initialised recurrent layer (seeded) reads them, a linear head predicts the character after
the last one, and L is its cross-entropy.  The norms are over the batch and the hidden units.

* **Gradient clipping**: :func:`clipping_step`, one plain gradient step with and without
  ``seqlib.train.clip_grad_norm_``.
* **Widget**: :func:`gradient_flow_explorer` (spectral radius and forget-gate bias).
* **The recall task's results**: :func:`load_results` reads ``data/results/recall_task.json``, made by
  ``bench/recall_task.py`` with ``seqlib.recall_task``.
* **Exercises** ``03.rnn_jacobian``, ``03.forget_path``, ``03.spectral_radius``, ``03.clip_global_norm``.

Shape legend: B snippets (batch), T time steps, V vocabulary size, H hidden size.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import NamedTuple

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

import seqlib.recurrent as recurrent
from seqlib.course.checker import Exercise, Mistake, register
from seqlib.course.explorer import Explorer
from seqlib.gradients import state_gradient_norms
from seqlib.init import set_forget_bias_, set_spectral_radius_, spectral_radius
from seqlib.recall_task import ARMS, RecallRun, RecallSettings, train_recall
from seqlib.train import clip_grad_norm_

RESULTS_PATH = Path(__file__).resolve().parents[2] / "data" / "results" / "recall_task.json"

__all__ = [
    "text_snippets",
    "RNNGradientProfile",
    "rnn_gradient_profile",
    "TruncationProfile",
    "truncation_profile",
    "LSTMGradientProfile",
    "lstm_gradient_profile",
    "ClippingResult",
    "clipping_step",
    "GradientFlowView",
    "gradient_flow",
    "gradient_flow_explorer",
    "RECALL_LR",
    "recall_run",
    "recall_explorer",
    "arm_names",
    "RESULTS_PATH",
    "RecallTaskResults",
    "load_results",
]


# --------------------------------------------------------------------------------------------------
# Gradient flow on real text
# --------------------------------------------------------------------------------------------------


def text_snippets(corpus: Tensor, num_snippets: int = 8, length: int = 60, stride: int = 10007, offset: int = 1000):
    """``num_snippets`` stretches of ``length + 1`` token ids from ``corpus``, ``stride`` apart: (B, T + 1).

    The first T ids of each row are read, the last one is the target.
    """
    if corpus.dim() != 1:
        raise ValueError(f"corpus must be 1-D token ids, got shape {tuple(corpus.shape)}")
    for name, value in [("num_snippets", num_snippets), ("length", length), ("stride", stride)]:
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    last = offset + (num_snippets - 1) * stride + length + 1
    if offset < 0 or last > len(corpus):
        raise ValueError(f"the snippets need corpus[{offset}:{last}], but the corpus has {len(corpus)} tokens")
    starts = offset + torch.arange(num_snippets) * stride  # (B,)
    return corpus[starts[:, None] + torch.arange(length + 1)]  # (B, T + 1)


def _one_hot(ids: Tensor, vocab_size: int) -> tuple[Tensor, Tensor]:
    """Inputs (B, T, V) float64 and the targets (B,) of a (B, T + 1) id tensor."""
    if ids.dim() != 2 or ids.shape[1] < 2:
        raise ValueError(f"ids must be (B, T + 1) with T >= 1, got shape {tuple(ids.shape)}")
    return F.one_hot(ids[:, :-1], vocab_size).double(), ids[:, -1]


class RNNGradientProfile(NamedTuple):
    """‖∂L/∂h_t‖ for t = 1 … T (``norms``), and relative to the last step (``relative``, 1 at t = T).

    ``radius`` is ρ(W_hh) as set; ``per_step`` the geometric-mean factor per step back,
    (relative[0])^(1/(T-1)).  ``sigma_max`` is W_hh's largest singular value, which bounds the factor:
    ‖diag(1 − h_k²) W_hh‖ ≤ max(1 − h_k²) · σ_max ≤ σ_max (Pascanu, Mikolov & Bengio 2013).  ``slope`` is the
    geometric mean over steps 2 … T of the tanh slope 1 − h_t² (averaged over snippets and units): the
    factor by which the tanh shrinks the gradient at each step, on average.
    """

    radius: float
    norms: Tensor
    relative: Tensor
    per_step: float
    sigma_max: float
    slope: float


def rnn_gradient_profile(
    ids: Tensor, vocab_size: int, radius: float | None = None, hidden_size: int = 32, seed: int = 0
) -> RNNGradientProfile:
    """‖∂L/∂h_t‖ of a fresh tanh RNN (seeded) whose W_hh is rescaled to spectral radius ``radius``.

    Args:
        ids: (B, T + 1) token ids, e.g. from :func:`text_snippets`.
        vocab_size: V (the inputs are one-hot).
        radius: ρ(W_hh) > 0; None keeps torch's initialisation.
        hidden_size: H.   seed: the initial weights.
    """
    inputs, targets = _one_hot(ids, vocab_size)
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    rnn = recurrent.RNN(vocab_size, hidden_size, batch_first=True).double()
    head = nn.Linear(hidden_size, vocab_size).double()
    torch.random.set_rng_state(generator_state)  # leave the caller's random stream as it was
    if radius is not None:
        set_spectral_radius_(rnn.weight_hh_l0, radius)
    norms = state_gradient_norms(rnn, inputs, lambda hs: F.cross_entropy(head(hs[:, -1]), targets)).h
    relative = norms / norms[-1]
    per_step = float(relative[0] ** (1 / (len(norms) - 1))) if len(norms) > 1 else 1.0
    with torch.no_grad():
        states, _ = rnn(inputs)  # (B, T, H)
        slopes = (1 - states[:, 1:] ** 2).mean(dim=(0, 2))  # (T - 1,) the tanh slope at steps 2 … T
        slope = float(slopes.log().mean().exp()) if len(slopes) else 1.0
        sigma_max = float(torch.linalg.matrix_norm(rnn.weight_hh_l0, ord=2))
    return RNNGradientProfile(spectral_radius(rnn.weight_hh_l0), norms, relative, per_step, sigma_max, slope)


class TruncationProfile(NamedTuple):
    """∂L/∂W_hh with backpropagation cut ``window`` steps before the loss, against the full gradient.

    ``windows`` (K values); ``relative_error`` ‖g_K − g‖ / ‖g‖ and ``cosine`` cos(g_K, g) for each, where g
    is the full gradient (K = T) and g_K the truncated one; ``radius`` ρ(W_hh) as set.
    """

    radius: float
    windows: tuple[int, ...]
    relative_error: tuple[float, ...]
    cosine: tuple[float, ...]


def truncation_profile(
    ids: Tensor, vocab_size: int, radius: float | None, windows: tuple[int, ...] = (1, 5, 10, 20, 40),
    hidden_size: int = 32, seed: int = 0,
) -> TruncationProfile:
    """How much of ∂L/∂W_hh survives truncated backpropagation through time (the loss at the last step).

    The weight gradient is a sum over the steps behind the loss,
    ∂L/∂W_hh = Σ_t diag(1 − h_t²) ∂L/∂h_t h_{t−1}ᵀ, and ∂L/∂h_t carries the product of the step
    Jacobians from t to T: in the linear regime, the power (W_hhᵀ)^{T−t}.  Truncating at K steps (the state
    read K steps before the loss is detached, as ``train_language_model`` does between chunks) keeps the
    K most recent terms.  Same fresh RNN (seeded) as :func:`rnn_gradient_profile`.
    """
    inputs, targets = _one_hot(ids, vocab_size)
    T = inputs.shape[1]
    if not windows or any(not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= T for k in windows):
        raise ValueError(f"windows must be ints between 1 and T = {T}, got {windows!r}")
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    rnn = recurrent.RNN(vocab_size, hidden_size, batch_first=True).double()
    head = nn.Linear(hidden_size, vocab_size).double()
    torch.random.set_rng_state(generator_state)
    if radius is not None:
        set_spectral_radius_(rnn.weight_hh_l0, radius)

    def weight_gradient(window: int) -> Tensor:
        state = None
        if window < T:
            with torch.no_grad():  # the steps before the window: values only, no graph
                _, state = rnn(inputs[:, : T - window])  # (1, B, H)
        output, _ = rnn(inputs[:, T - window :], state)  # (B, K, H), the graph spans the last K steps
        loss = F.cross_entropy(head(output[:, -1]), targets)
        (grad,) = torch.autograd.grad(loss, rnn.weight_hh_l0)
        return grad.flatten()

    full = weight_gradient(T)
    errors, cosines = [], []
    for window in windows:
        truncated = weight_gradient(window)
        errors.append(float((truncated - full).norm() / full.norm()))
        cosines.append(float(truncated @ full / (truncated.norm() * full.norm())))
    return TruncationProfile(spectral_radius(rnn.weight_hh_l0), tuple(windows), tuple(errors), tuple(cosines))


class LSTMGradientProfile(NamedTuple):
    """An LSTM on the same snippets: ``h_norms`` ‖∂L/∂h_t‖ and ``c_norms`` ‖∂L/∂c_t‖ (T,), both also
    relative to the last step; ``forget`` the forget gates f_t averaged over batch and units (T,);
    ``forget_path`` (T,) the mean over batch and units of ∏_{k=t+1}^{T} f_k, the gain of the path
    c_t → c_{t+1} → … → c_T through the forget gates alone (1 at t = T); ``forget_bias`` as set."""

    forget_bias: float | None
    h_norms: Tensor
    c_norms: Tensor
    h_relative: Tensor
    c_relative: Tensor
    forget: Tensor
    forget_path: Tensor


def lstm_gradient_profile(
    ids: Tensor, vocab_size: int, forget_bias: float | None = None, hidden_size: int = 32, seed: int = 0
) -> LSTMGradientProfile:
    """‖∂L/∂h_t‖, ‖∂L/∂c_t‖ and the forget-gate path of a fresh LSTM (seeded).

    Args:
        ids: (B, T + 1) token ids.   vocab_size: V.
        forget_bias: the forget gate's bias b_f (``bias_ih`` rows H..2H; ``bias_hh`` rows zeroed);
            None keeps torch's initialisation (b_f ≈ 0, so f ≈ σ(0) = 0.5).
        hidden_size: H.   seed: the initial weights.
    """
    inputs, targets = _one_hot(ids, vocab_size)
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    lstm = recurrent.LSTM(vocab_size, hidden_size, batch_first=True).double()
    head = nn.Linear(hidden_size, vocab_size).double()
    torch.random.set_rng_state(generator_state)
    if forget_bias is not None:
        set_forget_bias_(lstm, forget_bias)
    h_norms, c_norms = state_gradient_norms(lstm, inputs, lambda hs: F.cross_entropy(head(hs[:, -1]), targets))
    with torch.no_grad():
        _, _, traces = lstm(inputs, return_trace=True)
    f = traces[0][0].f  # (B, T, H)
    # ∏_{k=t+1}^{T} f_k: reversed cumulative product, shifted so that the last step's path is empty (1)
    suffix = torch.flip(torch.cumprod(torch.flip(f, dims=[1]), dim=1), dims=[1])  # ∏_{k=t}^{T} f_k
    path = torch.cat([suffix[:, 1:], torch.ones_like(suffix[:, :1])], dim=1)  # (B, T, H)
    return LSTMGradientProfile(
        forget_bias, h_norms, c_norms, h_norms / h_norms[-1], c_norms / c_norms[-1],
        f.mean(dim=(0, 2)), path.mean(dim=(0, 2)),
    )


# --------------------------------------------------------------------------------------------------
# Gradient clipping
# --------------------------------------------------------------------------------------------------


class ClippingResult(NamedTuple):
    """One plain gradient-descent step θ ← θ - lr · g on the snippets, with and without clipping.

    ``grad_norm``: ‖g‖ over all parameters; ``step_unclipped``/``step_clipped``: how far the step
    moves the parameters (lr ‖g‖, and lr min(‖g‖, max_norm)); ``saturated_*``: the share of hidden
    activations with |h| > 0.99 on the snippets before the step and after each kind of step (a
    saturated tanh passes almost no gradient: a network that is all saturated has stopped learning);
    ``cosine_global`` (always 1: global clipping only rescales) and ``cosine_elementwise`` (clamping
    each entry to [-max_norm, max_norm] instead): the cosine between the clipped and the raw gradient."""

    radius: float
    grad_norm: float
    step_unclipped: float
    step_clipped: float
    saturated_before: float
    saturated_unclipped: float
    saturated_clipped: float
    cosine_global: float
    cosine_elementwise: float


def _with_grad(gradient: Tensor) -> Tensor:
    """A stand-in parameter whose ``.grad`` is ``gradient`` itself (clipping rescales it in place)."""
    holder = torch.empty_like(gradient)
    holder.grad = gradient
    return holder


def _cosine(a: Tensor, b: Tensor) -> float:
    return float(a @ b / (a.norm() * b.norm()))


@torch.no_grad()
def _saturation(rnn: nn.Module, inputs: Tensor) -> float:
    output, _ = rnn(inputs)  # (B, T, H)
    return float((output.abs() > 0.99).double().mean())


def clipping_step(
    ids: Tensor, vocab_size: int, radius: float, lr: float = 0.1, max_norm: float = 1.0, hidden_size: int = 32,
    seed: int = 0,
) -> ClippingResult:
    """One SGD step of a fresh RNN (W_hh at spectral radius ``radius``), unclipped and clipped."""
    inputs, targets = _one_hot(ids, vocab_size)
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    rnn = recurrent.RNN(vocab_size, hidden_size, batch_first=True).double()
    head = nn.Linear(hidden_size, vocab_size).double()
    torch.random.set_rng_state(generator_state)
    set_spectral_radius_(rnn.weight_hh_l0, radius)
    parameters = list(rnn.parameters()) + list(head.parameters())
    output, _ = rnn(inputs)  # (B, T, H)
    gradients = torch.autograd.grad(F.cross_entropy(head(output[:, -1]), targets), parameters)
    clipped = [g.clone() for g in gradients]
    clip_grad_norm_([_with_grad(g) for g in clipped], max_norm)  # the training loop's clipping, in place
    flat = torch.cat([g.flatten() for g in gradients])
    flat_clipped = torch.cat([g.flatten() for g in clipped])
    saturated = {"before": _saturation(rnn, inputs)}
    originals = [p.detach().clone() for p in parameters]
    for name, step in [("unclipped", gradients), ("clipped", clipped)]:
        with torch.no_grad():
            for p, original, g in zip(parameters, originals, step, strict=True):
                p.copy_(original - lr * g)
        saturated[name] = _saturation(rnn, inputs)
    grad_norm = float(flat.norm())
    return ClippingResult(
        radius,
        grad_norm,
        lr * grad_norm,
        lr * float(flat_clipped.norm()),
        saturated["before"],
        saturated["unclipped"],
        saturated["clipped"],
        _cosine(flat, flat_clipped),
        _cosine(flat, flat.clamp(-max_norm, max_norm)),
    )


# --------------------------------------------------------------------------------------------------
# Widgets
# --------------------------------------------------------------------------------------------------


FLOOR = 1e-300  # a norm that underflowed to 0 is drawn here (and said so), not dropped from a log axis


class GradientFlowView(NamedTuple):
    """What the gradient-flow widget shows: the RNN's profile at the chosen spectral radius and the
    LSTM's at the chosen forget-gate bias, on the same snippets."""

    rnn: RNNGradientProfile
    lstm: LSTMGradientProfile


def gradient_flow(
    ids: Tensor, vocab_size: int, radius: float, forget_bias: float, hidden_size: int = 32, seed: int = 0
) -> GradientFlowView:
    """Both profiles at once (the widget's compute; see the module docstring)."""
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


# --------------------------------------------------------------------------------------------------
# Widget: the recall task at a lag of your choice
# --------------------------------------------------------------------------------------------------

RECALL_LR = {"rnn": 3e-3, "rnn-radius1": 3e-3, "rnn-identity": 3e-3, "lstm": 1e-2, "gru": 1e-2,
             "lstm-chrono": 1e-2, "gru-chrono": 1e-2}
"""The learning rate each arm is trained with in the widget (the better of the bench's two at Δ = 40)."""


def recall_run(arm: str, lag: int, max_steps: int = 400, seed: int = 0) -> RecallRun:
    """One training run of the marked-recall task (``seqlib.recall_task.train_recall``) for an arm of the
    bench at lag Δ = ``lag``, evaluated every 50 steps; stops early at validation accuracy 0.99."""
    if arm not in RECALL_LR:
        raise ValueError(f"arm must be one of {', '.join(RECALL_LR)}, got {arm!r}")
    kind, gate_init = ARMS[arm]
    settings = RecallSettings(kind, lag, gate_init, RECALL_LR[arm], max_steps=max_steps, eval_every=50)
    run, _ = train_recall(settings, seed=seed)
    return run


def recall_explorer(arm: str = "lstm-chrono", lag: int = 40, max_steps: int = 400) -> Explorer:
    """Train one model on the recall task for the chosen arm and lag Δ (a few seconds per move), and draw its
    validation accuracy against the step.  Δ = 0 is not a memory task: the widget says so."""

    def draw(run: RecallRun, fig: plt.Figure) -> None:
        ax = fig.add_subplot()
        steps = [0] + [step for step, _, _ in run.history]
        accuracy = [1 / run.settings.vocab_size] + [acc for _, _, acc in run.history]
        ax.plot(steps, accuracy, "o-", color="C1")
        ax.axhline(1 / run.settings.vocab_size, color="0.5", ls=":", label="chance")
        ax.set_ylim(0, 1.05)
        ax.set_xlabel("training step")
        ax.set_ylabel("validation accuracy")
        ax.set_title(f"{arm_names()[_arm_of(run)]}, lag Δ = {run.settings.lag}")
        ax.legend(loc="lower right")
        fig.tight_layout()

    def describe(run: RecallRun) -> str:
        return (f"{arm_names()[_arm_of(run)]}, Δ = {run.settings.lag}: test accuracy {run.accuracy:.3f} after "
                f"{run.steps} steps (chance {1 / run.settings.vocab_size:.2f}), {run.hidden_size} units, "
                f"{run.parameters} parameters")

    controls = {
        "arm": widgets.Dropdown(options=list(RECALL_LR), value=arm, description="model"),
        "lag": widgets.IntSlider(value=lag, min=0, max=80, description="lag Δ", continuous_update=False),
    }
    return Explorer(lambda arm, lag: recall_run(arm, lag, max_steps), controls, draw, describe, figsize=(6.0, 3.0))


def arm_names() -> dict[str, str]:
    """How the notebook names each arm of the recall task."""
    return {"rnn": "RNN, default init", "rnn-radius1": "RNN, ρ(W_hh) = 1", "rnn-identity": "RNN, W_hh = I",
            "lstm": "LSTM, default init", "gru": "GRU, default init", "lstm-chrono": "LSTM, chrono init",
            "gru-chrono": "GRU, chrono init"}


def _arm_of(run: RecallRun) -> str:
    return next(arm for arm, spec in ARMS.items() if spec == (run.settings.kind, run.settings.gate_init))


# --------------------------------------------------------------------------------------------------
# Exercises
# --------------------------------------------------------------------------------------------------


# --- 03.rnn_jacobian -------------------------------------------------------------------------------


def rnn_jacobian(h_t, W_hh):
    # ∂h_t/∂h_{t-1} = diag(1 - h_t²) W_hh, since h_t = tanh(a_t) and ∂a_t/∂h_{t-1} = W_hh
    return (1 - h_t**2)[:, None] * W_hh


def _jacobian_cases():
    generator = torch.Generator().manual_seed(5)
    cases = []
    for H in (3, 4):
        h_t = torch.tanh(torch.randn(H, generator=generator, dtype=torch.float64))  # (H,), in (-1, 1)
        W_hh = torch.randn(H, H, generator=generator, dtype=torch.float64)  # (H, H)
        cases.append((h_t, W_hh))
    return cases


register(
    Exercise(
        name="03.rnn_jacobian",
        title="the RNN's Jacobian ∂h_t/∂h_{t-1}",
        hint=(
            "chain rule: h_t = tanh(a_t) and a_t = W_hh h_{t-1} + …; the slope of tanh can be written with h_t "
            "itself. Entry [i, j] is ∂h_t[i]/∂h_{t-1}[j]: think about which index the slope belongs to. A diagonal "
            "matrix times W_hh is a matrix product, not an entry-by-entry one."
        ),
        reference=rnn_jacobian,
        cases=_jacobian_cases,
        mistakes=[
            Mistake(
                "you left out the tanh's slope: ∂h_t/∂h_{t-1} is diag(1 - h_t²) W_hh, not W_hh (this slope, "
                "at most 1, is part of why gradients vanish)",
                lambda h_t, W_hh: W_hh,
            ),
            Mistake(
                "the slope scales the columns instead of the rows: W_hh diag(1 - h_t²) is the wrong side; "
                "row i of the Jacobian belongs to output unit h_t[i]",
                lambda h_t, W_hh: W_hh * (1 - h_t**2)[None, :],
            ),
            Mistake(
                "W_hh is transposed: J[i, j] = ∂h_t[i]/∂h_{t-1}[j] = (1 - h_t[i]²) W_hh[i, j]",
                lambda h_t, W_hh: (1 - h_t**2)[:, None] * W_hh.T,
            ),
            Mistake(
                "that is the sigmoid's slope h(1 - h); for tanh the slope is 1 - h²",
                lambda h_t, W_hh: (h_t * (1 - h_t))[:, None] * W_hh,
            ),
            Mistake(
                "1 - h_t, not squared: tanh'(a) = 1 - tanh(a)²",
                lambda h_t, W_hh: (1 - h_t)[:, None] * W_hh,
            ),
            Mistake(
                "you multiplied diag(1 - h_t²) and W_hh entry by entry (*): that keeps only W_hh's diagonal and "
                "zeroes the rest. diag(1 - h_t²) W_hh is a matrix product (@), which scales row i by 1 - h_t[i]²",
                lambda h_t, W_hh: torch.diag(1 - h_t**2) * W_hh,
            ),
        ],
    )
)

# --- 03.forget_path --------------------------------------------------------------------------------


def forget_path(f):
    # gain of the path c_t -> c_{t+1} -> ... -> c_T through the forget gates: ∏_{k=t+1}^{T} f_k  (1 at t = T)
    T = f.shape[0]
    path = torch.ones_like(f)  # (T, H)
    for t in range(T - 2, -1, -1):
        path[t] = path[t + 1] * f[t + 1]
    return path


def _forget_cases():
    generator = torch.Generator().manual_seed(6)
    return [
        (torch.sigmoid(torch.randn(5, 3, generator=generator, dtype=torch.float64)),),
        (torch.sigmoid(torch.randn(4, 2, generator=generator, dtype=torch.float64) + 2),),
    ]


register(
    Exercise(
        name="03.forget_path",
        title="the LSTM's forget path ∏ f",
        hint=(
            "c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t, so along the cell state ∂c_k/∂c_{k-1} = diag(f_k). Which gates lie "
            "between c_t and c_T? (f_t itself acts on c_{t-1}.) The last row, t = T, is an empty product; working "
            "backwards from it is easiest."
        ),
        reference=forget_path,
        cases=_forget_cases,
        mistakes=[
            Mistake(
                "off by one: you included f_t itself; f_t multiplies c_{t-1}, so the path from c_t to c_T is "
                "f_{t+1} ⋯ f_T (and 1 at t = T)",
                lambda f: torch.flip(torch.cumprod(torch.flip(f, [0]), 0), [0]),
            ),
            Mistake(
                "the product runs forwards from the start (f_1 ⋯ f_t); the gradient flows back from the loss at "
                "T, so multiply the gates *after* t: f_{t+1} ⋯ f_T",
                lambda f: torch.cumprod(f, 0),
            ),
            Mistake(
                "you used 1 - f: the forget gate *keeps* the fraction f of the cell state (f = 1: keep everything)",
                lambda f: forget_path(1 - f),
            ),
            Mistake(
                "you added the gates; along a path the Jacobians multiply",
                lambda f: torch.flip(torch.cumsum(torch.flip(f, [0]), 0), [0]) - f,
            ),
        ],
    )
)

# --- 03.spectral_radius ----------------------------------------------------------------------------


def scale_to_spectral_radius(W, radius):
    # ρ(W) = max |λ_i(W)|; scaling W by s scales every eigenvalue by s
    current = torch.linalg.eigvals(W).abs().max()
    return W * (radius / current)


def _dominant_eigenvalue(W):
    eigenvalues = torch.linalg.eigvals(W)  # complex
    return eigenvalues[eigenvalues.abs().argmax()]


def _radius_cases():
    generator = torch.Generator().manual_seed(7)
    W = torch.randn(4, 4, generator=generator, dtype=torch.float64)  # not symmetric: |λ| ≠ σ
    upper = torch.triu(torch.randn(3, 3, generator=generator, dtype=torch.float64), diagonal=1)
    negative = torch.diag(torch.tensor([-2.0, 0.5, 1.0], dtype=torch.float64)) + upper  # dominant λ = -2
    return [(W, 0.9), (negative, 1.5), (W, 2.0)]


register(
    Exercise(
        name="03.spectral_radius",
        title="rescale W_hh to a spectral radius",
        hint=(
            "the spectral radius is the largest absolute value of the eigenvalues, and those of a non-symmetric "
            "matrix may be negative or complex; it is not a norm of the matrix. Multiplying W by s multiplies every "
            "eigenvalue by s, and the answer is a real matrix."
        ),
        reference=scale_to_spectral_radius,
        cases=_radius_cases,
        mistakes=[
            Mistake(
                "you divided by the largest singular value (the spectral *norm*, torch.linalg.matrix_norm(W, 2)); "
                "the spectral *radius* is the largest |eigenvalue|, which is smaller for a non-symmetric matrix",
                lambda W, radius: W * (radius / torch.linalg.matrix_norm(W, 2)),
            ),
            Mistake(
                "you divided by the Frobenius norm; the spectral radius is the largest |eigenvalue|",
                lambda W, radius: W * (radius / W.norm()),
            ),
            Mistake(
                "you multiplied W by the radius without dividing by its current spectral radius first",
                lambda W, radius: W * radius,
            ),
            Mistake(
                "you took the largest real part of the eigenvalues; the radius is the largest *absolute value* "
                "(a dominant eigenvalue may be negative or complex)",
                lambda W, radius: W * (radius / torch.linalg.eigvals(W).real.max()),
            ),
            Mistake(
                "you divided by the dominant eigenvalue itself, a complex number, so your matrix is complex; "
                "divide by its absolute value, the spectral radius",
                lambda W, radius: W * (radius / _dominant_eigenvalue(W)),
            ),
        ],
    )
)

# --- 03.clip_global_norm ---------------------------------------------------------------------------


def clip_by_global_norm(gradients, max_norm):
    # ‖g‖ = sqrt(Σ over all tensors of Σ g²);  g <- g · min(1, max_norm / ‖g‖)
    total = torch.sqrt(sum((g**2).sum() for g in gradients))
    scale = min(1.0, max_norm / float(total))
    return tuple(g * scale for g in gradients)


def _clip_cases():
    generator = torch.Generator().manual_seed(8)
    big = (torch.randn(3, 4, generator=generator, dtype=torch.float64) * 5, torch.randn(4, generator=generator,
                                                                                       dtype=torch.float64) * 5)
    small = (torch.tensor([[0.1, -0.2], [0.05, 0.0]], dtype=torch.float64), torch.tensor([0.1], dtype=torch.float64))
    return [(big, 1.0), (small, 1.0), (big, 2.5)]


register(
    Exercise(
        name="03.clip_global_norm",
        title="gradient clipping by the global norm",
        hint=(
            "one norm for all the gradients together (every entry of every tensor counts); when it is too large, "
            "shrink every tensor by one common factor, so the direction is kept; never enlarge. Return new tensors: "
            "the gradients you are given must stay as they were."
        ),
        reference=clip_by_global_norm,
        cases=_clip_cases,
        mistakes=[
            Mistake(
                "you clipped each element to [-max_norm, max_norm]: that changes the gradient's direction; "
                "rescale all of it by one factor instead",
                lambda gradients, max_norm: tuple(g.clamp(-max_norm, max_norm) for g in gradients),
            ),
            Mistake(
                "you clipped each tensor by its own norm: the tensors then shrink by different factors and the "
                "overall direction changes; use one global norm over all tensors",
                lambda gradients, max_norm: tuple(g * min(1.0, max_norm / float(g.norm())) for g in gradients),
            ),
            Mistake(
                "you also scaled *up* gradients whose norm is below max_norm; clipping only ever shrinks: "
                "min(1, max_norm / ‖g‖)",
                lambda gradients, max_norm: tuple(
                    g * (max_norm / float(torch.sqrt(sum((x**2).sum() for x in gradients)))) for g in gradients
                ),
            ),
            Mistake(
                "you added the tensors' norms; the global norm is the square root of the sum of *squares* of "
                "every entry, sqrt(Σ ‖g_i‖²)",
                lambda gradients, max_norm: tuple(
                    g * min(1.0, max_norm / float(sum(x.norm() for x in gradients))) for g in gradients
                ),
            ),
        ],
    )
)


# --------------------------------------------------------------------------------------------------
# The result file written by bench/recall_task.py
# --------------------------------------------------------------------------------------------------


@dataclass
class RecallTaskResults:
    """``data/results/recall_task.json`` as written by ``bench/recall_task.py``.

    ``settings``: what every run shared (and the command, torch version, wall time); ``runs``: one
    dict per training run with ``arm``, ``kind``, ``gate_init``, ``lag``, ``lr``, ``prefix``, ``seed``,
    ``accuracy`` (test), ``val_accuracy`` (the last validation figure), ``steps`` and ``seconds``.
    """

    settings: dict
    runs: list[dict]

    def select(self, **conditions) -> list[dict]:
        """The runs whose fields equal ``conditions`` (e.g. ``arm="rnn", lag=40``), in file order."""
        return [run for run in self.runs if all(run.get(k) == v for k, v in conditions.items())]

    @property
    def arms(self) -> list[str]:
        return list(dict.fromkeys(run["arm"] for run in self.runs))

    def lags(self, prefix: int | None = None) -> list[int]:
        runs = self.runs if prefix is None else self.select(prefix=prefix)
        return sorted({run["lag"] for run in runs})

    @property
    def seeds(self) -> list[int]:
        return sorted({run["seed"] for run in self.runs})

    def lrs(self, arm: str, lag: int, prefix: int) -> list[float]:
        return sorted({run["lr"] for run in self.select(arm=arm, lag=lag, prefix=prefix)})

    def best_lr(self, arm: str, lag: int, prefix: int) -> float:
        """The learning rate with the best mean *validation* accuracy over seeds (ties: the smaller)."""
        lrs = self.lrs(arm, lag, prefix)
        if not lrs:
            raise KeyError(f"no runs for arm={arm!r}, lag={lag}, prefix={prefix}; arms: {', '.join(self.arms)}")

        def mean_val(lr: float) -> float:
            runs = self.select(arm=arm, lag=lag, prefix=prefix, lr=lr)
            return sum(run["val_accuracy"] for run in runs) / len(runs)

        return max(lrs, key=lambda lr: (mean_val(lr), -lr))

    def accuracies(self, arm: str, lag: int, prefix: int, lr: float | None = None) -> list[float]:
        """Per-seed test accuracies of one arm at one lag (at its best learning rate if ``lr`` is None)."""
        lr = self.best_lr(arm, lag, prefix) if lr is None else lr
        runs = sorted(self.select(arm=arm, lag=lag, prefix=prefix, lr=lr), key=lambda run: run["seed"])
        if not runs:
            raise KeyError(f"no runs for arm={arm!r}, lag={lag}, prefix={prefix}, lr={lr}")
        return [run["accuracy"] for run in runs]

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1, sort_keys=True) + "\n"


def load_results(path: str | Path | None = None) -> RecallTaskResults:
    """Read the bench's result file (default ``data/results/recall_task.json``)."""
    path = RESULTS_PATH if path is None else Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no result file; run `python bench/recall_task.py` to make it")
    data = json.loads(path.read_text(encoding="utf-8"))
    missing = {"settings", "runs"} - set(data)
    if missing:
        raise ValueError(f"{path}: not a recall-task result file (missing {sorted(missing)})")
    return RecallTaskResults(**data)

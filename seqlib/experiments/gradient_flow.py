"""How far back does the gradient reach?  ‖∂L/∂h_t‖ for an RNN, ‖∂L/∂c_t‖ for an LSTM, on real text.

Backpropagation through time multiplies the gradient by one Jacobian per step.  For the RNN,
∂h_t/∂h_{t-1} = diag(1 - h_t²) W_hh, so the gradient shrinks or grows roughly like ρ(W_hh)^k over k
steps (ρ the spectral radius, the tanh slope ≤ 1 only shrinking it further): below 1 it vanishes
(기울기 소실), well above 1 it can explode (기울기 폭주).  The LSTM's cell state has a second path,
c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t, whose direct Jacobian is ∂c_t/∂c_{t-1} = diag(f_t): along it the
gradient is multiplied by the forget gates only, ∏ f_k, which stays near 1 when the forget gate is
open.

The setting: ``num_snippets`` stretches of *The Time Machine*, T characters each, one-hot encoded;
a freshly initialised recurrent layer (seeded) reads them, a linear head predicts the character after
the last one, and L is its cross-entropy.  The norms are over the batch and the hidden units.

Shape legend: B snippets (batch), T time steps, V vocabulary size, H hidden size.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

import seqlib.recurrent as recurrent
from seqlib.long_term import hidden_state_gradient_norms, set_spectral_radius_, spectral_radius

__all__ = [
    "text_snippets",
    "RNNGradientProfile",
    "rnn_gradient_profile",
    "lstm_state_gradient_norms",
    "LSTMGradientProfile",
    "lstm_gradient_profile",
    "ClippingResult",
    "clip_by_global_norm",
    "clipping_step",
]


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
    (relative[0])^(1/(T-1))."""

    radius: float
    norms: Tensor
    relative: Tensor
    per_step: float


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
    norms = hidden_state_gradient_norms(rnn, inputs, lambda hs: F.cross_entropy(head(hs[:, -1]), targets))
    relative = norms / norms[-1]
    per_step = float(relative[0] ** (1 / (len(norms) - 1))) if len(norms) > 1 else 1.0
    return RNNGradientProfile(spectral_radius(rnn.weight_hh_l0), norms, relative, per_step)


def lstm_state_gradient_norms(lstm: nn.Module, inputs: Tensor, loss_fn) -> tuple[Tensor, Tensor]:
    """‖∂L/∂h_t‖ and ‖∂L/∂c_t‖ for every step of a one-layer LSTM (the total derivatives).

    The layer's weights are loaded into a :class:`seqlib.LSTMCell`, which is stepped one step at a
    time; each step's h_t and c_t are the very tensors the next step (and the loss) read, so their
    ``.grad`` after ``backward`` is the whole gradient reaching them.

    Args:
        lstm: a one-layer unidirectional LSTM, batch first (seqlib or torch.nn).
        inputs: (B, T, I).
        loss_fn: (B, T, H) hidden states -> scalar loss.

    Returns:
        ``(h_norms, c_norms)``, each (T,).
    """
    if not getattr(lstm, "batch_first", False) or lstm.num_layers != 1 or getattr(lstm, "bidirectional", False):
        raise ValueError("lstm_state_gradient_norms needs a one-layer unidirectional LSTM with batch_first=True")
    weight = lstm.weight_ih_l0
    cell = recurrent.LSTMCell(lstm.input_size, lstm.hidden_size, device=weight.device, dtype=weight.dtype)
    cell.load_state_dict({name.removesuffix("_l0"): value for name, value in lstm.state_dict().items()})
    state, hs, cs = None, [], []
    for x_t in inputs.unbind(dim=1):  # T x (B, I)
        state = cell(x_t, state)  # (h_t, c_t), each (B, H)
        for tensor in state:
            tensor.retain_grad()
        hs.append(state[0])
        cs.append(state[1])
    loss = loss_fn(torch.stack(hs, dim=1))  # from (B, T, H)
    loss.backward()
    h_norms = torch.stack([h.grad.norm() if h.grad is not None else h.new_zeros(()) for h in hs])
    c_norms = torch.stack([c.grad.norm() if c.grad is not None else c.new_zeros(()) for c in cs])
    return h_norms.detach(), c_norms.detach()


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
        with torch.no_grad():
            lstm.bias_ih_l0[hidden_size : 2 * hidden_size] = forget_bias
            lstm.bias_hh_l0[hidden_size : 2 * hidden_size] = 0.0
    h_norms, c_norms = lstm_state_gradient_norms(
        lstm, inputs, lambda hs: F.cross_entropy(head(hs[:, -1]), targets)
    )
    with torch.no_grad():
        _, _, traces = lstm(inputs, return_gates=True)
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


def clip_by_global_norm(gradients: list[Tensor], max_norm: float) -> list[Tensor]:
    """g ← g · min(1, max_norm / ‖g‖), ‖g‖ the norm of all gradients together (as
    ``torch.nn.utils.clip_grad_norm_``, without the small epsilon).  Returns new tensors."""
    if not max_norm > 0:
        raise ValueError(f"max_norm must be > 0, got {max_norm!r}")
    total = torch.sqrt(sum((g.double() ** 2).sum() for g in gradients))
    scale = min(1.0, max_norm / float(total)) if total > 0 else 1.0
    return [g * scale for g in gradients]


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
    clipped = clip_by_global_norm(list(gradients), max_norm)
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

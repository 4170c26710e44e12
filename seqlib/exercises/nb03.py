"""Exercises of notebook 03 (long-term dependencies): the RNN's step Jacobian, the LSTM's forget
path, rescaling to a spectral radius, and gradient clipping by the global norm."""

from __future__ import annotations

import torch

from seqlib.exercises import Exercise, Mistake, register

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
            "itself. Entry [i, j] is ∂h_t[i]/∂h_{t-1}[j]: think about which index the slope belongs to."
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
            "the spectral radius is the largest absolute value of the eigenvalues (torch.linalg.eigvals; those of a "
            "non-symmetric matrix are complex). Multiplying W by s multiplies every eigenvalue by s."
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
            "shrink every tensor by one common factor, so the direction is kept; never enlarge."
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

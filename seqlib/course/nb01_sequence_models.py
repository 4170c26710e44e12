"""Notebook 01 · sequence models: what the notebook shows and asks, computed here.

* **Widgets**: the AR window τ and forecast horizon on sunspots (:func:`ar_tau_explorer`), the n-gram
  order and smoothing on text (:func:`ngram_explorer`).  Each explorer's ``compute`` is a pure function
  here (:func:`ar_view`, :func:`ngram_view`) that the unit tests call directly; the widget only draws
  its result.
* **Exercises** ``01.lag_features``, ``01.bigram_perplexity``, ``01.multi_step``, ``01.latent_step``:
  each reference is the solution a learner can reveal with ``seqlib.course.solution(name)``; each
  :class:`~seqlib.course.checker.Mistake` is a wrong variant whose output the checker recognises and
  names.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
import torch

from seqlib.autoregressive import ARFit, ARSweep, MultiStepResult, fit_linear_ar, k_step_ahead, linear_ar_sweep
from seqlib.course.checker import Exercise, Mistake, register
from seqlib.course.explorer import Explorer
from seqlib.data import TimeSeries, Vocab
from seqlib.ngram import SMOOTHINGS, NGramLanguageModel

__all__ = [
    "ARView",
    "ar_view",
    "ar_tau_explorer",
    "NGramView",
    "ngram_view",
    "ngram_explorer",
    "LAG_FEATURES",
    "BIGRAM_PERPLEXITY",
    "MULTI_STEP",
    "LATENT_STEP",
]


# --------------------------------------------------------------------------------------------------
# Widgets: the AR window and horizon on sunspots, the n-gram order on text
# --------------------------------------------------------------------------------------------------


# --- AR(τ) on a series --------------------------------------------------------------------------


@dataclass(frozen=True)
class ARView:
    """What the AR explorer shows: the linear AR(τ) fit, its k-step-ahead forecasts of the
    validation years, and the sweep of train/validation RMSE over τ (computed once)."""

    fit: ARFit
    forecast: MultiStepResult
    steps_ahead: int
    sweep: ARSweep | None

    @property
    def forecast_rmse(self) -> float:
        return self.forecast.rmse[self.steps_ahead]


def ar_view(
    values: np.ndarray, tau: int, steps_ahead: int = 1, val_fraction: float = 0.2, sweep: ARSweep | None = None
) -> ARView:
    """Fit linear AR(τ) by least squares and forecast every validation value ``steps_ahead`` ahead.

    Raises ``ValueError`` (shown by the explorer) when τ is too large for the series.
    """
    fit = fit_linear_ar(values, tau, val_fraction)
    return ARView(fit, k_step_ahead(fit, values, (steps_ahead,)), steps_ahead, sweep)


def ar_tau_explorer(
    series: TimeSeries,
    tau: int = 2,
    steps_ahead: int = 1,
    max_tau: int = 150,
    max_steps_ahead: int = 16,
    val_fraction: float = 0.2,
) -> Explorer:
    """Sliders for τ (window) and k (steps ahead) over linear AR(τ) on ``series``.

    Left: the validation years, the truth and the k-step-ahead forecasts.  Right: train and
    validation RMSE against τ (every fittable τ up to ``max_tau``), the current τ marked.
    """
    values = series.values
    years = series.dates.astype("datetime64[Y]").astype(int) + 1970
    fittable = min(max_tau, (int(round(len(values) * (1 - val_fraction))) - 1) // 2)
    sweep = linear_ar_sweep(values, range(1, fittable + 1), val_fraction)

    def draw(view: ARView, fig: plt.Figure) -> None:
        left, right = fig.subplots(1, 2, gridspec_kw={"width_ratios": [3, 2]})
        index = view.forecast.label_index
        left.plot(years[index], view.forecast.labels, color="0.3", lw=1.5, label="observed")
        k = view.steps_ahead
        left.plot(
            years[index], view.forecast.predictions[k], color="C1", lw=1.5, label=f"AR({view.fit.tau}), {k} ahead"
        )
        left.set_xlabel("year")
        left.set_ylabel(f"{series.units} (yearly mean)")
        left.set_title("validation years")
        left.legend(loc="upper right", fontsize=8)
        right.plot(sweep.taus, sweep.train_rmse, color="C0", label="train")
        right.plot(sweep.taus, sweep.val_rmse, color="C3", label="validation")
        right.axvline(view.fit.tau, color="0.5", ls="--", lw=1)
        right.set_xscale("log")
        right.set_yscale("log")  # the longest windows interpolate: training error -> 0, validation explodes
        right.set_ylim(0.5 * sweep.val_rmse.min(), 2 * sweep.val_rmse.max())
        right.set_xlabel("τ (window length, years)")
        right.set_ylabel(f"1-step RMSE ({series.units})")
        right.legend(loc="upper left", fontsize=8)
        fig.tight_layout()

    def describe(view: ARView) -> str:
        fit = view.fit
        return (
            f"AR({fit.tau}), {fit.num_parameters} parameters: one-step RMSE train {fit.train_rmse:.1f}, "
            f"validation {fit.val_rmse:.1f}; {view.steps_ahead} step(s) ahead: {view.forecast_rmse:.1f} {series.units}"
        )

    controls = {
        "tau": widgets.IntSlider(value=tau, min=1, max=max_tau, description="τ", continuous_update=False),
        "steps_ahead": widgets.IntSlider(
            value=steps_ahead, min=1, max=max_steps_ahead, description="steps ahead", continuous_update=False
        ),
    }

    def compute(tau: int, steps_ahead: int) -> ARView:
        return ar_view(values, tau, steps_ahead, val_fraction, sweep)

    return Explorer(compute, controls, draw, describe, figsize=(9.0, 3.2))


# --- n-gram order on text -------------------------------------------------------------------------


@dataclass(frozen=True)
class NGramView:
    """What the n-gram explorer shows: perplexities, sparsity, the next-token distribution after
    ``prompt`` and a sampled continuation (seeded)."""

    n: int
    smoothing: str
    train_perplexity: float
    val_perplexity: float
    unseen_fraction: float
    num_counts: int
    prompt: str
    next_token: torch.Tensor
    sample: str


def ngram_view(
    train: torch.Tensor,
    val: torch.Tensor,
    vocab: Vocab,
    n: int,
    smoothing: str = "interpolated",
    prompt: str = "the time traveller ",
    length: int = 60,
    seed: int = 0,
    k: float = 1.0,
) -> NGramView:
    """Fit an n-gram model on ``train`` and report what the explorer shows (pure, deterministic)."""
    model = NGramLanguageModel(n, len(vocab), smoothing, k).fit(train)
    prefix = vocab.encode(list(prompt))
    sample = "".join(vocab.decode(model.sample(prefix, length, seed=seed)))
    return NGramView(
        n,
        smoothing,
        model.perplexity(train),
        model.perplexity(val),
        model.unseen_fraction(val),
        model.num_counts,
        prompt,
        model.next_token_distribution(prefix),
        sample,
    )


def ngram_explorer(
    train: torch.Tensor,
    val: torch.Tensor,
    vocab: Vocab,
    n: int = 2,
    smoothing: str = "interpolated",
    prompt: str = "the time traveller ",
    max_n: int = 10,
) -> Explorer:
    """A slider for the order n and a menu for the smoothing of a character n-gram model."""

    def draw(view: NGramView, fig: plt.Figure) -> None:
        ax = fig.add_subplot()
        shown = {" ": "␣", Vocab.UNK: "?"}
        tokens = [shown.get(t, t) for t in vocab.idx_to_token]
        ax.bar(range(len(tokens)), view.next_token.numpy(), color="C2")
        ax.set_xticks(range(len(tokens)), tokens, fontsize=8)
        ax.set_xlabel("next character (␣ = space, ? = unknown)")
        ax.set_ylabel("probability")
        ax.set_title(f"{view.n}-gram, p(next | …{view.prompt[-max(view.n - 1, 0) :]!r})" if view.n > 1 else "unigram")
        fig.tight_layout()

    def describe(view: NGramView) -> str:
        return (
            f"n={view.n} ({view.smoothing}): perplexity train {view.train_perplexity:.2f}, "
            f"validation {view.val_perplexity:.2f}; {100 * view.unseen_fraction:.2f}% of validation "
            f"{view.n}-grams never seen in training; sample: <code>{html.escape(view.prompt + view.sample)}</code>"
        )

    controls = {
        "n": widgets.IntSlider(value=n, min=1, max=max_n, description="n", continuous_update=False),
        "smoothing": widgets.Dropdown(options=list(SMOOTHINGS), value=smoothing, description="smoothing"),
    }

    def compute(n: int, smoothing: str) -> NGramView:
        return ngram_view(train, val, vocab, n, smoothing, prompt)

    return Explorer(compute, controls, draw, describe, figsize=(8.0, 2.8))


# --------------------------------------------------------------------------------------------------
# Exercises
# --------------------------------------------------------------------------------------------------


# --- 01.lag_features -----------------------------------------------------------------------------


def lag_features(series: torch.Tensor, tau: int) -> tuple[torch.Tensor, torch.Tensor]:
    T = len(series)
    # row j is the window x_j … x_{j+tau-1} (oldest first); its label is x_{j+tau}, the value after it
    features = torch.stack([series[i : T - tau + i] for i in range(tau)], dim=1)  # (T - tau, tau)
    labels = series[tau:]  # (T - tau,)
    return features, labels


def _lag_label_in_window(series, tau):
    features, _ = lag_features(series, tau)
    return features, series[tau - 1 : len(series) - 1]


def _lag_window_includes_label(series, tau):
    T = len(series)
    features = torch.stack([series[i + 1 : T - tau + i + 1] for i in range(tau)], dim=1)
    return features, series[tau:]


def _lag_window_one_step_early(series, tau):
    # the window x_j … x_{j+tau-1} is paired with x_{j+tau+1}: one value is skipped between them
    features, labels = lag_features(series, tau)
    return features[:-1], labels[1:]


def _lag_transposed(series, tau):
    features, labels = lag_features(series, tau)
    return features.T, labels


def _lag_newest_first(series, tau):
    features, labels = lag_features(series, tau)
    return features.flip(1), labels


def _lag_one_window_short(series, tau):
    features, labels = lag_features(series, tau)
    return features[:-1], labels[:-1]


LAG_FEATURES = register(
    Exercise(
        name="01.lag_features",
        title="build the lag features of AR(tau)",
        hint=(
            "each row is a window of tau consecutive values, oldest first, and its label is the value that comes "
            "right after the window: neither inside it nor one step later. Only a window that still has a value "
            "after it gets a row."
        ),
        reference=lag_features,
        cases=lambda: [
            (torch.arange(9.0), 3),
            (torch.sin(0.7 * torch.arange(15.0)), 4),
            (torch.tensor([2.0, -1.0, 0.5, 3.0, 1.5, -2.0]), 1),
        ],
        mistakes=[
            Mistake(
                "your window includes x_t itself: off by one. The window must end one step *before* "
                "its label (the label is series[j + tau], the window series[j : j + tau])",
                _lag_window_includes_label,
            ),
            Mistake(
                "your label is the last value of its own window: the model would be asked to predict "
                "a value it is given. The label is the value *after* the window",
                _lag_label_in_window,
            ),
            Mistake(
                "your window ends one step early: one value is skipped between the window and its label (the "
                "window ends at x_{t-1}, the label is x_{t+1}, and x_t is in neither); off by one the other way. "
                "The label is the value right after the window",
                _lag_window_one_step_early,
            ),
            Mistake(
                "features have shape (tau, N) where (N, tau) was expected: one row per window, one column per lag",
                _lag_transposed,
            ),
            Mistake(
                "your windows are newest first; the course's convention (seqlib.data.sliding_windows) "
                "is oldest first, with x_t in the last column",
                _lag_newest_first,
            ),
            Mistake(
                "you made one window too few: a series of T values has T - tau windows with a label",
                _lag_one_window_short,
            ),
        ],
    )
)


# --- 01.bigram_perplexity ------------------------------------------------------------------------


def bigram_perplexity(train: torch.Tensor, val: torch.Tensor, vocab_size: int, k: float) -> float:
    counts = torch.zeros(vocab_size, vocab_size)  # counts[prev, next]
    for prev, nxt in zip(train[:-1].tolist(), train[1:].tolist(), strict=True):
        counts[prev, nxt] += 1
    # add-k smoothing: p(next | prev) = (c(prev, next) + k) / (c(prev) + k V)
    probs = (counts + k) / (counts.sum(dim=1, keepdim=True) + k * vocab_size)
    p = probs[val[:-1], val[1:]]  # p(val[t] | val[t-1]) for t = 1 … len(val) - 1
    return torch.exp(-torch.log(p).mean()).item()  # exp of the mean negative log-probability


def _bigram_counts(train, vocab_size):
    counts = torch.zeros(vocab_size, vocab_size)
    for prev, nxt in zip(train[:-1].tolist(), train[1:].tolist(), strict=True):
        counts[prev, nxt] += 1
    return counts


def _bigram_probs(train, val, vocab_size, k):
    counts = _bigram_counts(train, vocab_size)
    probs = (counts + k) / (counts.sum(dim=1, keepdim=True) + k * vocab_size)
    return probs[val[:-1], val[1:]]


def _bigram_no_exp(train, val, vocab_size, k):
    return (-torch.log(_bigram_probs(train, val, vocab_size, k)).mean()).item()


def _bigram_bits(train, val, vocab_size, k):
    return (-torch.log2(_bigram_probs(train, val, vocab_size, k)).mean()).item()


def _bigram_mean_probability(train, val, vocab_size, k):
    return (1.0 / _bigram_probs(train, val, vocab_size, k).mean()).item()


def _bigram_unsmoothed(train, val, vocab_size, k):
    counts = _bigram_counts(train, vocab_size)
    probs = counts / counts.sum(dim=1, keepdim=True)
    p = probs[val[:-1], val[1:]]
    return torch.exp(-torch.log(p).mean()).item()


def _bigram_no_kv(train, val, vocab_size, k):
    counts = _bigram_counts(train, vocab_size)
    probs = (counts + k) / (counts.sum(dim=1, keepdim=True) + k)
    return torch.exp(-torch.log(probs[val[:-1], val[1:]]).mean()).item()


def _bigram_column_normalised(train, val, vocab_size, k):
    counts = _bigram_counts(train, vocab_size)
    probs = (counts + k) / (counts.sum(dim=0, keepdim=True) + k * vocab_size)
    return torch.exp(-torch.log(probs[val[:-1], val[1:]]).mean()).item()


def _bigram_swapped_lookup(train, val, vocab_size, k):
    counts = _bigram_counts(train, vocab_size)
    probs = (counts + k) / (counts.sum(dim=1, keepdim=True) + k * vocab_size)
    return torch.exp(-torch.log(probs[val[1:], val[:-1]]).mean()).item()


def _bigram_sum(train, val, vocab_size, k):
    return torch.exp(-torch.log(_bigram_probs(train, val, vocab_size, k)).sum()).item()


BIGRAM_PERPLEXITY = register(
    Exercise(
        name="01.bigram_perplexity",
        title="bigram (Markov) perplexity from counts",
        hint=(
            "a table of how often each token follows each other one, one row per previous token. Smoothing gives "
            "every pair k extra counts, and each row must still sum to 1 afterwards. Perplexity is a geometric mean: "
            "average the surprise, -log p, over the validation pairs, then undo the logarithm."
        ),
        reference=bigram_perplexity,
        cases=lambda: [
            (torch.tensor([0, 1, 2, 1, 0, 1, 2, 2, 1, 0, 2]), torch.tensor([1, 2, 1, 0, 0, 3, 1]), 4, 1.0),
            (torch.tensor([2, 0, 2, 1, 1, 2, 0, 0, 1, 2, 2]), torch.tensor([0, 2, 2, 1, 0, 1]), 3, 0.5),
        ],
        mistakes=[
            Mistake(
                "you did not smooth: a bigram never seen in training gets probability 0 (0/0, NaN, after a token never "
                "seen at all), and one such token makes the perplexity infinite. Add k to every count and k*V to "
                "every row total",
                _bigram_unsmoothed,
            ),
            Mistake(
                "you forgot the exp: that is the mean negative log-likelihood (the cross-entropy in nats); "
                "perplexity = exp(cross-entropy)",
                _bigram_no_exp,
            ),
            Mistake(
                "you returned the cross-entropy in bits (mean -log2 p); perplexity = 2 ** bits = exp(nats)",
                _bigram_bits,
            ),
            Mistake(
                "you averaged the probabilities: perplexity is exp of the mean *negative log*-probability "
                "(a geometric mean), not 1 / (arithmetic mean of p)",
                _bigram_mean_probability,
            ),
            Mistake(
                "your rows do not sum to 1: adding k to each of the V counts of a row adds k*V (not k) to its total",
                _bigram_no_kv,
            ),
            Mistake(
                "you normalised over the previous token (column sums); p(next | prev) divides by the count of "
                "prev, the sum of its row",
                _bigram_column_normalised,
            ),
            Mistake(
                "you looked up p(prev | next): rows are the previous token, columns the next one "
                "(probs[val[:-1], val[1:]])",
                _bigram_swapped_lookup,
            ),
            Mistake(
                "you exponentiated the total negative log-likelihood; perplexity uses its mean (per token)",
                _bigram_sum,
            ),
        ],
    )
)


# --- 01.multi_step --------------------------------------------------------------------------------


def forecast(
    predict: Callable[[torch.Tensor], torch.Tensor], series: torch.Tensor, start: int, tau: int, steps: int
) -> torch.Tensor:
    window = series[start - tau : start].clone()  # the last tau *known* values, oldest first
    out = []
    for _ in range(steps):
        next_value = predict(window)  # a 0-d tensor
        out.append(next_value)
        window = torch.cat([window[1:], next_value.reshape(1)])  # drop the oldest, feed the forecast back
    return torch.stack(out)  # (steps,)


def _forecast_teacher_forcing(predict, series, start, tau, steps):
    return torch.stack([predict(series[start + i - tau : start + i]) for i in range(steps)])


def _forecast_frozen_window(predict, series, start, tau, steps):
    window = series[start - tau : start]
    return torch.stack([predict(window) for _ in range(steps)])


def _forecast_prepended(predict, series, start, tau, steps):
    window, out = series[start - tau : start].clone(), []
    for _ in range(steps):
        out.append(predict(window))
        window = torch.cat([out[-1].reshape(1), window[:-1]])
    return torch.stack(out)


def _forecast_peeks(predict, series, start, tau, steps):
    return forecast(predict, series, start + 1, tau, steps)


class _LinearPredictor:
    """x̂ = w · window + b, a fixed AR(τ) model for the exercise's cases."""

    def __init__(self, weights: list[float], bias: float) -> None:
        self.weights, self.bias = torch.tensor(weights), bias

    def __call__(self, window: torch.Tensor) -> torch.Tensor:
        return (self.weights * window).sum() + self.bias

    def __repr__(self) -> str:
        return f"LinearPredictor(weights={self.weights.tolist()}, bias={self.bias})"


MULTI_STEP = register(
    Exercise(
        name="01.multi_step",
        title="forecast several steps ahead by feeding predictions back",
        hint=(
            "at time start you know only the values before it. Each forecast joins the window for the next one: "
            "the window keeps its length and its order (oldest first), so a value must leave it when a forecast "
            "enters."
        ),
        reference=forecast,
        cases=lambda: [
            (_LinearPredictor([-0.5, 0.3, 1.1], 0.1), torch.sin(0.6 * torch.arange(30.0)) * 3, 12, 3, 6),
            (
                _LinearPredictor([0.2, 0.7], -0.2),
                torch.cos(0.9 * torch.arange(20.0)) + 0.05 * torch.arange(20.0),
                8,
                2,
                5,
            ),
        ],
        mistakes=[
            Mistake(
                "you fed the true values back in (teacher forcing): a forecast made at time `start` cannot read "
                "series[start], series[start + 1], …; feed your own predictions back",
                _forecast_teacher_forcing,
            ),
            Mistake(
                "your window never moves: every step predicts from the same tau values, so all forecasts are equal; "
                "after each step drop the oldest value and append the prediction",
                _forecast_frozen_window,
            ),
            Mistake(
                "you put the prediction at the front of the window; windows are oldest first, so the newest value "
                "(your prediction) goes last",
                _forecast_prepended,
            ),
            Mistake(
                "your first window ends at series[start], the first value you are asked to forecast: off by one "
                "(the window is series[start - tau : start])",
                _forecast_peeks,
            ),
        ],
    )
)


# --- 01.latent_step --------------------------------------------------------------------------------


def latent_step(
    x_t: torch.Tensor, h: torch.Tensor, W_xh: torch.Tensor, W_hh: torch.Tensor, b: torch.Tensor
) -> torch.Tensor:
    # h_t = tanh(W_xh x_t + W_hh h_{t-1} + b), with one row per batch item: x_t (B, I), h (B, H)
    return torch.tanh(x_t @ W_xh.T + h @ W_hh.T + b)  # (B, H)


def _latent_forgets_past(x_t, h, W_xh, W_hh, b):
    return torch.tanh(x_t @ W_xh.T + b)


def _latent_ignores_input(x_t, h, W_xh, W_hh, b):
    return torch.tanh(h @ W_hh.T + b)


def _latent_sigmoid(x_t, h, W_xh, W_hh, b):
    return torch.sigmoid(x_t @ W_xh.T + h @ W_hh.T + b)


def _latent_linear(x_t, h, W_xh, W_hh, b):
    return x_t @ W_xh.T + h @ W_hh.T + b


def _latent_untransposed(x_t, h, W_xh, W_hh, b):
    return torch.tanh(x_t @ W_xh.T + h @ W_hh + b)


def _latent_bias_outside(x_t, h, W_xh, W_hh, b):
    return torch.tanh(x_t @ W_xh.T + h @ W_hh.T) + b


def _latent_cases() -> list[tuple]:
    generator = torch.Generator().manual_seed(1)
    B, I, H = 2, 3, 4

    def draw(*shape):
        return torch.randn(*shape, generator=generator)

    return [(draw(B, I), draw(B, H), draw(H, I), draw(H, H), draw(H)) for _ in range(2)]


LATENT_STEP = register(
    Exercise(
        name="01.latent_step",
        title="one update of the latent state h_t = f(h_{t-1}, x_t)",
        hint=(
            "the new state mixes the new input and the previous state, each through its own weight matrix, adds the "
            "bias, and only then squashes the sum into (-1, 1). Rows are batch items: work out which way round each "
            "matrix must be used for the result to have shape (B, H)."
        ),
        reference=latent_step,
        cases=_latent_cases,
        mistakes=[
            Mistake(
                "your state forgets the past: without W_hh h_{t-1} the new state depends on x_t alone "
                "(that is a Markov model, not a latent autoregressive one)",
                _latent_forgets_past,
            ),
            Mistake("your state ignores the new input x_t: add W_xh x_t", _latent_ignores_input),
            Mistake("you applied a sigmoid where the state update uses tanh (values in (-1, 1))", _latent_sigmoid),
            Mistake(
                "you forgot the tanh: without a nonlinearity the state is a linear function of the past",
                _latent_linear,
            ),
            Mistake(
                "you multiplied h by W_hh instead of W_hh.T: with one row per batch item the product is h @ W_hh.T",
                _latent_untransposed,
            ),
            Mistake(
                "you added the bias after the tanh: the bias belongs inside, with the two products, before the "
                "nonlinearity (added outside, it shifts the state out of (-1, 1))",
                _latent_bias_outside,
            ),
        ],
    )
)

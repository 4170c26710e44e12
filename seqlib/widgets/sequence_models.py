"""Widgets of notebook 01: the AR window τ and forecast horizon on sunspots; the n-gram order on text.

Each explorer's ``compute`` is a pure function here (:func:`ar_view`, :func:`ngram_view`) that the
unit tests call directly; the widget only draws its result.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
import torch

from seqlib.autoregressive import ARFit, ARSweep, MultiStepResult, fit_linear_ar, k_step_ahead, linear_ar_sweep
from seqlib.data import TimeSeries, Vocab
from seqlib.ngram import SMOOTHINGS, NGramLanguageModel
from seqlib.widgets._explorer import Explorer

__all__ = ["ARView", "ar_view", "ar_tau_explorer", "NGramView", "ngram_view", "ngram_explorer"]


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

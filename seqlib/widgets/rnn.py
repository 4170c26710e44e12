"""Widgets of notebook 02: sampling a trained character RNN at a chosen temperature."""

from __future__ import annotations

import html
from collections.abc import Iterable

import ipywidgets as widgets
import matplotlib.pyplot as plt
from torch import nn

from seqlib.experiments.char_lm import TemperatureSample, sample_at_temperature
from seqlib.widgets._explorer import Explorer


def _label(token: str) -> str:
    return "␣" if token == " " else token


def temperature_explorer(
    model: nn.Module,
    vocab,
    known_words: Iterable[str],
    prefix: str = "the time traveller ",
    temperature: float = 1.0,
    num_chars: int = 120,
    seed: int = 0,
    max_temperature: float = 2.0,
) -> Explorer:
    """A temperature slider (and a prefix box) over a trained character language model.

    Each move calls :func:`seqlib.experiments.char_lm.sample_at_temperature`: the figure shows the
    distribution of the next character after the prefix at that temperature, the summary line the
    sampled text and how many of its words are real words of the book.  τ = 0 is greedy decoding.
    """
    known = frozenset(known_words)
    tokens = vocab.to_tokens(list(range(len(vocab))))
    shown = [k for k, token in enumerate(tokens) if k != vocab.unk]  # <unk> is never sampled

    def compute(temperature: float, prefix: str) -> TemperatureSample:
        return sample_at_temperature(model, vocab, prefix, temperature, num_chars, known, seed=seed)

    def draw(result: TemperatureSample, fig: plt.Figure) -> None:
        ax = fig.add_subplot()
        probabilities = result.probabilities[shown].numpy()
        ax.bar(range(len(shown)), probabilities, color="C0", label=f"τ = {result.temperature:.2f}")
        ax.set_xticks(range(len(shown)), [_label(tokens[k]) for k in shown])
        ax.set_xlabel(f"next character after “{result.prefix[-20:]}”")
        ax.set_ylabel("probability")
        ax.set_ylim(0, 1)
        ax.legend(loc="upper right")
        fig.tight_layout()

    def describe(result: TemperatureSample) -> str:
        return (
            f"τ = {result.temperature:.2f}: next-character entropy {result.entropy_bits:.2f} bits; "
            f"real words {result.real_words:.0%}, distinct words {result.distinct_words:.0%}<br>"
            f"<code>{html.escape(result.prefix)}<b>{html.escape(result.continuation)}</b></code>"
        )

    controls = {
        "temperature": widgets.FloatSlider(
            value=temperature, min=0.0, max=max_temperature, step=0.05, description="temperature",
            continuous_update=False,
        ),
        "prefix": widgets.Text(value=prefix, description="prefix", continuous_update=False),
    }
    return Explorer(compute, controls, draw, describe, figsize=(8.0, 2.8))

"""Widgets of notebooks 02 and 03: each control changes what the model computes; extremes give a message."""

from __future__ import annotations

import pytest
import torch

from seqlib.data import Vocab
from seqlib.language_models import make_language_model, sample
from seqlib.widgets import temperature_explorer

TEXT = "the quick brown fox jumps over the lazy dog " * 20


@pytest.fixture(scope="module")
def lm():
    torch.manual_seed(0)
    vocab = Vocab(list(TEXT))
    model = make_language_model("rnn", len(vocab), 8, embedding_dim=4)
    return model, vocab, set(TEXT.split())


def test_temperature_slider_resamples_and_zero_is_greedy(lm) -> None:
    model, vocab, words = lm
    explorer = temperature_explorer(model, vocab, words, prefix="the ", temperature=1.0, num_chars=30)
    warm = explorer.result
    assert warm.temperature == 1.0 and len(warm.continuation) == 30 and explorer.error is None
    explorer.controls["temperature"].value = 0.0
    greedy = explorer.result
    assert greedy.temperature == 0.0 and greedy.entropy_bits == 0.0 and float(greedy.probabilities.max()) == 1.0
    assert greedy.prefix + greedy.continuation == sample(model, vocab, "the ", 30, temperature=0)
    explorer.controls["temperature"].value = 2.0
    assert explorer.result.entropy_bits > warm.entropy_bits
    assert "entropy" in explorer.summary.value and "real words" in explorer.summary.value


def test_temperature_explorer_empty_prefix_is_a_message(lm) -> None:
    model, vocab, words = lm
    explorer = temperature_explorer(model, vocab, words, prefix="the ", num_chars=5)
    explorer.controls["prefix"].value = ""
    assert explorer.result is None and "prefix must hold at least one character" in explorer.error
    assert "cannot compute" in explorer.summary.value
    explorer.controls["prefix"].value = "a"
    assert explorer.error is None and explorer.result.prefix == "a"


def test_temperature_summary_escapes_html(lm) -> None:
    model, vocab, words = lm
    explorer = temperature_explorer(model, vocab, words, prefix="<b>", num_chars=3)
    assert "&lt;b&gt;" in explorer.summary.value

"""Widgets of notebooks 02 and 03: each control changes what the model computes; extremes give a message."""

from __future__ import annotations

import pytest
import torch

from seqlib.data import Vocab
from seqlib.language_models import make_language_model, sample
from seqlib.widgets import temperature_explorer

TEXT = "the quick brown fox jumps over the lazy dog " * 20


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


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


def test_gradient_flow_sliders_change_the_models_and_zero_radius_is_a_message() -> None:
    from seqlib.widgets import gradient_flow_explorer

    ids = torch.randint(5, (2, 9), generator=torch.Generator().manual_seed(0))
    explorer = gradient_flow_explorer(ids, 5, radius=1.0, forget_bias=0.0, hidden_size=4)
    assert abs(explorer.result.rnn.radius - 1.0) < 1e-9 and explorer.result.lstm.forget_bias == 0.0
    explorer.controls["radius"].value = 3.0
    assert abs(explorer.result.rnn.radius - 3.0) < 1e-9 and explorer.result.rnn.relative[0] > 1
    explorer.controls["forget_bias"].value = 6.0
    assert float(explorer.result.lstm.forget.mean()) > 0.99 and "forget bias +6.0" in explorer.summary.value
    explorer.controls["radius"].value = 0.0
    assert explorer.result is None and "radius must be a positive number" in explorer.error
    explorer.controls["radius"].value = 0.05  # tiny but positive: a tiny, still plottable gradient
    assert explorer.error is None and 0 < float(explorer.result.rnn.relative[0]) < 1e-6

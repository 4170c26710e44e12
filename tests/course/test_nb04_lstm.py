"""Notebook 04's course module: the text and its features, the correlations, a model reading a passage, the
gate widget and its extreme values, the checkpoint round trip, the gradient profile, the exercises."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

import seqlib  # noqa: E402
from seqlib.course import nb04_lstm as nb04  # noqa: E402
from seqlib.course.checker import EXERCISES  # noqa: E402
from seqlib.data import Vocab  # noqa: E402
from seqlib.language_models import make_language_model  # noqa: E402

F64 = torch.float64
NAMES = sorted(name for name in EXERCISES if name.startswith("04."))


def _close(actual, expected, atol: float = 1e-6) -> None:
    """torch.allclose on tensors or tuples of them (torch.testing.assert_close costs seconds to import)."""
    if isinstance(expected, tuple | list):
        assert len(actual) == len(expected)
        for a, e in zip(actual, expected, strict=True):
            _close(a, e, atol)
        return
    assert actual.shape == expected.shape and actual.dtype == expected.dtype
    assert torch.allclose(actual, expected, rtol=1e-5, atol=atol), (actual - expected).abs().max()


def test_notebook_04_has_its_four_exercises() -> None:
    assert NAMES == ["04.lstm_parameters", "04.lstm_sequence", "04.lstm_step", "04.unit_correlation"]


# The reference, the stub, every named mistake and the solution of every exercise are checked by
# tests/course/test_checker.py; this file pins what is particular to notebook 04.


def test_exercise_references_agree_with_seqlib_and_torch() -> None:
    torch.manual_seed(0)
    lstm = seqlib.LSTM(3, 4).double()
    x = torch.randn(6, 2, 3, dtype=F64)  # (T, B, I)
    weights = lstm.layer_parameters(0)
    output, (h_n, c_n) = nb04.lstm_sequence(x, *[w.detach() for w in weights])
    expected, (h_expected, c_expected) = lstm(x)
    _close(output, expected.detach())
    _close(h_n, h_expected[0].detach())
    _close(c_n, c_expected[0].detach())
    cell = torch.nn.LSTMCell(3, 4).double()
    h, c = torch.randn(2, 4, dtype=F64), torch.randn(2, 4, dtype=F64)
    mine = nb04.lstm_step(x[0], h, c, cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh)
    _close(mine, cell(x[0], (h, c)))
    for I, H in [(32, 128), (5, 7)]:
        expected = nb04.count_parameters(torch.nn.LSTM(I, H))
        assert nb04.lstm_parameters(I, H) == expected == nb04.lstm_layer_parameters(I, H)


def test_unit_correlation_reference_matches_the_module_function() -> None:
    for states, feature in EXERCISES["04.unit_correlation"].cases():
        expected = nb04.unit_feature_correlations(states, feature)
        _close(nb04.unit_correlation(states, feature), expected)


def test_cleaning_keeps_lines_quotes_and_punctuation() -> None:
    raw = "“Is it  Mr. Filby?”  said\n  the _Time_ Traveller…\n\n\n\nNext‘s æon [1]"
    assert nb04.clean_with_punctuation(raw) == "“is it mr. filby?” said\nthe time traveller...\n\nnext’s aeon ()"
    assert set(nb04.clean_with_punctuation(raw)) <= set(nb04.KEPT)


def test_text_features_follow_words_lines_quotes_and_sentences() -> None:
    text = "ab “c.\nd” e"
    features = nb04.text_features(text)
    assert features["inside a word"].tolist() == [1, 1, 0, 0, 1, 0, 0, 1, 0, 0, 1]
    assert features["position in the word"].tolist() == [1, 2, 0, 0, 1, 0, 0, 1, 0, 0, 1]
    assert features["position in the line"].tolist() == [1, 2, 3, 4, 5, 6, 0, 1, 2, 3, 4]
    assert features["inside quotes"].tolist() == [0, 0, 0, 1, 1, 1, 1, 1, 0, 0, 0]
    assert features["position in the sentence"].tolist() == [1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 5]
    assert all(value.dtype == F64 and value.shape == (len(text),) for value in features.values())
    assert all(len(v) == 0 for v in nb04.text_features("").values())


def test_correlations_find_the_unit_that_follows_a_feature() -> None:
    generator = torch.Generator().manual_seed(0)
    feature = torch.randn(200, generator=generator, dtype=F64)
    states = torch.randn(200, 5, generator=generator, dtype=F64)
    states[:, 3] = -2 * feature + 0.1 * states[:, 3]
    states[:, 1] = 0.5  # constant: r = 0, not NaN
    r = nb04.unit_feature_correlations(states, feature)
    assert r[3] < -0.99 and r[1] == 0 and (r.abs() <= 1).all()
    best = nb04.best_units(states, {"x": feature})["x"]
    assert best.unit == 3 and best.r < -0.99
    with pytest.raises(ValueError, match="at least 2 time steps"):
        nb04.unit_feature_correlations(states[:1], feature[:1])
    with pytest.raises(ValueError, match="same T"):
        nb04.unit_feature_correlations(states, feature[:-1])


@pytest.fixture(scope="module")
def tiny():
    text = "the time traveller said “no.”\nthe end."
    vocab = Vocab(list(nb04.clean_with_punctuation(text)))
    torch.manual_seed(0)
    model = make_language_model("lstm", len(vocab), 6, embedding_dim=4)
    return model, vocab, text


def test_reading_is_the_lstm_trace_and_the_head_reads_h(tiny) -> None:
    model, vocab, text = tiny
    reading = nb04.read_text(model, vocab, text)
    ids = torch.tensor([vocab.encode(list(text))])
    logits, (h_n, c_n) = model(ids)
    _close(reading.logits, logits[0].detach())
    _close(reading.h[-1], h_n[0, 0].detach())
    _close(reading.c[-1], c_n[0, 0].detach())
    assert reading.c.shape == (len(text), 6) and reading.hidden_size == 6
    _close(reading.h, reading.o * torch.tanh(reading.c))
    ranges = nb04.state_ranges(reading)
    assert ranges.max_abs_h < 1 and ranges.max_abs_c >= ranges.max_abs_h
    lives = nb04.forget_half_lives(reading)
    assert lives.half_life.shape == (6,) and (lives.half_life > 0).all()
    with pytest.raises(ValueError, match="empty"):
        nb04.read_text(model, vocab, "")


def test_gate_view_at_the_ends_and_out_of_range(tiny) -> None:
    model, vocab, text = tiny
    reading = nb04.read_text(model, vocab, text)
    first = nb04.gate_view(reading, 0, 2)
    assert first.c_prev == 0.0 and first.char == "t" and first.context == "[t]"
    assert abs(first.c - (first.kept + first.written)) < 1e-6 and first.all_units.shape == (6, 6)
    last = nb04.gate_view(reading, len(text) - 1, 5)
    assert last.char == "." and abs(last.c_prev - float(reading.c[-2, 5])) < 1e-7
    with pytest.raises(ValueError, match="t runs from 0 to"):
        nb04.gate_view(reading, len(text), 0)
    with pytest.raises(ValueError, match="H = 6 units"):
        nb04.gate_view(reading, 0, 6)
    with pytest.raises(ValueError, match="H = 6 units"):
        nb04.gate_view(reading, 0, -1)


def test_gate_explorer_follows_the_controls_and_shows_extremes_as_messages(tiny) -> None:
    model, vocab, text = tiny
    explorer = nb04.gate_explorer(model, vocab, text, t=3, unit=1)
    explorer.draw = None  # the figure is drawn once (above) and tested in test_plots_draw_without_error
    assert explorer.result.t == 3 and explorer.result.unit == 1 and explorer.controls["t"].max == len(text) - 1
    explorer.controls["t"].value = len(text) - 1
    assert explorer.result.char == "." and "unit 1" in explorer.summary.value
    explorer.controls["unit"].value = 4
    assert explorer.result.unit == 4 and explorer.result.f == float(explorer.result.reading.f[-1, 4])
    explorer.controls["unit"].value = 99
    assert explorer.result is None and "H = 6 units" in explorer.error
    explorer.controls["unit"].value = 0
    explorer.controls["passage"].value = "A"  # one character, upper case: cleaned to "a"
    assert explorer.controls["t"].max == 0 and explorer.result.t == 0 and explorer.result.char == "a"
    explorer.controls["passage"].value = ""
    assert explorer.result is None and "empty" in explorer.error
    explorer.controls["passage"].value = "the end"
    assert explorer.error is None and explorer.controls["t"].max == 6
    plt.close("all")


def test_checkpoint_round_trip(tmp_path, tiny, monkeypatch) -> None:
    model, vocab, _ = tiny
    path = tmp_path / "m.pt"
    nb04.save_checkpoint(path, model, vocab, model, vocab, {"seed": 0})
    monkeypatch.setattr(nb04, "punctuated_corpus", lambda: type("C", (), {"vocab": vocab})())
    monkeypatch.setattr("seqlib.data.load_corpus", lambda token: (None, vocab))
    state = torch.random.get_rng_state()
    loaded = nb04.load_checkpoint(path)
    assert torch.equal(state, torch.random.get_rng_state())  # loading draws nothing from the caller's stream
    ids = torch.tensor([[1, 2, 3]])
    _close(loaded.reader(ids)[0], model.eval()(ids)[0])
    assert loaded.settings == {"seed": 0} and not loaded.leaderboard.training
    with pytest.raises(FileNotFoundError, match="bench/lstm_char_model.py"):
        nb04.load_checkpoint(tmp_path / "missing.pt")
    other = Vocab(list("xyz"))
    monkeypatch.setattr(nb04, "punctuated_corpus", lambda: type("C", (), {"vocab": other})())
    with pytest.raises(ValueError, match="vocabulary differs"):
        nb04.load_checkpoint(path)


def test_results_file_errors(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="bench/lstm_char_model.py"):
        nb04.load_results(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(ValueError, match="missing"):
        nb04.load_results(tmp_path / "bad.json")


def test_cell_gradient_profile_and_the_forget_path(tiny) -> None:
    model, vocab, _ = tiny
    ids = torch.randint(len(vocab), (3, 9), generator=torch.Generator().manual_seed(1))
    before = [p.grad for p in model.parameters()]
    profile = nb04.cell_gradient_profile(model, ids)
    assert [p.grad for p in model.parameters()] == before  # no gradient left behind
    assert profile.c_relative.shape == (8,) and profile.c_relative[-1] == 1 and profile.forget_path[-1] == 1
    assert (profile.forget_path[1:] >= profile.forget_path[:-1]).all() and 0 < profile.mean_f < 1
    with torch.no_grad():  # open every forget gate: the path stays near 1
        model.recurrent.bias_ih_l0[6:12] += 20.0
    opened = nb04.cell_gradient_profile(model, ids)
    with torch.no_grad():
        model.recurrent.bias_ih_l0[6:12] -= 20.0
    assert opened.forget_path[0] > 0.99 and opened.forget_path[0] > profile.forget_path[0]


def test_plots_draw_without_error(tiny) -> None:
    model, vocab, text = tiny
    reading = nb04.read_text(model, vocab, text)
    fig = nb04.plot_gate_heatmaps(reading, units=torch.tensor([5, 0, 2]))
    assert len(fig.axes) == 8  # four panels and their colour bars
    features = nb04.text_features(text)
    fig = nb04.plot_unit_traces(reading, [("inside quotes", 1, features["inside quotes"])])
    fig = plt.figure()
    nb04._draw_gate_view(nb04.gate_view(reading, len(text) - 1, 2), fig)
    assert len(fig.axes) == 5  # bars, trace and its gate axis, two strips
    fig, ax = plt.subplots()
    nb04.draw_lstm_cell(ax)
    assert len(ax.patches) > 10
    plt.close("all")

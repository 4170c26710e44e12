"""Notebook 10's course module: the task's sets, training and its live curve, results and checkpoint, error
reports, cross-attention measurements, the date widget, the baseline table and the course's leaderboard."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from seqlib import dates as D  # noqa: E402
from seqlib.course import nb10_capstone_seq2seq as nb10  # noqa: E402


@pytest.fixture(scope="module")
def model():
    return nb10.make_transformer(0).eval()


def test_format_table_marks_the_unseen_formats() -> None:
    table = nb10.format_table()
    assert len(table) == 12 and ("DD/MM/YYYY", "29/11/2026", True) in table
    assert [name for name, _, seen in table if not seen] == list(D.UNSEEN_FORMATS)


def test_evaluation_sets_hold_out_dates_and_share_them_across_formats() -> None:
    sets = nb10.evaluation_sets()
    assert len(sets.seen) == 200 * len(D.SEEN_FORMATS) and len(sets.unseen) == 200 * len(D.UNSEEN_FORMATS)
    assert len(sets.monitor) == 20 * len(D.SEEN_FORMATS)
    split = D.date_split()
    test_days, train_days = {e.date for e in sets.seen.examples}, set(split.train)
    assert test_days <= set(split.test) and not test_days & train_days
    assert {e.date for e in sets.unseen.examples} == test_days
    assert {e.date for e in sets.monitor.examples} <= set(split.validation)
    assert nb10.evaluation_sets() is sets  # cached


def test_models_are_seeded_and_counted() -> None:
    a, b = nb10.make_transformer(3), nb10.make_transformer(3)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
    assert nb10.count_parameters(a) == 79_742
    assert nb10.count_parameters(nb10.make_gru(0)) == sum(p.numel() for p in nb10.make_gru(0).parameters())


def test_training_records_the_validation_exact_match_and_feeds_the_live_curve() -> None:
    curve = nb10.LiveCurve(total_steps=4)
    model, training = nb10.train_transformer(0, max_steps=4, eval_every=2, progress=curve)
    assert training.result.steps == 4 and len(training.result.history) == 2
    assert [p[0] for p in curve.points] == [2, 4] and all(0.0 <= p[2] <= 1.0 for p in curve.points)
    assert nb10.curve_points(training.result) == curve.points and model.training
    plt.close("all")


def test_training_curve_figure_labels_its_axes() -> None:
    fig = plt.figure()
    nb10.plot_training_curve(fig, [(10, 1.0, 0.1), (20, 0.5, 0.4)], 40, "title")
    for ax in fig.axes:
        assert ax.get_xlabel() and ax.get_ylabel() and ax.get_xlim() == (0.0, 40.0)
    plt.close(fig)


def test_checkpoint_round_trip(tmp_path: Path, model) -> None:
    path = tmp_path / "m.pt"
    nb10.save_checkpoint(path, model, {"seed": 0})
    loaded, meta = nb10.load_checkpoint(path)
    assert meta == {"seed": 0} and not loaded.training
    src = D.encode_source(["29/11/2026"])
    assert torch.equal(D.decode_dates(loaded, src), D.decode_dates(model, src))
    with pytest.raises(FileNotFoundError, match="date_capstone.py"):
        nb10.load_checkpoint(tmp_path / "missing.pt")


def _results_file(tmp_path: Path) -> Path:
    runs = [{"arm": arm, "seed": s, "params": 10, "steps": 100 + s, "cpu_seconds": 50.0, "exact_match_seen": 0.99,
             "exact_match_unseen": 0.5, "curve": [{"cpu_seconds": 1.0, "exact_match": 0.2}]}
            for arm in ("transformer", "gru") for s in (1, 0)]
    path = tmp_path / "r.json"
    path.write_text(json.dumps({"settings": {}, "sweep": [], "runs": runs, "short": []}))
    return path


def test_results_are_read_and_summarised(tmp_path: Path) -> None:
    results = nb10.load_results(_results_file(tmp_path))
    assert [run["seed"] for run in results.select("gru")] == [0, 1]
    table = nb10.baseline_table(results)
    assert table["transformer"].steps == [100, 101] and table["gru"].steps_per_second == [2.0, 2.02]
    fig, ax = plt.subplots()
    nb10.plot_seed_curves(ax, results)
    assert ax.get_xlabel() and ax.get_ylabel()
    plt.close(fig)
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    with pytest.raises(ValueError, match="missing"):
        nb10.load_results(bad)


def test_error_report_and_its_figures(model) -> None:
    dates = D.date_set(D.date_split().test, ["DD/MM/YYYY", "YYYY Mon D"], 5)
    reports = nb10.error_report(model, dates)
    assert list(reports) == ["DD/MM/YYYY", "YYYY Mon D"]
    report = reports["DD/MM/YYYY"]
    assert report.count == 5 and report.exact_match == 0.0 and len(report.wrong) == 5  # untrained
    assert len(report.position_error) == 10 and all(0 <= v <= 1 for v in report.position_error)
    assert set(report.field_error) == {"year", "month", "day"}
    fig, (a, b) = plt.subplots(1, 2)
    nb10.plot_format_scores(a, reports)
    nb10.plot_position_errors(b, reports)
    assert a.get_xlabel() and b.get_xlabel() and b.get_ylabel()
    plt.close(fig)


def test_field_attention_is_a_share_of_each_row(model) -> None:
    dates = D.date_set(D.date_split().test, ["D Month YYYY"], 6)
    measured = nb10.field_attention(model, dates, batch_size=4)
    assert measured.count == 6 and measured.share["year"].shape == (2, 4)
    for field in ("year", "month", "day"):
        assert (measured.share[field] >= 0).all() and (measured.share[field] <= 1 + 1e-6).all()
        assert abs(measured.head_average[field] - measured.share[field].mean(axis=1)).max() < 1e-6
        assert 0 < measured.uniform[field] < 1
    # "D Month YYYY": the year is the last 4 characters of 14-17
    texts = [e.text for e in dates.examples]
    assert abs(measured.uniform["year"] - sum(4 / len(t) for t in texts) / 6) < 1e-9


@pytest.mark.parametrize(("text", "message"), [
    ("", "empty"), ("x" * 40, "40 characters"), ("29 Nov 2026?", "outside the model's vocabulary"),
    ("Monday", "no digit"),
])
def test_date_view_refuses_what_the_model_cannot_read(model, text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        nb10.date_view(model, text)


def test_date_view_rows_and_readings(model) -> None:
    view = nb10.date_view(model, "the 3rd of May 1999", tokens=3, layer=0, head=1)
    assert view.weights.shape == (3, 19) and torch.allclose(view.weights.sum(dim=1), torch.ones(3), atol=1e-5)
    assert "'the Dth of Month YYYY' (seen in training)" in view.reading and view.expected == "1999-05-03"
    mean = nb10.date_view(model, "the 3rd of May 1999", tokens=11, layer=1, head=-1)
    heads = [nb10.date_view(model, "the 3rd of May 1999", tokens=11, layer=1, head=h).weights for h in range(4)]
    assert torch.allclose(mean.weights, torch.stack(heads).mean(dim=0), atol=1e-6)
    unseen = nb10.date_view(model, "2026 Nov 29")
    assert "never seen in training" in unseen.reading
    odd = nb10.date_view(model, "12 34")
    assert "none of the 12 formats" in odd.reading and odd.expected is None
    impossible = nb10.date_view(model, "31/02/2020")
    assert "not a real date" in impossible.reading
    for bad, message in ((dict(layer=2), "layer"), (dict(head=4), "head"), (dict(tokens=0), "tokens")):
        with pytest.raises(ValueError, match=message):
            nb10.date_view(model, "1 May 2000", **bad)
    assert "1999" in nb10.describe_date_view(view) or "→" in nb10.describe_date_view(view)


def test_date_explorer_shows_messages_and_steps_through_tokens(model) -> None:
    explorer = nb10.date_explorer(model)
    assert explorer.error is None and explorer.result.shown == 4
    explorer.controls["tokens"].value = 6
    assert explorer.result.shown == 6
    explorer.controls["text"].value = "29 Nov 2026!"
    assert explorer.result is None and "outside the model's vocabulary" in explorer.error
    explorer.controls["text"].value = ""
    assert "empty" in explorer.error
    explorer.controls["text"].value = "Nov 29, 2026"
    assert explorer.error is None and explorer.result.text == "Nov 29, 2026"
    explorer.controls["head"].value = 2
    explorer.controls["layer"].value = 0
    assert (explorer.result.layer, explorer.result.head) == (0, 2)
    plt.close("all")


def test_course_rows_read_every_shipped_file_and_say_what_is_missing(monkeypatch, tmp_path: Path) -> None:
    rows, notes = nb10.course_rows(include=("02", "04", "05"))
    names = [row.name for row in rows]
    assert names[:5] == ["unigram", "bigram (Markov)", "trigram", "4-gram", "5-gram"]
    assert "RNN (H=256, 1200 steps)" in names and "LSTM (H=128, 1200 steps)" in names
    assert any(row.family == "GRU" for row in rows) and all(row.low <= row.val_perplexity <= row.high for row in rows)
    assert any("window MLP" in n for n in notes)
    rnn = next(row for row in rows if row.name == "RNN (H=256, 1200 steps)")
    assert rnn.params == 82_332 and abs(rnn.low - 4.260) < 1e-3 and rnn.seconds > 0
    monkeypatch.setitem(nb10.RESULT_FILES, "09", tmp_path / "absent.json")
    _, notes = nb10.course_rows(include=("09",))
    assert any("absent.json is not shipped" in n for n in notes)
    board = nb10.course_leaderboard(rows)
    assert board.rows[0].name == "5-gram" and len(board) == len(rows)
    fig, ax = plt.subplots()
    nb10.plot_course_leaderboard(ax, rows)
    assert ax.get_xlabel() and len(ax.get_yticklabels()) == len(rows)
    plt.close(fig)


def test_analyse_decodes_once_and_scores_like_the_library(model) -> None:
    dates = D.date_set(D.date_split().test, ["YYYY.MM.DD", "Mon D, YYYY"], 3)
    found = nb10.analyse(model, dates, batch_size=4)
    assert found.exact_match == D.exact_match_score(model, dates) and len(found.decoded) == 6
    assert found.attention.count == 6 and set(found.reports) == {"YYYY.MM.DD", "Mon D, YYYY"}
    gru = nb10.make_gru(0)
    assert nb10.analyse(gru, dates).attention is None
    tokens, maps = nb10.cross_attention(model, dates.src)
    assert len(maps) == 2 and maps[0].shape == (6, 4, tokens.shape[1], dates.src.shape[1])


def test_time_to_reach_reads_the_curve() -> None:
    run = {"curve": [{"cpu_seconds": 5.0, "exact_match": 0.5}, {"cpu_seconds": 9.0, "exact_match": 0.995},
                     {"cpu_seconds": 12.0, "exact_match": 0.98}]}
    assert nb10.time_to_reach(run, 0.99) == 9.0 and nb10.time_to_reach(run, 0.999) is None

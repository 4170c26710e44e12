"""seqlib.dates: the date task (formats, split, vocabularies, encoding, reading, training)."""

from __future__ import annotations

import datetime as dt
import random

import pytest
import torch

from seqlib import dates as D
from seqlib.seq2seq import BOS_ID, EOS_ID, PAD_ID, Seq2SeqTransformer
from seqlib.train import TrainingDiverged

DAY = dt.date(2026, 11, 29)  # a Sunday


def test_every_format_writes_the_date_as_people_do() -> None:
    written = {name: D.write_date(DAY, name).text for name in D.FORMATS}
    assert written == {
        "D Month YYYY": "29 November 2026", "Mon D, YYYY": "Nov 29, 2026", "DD/MM/YYYY": "29/11/2026",
        "the Dth of Month YYYY": "the 29th of November 2026", "Weekday, D Mon YYYY": "Sunday, 29 Nov 2026",
        "YYYY.MM.DD": "2026.11.29", "Month D, YYYY": "November 29, 2026", "DD-Mon-YYYY": "29-Nov-2026",
        "DD.MM.YYYY": "29.11.2026", "Wkd D Month YYYY": "Sun 29 November 2026",
        "Dth Month YYYY": "29th November 2026", "YYYY Mon D": "2026 Nov 29",
    }
    assert D.write_date(dt.date(1999, 5, 3), "the Dth of Month YYYY").text == "the 3rd of May 1999"
    assert D.write_date(dt.date(2000, 2, 1), "Weekday, D Mon YYYY").text == "Tuesday, 1 Feb 2000"
    assert all(D.write_date(DAY, name).iso == "2026-11-29" for name in D.FORMATS)


@pytest.mark.parametrize(("day", "ordinal"), [(1, "1st"), (2, "2nd"), (3, "3rd"), (4, "4th"), (11, "11th"),
                                              (12, "12th"), (13, "13th"), (21, "21st"), (22, "22nd"), (23, "23rd"),
                                              (30, "30th"), (31, "31st")])
def test_ordinals(day: int, ordinal: str) -> None:
    assert D.write_date(dt.date(2020, 1, day), "Dth Month YYYY").text == f"{ordinal} January 2020"


def test_spans_point_at_each_field() -> None:
    for date in random.Random(0).sample(D.date_split().train, 50):
        for name in D.FORMATS:
            example = D.write_date(date, name)
            year = example.text[slice(*example.spans["year"])]
            assert year == f"{date.year:04d}"
            assert {"year", "month", "day"} <= set(example.spans)
            spans = sorted(example.spans.values())
            assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:], strict=False))  # disjoint, in order


def test_seen_and_unseen_formats_partition_the_formats() -> None:
    assert set(D.SEEN_FORMATS) | set(D.UNSEEN_FORMATS) == set(D.FORMATS)
    assert not set(D.SEEN_FORMATS) & set(D.UNSEEN_FORMATS) and len(D.UNSEEN_FORMATS) >= 1


def test_no_text_has_two_readings_and_numeric_formats_are_day_first() -> None:
    """The same text never stands for two dates (no 03/04 that could be April or March)."""
    seen: dict[str, str] = {}
    for date in D.date_split(dt.date(2000, 1, 1), dt.date(2003, 12, 31)).train:
        for name in D.FORMATS:
            example = D.write_date(date, name)
            assert seen.setdefault(example.text, example.iso) == example.iso
    assert D.read_date("03/04/2020") == ("DD/MM/YYYY", dt.date(2020, 4, 3))
    assert D.read_date("03.04.2020") == ("DD.MM.YYYY", dt.date(2020, 4, 3))


def test_read_date_inverts_every_format_and_refuses_impossible_dates() -> None:
    rng = random.Random(1)
    for date in rng.sample(D.date_split().test, 200):
        for name in D.FORMATS:
            text = D.write_date(date, name).text
            read_as, read = D.read_date(text)
            assert read == date and (read_as == name or D.write_date(date, read_as).text == text)  # "May" is both
    with pytest.raises(ValueError, match="not a real date"):
        D.read_date("30/02/2020")
    with pytest.raises(ValueError, match="was a Tuesday, not a Monday"):
        D.read_date("Monday, 1 Feb 2000")
    with pytest.raises(ValueError, match="none of the 12 formats"):
        D.read_date("12 34 56")


def test_every_generated_date_is_real_and_leap_days_appear() -> None:
    split = D.date_split()
    days = split.train + split.validation + split.test
    assert len(set(days)) == len(days) == (dt.date(2099, 12, 31) - dt.date(1900, 1, 1)).days + 1
    assert dt.date(2000, 2, 29) in days and all(D.is_valid_iso(d.isoformat()) for d in days[:100])
    assert not D.is_valid_iso("1900-02-29") and D.is_valid_iso("2000-02-29") and not D.is_valid_iso("2000-2-29")


def test_split_is_disjoint_seeded_and_sized() -> None:
    split = D.date_split()
    assert not set(split.train) & set(split.test) and not set(split.validation) & set(split.test)
    assert not set(split.train) & set(split.validation)
    assert len(split.test) == len(split.validation) == round(0.1 * 73049)
    assert D.date_split() == split and D.date_split(seed=1).test != split.test
    with pytest.raises(ValueError, match="held_out"):
        D.date_split(held_out=0.5)
    with pytest.raises(ValueError, match="first <= last"):
        D.date_split(dt.date(2000, 1, 2), dt.date(2000, 1, 1))


def test_vocabulary_covers_every_format_of_a_leap_year() -> None:
    chars = {ch for date in D.date_split(dt.date(2024, 1, 1), dt.date(2024, 12, 31)).train
             for name in D.FORMATS for ch in D.write_date(date, name).text}
    assert chars <= set(D.SOURCE_CHARS)
    assert D.SOURCE_VOCAB_SIZE == 3 + len(D.SOURCE_CHARS) and D.TARGET_VOCAB_SIZE == 14
    longest = max(len(D.write_date(dt.date(2026, 9, 23), name).text) for name in D.FORMATS)
    assert longest == 26 <= D.MAX_SOURCE_LEN


def test_encoding_round_trip() -> None:
    src = D.encode_source(["29/11/2026", "Nov 29, 2026"])
    assert src.shape == (2, 12) and src.dtype == torch.long
    assert src[0, 10:].tolist() == [PAD_ID, PAD_ID] and int(src.min()) >= 0
    tgt = D.encode_target(["2026-11-29"])
    assert tgt.shape == (1, 12) and tgt[0, 0] == BOS_ID and tgt[0, -1] == EOS_ID
    assert D.decode_target(tgt[0]) == "2026-11-29"
    assert D.decode_target([3, 4, EOS_ID, 5]) == "01"
    assert D.source_tokens("1 May") == ["1", "␣", "M", "a", "y"]


@pytest.mark.parametrize(("text", "message"), [
    ("", "empty"), ("   ", "empty"), ("1" * 33, "33 characters"), ("29 Nov 2026!", "'!' is outside"),
    ("Quux 12 Zed", "'Q', 'Z', 'x' are outside"), ("Sunday", "no digit"), (29, "must be a string"),
])
def test_bad_text_gets_a_message(text: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        D.check_date_text(text)


def test_encode_source_names_the_bad_text() -> None:
    with pytest.raises(ValueError, match=r"text 1 \('n'\)"):
        D.encode_source(["1 May 2000", "n"])
    with pytest.raises(ValueError, match="non-empty sequence"):
        D.encode_source("1 May 2000")
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        D.encode_target(["2026/11/29"])


def test_batches_are_seeded_and_use_only_the_formats_given() -> None:
    split = D.date_split()
    a, b = D.date_batches(split.train, 8, seed=3), D.date_batches(split.train, 8, seed=3)
    for _ in range(3):
        (sa, ta), (sb, tb) = next(a), next(b)
        assert torch.equal(sa, sb) and torch.equal(ta, tb) and ta.shape == (8, 12)
    examples = D.random_examples(split.train, ["DD/MM/YYYY"], 20, random.Random(0))
    assert {e.format for e in examples} == {"DD/MM/YYYY"} and all(e.date in set(split.train) for e in examples)
    with pytest.raises(ValueError, match="formats"):
        next(D.date_batches(split.train, 8, formats=["MM/DD/YYYY"]))


def test_date_set_writes_the_same_dates_in_every_format() -> None:
    dates = D.date_set(D.date_split().test, D.UNSEEN_FORMATS, 5, seed=0)
    assert len(dates) == 10 and dates.src.shape[0] == dates.tgt.shape[0] == 10
    by_format = {f: [e.date for e in dates.examples if e.format == f] for f in D.UNSEEN_FORMATS}
    assert by_format[D.UNSEEN_FORMATS[0]] == by_format[D.UNSEEN_FORMATS[1]]
    assert len(dates.subset([D.UNSEEN_FORMATS[0]])) == 5
    with pytest.raises(ValueError, match="only 3 dates"):
        D.date_set(D.date_split().test[:3], D.SEEN_FORMATS, 5)


def _tiny_model() -> Seq2SeqTransformer:
    torch.manual_seed(0)
    return Seq2SeqTransformer(D.SOURCE_VOCAB_SIZE, D.TARGET_VOCAB_SIZE, d_model=16, nhead=2, num_encoder_layers=1,
                              num_decoder_layers=1, dim_feedforward=32, dropout=0.0, max_len=D.MAX_SOURCE_LEN)


def test_training_lowers_the_loss_and_is_deterministic() -> None:
    split = D.date_split()
    runs = []
    for _ in range(2):
        model = _tiny_model()
        runs.append(D.train_date_model(model, D.date_batches(split.train, 16), max_steps=20, lr=3e-3, eval_every=10))
    first, second = runs
    assert first.result.losses == second.result.losses and first.result.steps == 20
    assert sum(first.result.losses[-5:]) < sum(first.result.losses[:5]) and first.cpu_seconds > 0
    assert len(first.result.history) == 2


def test_cpu_budget_ends_the_run_and_excludes_evaluation() -> None:
    model = _tiny_model()
    calls = []

    def slow_evaluation() -> dict[str, float]:
        calls.append(1)
        sum(i * i for i in range(300_000))  # CPU work that must not count
        return {}

    run = D.train_date_model(model, D.date_batches(D.date_split().train, 16), cpu_budget_s=0.5, eval_every=2,
                             evaluate=slow_evaluation)
    assert run.result.stopped_by == "batches" and 0.5 <= run.cpu_seconds < 1.5 and calls
    assert run.result.history[-1].lr < 3e-3 * 0.2  # the cosine followed the clock to its end


def test_scoring_and_decoding() -> None:
    model = _tiny_model()
    dates = D.date_set(D.date_split().test, ["DD/MM/YYYY"], 4)
    decoded = D.decode_dates(model, dates.src)
    assert decoded.shape[0] == 4 and decoded.shape[1] <= D.TARGET_LEN
    assert D.exact_match_score(model, dates) == 0.0  # untrained
    with pytest.raises(ValueError, match="Seq2SeqTransformer or an AttentionGRU"):
        D.decode_dates(torch.nn.Linear(2, 2), dates.src)


def test_training_arguments_are_checked() -> None:
    model = _tiny_model()
    batches = D.date_batches(D.date_split().train, 4)
    with pytest.raises(ValueError, match="exactly one budget"):
        D.train_date_model(model, batches)
    with pytest.raises(ValueError, match="exactly one budget"):
        D.train_date_model(model, batches, max_steps=3, cpu_budget_s=1.0)
    with pytest.raises(ValueError, match="lr"):
        D.train_date_model(model, batches, max_steps=3, lr=-1.0)
    with torch.no_grad():
        model.output_projection.bias.fill_(float("nan"))
    with pytest.raises(TrainingDiverged):
        D.train_date_model(model, batches, max_steps=3)

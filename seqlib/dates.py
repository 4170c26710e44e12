"""The date task: dates as people write them, to ISO 8601 — generation, vocabularies, encoding, training.

**The task.**  A source string is one calendar date written in one of a few *formats* people use
("29 November 2026", "Nov 29, 2026", "29/11/2026", "the 3rd of May 1999", "Tuesday, 1 Feb 2000",
"2026.11.29", …); the target is the same date in ISO 8601, ``YYYY-MM-DD`` ("2026-11-29").  Every
example is generated from the calendar (``datetime.date``), so no impossible date ever appears (no 30
February; 29 February only in leap years) and every weekday is the true one.

**No ambiguity.**  Numeric formats with the month and the day side by side are the ones readers confuse
(is 03/04 the 3rd of April or the 4th of March?).  Here the all-numeric formats with the day first
(``29/11/2026``, ``29.11.2026``) are *always* day/month/year, the European order, and the only
numeric format with the month before the day starts with the four-digit year (``2026.11.29``, as ISO
does).  No US-style month/day/year format is used, so every source string has exactly one reading.

**Seen and unseen formats.**  :data:`SEEN_FORMATS` are the formats of the training set;
:data:`UNSEEN_FORMATS` never appear in training and measure how far the model generalises to a new way
of writing (their pieces, an ordinal day or a year first, each appear in some seen format).

**Seen and unseen dates.**  :func:`date_split` holds out a fixed random tenth of the calendar's days
(seeded): the test set is written from these days only, so a test date was never a training target.

**Vocabularies.**  Token ids 0, 1, 2 are PAD, BOS and EOS in both vocabularies (``seqlib.seq2seq``'s
``PAD_ID``, ``BOS_ID``, ``EOS_ID``).  The source vocabulary holds every character any format can write
(:data:`SOURCE_CHARS`: digits, the letters of the month and weekday names and of "the", "of", "st", "nd",
"rd", "th", space and ``,./-``); any other character is *outside the vocabulary*, and
:func:`encode_source` refuses it with a message that names it.  The target vocabulary is the ten digits
and ``-``.  A source is read without BOS/EOS; a target is ``BOS y1 .. y10 EOS``.

**Training.**  :func:`train_date_model` is teacher-forced cross-entropy through ``seqlib.train.train``
(Adam with the Transformer's betas, a cosine schedule, clipping), with a step or a CPU-time budget, for any
encoder–decoder whose call is ``model(src, tgt_input) -> logits`` (``seqlib.seq2seq.Seq2SeqTransformer`` and
``seqlib.additive_attention.AttentionGRU``).  :func:`decode_dates` decodes greedily with either.

Shape legend: B batch, S source length (characters), T target length (11 = ten characters and EOS).
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import random
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqlib import _checks
from seqlib.additive_attention import AttentionGRU
from seqlib.additive_attention import greedy_decode as gru_greedy_decode
from seqlib.seq2seq import BOS_ID, EOS_ID, PAD_ID, Seq2SeqTransformer, exact_match, greedy_decode
from seqlib.train import TrainRecord, TrainResult, check_options, cosine_lr, train

__all__ = [
    "FORMATS",
    "SEEN_FORMATS",
    "UNSEEN_FORMATS",
    "FIELDS",
    "SOURCE_CHARS",
    "TARGET_CHARS",
    "SOURCE_VOCAB_SIZE",
    "TARGET_VOCAB_SIZE",
    "MAX_SOURCE_LEN",
    "TARGET_LEN",
    "ISO_FIELDS",
    "DateExample",
    "DateSplit",
    "DateSet",
    "write_date",
    "date_split",
    "check_date_text",
    "encode_source",
    "encode_target",
    "decode_target",
    "source_tokens",
    "random_examples",
    "date_batches",
    "date_set",
    "decode_dates",
    "exact_match_score",
    "is_valid_iso",
    "teacher_forced_loss",
    "train_date_model",
    "read_date",
    "CpuClock",
    "DateTraining",
]

MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December")
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")  # date.weekday() order

# A format is a template: {field} is replaced by the date's field, written as named below.
#   {D} day 1-31, {DD} day 01-31, {Dth} ordinal day (1st, 2nd, 3rd, 4th … 21st … 31st),
#   {MM} month 01-12, {Month} January…, {Mon} Jan…, {YYYY} year, {Weekday} Monday…, {Wkd} Mon…
FORMATS: dict[str, str] = {
    "D Month YYYY": "{D} {Month} {YYYY}",  # 29 November 2026
    "Mon D, YYYY": "{Mon} {D}, {YYYY}",  # Nov 29, 2026
    "DD/MM/YYYY": "{DD}/{MM}/{YYYY}",  # 29/11/2026 (always day first)
    "the Dth of Month YYYY": "the {Dth} of {Month} {YYYY}",  # the 29th of November 2026
    "Weekday, D Mon YYYY": "{Weekday}, {D} {Mon} {YYYY}",  # Sunday, 29 Nov 2026
    "YYYY.MM.DD": "{YYYY}.{MM}.{DD}",  # 2026.11.29 (year first, so month then day is unambiguous)
    "Month D, YYYY": "{Month} {D}, {YYYY}",  # November 29, 2026
    "DD-Mon-YYYY": "{DD}-{Mon}-{YYYY}",  # 29-Nov-2026
    "DD.MM.YYYY": "{DD}.{MM}.{YYYY}",  # 29.11.2026 (always day first)
    "Wkd D Month YYYY": "{Wkd} {D} {Month} {YYYY}",  # Sun 29 November 2026
    # never in training:
    "Dth Month YYYY": "{Dth} {Month} {YYYY}",  # 29th November 2026
    "YYYY Mon D": "{YYYY} {Mon} {D}",  # 2026 Nov 29
}
UNSEEN_FORMATS: tuple[str, ...] = ("Dth Month YYYY", "YYYY Mon D")
SEEN_FORMATS: tuple[str, ...] = tuple(name for name in FORMATS if name not in UNSEEN_FORMATS)

# the date field each template field writes
FIELDS = {"D": "day", "DD": "day", "Dth": "day", "MM": "month", "Month": "month", "Mon": "month", "YYYY": "year",
          "Weekday": "weekday", "Wkd": "weekday"}
_FIELD = re.compile(r"\{(" + "|".join(sorted(FIELDS, key=len, reverse=True)) + r")\}")

TARGET_CHARS = "0123456789-"
# ISO 8601 YYYY-MM-DD: which target positions (0-based, EOS excluded) hold which field
ISO_FIELDS: dict[str, tuple[int, int]] = {"year": (0, 4), "month": (5, 7), "day": (8, 10)}
TARGET_LEN = 11  # ten characters and EOS


def _ordinal(day: int) -> str:
    suffix = "th" if 11 <= day % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{day}{suffix}"


def _field_text(field: str, date: dt.date) -> str:
    return {
        "D": str(date.day), "DD": f"{date.day:02d}", "Dth": _ordinal(date.day), "MM": f"{date.month:02d}",
        "Month": MONTHS[date.month - 1], "Mon": MONTHS[date.month - 1][:3], "YYYY": f"{date.year:04d}",
        "Weekday": WEEKDAYS[date.weekday()], "Wkd": WEEKDAYS[date.weekday()][:3],
    }[field]


def _all_source_chars() -> str:
    chars = set("0123456789")
    for template in FORMATS.values():
        chars.update(_FIELD.sub("", template))
    for name in (*MONTHS, *WEEKDAYS):
        chars.update(name)
    chars.update("stndrh")  # the ordinal suffixes st, nd, rd, th
    return "".join(sorted(chars))


SOURCE_CHARS: str = _all_source_chars()
_SOURCE_ID = {ch: i + 3 for i, ch in enumerate(SOURCE_CHARS)}  # 0, 1, 2: PAD, BOS, EOS
_TARGET_ID = {ch: i + 3 for i, ch in enumerate(TARGET_CHARS)}
SOURCE_VOCAB_SIZE = 3 + len(SOURCE_CHARS)
TARGET_VOCAB_SIZE = 3 + len(TARGET_CHARS)
MAX_SOURCE_LEN = 32  # the longest format writes 26 characters ("the 23rd of September 2026"); room to spare
_SPECIALS = {PAD_ID: "<pad>", BOS_ID: "<bos>", EOS_ID: "<eos>"}


@dataclass(frozen=True)
class DateExample:
    """One date written in one format: ``text`` the source, ``iso`` the target (``YYYY-MM-DD``).

    ``spans`` maps each field the text writes (``"year"``, ``"month"``, ``"day"``, ``"weekday"``) to its
    character positions ``(start, end)`` in ``text`` (end excluded).
    """

    date: dt.date
    format: str
    text: str
    iso: str
    spans: Mapping[str, tuple[int, int]]


def write_date(date: dt.date, format: str) -> DateExample:
    """``date`` written in ``format`` (a key of :data:`FORMATS`), with the span of every field.

    >>> write_date(dt.date(1999, 5, 3), "the Dth of Month YYYY").text
    'the 3rd of May 1999'
    """
    if not isinstance(date, dt.date):
        raise ValueError(f"date must be a datetime.date, got {type(date).__name__}")
    if format not in FORMATS:
        raise ValueError(f"format must be one of {list(FORMATS)}, got {format!r}")
    template = FORMATS[format]
    pieces, spans, position, cursor = [], {}, 0, 0
    for match in _FIELD.finditer(template):
        literal = template[cursor:match.start()]
        value = _field_text(match.group(1), date)
        pieces += [literal, value]
        position += len(literal)
        spans[FIELDS[match.group(1)]] = (position, position + len(value))
        position += len(value)
        cursor = match.end()
    pieces.append(template[cursor:])
    return DateExample(date, format, "".join(pieces), date.isoformat(), spans)


class DateSplit(NamedTuple):
    """The calendar's days from ``first`` to ``last``, in three disjoint sorted parts: ``train`` (the only
    days training ever writes), ``validation`` (for choices made while developing: learning rates, the curve
    during training) and ``test`` (held out for the final scores)."""

    train: tuple[dt.date, ...]
    validation: tuple[dt.date, ...]
    test: tuple[dt.date, ...]


@functools.lru_cache(maxsize=8)
def date_split(
    first: dt.date = dt.date(1900, 1, 1), last: dt.date = dt.date(2099, 12, 31), held_out: float = 0.1,
    seed: int = 0,
) -> DateSplit:
    """Every day from ``first`` to ``last``; a seeded random ``held_out`` fraction of them for validation and
    as many again for testing, the rest for training (cached: the same arguments give the same object)."""
    if not isinstance(first, dt.date) or not isinstance(last, dt.date) or first > last:
        raise ValueError(f"need dates first <= last, got {first!r} and {last!r}")
    _checks.real_number("held_out", held_out, minimum=0.0, exclusive=True, maximum=0.45)
    days = [first + dt.timedelta(days=k) for k in range((last - first).days + 1)]
    count = round(held_out * len(days))
    if count == 0:
        raise ValueError(f"held_out={held_out} of {len(days)} days holds out no day: give more days or a larger "
                         "fraction")
    order = random.Random(seed).sample(range(len(days)), 2 * count)
    validation, test = set(order[:count]), set(order[count:])
    return DateSplit(tuple(d for k, d in enumerate(days) if k not in validation and k not in test),
                     tuple(d for k, d in enumerate(days) if k in validation),
                     tuple(d for k, d in enumerate(days) if k in test))


def _pattern(template: str) -> re.Pattern:
    """A template as a regular expression with one named group per field it writes."""
    choices = {"D": r"[1-9]|[12]\d|3[01]", "DD": r"0[1-9]|[12]\d|3[01]",
               "Dth": r"(?:[1-9]|[12]\d|3[01])(?:st|nd|rd|th)",
               "MM": r"0[1-9]|1[0-2]", "Month": "|".join(MONTHS), "Mon": "|".join(m[:3] for m in MONTHS),
               "YYYY": r"\d{4}", "Weekday": "|".join(WEEKDAYS), "Wkd": "|".join(w[:3] for w in WEEKDAYS)}
    pieces, cursor = [], 0
    for match in _FIELD.finditer(template):
        field = match.group(1)
        pieces += [re.escape(template[cursor:match.start()]), f"(?P<{field}>{choices[field]})"]
        cursor = match.end()
    pieces.append(re.escape(template[cursor:]))
    return re.compile("".join(pieces))


_PATTERNS = {name: _pattern(template) for name, template in FORMATS.items()}


def read_date(text: str) -> tuple[str, dt.date]:
    """The rule-based reading of ``text``: ``(format name, date)``, by matching every format of :data:`FORMATS`.

    This is what the model has to learn, written as rules: a reference to score it against, not a model.

    Raises:
        ValueError: the text is written in none of the formats, or names a day that does not exist
            (31/02/2020), or a weekday that is not the date's.
    """
    for name, pattern in _PATTERNS.items():
        match = pattern.fullmatch(text)
        if match is None:
            continue
        fields = match.groupdict()
        day = int(re.match(r"\d+", fields.get("D") or fields.get("DD") or fields["Dth"]).group())
        if fields.get("MM"):
            month = int(fields["MM"])
        else:
            month = [m[:3] for m in MONTHS].index((fields.get("Month") or fields["Mon"])[:3]) + 1
        try:
            date = dt.date(int(fields["YYYY"]), month, day)
        except ValueError as err:
            raise ValueError(f"{text!r} is written as {name!r} but is not a real date: {err}") from None
        weekday = fields.get("Weekday") or fields.get("Wkd")
        if weekday and WEEKDAYS[date.weekday()][:3] != weekday[:3]:
            raise ValueError(f"{text!r}: {date.isoformat()} was a {WEEKDAYS[date.weekday()]}, not a {weekday}")
        ordinal = fields.get("Dth")
        if ordinal and ordinal != _ordinal(day):
            raise ValueError(f"{text!r}: the ordinal of {day} is {_ordinal(day)}, not {ordinal}")
        return name, date
    raise ValueError(f"{text!r} is written in none of the {len(FORMATS)} formats of this task")


# --- encoding -------------------------------------------------------------------------------------


def check_date_text(text: object, max_len: int = MAX_SOURCE_LEN) -> str:
    """``text`` if a date model can read it; otherwise a ``ValueError`` that says why, for a reader.

    Refused: a non-string, an empty (or blank) string, more than ``max_len`` characters, a character
    outside the source vocabulary (each one named), and a text without a digit (every format writes at
    least the year in digits, so such a text is not a date this task knows).
    """
    if not isinstance(text, str):
        raise ValueError(f"a date must be a string, got {type(text).__name__}")
    if not text.strip():
        raise ValueError("the text is empty: type a date, e.g. 'Nov 29, 2026' or '29/11/2026'")
    if len(text) > max_len:
        raise ValueError(f"the text has {len(text)} characters; the model reads at most {max_len}: "
                         f"shorten it (the longest format, 'the 23rd of September 2026', has 26)")
    unknown = sorted(set(text) - set(SOURCE_CHARS))
    if unknown:
        shown = ", ".join(repr(ch) for ch in unknown)
        raise ValueError(f"{shown} {'is' if len(unknown) == 1 else 'are'} outside the model's vocabulary (it knows "
                         f"only digits, the letters of month and weekday names and of 'the', 'of', 'st', 'nd', "
                         f"'rd', 'th', space and , . / -): {SOURCE_CHARS!r}")
    if not any(ch.isdigit() for ch in text):
        raise ValueError(f"{text!r} has no digit: every date this model knows writes at least its year in digits, "
                         "so this is not a date it can read")
    return text


def encode_source(texts: Sequence[str], max_len: int = MAX_SOURCE_LEN) -> Tensor:
    """Source strings -> ``(B, S)`` int64 ids, right-padded with ``PAD_ID`` to the longest (S <= max_len).

    Every text is checked by :func:`check_date_text` (a ``ValueError`` names the first bad one).
    """
    if isinstance(texts, str) or not isinstance(texts, Sequence) or not texts:
        raise ValueError(f"texts must be a non-empty sequence of strings, got {texts!r:.60}")
    for k, text in enumerate(texts):
        try:
            check_date_text(text, max_len)
        except ValueError as err:
            raise ValueError(f"text {k} ({text!r:.40}): {err}") from None
    width = max(len(text) for text in texts)
    ids = torch.full((len(texts), width), PAD_ID, dtype=torch.long)  # (B, S)
    for b, text in enumerate(texts):
        ids[b, :len(text)] = torch.tensor([_SOURCE_ID[ch] for ch in text])
    return ids


def encode_target(isos: Sequence[str]) -> Tensor:
    """ISO strings ``YYYY-MM-DD`` -> ``(B, 12)`` ids ``BOS y1 .. y10 EOS``."""
    if isinstance(isos, str) or not isinstance(isos, Sequence) or not isos:
        raise ValueError(f"isos must be a non-empty sequence of strings, got {isos!r:.60}")
    ids = torch.full((len(isos), TARGET_LEN + 1), PAD_ID, dtype=torch.long)  # (B, T + 1)
    ids[:, 0] = BOS_ID
    for b, iso in enumerate(isos):
        if not isinstance(iso, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", iso):
            raise ValueError(f"isos[{b}] must be a date written YYYY-MM-DD, got {iso!r}")
        ids[b, 1:TARGET_LEN] = torch.tensor([_TARGET_ID[ch] for ch in iso])
        ids[b, TARGET_LEN] = EOS_ID
    return ids


def decode_target(ids: Tensor | Sequence[int]) -> str:
    """Target ids -> text: characters up to the first EOS (BOS and PAD skipped; any other special as ``?``)."""
    values = ids.tolist() if isinstance(ids, Tensor) else list(ids)
    chars = []
    for i in values:
        if i == EOS_ID:
            break
        if i in (PAD_ID, BOS_ID):
            continue
        chars.append(TARGET_CHARS[i - 3] if 3 <= i < TARGET_VOCAB_SIZE else "?")
    return "".join(chars)


def source_tokens(text: str) -> list[str]:
    """The characters of a source text as axis labels (a space shown as ``␣``)."""
    return ["␣" if ch == " " else ch for ch in text]


def is_valid_iso(text: str) -> bool:
    """True when ``text`` is a real calendar date written ``YYYY-MM-DD``."""
    if not isinstance(text, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        return False
    try:
        dt.date.fromisoformat(text)
    except ValueError:
        return False
    return True


# --- examples and batches -------------------------------------------------------------------------


def _check_formats(formats: Sequence[str]) -> tuple[str, ...]:
    if isinstance(formats, str) or not formats or any(f not in FORMATS for f in formats):
        raise ValueError(f"formats must be a non-empty sequence of names from {list(FORMATS)}, got {formats!r}")
    return tuple(formats)


def random_examples(
    dates: Sequence[dt.date], formats: Sequence[str], count: int, rng: random.Random,
) -> list[DateExample]:
    """``count`` examples, each a date and a format drawn uniformly (with replacement) with ``rng``."""
    formats = _check_formats(formats)
    return [write_date(rng.choice(dates), rng.choice(formats)) for _ in range(count)]


def date_batches(
    dates: Sequence[dt.date], batch_size: int, formats: Sequence[str] = SEEN_FORMATS, seed: int = 0,
) -> Iterator[tuple[Tensor, Tensor]]:
    """An endless, seeded stream of training batches ``(src (B, S), tgt (B, 12))``: random dates of
    ``dates`` in random ``formats``."""
    _checks.positive_int("batch_size", batch_size)
    formats = _check_formats(formats)
    if not dates:
        raise ValueError("dates is empty: there is nothing to write")
    rng = random.Random(seed)
    while True:
        examples = random_examples(dates, formats, batch_size, rng)
        yield encode_source([e.text for e in examples]), encode_target([e.iso for e in examples])


@dataclass(frozen=True)
class DateSet:
    """A fixed evaluation set: its ``examples`` and their encodings ``src (B, S)``, ``tgt (B, 12)``."""

    examples: tuple[DateExample, ...]
    src: Tensor
    tgt: Tensor

    def __len__(self) -> int:
        return len(self.examples)

    def subset(self, formats: Sequence[str]) -> DateSet:
        """The examples written in ``formats`` (re-encoded, so padded only to their own longest)."""
        chosen = tuple(e for e in self.examples if e.format in set(formats))
        if not chosen:
            raise ValueError(f"no example of this set is written in {list(formats)}")
        return _date_set(chosen)


def _date_set(examples: Sequence[DateExample]) -> DateSet:
    return DateSet(tuple(examples), encode_source([e.text for e in examples]), encode_target([e.iso for e in examples]))


def date_set(dates: Sequence[dt.date], formats: Sequence[str], per_format: int, seed: int = 0) -> DateSet:
    """``per_format`` distinct dates of ``dates`` (seeded), each written in every format of ``formats``.

    Every format gets the same dates, so formats compare on equal ground.
    """
    formats = _check_formats(formats)
    _checks.positive_int("per_format", per_format)
    if per_format > len(dates):
        raise ValueError(f"per_format={per_format} but there are only {len(dates)} dates")
    chosen = random.Random(seed).sample(list(dates), per_format)
    return _date_set([write_date(d, f) for f in formats for d in chosen])


# --- decoding and scoring -------------------------------------------------------------------------


def decode_dates(model: nn.Module, src: Tensor, max_len: int = TARGET_LEN) -> Tensor:
    """Greedy (free-running) decoding with a date model: ``(B, S)`` -> ``(B, L)`` target ids, EOS included."""
    if isinstance(model, Seq2SeqTransformer):
        return greedy_decode(model, src, max_len, BOS_ID, EOS_ID)
    if isinstance(model, AttentionGRU):
        return gru_greedy_decode(model, src, max_len, BOS_ID, EOS_ID)
    raise ValueError(f"model must be a Seq2SeqTransformer or an AttentionGRU, got {type(model).__name__}")


def exact_match_score(model: nn.Module, dates: DateSet, batch_size: int = 1000) -> float:
    """Fraction of ``dates`` whose greedy decoding is the ISO date exactly (``seqlib.seq2seq.exact_match``)."""
    correct = 0.0
    for start in range(0, len(dates), batch_size):
        src, tgt = dates.src[start:start + batch_size], dates.tgt[start:start + batch_size]
        correct += exact_match(decode_dates(model, src), tgt[:, 1:], EOS_ID, PAD_ID) * len(src)
    return correct / len(dates)


# --- training -------------------------------------------------------------------------------------


def teacher_forced_loss(model: nn.Module, src: Tensor, tgt: Tensor) -> Tensor:
    """Cross-entropy of ``model(src, tgt[:, :-1])`` against ``tgt[:, 1:]``, padding ignored (teacher forcing)."""
    logits = model(src, tgt[:, :-1])  # (B, T, V): the decoder reads BOS y1 .. y_{T-1}
    expected = tgt[:, 1:]  # (B, T): and is scored on y1 .. y_T (EOS last)
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), expected.reshape(-1), ignore_index=PAD_ID)


class CpuClock:
    """Seconds of CPU time this process spends training, evaluation and drawing excluded.

    On a machine shared with other work, wall-clock seconds measure the neighbours as much as the model;
    the process's CPU time (``time.process_time``, one thread) measures what training itself cost.
    :meth:`pausing` wraps a call (an evaluation, a redraw) whose time must not count.
    """

    def __init__(self) -> None:
        self.start: float | None = None
        self.paused = 0.0

    def begin(self) -> None:
        self.start, self.paused = time.process_time(), 0.0

    @property
    def seconds(self) -> float:
        return 0.0 if self.start is None else time.process_time() - self.start - self.paused

    def pausing(self, fn: Callable | None) -> Callable | None:
        if fn is None:
            return None

        def paused(*args: object) -> object:
            began = time.process_time()
            try:
                return fn(*args)
            finally:
                self.paused += time.process_time() - began

        return paused


class DateTraining(NamedTuple):
    """What :func:`train_date_model` returns: ``seqlib.train``'s result, and the CPU seconds training took."""

    result: TrainResult
    cpu_seconds: float


def train_date_model(
    model: nn.Module, batches: Iterator[tuple[Tensor, Tensor]], *, max_steps: int | None = None,
    cpu_budget_s: float | None = None, lr: float = 3e-3, lr_schedule: str = "cosine", clip: float | None = 1.0,
    final_lr_fraction: float = 0.05, eval_every: int | None = None,
    evaluate: Callable[[], Mapping[str, float]] | None = None, progress: Callable[[TrainRecord], None] | None = None,
    seed: int = 0, clock: CpuClock | None = None,
) -> DateTraining:
    """Teacher-forced training of a date model through ``seqlib.train.train``.

    Adam (betas 0.9, 0.98, eps 1e-9, as ``seqlib.seq2seq.train_seq2seq``), the learning rate on a cosine over
    the budget down to ``final_lr_fraction`` of ``lr`` (``lr_schedule="cosine"``), gradient clipping.

    Two budgets: ``max_steps`` (deterministic: the same losses every run), or ``cpu_budget_s``, seconds of this
    process's CPU time (:class:`CpuClock`: batches and steps count, ``evaluate`` and ``progress`` do not), for
    a fixed amount of computation on a shared machine.  With ``cpu_budget_s`` the cosine follows the CPU
    seconds spent, and the run ends at the first step that starts after the budget is spent.

    Args:
        model: ``model(src, tgt_input) -> (B, T, V) logits``; trained in place.
        batches: an endless iterator of ``(src, tgt)`` (e.g. :func:`date_batches`).
        max_steps, cpu_budget_s: the budget (exactly one).
        lr, lr_schedule, clip, final_lr_fraction: as :func:`seqlib.train.train`.
        eval_every: record (and call ``evaluate`` and ``progress``) every this many steps; None: at the end.
        evaluate: returns metrics for the record (e.g. exact match on the validation dates).
        progress: called with every record (e.g. to draw a live curve).
        seed: torch seed set before training (dropout).
        clock: the :class:`CpuClock` to use (e.g. to read ``clock.seconds`` inside ``progress``); a new one if None.

    Returns:
        :class:`DateTraining`: the ``TrainResult`` and the CPU seconds spent training.

    Raises:
        ValueError: a bad argument. ``seqlib.train.TrainingDiverged``: a non-finite loss.
    """
    if (max_steps is None) == (cpu_budget_s is None):
        raise ValueError(f"give exactly one budget, max_steps or cpu_budget_s; got max_steps={max_steps!r}, "
                         f"cpu_budget_s={cpu_budget_s!r}")
    if max_steps is not None:
        _checks.positive_int("max_steps", max_steps)
    else:
        _checks.real_number("cpu_budget_s", cpu_budget_s, minimum=0.0, exclusive=True)
    check_options(lr=lr, clip=clip, lr_schedule=lr_schedule, eval_every=eval_every,
                  final_lr_fraction=final_lr_fraction)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed must be an int, got {seed!r}")
    torch.manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, betas=(0.9, 0.98), eps=1e-9)
    clock = CpuClock() if clock is None else clock

    def budgeted() -> Iterator[tuple[Tensor, Tensor]]:
        clock.begin()
        for batch in batches:
            if cpu_budget_s is not None and clock.seconds >= cpu_budget_s:
                return
            yield batch

    def follow_the_clock() -> None:  # the cosine over CPU seconds (train's own cosine follows steps)
        for group in optimizer.param_groups:
            group["lr"] = cosine_lr(lr, min(1.0, clock.seconds / cpu_budget_s), final_lr_fraction)

    by_clock = cpu_budget_s is not None and lr_schedule == "cosine"
    result = train(model, budgeted(), lambda batch: teacher_forced_loss(model, *batch), optimizer=optimizer, lr=lr,
                   lr_schedule="constant" if by_clock else lr_schedule, final_lr_fraction=final_lr_fraction,
                   clip=clip, max_steps=max_steps, time_budget_s=math.inf if max_steps is None else None,
                   eval_every=eval_every, evaluate=clock.pausing(evaluate),
                   progress=clock.pausing(progress), after_step=follow_the_clock if by_clock else None)
    return DateTraining(result, clock.seconds)

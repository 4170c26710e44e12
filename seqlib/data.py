"""The course's data: The Time Machine, sunspots and Mauna Loa CO2, loaded and checked.

Every file in ``data/`` is shipped with the course and its SHA-256 is recorded below.  A loader
reads the file, parses it (a structural problem is reported with the file and the line), and then
compares the checksum (a truncated or altered file is reported with the file, its size and hash).
All errors are :class:`DataFileError`, whose ``kind`` says what went wrong:
``missing`` (no file at the path, or a directory there), ``unreadable`` (the file exists but cannot
be read, e.g. no permission), ``empty``, ``malformed``, ``truncated`` or ``altered``.

Shapes: ``B`` = batch size, ``T`` = time steps (``num_steps``), ``N`` = number of windows,
``tau`` = window length.
"""

from __future__ import annotations

import collections
import hashlib
import math
import numbers
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from seqlib import _checks

DATA_DIR = Path(__file__).resolve().parent.parent / "data"

# file name -> (size in bytes, SHA-256) of the copies shipped in data/ (see data/README.md)
CHECKSUMS: dict[str, tuple[int, str]] = {
    "timemachine.txt": (200870, "0359cedc583179f3e417605eb36efc1dc97b042a76ea67fac1e8c11109b0e2c9"),
    "sunspots_yearly.csv": (2944, "f67889b1d9002cd5227f0e0ef54e35b419cdd85a31279adef6f73fb41e5c0a9b"),
    "sunspots_monthly.dat": (21194, "cc303d26340b6d599bc2878899f8c50c12323dc04b52a26ad047965ea2b9d2a3"),
    "co2_weekly.csv": (33974, "16695fa2786e53414e5a6b54767a3fdf5de99cfbc68617f69d1362d92776a92f"),
}

GUTENBERG_START = "*** START OF THE PROJECT GUTENBERG EBOOK"
GUTENBERG_END = "*** END OF THE PROJECT GUTENBERG EBOOK"


class DataFileError(ValueError):
    """A data file is missing, unreadable, empty, malformed, truncated or altered.

    Attributes:
        path: the file.
        kind: ``"missing"``, ``"unreadable"``, ``"empty"``, ``"malformed"``, ``"truncated"`` or ``"altered"``.
        line: 1-based line number for ``malformed`` files, else ``None``.
    """

    def __init__(self, path: Path, kind: str, detail: str, line: int | None = None) -> None:
        self.path, self.kind, self.line = Path(path), kind, line
        where = f"{path}, line {line}" if line is not None else f"{path}"
        super().__init__(f"{where}: {detail}")


# --- reading and checking --------------------------------------------------------------------


def _resolve(path: str | Path | None, name: str) -> Path:
    if path is not None and not isinstance(path, str | Path):
        raise TypeError(f"path must be a str or a pathlib.Path (or None for data/{name}), got {type(path).__name__}")
    return DATA_DIR / name if path is None else Path(path)


def _read_bytes(path: Path) -> bytes:
    if not path.exists():
        raise DataFileError(
            path, "missing", "data file not found; the course ships it in data/ (try `git checkout data/`)"
        )
    if path.is_dir():
        raise DataFileError(path, "missing", "this is a directory, not a data file: give the path of the file in it")
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise DataFileError(path, "unreadable", f"data file cannot be read ({type(err).__name__}: "
                            f"{err.strerror or err})") from None
    if not raw:
        raise DataFileError(path, "empty", "data file is empty (0 bytes)")
    return raw


def _verify(path: Path, raw: bytes, name: str) -> None:
    """Compare ``raw`` with the recorded size and SHA-256 of the shipped file ``name``."""
    size, expected = CHECKSUMS[name]
    actual = hashlib.sha256(raw).hexdigest()
    if actual == expected:
        return
    restore = f"restore it with `git checkout data/{name}`"
    if len(raw) < size:
        raise DataFileError(path, "truncated", f"file is truncated: {len(raw)} of {size} bytes; {restore}")
    raise DataFileError(
        path,
        "altered",
        f"file was altered: SHA-256 {actual[:16]}… ({len(raw)} bytes), "
        f"expected {expected[:16]}… ({size} bytes); {restore}",
    )


def _decode(path: Path, raw: bytes) -> list[str]:
    try:
        text = raw.decode("utf-8-sig")  # utf-8-sig drops the byte-order mark
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise DataFileError(path, "malformed", f"not valid UTF-8 ({err.reason})", line) from None
    return text.splitlines()


def _number(path: Path, lineno: int, token: str, what: str) -> float:
    try:
        value = float(token)
    except ValueError:
        raise DataFileError(path, "malformed", f"could not read {what} {token!r} as a number", lineno) from None
    if not math.isfinite(value):
        raise DataFileError(path, "malformed", f"{what} is {token!r}, expected a finite number", lineno)
    return value


def _csv_rows(path: Path, lines: list[str], columns: list[str]) -> Iterator[tuple[int, list[str]]]:
    """Check a two-or-more-column CSV header, then yield ``(line number, cells)`` for each non-blank row."""
    if [h.strip().strip('"') for h in lines[0].split(",")] != columns:
        raise DataFileError(path, "malformed", f"expected columns {','.join(columns)}, found {lines[0]!r}", 1)
    for lineno, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        cells = line.split(",")
        if len(cells) != len(columns):
            detail = f"expected {len(columns)} columns, found {len(cells)}: {line!r}"
            raise DataFileError(path, "malformed", detail, lineno)
        yield lineno, cells


# --- The Time Machine --------------------------------------------------------------------------


def load_time_machine(path: str | Path | None = None, *, verify: bool = True) -> str:
    """The text of H. G. Wells' *The Time Machine*, without the BOM and Gutenberg header/footer.

    Args:
        path: the file (default: ``data/timemachine.txt``).
        verify: compare the file with the recorded checksum.

    Returns:
        The book between the ``*** START OF …`` and ``*** END OF …`` lines, stripped.
    """
    path = _resolve(path, "timemachine.txt")
    raw = _read_bytes(path)
    lines = _decode(path, raw)
    start = next((i for i, line in enumerate(lines) if line.startswith(GUTENBERG_START)), None)
    if start is None:
        raise DataFileError(path, "malformed", f"no line starting with {GUTENBERG_START!r}", 1)
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith(GUTENBERG_END)), None)
    if end is None:
        raise DataFileError(
            path, "truncated", f"no line starting with {GUTENBERG_END!r} after the start line", len(lines)
        )
    if verify:
        _verify(path, raw, "timemachine.txt")
    return "\n".join(lines[start + 1 : end]).strip()


def clean_letters(text: str) -> str:
    """Lower-case letters and single spaces only (the character set of the course's language models)."""
    return re.sub(r"[^a-z]+", " ", text.lower()).strip()


def tokenize(text: str, token: str = "char") -> list[str]:
    """Split ``text`` into characters (``token="char"``) or whitespace-separated words (``"word"``)."""
    if token == "char":
        return list(text)
    if token == "word":
        return text.split()
    raise ValueError(f"token must be 'char' or 'word', got {token!r}")


class Vocab:
    """Token ↔ index mapping, most frequent first.

    Index 0 is the unknown token ``<unk>``; ``reserved_tokens`` (e.g. ``<pad>``, ``<bos>``) follow;
    then every token seen at least ``min_freq`` times, by falling frequency (ties: alphabetical).
    A token never seen maps to ``unk``.
    """

    UNK = "<unk>"

    def __init__(
        self, tokens: Iterable = (), min_freq: int = 0, reserved_tokens: Sequence[str] | None = None
    ) -> None:
        _checks.non_negative_int("min_freq", min_freq, allow_bool=True)
        reserved = list(reserved_tokens or [])
        if self.UNK in reserved or len(set(reserved)) != len(reserved):
            raise ValueError(f"reserved_tokens must be distinct and must not contain {self.UNK!r}, got {reserved}")
        flat = [t for item in tokens for t in (item if isinstance(item, list) else [item])]
        counter = collections.Counter(flat)
        self.token_freqs: list[tuple[str, int]] = sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))
        self.idx_to_token: list[str] = [self.UNK, *reserved]
        self.idx_to_token += [t for t, n in self.token_freqs if n >= min_freq and t not in self.idx_to_token]
        self.token_to_idx: dict[str, int] = {t: i for i, t in enumerate(self.idx_to_token)}

    @property
    def unk(self) -> int:
        return 0

    def __len__(self) -> int:
        return len(self.idx_to_token)

    def __getitem__(self, tokens: str | Sequence[str]) -> int | list[int]:
        """``vocab["a"]`` → its id (``unk`` if never seen); ``vocab[["a", "b"]]`` → a list of ids."""
        if isinstance(tokens, str):
            return self.token_to_idx.get(tokens, self.unk)
        if isinstance(tokens, numbers.Number | torch.Tensor | np.ndarray) or not isinstance(tokens, Iterable):
            raise TypeError(
                f"Vocab[...] takes a token (str) or a list of tokens, got {type(tokens).__name__} ({tokens!r:.40}); "
                "to turn ids into tokens use vocab.to_tokens(ids)"
            )
        return [self[t] for t in tokens]

    def to_tokens(self, ids: int | Sequence[int] | torch.Tensor | np.ndarray) -> str | list[str]:
        """An id (an int, a NumPy integer or a 0-d integer tensor) → its token; a sequence, an array or a
        tensor of ids → a list of tokens."""
        if isinstance(ids, torch.Tensor | np.ndarray):
            if ids.dtype == torch.bool or ids.dtype == np.bool_ or not (
                (isinstance(ids, torch.Tensor) and not ids.is_floating_point() and not ids.is_complex())
                or (isinstance(ids, np.ndarray) and np.issubdtype(ids.dtype, np.integer))
            ):
                raise TypeError(f"ids must hold integers (token ids), got a {type(ids).__name__} of dtype {ids.dtype}")
            ids = ids.tolist()
        if isinstance(ids, numbers.Integral) and not isinstance(ids, bool):
            if not 0 <= ids < len(self):
                raise ValueError(f"ids must lie in [0, {len(self)}), got {ids}")
            return self.idx_to_token[int(ids)]
        if isinstance(ids, bool | numbers.Number | str) or not isinstance(ids, Iterable):
            raise TypeError(f"ids must be a token id (an int) or a sequence of ids, got {type(ids).__name__} "
                            f"({ids!r:.40})")
        return [self.to_tokens(i) for i in ids]

    def encode(self, tokens: Sequence[str]) -> list[int]:
        """Token list → id list (unknown tokens → ``unk``)."""
        return [self[t] for t in tokens]

    def decode(self, ids: int | Sequence[int] | torch.Tensor | np.ndarray) -> list[str]:
        """Ids → token list, always a list (a single id, even a 0-d tensor, gives one token);
        ``"".join(vocab.decode(ids))`` gives text back for characters."""
        tokens = self.to_tokens(ids)
        return [tokens] if isinstance(tokens, str) else tokens

    def __repr__(self) -> str:
        head = ", ".join(repr(t) for t in self.idx_to_token[:8])
        return f"Vocab(size={len(self)}, first=[{head}, …])"


def load_corpus(
    token: str = "char", max_tokens: int | None = None, min_freq: int = 0, path: str | Path | None = None
) -> tuple[torch.Tensor, Vocab]:
    """The Time Machine as letters and spaces, tokenized and encoded.

    Args:
        token: ``"char"`` or ``"word"``.
        max_tokens: keep only the first this many tokens (a positive int); None: all.
        min_freq: rarer tokens map to ``<unk>``.
        path: the book's file (default ``data/timemachine.txt``).

    Returns:
        ``(corpus, vocab)``: ``corpus`` is a 1-D LongTensor of token ids.
    """
    if token not in ("char", "word"):
        raise ValueError(f"token must be 'char' or 'word', got {token!r}")
    if max_tokens is not None:
        _checks.positive_int("max_tokens", max_tokens, types=int | np.integer)
    tokens = tokenize(clean_letters(load_time_machine(path)), token)
    if max_tokens is not None:
        tokens = tokens[:max_tokens]
    vocab = Vocab(tokens, min_freq=min_freq)
    return torch.tensor(vocab.encode(tokens), dtype=torch.long), vocab


def split_sequence(seq: torch.Tensor, val_fraction: float = 0.1) -> tuple[torch.Tensor, torch.Tensor]:
    """Split a 1-D sequence into a leading training part and a trailing validation part.

    The parts are contiguous and share no position, so no validation token is ever trained on.
    """
    _checks.fraction("val_fraction", val_fraction)
    _checks.one_dimensional("seq", seq)
    cut = int(round(len(seq) * (1.0 - val_fraction)))
    if cut < 2 or len(seq) - cut < 2:
        raise ValueError(f"seq of length {len(seq)} is too short to split with val_fraction={val_fraction}")
    return seq[:cut], seq[cut:]


@dataclass
class LanguageModelBatches:
    """Minibatches ``(X, Y)`` of shape (B, T) for language modelling; ``Y`` is ``X`` shifted by one.

    ``sequential=True``: the corpus is cut into B parallel streams; row b of batch i+1 continues
    row b of batch i, so a recurrent model may carry its state across batches (truncated BPTT).
    ``sequential=False``: subsequences of length T are drawn in random order (state must be reset).
    Each pass (``iter``) starts at a random offset in [0, T) drawn from ``generator``
    (offset 0 when ``generator`` is None), so each epoch sees different cut points.
    """

    corpus: torch.Tensor
    batch_size: int
    num_steps: int
    sequential: bool = True
    generator: torch.Generator | None = None
    _checked: bool = field(default=False, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.corpus, torch.Tensor):  # a list or an array of ids: as a tensor
            array = np.asarray(self.corpus)
            if array.size and not np.issubdtype(array.dtype, np.integer):
                raise ValueError(f"corpus must be a 1-D sequence of token ids (ints), got {type(self.corpus).__name__} "
                                 f"of {array.dtype}")
            self.corpus = torch.as_tensor(array.astype(np.int64))
        if self.corpus.is_floating_point() or self.corpus.is_complex() or self.corpus.dtype == torch.bool:
            raise ValueError(f"corpus must hold integer token ids, got dtype {self.corpus.dtype}")
        _checks.one_dimensional("corpus", self.corpus)
        _checks.positive_int("batch_size", self.batch_size, allow_bool=True)
        _checks.positive_int("num_steps", self.num_steps, allow_bool=True)
        need = self.batch_size * self.num_steps + self.num_steps  # room for the worst offset
        if len(self.corpus) <= need:
            raise ValueError(
                f"corpus of length {len(self.corpus)} is too short for batch_size={self.batch_size} "
                f"and num_steps={self.num_steps} (needs more than {need} tokens)"
            )

    def __len__(self) -> int:
        # the smallest number of batches over all offsets, so len() is exact for every pass
        usable = len(self.corpus) - self.num_steps  # worst offset T-1, minus one for Y
        return usable // (self.batch_size * self.num_steps)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        B, T, n = self.batch_size, self.num_steps, len(self)
        offset = 0 if self.generator is None else int(torch.randint(T, (1,), generator=self.generator))
        if self.sequential:
            span = n * T
            X = self.corpus[offset : offset + B * span].reshape(B, span)  # (B, n*T)
            Y = self.corpus[offset + 1 : offset + 1 + B * span].reshape(B, span)  # (B, n*T)
            for i in range(n):
                yield X[:, i * T : (i + 1) * T], Y[:, i * T : (i + 1) * T]
            return
        starts = torch.arange(n * B) * T + offset  # n*B non-overlapping subsequences
        if self.generator is not None:
            starts = starts[torch.randperm(len(starts), generator=self.generator)]
        idx = starts.reshape(n, B, 1) + torch.arange(T)  # (n, B, T)
        for i in range(n):
            yield self.corpus[idx[i]], self.corpus[idx[i] + 1]


def lm_batches(
    corpus: torch.Tensor,
    batch_size: int,
    num_steps: int,
    *,
    sequential: bool = True,
    generator: torch.Generator | None = None,
) -> LanguageModelBatches:
    """Iterable of ``(X, Y)`` minibatches, each (B, T); see :class:`LanguageModelBatches`."""
    return LanguageModelBatches(corpus, batch_size, num_steps, sequential, generator)


# --- time series -----------------------------------------------------------------------------


@dataclass(frozen=True)
class TimeSeries:
    """A dated series. ``dates``: numpy datetime64 (N,); ``values``: float64 (N,).

    ``filled`` marks values that were not in the file but filled in by the loader (CO2's missing
    weeks); ``notes`` keeps the file's own remarks.
    """

    name: str
    dates: np.ndarray
    values: np.ndarray
    units: str
    filled: np.ndarray
    notes: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.values)


def load_sunspots_yearly(path: str | Path | None = None, *, verify: bool = True) -> TimeSeries:
    """Yearly mean sunspot number, 1700–2008 (the series Yule fitted the first AR model to)."""
    path = _resolve(path, "sunspots_yearly.csv")
    raw = _read_bytes(path)
    lines = _decode(path, raw)
    years, values = [], []
    for lineno, cells in _csv_rows(path, lines, ["YEAR", "SUNACTIVITY"]):
        year = _number(path, lineno, cells[0], "YEAR")
        if not year.is_integer():
            raise DataFileError(path, "malformed", f"YEAR {cells[0].strip()!r} is not a whole year", lineno)
        if years and year != years[-1] + 1:
            raise DataFileError(path, "malformed", f"year {year:g} does not follow {years[-1]:g}", lineno)
        years.append(year)
        values.append(_number(path, lineno, cells[1], "SUNACTIVITY"))
    if not years:
        raise DataFileError(path, "malformed", "no data rows after the header", 1)
    if verify:
        _verify(path, raw, "sunspots_yearly.csv")
    dates = np.array([f"{int(y):04d}" for y in years], dtype="datetime64[Y]")
    values_arr = np.array(values, dtype=np.float64)
    return TimeSeries("yearly mean sunspot number", dates, values_arr, "sunspots", np.zeros(len(values), bool))


def load_sunspots_monthly(path: str | Path | None = None, *, verify: bool = True) -> TimeSeries:
    """Monthly mean sunspot number, Jan 1749 onwards, from a fixed-width table.

    The table has a title, rule lines (``===``/``---``), a ``Year Jan … Dec`` header, blank lines
    between groups of years, and after the closing rule some note lines (kept in ``notes``).
    Every data row holds a year and 12 values, except the last, which may stop early.
    """
    path = _resolve(path, "sunspots_monthly.dat")
    raw = _read_bytes(path)
    lines = _decode(path, raw)
    header_at = next((i for i, line in enumerate(lines) if line.split()[:2] == ["Year", "Jan"]), None)
    if header_at is None:
        raise DataFileError(path, "malformed", "no 'Year Jan Feb …' header line", 1)
    rows: list[tuple[int, int, list[float]]] = []  # (line number, year, values)
    notes: list[str] = []
    in_table = True
    for lineno, line in enumerate(lines[header_at + 1 :], start=header_at + 2):
        stripped = line.strip()
        if not in_table:
            if stripped:
                notes.append(stripped)
            continue
        if not stripped or set(stripped) <= {"=", "-"}:
            if rows and set(stripped) == {"-"}:  # the rule after the rows closes the table
                in_table = False
            continue
        cells = stripped.split()
        if not re.fullmatch(r"\d{4}", cells[0]):
            raise DataFileError(path, "malformed", f"expected a row starting with a year, found {line!r}", lineno)
        year = int(cells[0])
        if rows and year != rows[-1][1] + 1:
            raise DataFileError(path, "malformed", f"year {year} does not follow {rows[-1][1]}", lineno)
        if len(cells) > 13:
            detail = f"expected at most 12 monthly values, found {len(cells) - 1}"
            raise DataFileError(path, "malformed", detail, lineno)
        if rows and len(rows[-1][2]) != 12:
            prev_line = rows[-1][0]
            raise DataFileError(
                path, "malformed", f"expected 12 monthly values, found {len(rows[-1][2])}", prev_line
            )
        rows.append((lineno, year, [_number(path, lineno, c, f"{year} value") for c in cells[1:]]))
    if not rows:
        raise DataFileError(path, "malformed", "no data rows under the header", header_at + 1)
    if verify:
        _verify(path, raw, "sunspots_monthly.dat")
    dates = [np.datetime64(f"{year:04d}-{m + 1:02d}", "M") for _, year, vals in rows for m in range(len(vals))]
    values = np.array([v for _, _, vals in rows for v in vals], dtype=np.float64)
    return TimeSeries(
        "monthly mean sunspot number", np.array(dates), values, "sunspots", np.zeros(len(values), bool), tuple(notes)
    )


def load_co2_weekly(
    path: str | Path | None = None, *, missing: str = "interpolate", verify: bool = True
) -> TimeSeries:
    """Weekly atmospheric CO2 at Mauna Loa (ppm), March 1958 – December 2001.

    59 weeks have no measurement (an empty ``co2`` cell).  ``missing`` chooses what to do:

    - ``"interpolate"`` (default): fill each gap linearly in time between its neighbours, and mark
      the filled weeks in ``filled``.  The series stays evenly spaced (one value a week), which
      sliding-window models need; the gaps are short (at most a few weeks), so a straight line is
      a fair guess on a curve this smooth.
    - ``"nan"``: keep the gaps as NaN (for plotting the raw data).
    - ``"drop"``: drop the missing weeks (the series is then no longer evenly spaced).
    """
    _checks.one_of("missing", missing, ("interpolate", "nan", "drop"))
    path = _resolve(path, "co2_weekly.csv")
    raw = _read_bytes(path)
    lines = _decode(path, raw)
    dates, values = [], []
    for lineno, cells in _csv_rows(path, lines, ["date", "co2"]):
        stamp = cells[0].strip()
        if not re.fullmatch(r"\d{8}", stamp):
            raise DataFileError(path, "malformed", f"date {stamp!r} is not YYYYMMDD", lineno)
        try:
            date = np.datetime64(f"{stamp[:4]}-{stamp[4:6]}-{stamp[6:]}", "D")
        except ValueError:
            raise DataFileError(path, "malformed", f"date {stamp!r} is not a calendar date", lineno) from None
        if dates and date <= dates[-1]:
            raise DataFileError(path, "malformed", f"date {stamp} is not after the previous row", lineno)
        dates.append(date)
        values.append(np.nan if not cells[1].strip() else _number(path, lineno, cells[1], "co2"))
    if not dates:
        raise DataFileError(path, "malformed", "no data rows after the header", 1)
    if verify:
        _verify(path, raw, "co2_weekly.csv")
    dates_arr, values_arr = np.array(dates), np.array(values, dtype=np.float64)
    gaps = np.isnan(values_arr)
    if gaps.all():
        raise DataFileError(path, "malformed", f"every co2 value is missing ({len(gaps)} rows, all empty): no "
                            "measurement to read or to interpolate from", 2)
    if missing == "drop":
        dates_arr, values_arr, gaps = dates_arr[~gaps], values_arr[~gaps], np.zeros((~gaps).sum(), bool)
    elif missing == "interpolate":
        days = dates_arr.astype(np.int64).astype(np.float64)
        values_arr = values_arr.copy()
        values_arr[gaps] = np.interp(days[gaps], days[~gaps], values_arr[~gaps])
    return TimeSeries("weekly CO2 at Mauna Loa", dates_arr, values_arr, "ppm", gaps)


def sliding_windows(
    series: np.ndarray | torch.Tensor, tau: int, horizon: int = 1
) -> tuple[torch.Tensor, torch.Tensor]:
    """Features and labels for a fixed-window (autoregressive) model.

    Window ``j`` holds ``x[j], …, x[j+tau-1]`` and its label is ``x[j+tau-1+horizon]``: the value
    ``horizon`` steps after the window's last input (``horizon=1`` is the next value).

    Returns:
        ``features`` (N, tau) and ``labels`` (N,), float32, with ``N = len(series) - tau - horizon + 1``.
    """
    if isinstance(series, torch.Tensor):
        x = series
    else:
        try:
            x = torch.as_tensor(np.asarray(series, dtype=np.float32))
        except (TypeError, ValueError) as err:
            raise ValueError(f"series must be a 1-D sequence of numbers, got {type(series).__name__} ({err})") from None
    if x.is_complex() or x.dtype == torch.bool:
        raise ValueError(f"series must hold real numbers, got dtype {x.dtype}")
    _checks.one_dimensional("series", x)
    _checks.positive_int("tau", tau, allow_bool=True)
    _checks.positive_int("horizon", horizon, allow_bool=True)
    n = len(x) - tau - horizon + 1
    if n < 1:
        raise ValueError(f"series of length {len(x)} is too short for tau={tau} and horizon={horizon}")
    features = x.float().unfold(0, tau, 1)[:n]  # (N, tau)
    labels = x.float()[tau + horizon - 1 :]  # (N,)
    return features.contiguous(), labels.contiguous()


@dataclass(frozen=True)
class WindowSplit:
    """Train and validation windows whose *labels* never overlap (validation comes later in time).

    ``train_label_index``/``val_label_index`` are the positions in the series of each label.
    """

    train_features: torch.Tensor
    train_labels: torch.Tensor
    val_features: torch.Tensor
    val_labels: torch.Tensor
    train_label_index: torch.Tensor
    val_label_index: torch.Tensor


def split_windows(
    series: np.ndarray | torch.Tensor, tau: int, val_fraction: float = 0.2, horizon: int = 1
) -> WindowSplit:
    """Sliding windows split in time: labels before the cut train, labels from the cut on validate.

    The cut is at ``len(series) * (1 - val_fraction)``. A validation window may *read* values from
    before the cut (that is the past, known at forecast time), but no label is in both parts.
    """
    _checks.fraction("val_fraction", val_fraction)
    features, labels = sliding_windows(series, tau, horizon)
    label_index = torch.arange(len(labels)) + tau + horizon - 1
    series_length = len(features) + tau + horizon - 1
    cut = int(round(series_length * (1.0 - val_fraction)))
    train = label_index < cut
    if train.sum() < 1 or (~train).sum() < 1:
        raise ValueError(f"val_fraction={val_fraction} leaves an empty part for a series of length {len(labels)}")
    return WindowSplit(
        features[train], labels[train], features[~train], labels[~train], label_index[train], label_index[~train]
    )

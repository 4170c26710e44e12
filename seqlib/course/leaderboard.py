"""The course leaderboard: every language model of the course, scored on the same data the same way.

**Protocol** (every row must follow it, so the numbers compare):

- data: *The Time Machine* as lower-case letters and single spaces, one token per character
  (``seqlib.data.load_corpus("char")``: V = 28 ids, ``<unk>`` included though it never occurs);
- split: the first 90 % of the characters train, the last 10 % validate
  (``seqlib.data.split_sequence(corpus, 0.1)``: contiguous, no shared position);
- score: validation perplexity, exp(mean cross-entropy per predicted character).  A count model
  scores ``val[1:]`` (:meth:`seqlib.ngram.NGramLanguageModel.perplexity`); a neural model uses
  ``seqlib.language_models.evaluate_perplexity(model, split.val)``.  Lower is better; a uniform guess over the
  V ids scores V.
- params: the number of learned numbers (weights for a network; stored counts for an n-gram model).

Notebook 01 fills the first rows with :func:`ngram_rows`; later notebooks call it again (it is
deterministic and takes about a second) and add their own rows::

    board = Leaderboard(ngram_rows())
    board.add("RNN (H=256)", params, evaluate_perplexity(model, standard_split().val), notebook="02")
    board  # renders a table sorted by validation perplexity
"""

from __future__ import annotations

import functools
import html
import math
import numbers
from collections.abc import Iterable
from dataclasses import dataclass

import torch

from seqlib import _checks
from seqlib.data import Vocab, load_corpus, split_sequence
from seqlib.ngram import NGramLanguageModel

__all__ = [
    "StandardSplit",
    "standard_split",
    "LeaderboardRow",
    "Leaderboard",
    "ngram_rows",
    "ngram_name",
    "NGRAM_NAMES",
]

VAL_FRACTION = 0.1
NGRAM_NAMES = {1: "unigram", 2: "bigram (Markov)", 3: "trigram"}


@dataclass(frozen=True)
class StandardSplit:
    """The leaderboard's data: ``train`` and ``val`` are 1-D int64 id tensors over ``vocab``."""

    train: torch.Tensor
    val: torch.Tensor
    vocab: Vocab


@functools.lru_cache(maxsize=1)
def standard_split() -> StandardSplit:
    """The Time Machine's characters, first 90 % train, last 10 % validation (cached)."""
    corpus, vocab = load_corpus("char")
    train, val = split_sequence(corpus, VAL_FRACTION)
    return StandardSplit(train, val, vocab)


@dataclass(frozen=True)
class LeaderboardRow:
    """One model's entry: its name, its parameter count, its validation perplexity, a note."""

    name: str
    params: int
    val_perplexity: float
    notes: str = ""
    notebook: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"name must be a non-empty string, got {self.name!r}")
        if not isinstance(self.params, int) or isinstance(self.params, bool) or self.params < 0:
            raise ValueError(f"params must be a non-negative int, got {self.params!r}")
        if isinstance(self.val_perplexity, bool) or not (
            isinstance(self.val_perplexity, int | float) and self.val_perplexity >= 1.0
        ):
            raise ValueError(f"val_perplexity must be a number >= 1 (inf allowed), got {self.val_perplexity!r}")
        for field_name in ("notes", "notebook"):
            if not isinstance(getattr(self, field_name), str):
                raise ValueError(f"{field_name} must be a string, got {type(getattr(self, field_name)).__name__}")


class Leaderboard:
    """Rows of :class:`LeaderboardRow`, shown best first (lowest validation perplexity).

    ``print(board)`` gives a text table; in a notebook the board renders as an HTML table.
    Ties keep the order in which the rows were added.
    """

    COLUMNS = ("rank", "model", "params", "val ppl", "notebook", "notes")

    def __init__(self, rows: Iterable[LeaderboardRow] = ()) -> None:
        self._rows: list[LeaderboardRow] = []
        for row in rows:
            self._append(row)

    def _append(self, row: LeaderboardRow) -> None:
        if not isinstance(row, LeaderboardRow):
            raise TypeError(f"expected a LeaderboardRow, got {type(row).__name__}")
        if any(r.name == row.name for r in self._rows):
            raise ValueError(f"a row named {row.name!r} is already on the leaderboard")
        self._rows.append(row)

    def add(self, name: str, params: int, val_perplexity: float, notes: str = "", notebook: str = "") -> LeaderboardRow:
        """Add a row (names must be unique) and return it.

        ``params`` a whole number (an int, a NumPy integer, or a float such as ``1200.0`` that is one; never
        rounded: 1.5 is refused); ``val_perplexity`` a real number >= 1 (inf allowed), e.g. a float or a
        one-element tensor; ``notes`` and ``notebook`` strings."""
        params = _checks.whole_number("params", params)
        row = LeaderboardRow(name, params, _real("val_perplexity", val_perplexity), notes, notebook)
        self._append(row)
        return row

    @property
    def rows(self) -> list[LeaderboardRow]:
        """The rows, best (lowest validation perplexity) first."""
        return sorted(self._rows, key=lambda r: r.val_perplexity)

    def __len__(self) -> int:
        return len(self._rows)

    def __getitem__(self, name: str) -> LeaderboardRow:
        for row in self._rows:
            if row.name == name:
                return row
        raise KeyError(f"no row named {name!r}; rows: {', '.join(r.name for r in self._rows)}")

    def _cells(self) -> list[tuple[str, ...]]:
        def ppl(value: float) -> str:
            return "inf" if math.isinf(value) else f"{value:.3f}"

        return [
            (str(i), row.name, f"{row.params:,}", ppl(row.val_perplexity), row.notebook, row.notes)
            for i, row in enumerate(self.rows, start=1)
        ]

    def to_text(self) -> str:
        """The table as aligned plain text (numbers right-aligned)."""
        cells = [self.COLUMNS, *self._cells()]
        widths = [max(len(row[j]) for row in cells) for j in range(len(self.COLUMNS))]
        right = {0, 2, 3}
        lines = [
            "  ".join(
                c.rjust(w) if j in right else c.ljust(w) for j, (c, w) in enumerate(zip(row, widths, strict=True))
            )
            for row in cells
        ]
        lines.insert(1, "  ".join("-" * w for w in widths))
        return "\n".join(line.rstrip() for line in lines)

    def __str__(self) -> str:
        return self.to_text()

    def __repr__(self) -> str:
        return f"Leaderboard({len(self)} rows)\n{self.to_text()}"

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{html.escape(c)}</th>" for c in self.COLUMNS)
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>" for cells in self._cells()
        )
        caption = "Validation perplexity on The Time Machine (characters, last 10 %); lower is better"
        return (
            f'<table class="seqlib-leaderboard"><caption>{caption}</caption>'
            f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
        )


def _real(name: str, value: object) -> float:
    """``value`` as a float: a real number (not a bool or a string) or a one-element real tensor."""
    if isinstance(value, torch.Tensor) and value.numel() == 1 and value.is_floating_point():
        return float(value)
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a number, got {type(value).__name__} ({value!r})")
    return float(value)


def ngram_name(n: int) -> str:
    return NGRAM_NAMES.get(n, f"{n}-gram")


def ngram_rows(max_n: int = 5, smoothing: str = "interpolated", k: float = 1.0) -> list[LeaderboardRow]:
    """Leaderboard rows of the n-gram models, n = 1 … ``max_n``, fitted on the standard split.

    Deterministic (counting, no randomness); about a second for ``max_n=5``.
    """
    if not isinstance(max_n, int) or max_n < 1:
        raise ValueError(f"max_n must be a positive int, got {max_n!r}")
    split = standard_split()
    note = "Witten-Bell interpolated counts" if smoothing == "interpolated" else f"{smoothing} counts"
    if smoothing == "add-k":
        note = f"add-{k:g} smoothed counts"
    rows = []
    for n in range(1, max_n + 1):
        model = NGramLanguageModel(n, len(split.vocab), smoothing, k).fit(split.train)
        rows.append(LeaderboardRow(ngram_name(n), model.num_counts, model.perplexity(split.val), note, "01"))
    return rows

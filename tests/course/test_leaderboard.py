"""The course leaderboard: the standard split, rows, sorting, rendering, and the n-gram rows."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch

from seqlib.course.leaderboard import Leaderboard, LeaderboardRow, ngram_rows, standard_split
from seqlib.data import load_corpus


def test_standard_split_is_the_first_90_percent_and_the_last_10() -> None:
    split = standard_split()
    corpus, vocab = load_corpus("char")
    assert len(split.vocab) == len(vocab) == 28
    assert len(split.train) + len(split.val) == len(corpus)
    assert len(split.val) == pytest.approx(0.1 * len(corpus), abs=1)
    assert torch.equal(torch.cat([split.train, split.val]), corpus)
    assert standard_split() is split  # cached


def test_rows_are_sorted_by_validation_perplexity_and_names_are_unique() -> None:
    board = Leaderboard()
    board.add("b", 10, 5.0)
    board.add("a", 20, 3.0, notes="best")
    board.add("c", 0, math.inf)
    assert [r.name for r in board.rows] == ["a", "b", "c"] and len(board) == 3
    assert board["a"].notes == "best"
    with pytest.raises(ValueError, match="already on the leaderboard"):
        board.add("a", 1, 2.0)
    with pytest.raises(KeyError, match="no row named 'z'"):
        board["z"]


def test_row_values_are_checked() -> None:
    with pytest.raises(ValueError, match="val_perplexity"):
        LeaderboardRow("x", 1, 0.5)
    with pytest.raises(ValueError, match="params"):
        LeaderboardRow("x", -1, 2.0)
    with pytest.raises(ValueError, match="name"):
        LeaderboardRow("", 1, 2.0)
    with pytest.raises(TypeError, match="LeaderboardRow"):
        Leaderboard([("x", 1, 2.0)])


def test_text_and_html_tables() -> None:
    board = Leaderboard([LeaderboardRow("<rnn>", 12345, 3.14159, "a & b", "02")])
    board.add("never", 0, math.inf)
    lines = board.to_text().splitlines()
    assert lines[0].split() == ["rank", "model", "params", "val", "ppl", "notebook", "notes"]
    assert "12,345" in lines[2] and "3.142" in lines[2] and lines[3].split()[-1] == "inf"
    html = board._repr_html_()
    assert "&lt;rnn&gt;" in html and "a &amp; b" in html and html.count("<tr>") == 3
    assert repr(board).startswith("Leaderboard(2 rows)")


def test_ngram_rows_are_deterministic_and_pinned() -> None:
    rows = ngram_rows(max_n=3)
    assert [r.name for r in rows] == ["unigram", "bigram (Markov)", "trigram"]
    assert [round(r.val_perplexity, 3) for r in rows] == [16.720, 9.593, 6.371]
    assert [r.params for r in rows] == [27, 495, 4122]
    assert [r.val_perplexity for r in ngram_rows(max_n=3)] == [r.val_perplexity for r in rows]
    with pytest.raises(ValueError, match="max_n"):
        ngram_rows(max_n=0)


# --- bad input (issue 15): a count is never rounded, a perplexity is a number ---------------------------


@pytest.mark.parametrize(
    "params,message",
    [(1.5, "params must be a whole number (a count), got 1.5: it is never rounded"),
     ("12", "params must be a whole number, got str ('12')"), (True, "params must be a whole number, got bool"),
     (float("nan"), "params must be a whole number (a count), got nan"), (None, "params must be a whole number")],
)
def test_add_refuses_params_that_are_not_a_whole_number(params, message) -> None:
    board = Leaderboard()
    with pytest.raises(ValueError, match=re.escape(message)):
        board.add("m", params, 3.0)
    assert len(board) == 0


def test_add_takes_whole_numbers_and_one_element_tensors() -> None:
    board = Leaderboard()
    assert board.add("a", 1200.0, torch.tensor(3.5)).params == 1200
    assert board.add("b", np.int64(7), np.float64(4.0)).val_perplexity == 4.0
    for value, message in [("3.0", "val_perplexity must be a number, got str"), (True, "got bool"),
                           (float("nan"), "val_perplexity must be a number >= 1 (inf allowed), got nan")]:
        with pytest.raises(ValueError, match=re.escape(message)):
            board.add("c", 1, value)
    with pytest.raises(ValueError, match="notes must be a string, got int"):
        board.add("d", 1, 3.0, notes=5)

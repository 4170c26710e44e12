"""The shipped data load as expected, and every kind of damaged file gets its own clear error."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from seqlib import data
from seqlib.data import DataFileError

LOADERS = {
    "timemachine.txt": data.load_time_machine,
    "sunspots_yearly.csv": data.load_sunspots_yearly,
    "sunspots_monthly.dat": data.load_sunspots_monthly,
    "co2_weekly.csv": data.load_co2_weekly,
}
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


# --- the good files ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(data.CHECKSUMS))
def test_shipped_file_matches_recorded_checksum(name: str) -> None:
    raw = (data.DATA_DIR / name).read_bytes()
    size, sha = data.CHECKSUMS[name]
    assert (len(raw), hashlib.sha256(raw).hexdigest()) == (size, sha)


@pytest.mark.skipif(not SHARED.is_dir(), reason="the shared source folder is not on this machine")
@pytest.mark.parametrize("name", sorted(data.CHECKSUMS))
def test_shipped_file_is_byte_identical_to_source(name: str) -> None:
    assert (data.DATA_DIR / name).read_bytes() == (SHARED / name).read_bytes()


def test_time_machine_has_no_bom_header_or_footer() -> None:
    text = data.load_time_machine()
    assert text.startswith("The Time Machine") and not text.startswith("\ufeff")
    assert "Gutenberg" not in text and "*** START" not in text and "*** END" not in text
    assert text.rstrip().endswith("still lived on in the heart of man.")


def test_clean_letters_keeps_lowercase_letters_and_single_spaces() -> None:
    assert data.clean_letters("The  Time-Machine, 1895!\nBy H.G.") == "the time machine by h g"
    corpus, vocab = data.load_corpus("char")
    assert set(vocab.idx_to_token) == {"<unk>", " "} | set("abcdefghijklmnopqrstuvwxyz")
    assert len(corpus) == 174215


def test_tokenize_chars_and_words() -> None:
    assert data.tokenize("ab c", "char") == ["a", "b", " ", "c"]
    assert data.tokenize("ab  c\nd", "word") == ["ab", "c", "d"]
    with pytest.raises(ValueError, match="token must be 'char' or 'word', got 'line'"):
        data.tokenize("x", "line")


def test_vocab_orders_by_frequency_and_round_trips() -> None:
    tokens = list("the time traveller")
    vocab = data.Vocab(tokens, reserved_tokens=["<pad>", "<bos>"])
    assert vocab.idx_to_token[:4] == ["<unk>", "<pad>", "<bos>", "e"]  # 'e' is the most frequent
    assert vocab.token_freqs[0] == ("e", 4)
    ids = vocab.encode(tokens)
    assert "".join(vocab.decode(ids)) == "the time traveller"
    assert vocab["z"] == vocab.unk == 0 and vocab.to_tokens(vocab.unk) == "<unk>"
    assert vocab.decode(torch.tensor(ids[:3])) == ["t", "h", "e"]


def test_vocab_min_freq_and_bad_arguments() -> None:
    vocab = data.Vocab(list("aaabbc"), min_freq=2)
    assert vocab.idx_to_token == ["<unk>", "a", "b"] and vocab["c"] == vocab.unk
    with pytest.raises(ValueError, match="min_freq"):
        data.Vocab([], min_freq=-1)
    with pytest.raises(ValueError, match="reserved_tokens"):
        data.Vocab([], reserved_tokens=["<unk>"])
    with pytest.raises(ValueError, match=r"ids must lie in \[0, 3\), got 7"):
        vocab.to_tokens(7)


def test_word_vocab_of_the_book() -> None:
    corpus, vocab = data.load_corpus("word")
    assert len(corpus) == 32895 and vocab.idx_to_token[1:4] == ["the", "i", "and"]


def test_sunspots_yearly() -> None:
    s = data.load_sunspots_yearly()
    assert len(s) == 309 and str(s.dates[0]) == "1700" and str(s.dates[-1]) == "2008"
    assert s.values[:3].tolist() == [5.0, 11.0, 16.0] and not s.filled.any()


def test_sunspots_monthly_handles_blank_rule_and_note_lines() -> None:
    s = data.load_sunspots_monthly()
    assert str(s.dates[0]) == "1749-01" and str(s.dates[-1]) == "2009-06"  # the last row stops in June
    assert len(s) == (2008 - 1749 + 1) * 12 + 6
    assert s.values[:3].tolist() == [58.0, 62.6, 70.0]
    assert np.all(np.diff(s.dates.astype(int)) == 1)  # every month, none skipped
    assert any("February 1824" in note for note in s.notes) and "preliminary" in s.notes[-1]


@pytest.mark.parametrize(
    ("missing", "length", "nans"), [("interpolate", 2284, 0), ("nan", 2284, 59), ("drop", 2225, 0)]
)
def test_co2_missing_weeks(missing: str, length: int, nans: int) -> None:
    s = data.load_co2_weekly(missing=missing)
    assert len(s) == length and int(np.isnan(s.values).sum()) == nans
    assert str(s.dates[0]) == "1958-03-29"
    if missing == "interpolate":
        assert s.filled.sum() == 59
        i = int(np.flatnonzero(s.filled)[0])  # 1958-05-10, between 317.5 (05-03) and 315.9 (05-17)?
        lo, hi = sorted((s.values[i - 1], s.values[i + 1]))
        assert lo <= s.values[i] <= hi or s.filled[i + 1]


def test_co2_rejects_unknown_missing_policy() -> None:
    with pytest.raises(ValueError, match="missing must be 'interpolate', 'nan' or 'drop', got 'zero'"):
        data.load_co2_weekly(missing="zero")


# --- damaged copies ---------------------------------------------------------------------------


def _copy(tmp_path: Path, name: str) -> Path:
    dst = tmp_path / name
    shutil.copyfile(data.DATA_DIR / name, dst)
    return dst


@pytest.mark.parametrize("name", sorted(LOADERS))
def test_missing_file_names_the_file(tmp_path: Path, name: str) -> None:
    with pytest.raises(DataFileError, match=f"{name}: data file not found") as err:
        LOADERS[name](tmp_path / name)
    assert err.value.kind == "missing"


@pytest.mark.parametrize("name", sorted(LOADERS))
def test_empty_file(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"")
    with pytest.raises(DataFileError, match="is empty") as err:
        LOADERS[name](path)
    assert err.value.kind == "empty" and err.value.path == path


@pytest.mark.parametrize("name", sorted(LOADERS))
def test_truncated_file(tmp_path: Path, name: str) -> None:
    path = _copy(tmp_path, name)
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) * 2 // 3])
    with pytest.raises(DataFileError, match="truncated") as err:
        LOADERS[name](path)
    assert err.value.kind == "truncated" and name in str(err.value)


@pytest.mark.parametrize("name", sorted(LOADERS))
def test_one_byte_changed(tmp_path: Path, name: str) -> None:
    path = _copy(tmp_path, name)
    raw = bytearray(path.read_bytes())
    at = raw.rindex(b"5", 0, len(raw) // 2)  # a digit or letter in the middle stays parseable
    raw[at : at + 1] = b"6"
    path.write_bytes(bytes(raw))
    with pytest.raises(DataFileError, match=r"altered: SHA-256 [0-9a-f]{16}… \(\d+ bytes\), expected") as err:
        LOADERS[name](path)
    assert err.value.kind == "altered"
    LOADERS[name](path, verify=False)  # the content itself still parses


def test_altered_file_can_be_read_without_verification(tmp_path: Path) -> None:
    path = _copy(tmp_path, "sunspots_yearly.csv")
    path.write_text(path.read_text().replace("1700,5\n", "1700,7\n"))
    assert data.load_sunspots_yearly(path, verify=False).values[0] == 7.0


@pytest.mark.parametrize(
    ("name", "old", "new", "line", "message"),
    [
        ("sunspots_yearly.csv", '"YEAR","SUNACTIVITY"', '"YEAR","SUNSPOTS"', 1, "expected columns YEAR,SUNACTIVITY"),
        ("sunspots_yearly.csv", "1703,23\n", "1703,23,4\n", 5, "expected 2 columns, found 3"),
        ("sunspots_yearly.csv", "1703,23\n", "1703,abc\n", 5, "could not read SUNACTIVITY 'abc' as a number"),
        ("sunspots_yearly.csv", "1703,23\n", "1703,nan\n", 5, "SUNACTIVITY is 'nan', expected a finite number"),
        ("sunspots_yearly.csv", "1703,23\n", "1803,23\n", 5, "year 1803 does not follow 1702"),
        ("co2_weekly.csv", "date,co2", "day,co2", 1, "expected columns date,co2"),
        ("co2_weekly.csv", "19580405,317.3", "1958-04-05,317.3", 3, "date '1958-04-05' is not YYYYMMDD"),
        ("co2_weekly.csv", "19580405,317.3", "19580405;317.3", 3, "expected 2 columns, found 1"),
        ("co2_weekly.csv", "19580405,317.3", "19580231,317.3", 3, "not a calendar date"),
        ("co2_weekly.csv", "19580405,317.3", "19580322,317.3", 3, "is not after the previous row"),
        ("sunspots_monthly.dat", "Year    Jan", "Yr      Jan", 1, "no 'Year Jan Feb …' header line"),
        ("sunspots_monthly.dat", "1752    35.0  50.0", "1752    35.0", 9, "expected 12 monthly values, found 11"),
        ("sunspots_monthly.dat", "1752    35.0  50.0", "1752    35.0  x0.0", 9, "could not read 1752 value 'x0.0'"),
        ("sunspots_monthly.dat", "1752    35.0", "Bogus   35.0", 9, "expected a row starting with a year"),
        ("sunspots_monthly.dat", "1752    35.0", "1753    35.0", 9, "year 1753 does not follow 1751"),
        ("timemachine.txt", "*** START OF THE", "*** BEGIN OF THE", 1, "no line starting with '*** START"),
        ("timemachine.txt", "*** END OF THE", "*** FIN OF THE", 3557, "no line starting with '*** END"),
    ],
)
def test_malformed_file_names_file_and_line(
    tmp_path: Path, name: str, old: str, new: str, line: int, message: str
) -> None:
    path = _copy(tmp_path, name)
    text = path.read_bytes().decode("utf-8")
    assert old in text
    path.write_bytes(text.replace(old, new, 1).encode("utf-8"))
    with pytest.raises(DataFileError) as err:
        LOADERS[name](path)
    assert err.value.line == line and message in str(err.value)
    assert str(err.value).startswith(f"{path}, line {line}: ")


def test_invalid_utf8_names_the_line(tmp_path: Path) -> None:
    path = _copy(tmp_path, "sunspots_yearly.csv")
    path.write_bytes(path.read_bytes().replace(b"1702,16", b"1702,\xff6", 1))
    with pytest.raises(DataFileError, match=r"line 4: not valid UTF-8") as err:
        data.load_sunspots_yearly(path)
    assert err.value.kind == "malformed"


def test_damaged_kinds_give_distinct_messages(tmp_path: Path) -> None:
    """One file, every kind of damage: each error says something different."""
    name = "sunspots_yearly.csv"
    messages = {}
    for kind, damage in {
        "missing": lambda p: p.unlink(),
        "empty": lambda p: p.write_bytes(b""),
        "truncated": lambda p: p.write_bytes(p.read_bytes()[:1000].rsplit(b"\n", 1)[0] + b"\n"),
        "altered": lambda p: p.write_bytes(p.read_bytes().replace(b"1700,5", b"1700,6")),
        "malformed": lambda p: p.write_bytes(p.read_bytes().replace(b"1700,5", b"1700;5")),
    }.items():
        path = _copy(tmp_path, name)
        damage(path)
        with pytest.raises(DataFileError) as err:
            data.load_sunspots_yearly(path)
        assert err.value.kind == kind
        messages[kind] = str(err.value).replace(str(path), "")
    assert len(set(messages.values())) == 5


# --- batches and windows ----------------------------------------------------------------------


def test_split_sequence_is_contiguous_and_disjoint() -> None:
    seq = torch.arange(100)
    train, val = data.split_sequence(seq, 0.1)
    assert (len(train), len(val)) == (90, 10)
    assert torch.equal(torch.cat([train, val]), seq)
    with pytest.raises(ValueError, match="val_fraction must lie strictly between 0 and 1, got 1.5"):
        data.split_sequence(seq, 1.5)
    with pytest.raises(ValueError, match=r"seq must be 1-D, got shape \(2, 50\)"):
        data.split_sequence(seq.reshape(2, 50))


@pytest.mark.parametrize("sequential", [True, False])
def test_lm_batches_shapes_and_shift(sequential: bool) -> None:
    corpus = torch.arange(1000)
    batches = data.lm_batches(corpus, 4, 7, sequential=sequential, generator=torch.Generator().manual_seed(1))
    pairs = list(batches)
    assert len(pairs) == len(batches) > 0
    for X, Y in pairs:
        assert X.shape == Y.shape == (4, 7) and X.dtype == torch.long
        assert torch.equal(Y, X + 1)  # Y is X shifted by one token
    starts = torch.cat([X[:, 0] for X, _ in pairs])
    assert len(set(starts.tolist())) == len(starts)  # no subsequence is seen twice


def test_sequential_batches_continue_row_by_row() -> None:
    corpus = torch.arange(1000)
    pairs = list(data.lm_batches(corpus, 3, 5, sequential=True, generator=torch.Generator().manual_seed(0)))
    for (X0, _), (X1, _) in zip(pairs, pairs[1:], strict=False):
        assert torch.equal(X1[:, 0], X0[:, -1] + 1)  # row b of batch i+1 starts where row b of batch i ended


def test_random_offsets_vary_between_epochs() -> None:
    batches = data.lm_batches(torch.arange(1000), 2, 10, generator=torch.Generator().manual_seed(0))
    firsts = {int(next(iter(batches))[0][0, 0]) for _ in range(20)}
    assert len(firsts) > 1 and all(0 <= f < 10 for f in firsts)


def test_lm_batches_bad_arguments() -> None:
    with pytest.raises(ValueError, match="batch_size must be a positive int, got 0"):
        data.lm_batches(torch.arange(100), 0, 5)
    with pytest.raises(ValueError, match="too short for batch_size=10 and num_steps=10"):
        data.lm_batches(torch.arange(100), 10, 10)
    with pytest.raises(ValueError, match="corpus must be 1-D"):
        data.lm_batches(torch.zeros(3, 100, dtype=torch.long), 2, 2)


def test_sliding_windows_features_and_labels() -> None:
    series = np.arange(10.0)
    X, y = data.sliding_windows(series, tau=3)
    assert X.shape == (7, 3) and y.shape == (7,)
    assert X[0].tolist() == [0, 1, 2] and y[0] == 3  # the label is the value after the window
    X4, y4 = data.sliding_windows(series, tau=3, horizon=4)
    assert X4.shape == (4, 3) and X4[0].tolist() == [0, 1, 2] and y4[0] == 6
    with pytest.raises(ValueError, match="tau must be a positive int, got 0"):
        data.sliding_windows(series, 0)
    with pytest.raises(ValueError, match="too short for tau=9 and horizon=2"):
        data.sliding_windows(series, 9, 2)


def test_window_split_labels_never_overlap() -> None:
    values = data.load_sunspots_yearly().values
    split = data.split_windows(values, tau=5, val_fraction=0.2)
    train_idx, val_idx = set(split.train_label_index.tolist()), set(split.val_label_index.tolist())
    assert not train_idx & val_idx and max(train_idx) < min(val_idx)
    assert len(train_idx) + len(val_idx) == len(values) - 5
    assert torch.allclose(split.val_labels, torch.tensor(values, dtype=torch.float32)[split.val_label_index])


# --- bad input (issue 15): every loader and helper ends in a clear message ------------------------------


@pytest.mark.parametrize("name", sorted(LOADERS))
def test_a_directory_is_a_data_file_error_not_is_a_directory_error(tmp_path: Path, name: str) -> None:
    with pytest.raises(DataFileError, match="this is a directory, not a data file") as err:
        LOADERS[name](tmp_path)
    assert err.value.kind == "missing" and err.value.path == tmp_path


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads any file")
def test_an_unreadable_file_is_a_data_file_error(tmp_path: Path) -> None:
    path = _copy(tmp_path, "co2_weekly.csv")
    path.chmod(0)
    with pytest.raises(DataFileError, match="data file cannot be read") as err:
        data.load_co2_weekly(path)
    assert err.value.kind == "unreadable"


def test_a_path_of_the_wrong_type_is_named() -> None:
    with pytest.raises(TypeError, match="path must be a str or a pathlib.Path"):
        data.load_sunspots_yearly(3)


@pytest.mark.parametrize("missing", ["interpolate", "nan", "drop"])
def test_a_co2_file_with_every_value_missing_says_so(tmp_path: Path, missing: str) -> None:
    path = tmp_path / "co2.csv"
    path.write_text("date,co2\n19580329,\n19580405,\n19580412,\n")
    with pytest.raises(DataFileError, match=re.escape("line 2: every co2 value is missing (3 rows, all empty)")) as err:
        data.load_co2_weekly(path, missing=missing, verify=False)
    assert err.value.kind == "malformed"


def test_a_fractional_year_is_malformed_not_truncated(tmp_path: Path) -> None:
    path = tmp_path / "sun.csv"
    path.write_text("YEAR,SUNACTIVITY\n1700,5\n1701.5,11\n")
    with pytest.raises(DataFileError, match=re.escape("line 3: YEAR '1701.5' is not a whole year")):
        data.load_sunspots_yearly(path, verify=False)
    path.write_text("YEAR,SUNACTIVITY\n1700.0,5\n1701,11\n")  # a whole year written as a float is fine
    assert data.load_sunspots_yearly(path, verify=False).dates.astype(int).tolist() == [-270, -269]


def test_vocab_refuses_ids_where_tokens_belong_and_the_reverse() -> None:
    vocab = data.Vocab(list("hello world"))
    with pytest.raises(TypeError, match=re.escape("Vocab[...] takes a token (str) or a list of tokens, got int (3); "
                                                  "to turn ids into tokens use vocab.to_tokens(ids)")):
        vocab[3]
    with pytest.raises(TypeError, match="got Tensor"):
        vocab[torch.tensor([1, 2])]
    with pytest.raises(TypeError, match="Vocab"):
        vocab[["h", 2]]
    for ids in (2.0, True, "2", None, torch.tensor([1.0]), np.array([0.5])):
        with pytest.raises(TypeError, match="ids must"):
            vocab.to_tokens(ids)
    with pytest.raises(ValueError, match=re.escape(f"ids must lie in [0, {len(vocab)}), got 99")):
        vocab.to_tokens(np.int64(99))


def test_vocab_takes_numpy_and_tensor_ids_of_any_integer_kind() -> None:
    vocab = data.Vocab(list("hello world"))
    token = vocab.idx_to_token[2]
    for one in (2, np.int64(2), np.int32(2), torch.tensor(2), torch.tensor(2, dtype=torch.int32)):
        assert vocab.to_tokens(one) == token and vocab.decode(one) == [token]
    assert vocab.to_tokens(np.array([2, 3])) == [token, vocab.idx_to_token[3]]


def test_a_word_vocabulary_decodes_a_single_id_to_one_word() -> None:
    words = data.Vocab("the time machine the time".split())
    assert words.decode(torch.tensor(1)) == ["the"]  # not ['t', 'h', 'e']
    assert words.decode(np.int64(1)) == ["the"] and words.decode(1) == ["the"]
    assert words.decode(torch.tensor([1, 2])) == ["the", "time"]


@pytest.mark.parametrize("max_tokens", [-5, 0, 2.5, True, "10"])
def test_load_corpus_refuses_a_bad_max_tokens(max_tokens) -> None:
    with pytest.raises(ValueError, match=re.escape(f"max_tokens must be a positive int, got {max_tokens!r}")):
        data.load_corpus(max_tokens=max_tokens)


def test_load_corpus_refuses_an_unknown_token_kind_before_reading() -> None:
    with pytest.raises(ValueError, match="token must be 'char' or 'word', got 'words'"):
        data.load_corpus("words", path="/nonexistent/file.txt")


def test_lm_batches_takes_a_list_of_ids_and_refuses_anything_but_integers() -> None:
    batches = data.lm_batches(list(range(100)), 2, 5)
    assert batches.corpus.dtype == torch.long and next(iter(batches))[0].shape == (2, 5)
    assert next(iter(data.lm_batches(np.arange(100), 2, 5)))[0].dtype == torch.long
    for corpus, message in [(torch.rand(100), "corpus must hold integer token ids, got dtype torch.float32"),
                            ([0.5] * 100, "corpus must be a 1-D sequence of token ids (ints), got list of float64"),
                            (torch.ones(100, dtype=torch.bool), "corpus must hold integer token ids")]:
        with pytest.raises(ValueError, match=re.escape(message)):
            data.lm_batches(corpus, 2, 5)


def test_sliding_windows_names_a_series_that_is_not_numbers() -> None:
    with pytest.raises(ValueError, match=re.escape("series must be a 1-D sequence of numbers, got list")):
        data.sliding_windows(["a", "b", "c"], 1)
    with pytest.raises(ValueError, match="series must hold real numbers"):
        data.sliding_windows(torch.tensor([True, False, True]), 1)

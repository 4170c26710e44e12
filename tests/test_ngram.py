"""n-gram language models: counts, the three smoothings by hand, perplexity, sparsity, sampling; the explorer."""

from __future__ import annotations

import collections
import math

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from seqlib.course.leaderboard import standard_split  # noqa: E402
from seqlib.ngram import NGramLanguageModel  # noqa: E402

TRAIN = [0, 1, 2, 1, 0, 1, 2, 2, 1, 0, 2]  # V = 4: token 3 never occurs
V = 4


def _bigram_counts(ids):
    return collections.Counter(zip(ids[:-1], ids[1:], strict=True))


def test_counts_match_a_brute_force_count() -> None:
    model = NGramLanguageModel(3, V, "none").fit(TRAIN)
    trigrams = collections.Counter(zip(TRAIN, TRAIN[1:], TRAIN[2:], strict=False))
    assert model.num_ngrams == len(trigrams)
    assert model.num_counts == len(set(TRAIN)) + len(_bigram_counts(TRAIN)) + len(trigrams)


def test_unsmoothed_bigram_is_the_count_ratio_and_unseen_is_infinite() -> None:
    model = NGramLanguageModel(2, V, "none").fit(TRAIN)
    pairs = _bigram_counts(TRAIN)
    prev_total = collections.Counter(TRAIN[:-1])
    expected = [pairs[(1, w)] / prev_total[1] for w in range(V)]
    assert np.allclose(model.next_token_distribution([0, 1]).numpy(), expected)
    assert model.next_token_distribution([3]).sum() == 0  # unseen context: no distribution
    assert model.perplexity([0, 1, 2, 1]) < math.inf
    assert model.perplexity([0, 1, 0, 0]) == math.inf  # (0, 0) never seen
    assert model.unseen_fraction([0, 1, 0, 0]) == pytest.approx(1 / 3)


def test_add_k_formula_by_hand_and_rows_sum_to_one() -> None:
    model = NGramLanguageModel(2, V, "add-k", k=0.5).fit(TRAIN)
    pairs, prev_total = _bigram_counts(TRAIN), collections.Counter(TRAIN[:-1])
    for context in range(V):
        expected = [(pairs[(context, w)] + 0.5) / (prev_total[context] + 0.5 * V) for w in range(V)]
        assert np.allclose(model.next_token_distribution([context]).numpy(), expected)
    unigram = NGramLanguageModel(1, V, "add-k", k=1.0).fit(TRAIN)
    counts = collections.Counter(TRAIN)
    assert np.allclose(unigram.next_token_distribution([2, 1]).numpy(), [(counts[w] + 1) / (11 + 4) for w in range(V)])


def test_interpolated_witten_bell_by_hand() -> None:
    model = NGramLanguageModel(2, V, "interpolated").fit(TRAIN)
    counts = collections.Counter(TRAIN)
    distinct = len(counts)  # 3 tokens seen
    p1 = np.array([(counts[w] + distinct / V) / (len(TRAIN) + distinct) for w in range(V)])
    pairs, prev_total = _bigram_counts(TRAIN), collections.Counter(TRAIN[:-1])
    followers = len([w for w in range(V) if pairs[(2, w)]])
    p2 = np.array([(pairs[(2, w)] + followers * p1[w]) / (prev_total[2] + followers) for w in range(V)])
    assert np.allclose(model.next_token_distribution([2]).numpy(), p2)
    assert np.allclose(model.next_token_distribution([3]).numpy(), p1)  # unseen context: the order below


@pytest.mark.parametrize("smoothing", ["add-k", "interpolated"])
@pytest.mark.parametrize("n", [1, 2, 4])
def test_distributions_sum_to_one_and_perplexity_agrees_with_them(smoothing: str, n: int) -> None:
    model = NGramLanguageModel(n, V, smoothing).fit(TRAIN)
    seq = [2, 1, 3, 0, 0, 1, 2]
    logs = []
    for t in range(1, len(seq)):
        p = model.next_token_distribution(seq[max(0, t - n + 1) : t] if n > 1 else [])
        assert p.sum().item() == pytest.approx(1.0)
        logs.append(math.log(p[seq[t]].item()))
    assert np.allclose(model.token_probabilities(seq), np.exp(logs))
    assert model.perplexity(seq) == pytest.approx(math.exp(-np.mean(logs)))


def test_longer_contexts_than_the_sequence_start_use_lower_orders() -> None:
    model = NGramLanguageModel(3, V, "add-k").fit(TRAIN)
    bigram = NGramLanguageModel(2, V, "add-k").fit(TRAIN)
    # the first scored token has one token of context: the trigram model uses its bigram counts
    assert model.token_probabilities([1, 2, 0])[0] == pytest.approx(bigram.token_probabilities([1, 2])[0])


def test_unigram_mle_perplexity_on_its_training_text_is_exp_entropy() -> None:
    model = NGramLanguageModel(1, V, "none").fit(TRAIN)
    freqs = np.array([TRAIN.count(w) for w in range(3)]) / len(TRAIN)
    p = freqs[np.array(TRAIN[1:])]
    assert model.perplexity(TRAIN) == pytest.approx(math.exp(-np.log(p).mean()))


def test_accepts_tensors_and_arrays() -> None:
    a = NGramLanguageModel(2, V).fit(torch.tensor(TRAIN))
    b = NGramLanguageModel(2, V).fit(np.array(TRAIN))
    assert a.perplexity(torch.tensor([0, 1, 2])) == b.perplexity([0, 1, 2])


def test_sample_is_reproducible_and_stays_in_the_vocabulary() -> None:
    model = NGramLanguageModel(3, V, "add-k").fit(TRAIN)
    a, b = model.sample([0, 1], 30, seed=4), model.sample([0, 1], 30, seed=4)
    assert a == b and len(a) == 30 and all(0 <= t < V for t in a)
    assert model.sample([0, 1], 30, seed=5) != a
    dead_end = NGramLanguageModel(2, V, "none").fit(TRAIN)
    with pytest.raises(ValueError, match="never seen in training"):
        dead_end.sample([3], 1)


def test_errors_are_clear() -> None:
    with pytest.raises(ValueError, match="n must be a positive int"):
        NGramLanguageModel(0, V)
    with pytest.raises(ValueError, match="smoothing must be one of"):
        NGramLanguageModel(2, V, "kneser-ney")
    with pytest.raises(ValueError, match="k > 0"):
        NGramLanguageModel(2, V, "add-k", k=0)
    for k in (float("inf"), float("nan"), True, "1"):  # inf would give every n-gram the same probability silently
        with pytest.raises(ValueError, match=f"add-k smoothing needs a finite k > 0, got {k!r}"):
            NGramLanguageModel(2, V, "add-k", k=k)
    with pytest.raises(ValueError, match="64-bit"):
        NGramLanguageModel(20, 5000)
    with pytest.raises(ValueError, match="not been fitted"):
        NGramLanguageModel(2, V).perplexity([0, 1])
    model = NGramLanguageModel(2, V).fit(TRAIN)
    with pytest.raises(ValueError, match=r"must lie in \[0, 4\)"):
        model.perplexity([0, 7])
    with pytest.raises(ValueError, match="at least 2 tokens"):
        model.perplexity([1])
    with pytest.raises(ValueError, match="1-D"):
        model.fit([[0, 1], [1, 0]])
    with pytest.raises(ValueError, match="at least n=3"):
        NGramLanguageModel(3, V).fit([0, 1])


def test_on_the_time_machine_more_context_helps_then_sparsity_hurts() -> None:
    split = standard_split()
    val = {}
    for n in (1, 2, 3, 5, 8):
        model = NGramLanguageModel(n, len(split.vocab), "interpolated").fit(split.train)
        val[n] = model.perplexity(split.val)
    assert val[1] > val[2] > val[3] > val[5] and val[8] > val[5]
    unsmoothed = NGramLanguageModel(4, len(split.vocab), "none").fit(split.train)
    assert unsmoothed.perplexity(split.val) == math.inf and 0.02 < unsmoothed.unseen_fraction(split.val) < 0.05



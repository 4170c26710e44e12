"""Notebook 06's course module: path counts, the pen example, the √d_k measurements and their widget, the
trained lookup's measurements and its widget, and what is particular to its exercises."""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import seqlib  # noqa: E402
from seqlib.attention_tasks import parse_lookup  # noqa: E402
from seqlib.course import nb06_attention as nb06  # noqa: E402
from seqlib.course.checker import EXERCISES  # noqa: E402

NAMES = sorted(name for name in EXERCISES if name.startswith("06."))


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def run() -> nb06.LookupRun:
    return nb06.train_lookup_runs(seeds=(0,), steps=200)[0]


@pytest.fixture(scope="module")
def models(run: nb06.LookupRun) -> dict:
    return {"trained": run.trained, "untrained": run.untrained}


def test_notebook_06_has_its_four_exercises() -> None:
    assert NAMES == ["06.attention", "06.right_key_matrix", "06.score_matrix", "06.weight_entropy"]


# The reference, the stub, every named mistake and the solution are checked for every registered
# exercise in tests/course/test_checker.py; this file pins what is particular to notebook 06.


# --- 1 · paths ---------------------------------------------------------------------------------------


def test_products_on_path_counts_the_longest_chain_of_products() -> None:
    x = torch.randn(2, 3, requires_grad=True)
    other = torch.randn(3, requires_grad=True)
    W1, W2 = torch.randn(3, 4), torch.randn(4, 4)
    once = x @ W1
    assert nb06.products_on_path(once, x) == 1
    assert nb06.products_on_path(once @ W2, x) == 2
    assert nb06.products_on_path(torch.tanh(once) + (once @ W2), x) == 2  # the longer of two paths
    assert nb06.products_on_path(x.sum(), x) == 0 and nb06.products_on_path(x, x) == 0
    assert nb06.products_on_path(once, other) is None and nb06.products_on_path(torch.ones(2), x) is None
    with pytest.raises(ValueError, match="leaf tensor"):
        nb06.products_on_path(once, once)


def test_the_rnn_path_grows_with_the_distance_attention_does_not() -> None:
    paths = nb06.path_lengths(5)
    for i in range(5):
        for j in range(5):
            assert paths.rnn[i, j] == (i - j + 2 if j <= i else -1)
    assert (paths.attention == 3).all()
    assert nb06.path_lengths(1).rnn.tolist() == [[2]]
    with pytest.raises(ValueError, match="length must be a positive int"):
        nb06.path_lengths(0)


def test_product_counts_of_a_whole_sequence() -> None:
    counts = nb06.product_counts(10)
    assert counts == nb06.ProductCounts(10, 20, 11, 5, 3, 100)
    assert nb06.product_counts(200).rnn_longest == 201  # deeper than Python's recursion limit would allow


def test_count_table_and_path_figure() -> None:
    table = nb06.format_counts(nb06.path_lengths(3).rnn)
    assert table.splitlines() == ["    x_1 x_2 x_3", "o_1   2   ·   ·", "o_2   3   2   ·", "o_3   4   3   2"]
    fig, ax = plt.subplots()
    nb06.plot_path_lengths(ax, nb06.path_lengths(4))
    assert ax.get_xlabel() and ax.get_ylabel() and len(ax.get_lines()) == 2
    plt.close(fig)


# --- 2 · the pen example -------------------------------------------------------------------------------


def test_pen_example_gives_the_numbers_the_notebook_checks_by_hand() -> None:
    pen = nb06.pen_attention(nb06.pen_example())
    assert pen.trace.scores.tolist() == [[2.0, 4.0, 3.0], [6.0, 0.0, 2.0], [4.0, 2.0, 3.0]]
    assert pen.trace.scaled_scores.tolist() == [[1.0, 2.0, 1.5], [3.0, 0.0, 1.0], [2.0, 1.0, 1.5]]
    e = [math.exp(1), math.exp(2), math.exp(1.5)]
    torch.testing.assert_close(pen.trace.weights[0], torch.tensor([v / sum(e) for v in e]))
    torch.testing.assert_close(pen.trace.output[0], torch.tensor([0.6798, 1.5065]), atol=1e-4, rtol=0)
    assert pen.trace.output.shape == (3, 2) and pen.Q.shape == (3, 4)  # d_v = 2, d_k = 4
    torch.testing.assert_close(F.scaled_dot_product_attention(pen.Q, pen.K, pen.V), pen.trace.output)


def test_format_matrix_labels_rows_and_columns() -> None:
    text = nb06.format_matrix(torch.tensor([[1.0, 0.5], [0.25, 2.0]]), ["a", "bb"], ["x", "y"], 2)
    assert text.splitlines() == ["       x    y", " a  1.00 0.50", "bb  0.25 2.00"]
    with pytest.raises(ValueError, match="2 row labels for 1 rows"):
        nb06.format_matrix(torch.zeros(1, 2), ["a", "b"])


# --- 3 · √d_k ------------------------------------------------------------------------------------------


def test_weight_entropy_is_zero_one_hot_log_s_uniform_and_never_nan() -> None:
    weights = torch.tensor([[1.0, 0.0, 0.0, 0.0], [0.25] * 4, [0.5, 0.5, 0.0, 0.0]])
    torch.testing.assert_close(nb06.weight_entropy(weights), torch.tensor([0.0, math.log(4), math.log(2)]))


def test_scaling_keeps_the_spread_and_the_entropy_unscaled_collapses() -> None:
    small, large = nb06.scaling_stats(1, num_queries=300), nb06.scaling_stats(256, num_queries=300)
    assert small.entropy_unscaled == small.entropy_scaled and small.weights_scaled.shape == (300, 8)
    assert abs(large.std_unscaled / 16 - 1) < 0.1 and abs(large.std_scaled - 1) < 0.1
    assert large.entropy_unscaled < 0.3 < 1.5 < large.entropy_scaled < math.log(8)
    assert large.max_weight_unscaled > 0.85 and large.slope_unscaled < 0.3 * large.slope_scaled
    one = nb06.scaling_stats(8, num_keys=1, num_queries=10)
    assert one.entropy_unscaled == one.entropy_scaled == 0.0 and one.uniform_entropy == 0.0
    for bad in [{"d_k": 0}, {"d_k": 1.5}, {"num_keys": 0}, {"num_queries": True}]:
        with pytest.raises(ValueError, match="must be an int from 1"):
            nb06.scaling_stats(**({"d_k": 4} | bad))


def test_scaling_figures_and_widget() -> None:
    curve = nb06.scaling_curve((1, 4, 16), num_queries=50)
    fig, axes = plt.subplots(1, 3)
    nb06.plot_scaling_curve(axes, curve, cursor=4)
    assert all(ax.get_xlabel() and ax.get_ylabel() for ax in axes)
    plt.close(fig)
    explorer = nb06.scaling_explorer(d_k=8, num_keys=4, num_queries=50)
    explorer.controls["d_k"].value = 1
    assert explorer.error is None and explorer.result[0].d_k == 1 and len(explorer.result[1]) == len(nb06.D_K_GRID)
    explorer.controls["num_keys"].value = 1
    assert explorer.result[0].num_keys == 1 and "1 key:" in explorer.summary.value
    explorer.controls["d_k"].value = 512
    assert explorer.result[0].max_weight_unscaled == 1.0
    plt.close("all")


# --- 4 · the lookup ------------------------------------------------------------------------------------


def test_runs_keep_the_untrained_model_and_test_sets_vary_the_task(run: nb06.LookupRun) -> None:
    assert run.seed == 0 and run.result.steps == 200 and not run.trained.training and not run.untrained.training
    pairs = zip(run.trained.parameters(), run.untrained.parameters(), strict=True)
    assert any(not torch.equal(after, before) for after, before in pairs)
    tests = nb06.lookup_test_sets(size=20)
    assert [batch.keys.shape[1] for batch in tests.values()] == [8, 8, 4, 16, 8]
    scores = nb06.score_runs([run], tests)
    assert len(scores) == 2 * len(tests)
    assert all(scores[name, 0, "trained"].weight > 0.9 for name in tests)


def test_one_token_means_what_its_context_says(run: nb06.LookupRun) -> None:
    first = nb06.encode_in_context(run.trained, "a3 b7 b?", 2)
    second = nb06.encode_in_context(run.trained, "b2 c1 b?", 2)
    assert first.label == second.label == "b?" and torch.equal(first.x, second.x)
    assert (first.prediction, second.prediction) == ("7", "2") and first.output.shape == (12,)
    with pytest.raises(ValueError, match="position must be an int from 0 to 2"):
        nb06.encode_in_context(run.trained, "a3 b7 b?", 3)


def test_without_positions_a_shuffle_only_moves_the_outputs(run: nb06.LookupRun) -> None:
    batch = nb06.lookup_test_sets(size=10)["as trained (4 pairs, 4 queries)"]
    gap_output, gap_weights = nb06.permutation_gap(run.trained, batch, torch.Generator().manual_seed(0))
    assert gap_output < 1e-5 and gap_weights < 1e-5


def test_lookup_view_reads_one_query(models: dict) -> None:
    view = nb06.lookup_view(models, nb06.LOOKUP_EXAMPLE, 5, "trained")
    assert view.labels[4] == "b?" and view.right_key == 2 and view.weight_on_right > 0.9
    assert view.prediction == view.answer == "7" and view.right_keys == [None] * 4 + [2, 3, 0, 1]
    assert "on the right key “b7”" in nb06.describe_lookup(view)
    pair = nb06.lookup_view(models, nb06.LOOKUP_EXAMPLE, 1, "untrained")
    assert pair.prediction is None and "a pair token" in nb06.describe_lookup(pair)
    lonely = nb06.lookup_view(models, "a3 c?", 2, "trained")
    assert lonely.right_key is None and lonely.answer is None and "no pair" in nb06.describe_lookup(lonely)
    with pytest.raises(ValueError, match="position must be an int from 1 to 2"):
        nb06.lookup_view(models, "a3 c?", 3, "trained")
    with pytest.raises(ValueError, match="model must be one of"):
        nb06.lookup_view(models, "a3 c?", 1, "half-trained")


def test_lookup_widget_follows_its_controls_and_explains_bad_input(models: dict) -> None:
    explorer = nb06.lookup_explorer(models, nb06.LOOKUP_EXAMPLE, position=5)
    explorer.controls["position"].value = 7
    assert explorer.result.labels[6] == "a?" and explorer.result.weight_on_right > 0.9
    explorer.controls["model"].value = "untrained"
    assert explorer.result.model == "untrained" and explorer.result.weight_on_right < 0.5
    explorer.controls["text"].value = "h7"
    assert explorer.controls["position"].max == 1 and explorer.error is None and explorer.result.position == 1
    explorer.controls["text"].value = "a3 a5"
    assert "paired twice" in explorer.error
    explorer.controls["text"].value = ""
    assert "empty" in explorer.error and "cannot compute" in explorer.summary.value
    plt.close("all")


def test_heatmap_has_token_labels_on_both_axes(models: dict) -> None:
    view = nb06.lookup_view(models, nb06.LOOKUP_EXAMPLE, 5, "trained")
    fig = plt.figure()
    nb06.plot_lookup_view(view, fig)
    heat = fig.axes[0]
    assert [t.get_text() for t in heat.get_xticklabels()] == view.labels
    assert [t.get_text() for t in heat.get_yticklabels()] == view.labels
    assert heat.get_title() and heat.get_xlabel() and heat.get_ylabel() and len(fig.axes) == 3  # + colour bar
    plt.close(fig)


# --- the exercises' references against the library -------------------------------------------------------


def test_attention_reference_is_seqlibs_and_torchs() -> None:
    cases = EXERCISES["06.attention"].cases()
    for q, k, v in cases:
        expected = EXERCISES["06.attention"].reference(q, k, v)
        torch.testing.assert_close(seqlib.scaled_dot_product_attention(q, k, v), expected)
        torch.testing.assert_close(F.scaled_dot_product_attention(q, k, v), expected)
    assert all(q.shape[-1] != v.shape[-1] for q, _, v in cases)  # d_k ≠ d_v: scaling by √d_v shows
    assert all(k.shape[-2] != q.shape[-1] for q, k, _ in cases)  # S ≠ d_k: an untransposed k fails


def test_score_and_entropy_references_match_the_course_functions() -> None:
    example = nb06.pen_example()
    scores = EXERCISES["06.score_matrix"].reference(example.x, example.W_Q, example.W_K)
    assert torch.equal(scores, nb06.pen_attention(example).trace.scores)
    for (weights,) in EXERCISES["06.weight_entropy"].cases():
        torch.testing.assert_close(EXERCISES["06.weight_entropy"].reference(weights), nb06.weight_entropy(weights))


def test_right_key_matrix_reference_marks_the_parsed_right_keys() -> None:
    for text in ("a3 b7 c1 b? a?", "d? c2 d5 c? d? e4", "h7"):
        batch = parse_lookup(text)
        target = EXERCISES["06.right_key_matrix"].reference(batch.keys[0], batch.values[0] == 8)
        expected = torch.zeros_like(target)
        for i, j in enumerate(batch.right_key[0].tolist()):
            if j >= 0:
                expected[i, j] = 1.0
        assert torch.equal(target, expected)

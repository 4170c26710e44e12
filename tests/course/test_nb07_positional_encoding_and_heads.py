"""Notebook 07's course module: letters, the shuffle check, the PE plots and rotation check, the position and
head runs, the step-by-step multi-head attention, the head widget, and what is particular to its exercises."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

import seqlib  # noqa: E402
from seqlib.course import nb07_positional_encoding_and_heads as nb07  # noqa: E402
from seqlib.course.checker import EXERCISES  # noqa: E402
from seqlib.positional import offset_rotation, sinusoidal_positional_encoding  # noqa: E402
from seqlib.positional_tasks import TinyAttentionModel  # noqa: E402

F64 = torch.float64
NAMES = sorted(name for name in EXERCISES if name.startswith("07."))


def test_notebook_07_has_its_four_exercises() -> None:
    assert NAMES == ["07.equivariance_gap", "07.offset_rotation", "07.sinusoidal_encoding", "07.split_heads"]


# The reference, the stub, every named mistake and the solution are checked for every registered
# exercise in tests/course/test_checker.py; this file pins what is particular to notebook 07.


def test_sinusoidal_reference_is_seqlibs_table() -> None:
    for max_len, d_model in EXERCISES["07.sinusoidal_encoding"].cases():
        expected = sinusoidal_positional_encoding(max_len, d_model)
        got = EXERCISES["07.sinusoidal_encoding"].reference(max_len, d_model)
        assert got.dtype == torch.float32
        torch.testing.assert_close(got, expected)


def test_split_heads_reference_is_multihead_attentions_split() -> None:
    for x, n_heads in EXERCISES["07.split_heads"].cases():
        B, T, d = x.shape
        mha = seqlib.MultiheadAttention(d, n_heads, batch_first=True).to(F64)
        with torch.no_grad():
            mha.q_proj.weight.copy_(torch.eye(d, dtype=F64))  # q = x: the trace's q is x split into heads
            mha.q_proj.bias.zero_()
        _, _, trace = mha(x, x, x, return_trace=True)
        torch.testing.assert_close(EXERCISES["07.split_heads"].reference(x, n_heads), trace.q)


def test_rotation_reference_is_the_library_rotation() -> None:
    for offset, d_model in EXERCISES["07.offset_rotation"].cases():
        torch.testing.assert_close(EXERCISES["07.offset_rotation"].reference(offset, d_model),
                                   offset_rotation(offset, d_model))


def test_equivariance_reference_agrees_with_shuffle_check() -> None:
    gaps = []
    for layer, x, perm in EXERCISES["07.equivariance_gap"].cases():
        gap = EXERCISES["07.equivariance_gap"].reference(layer, x, perm)
        assert isinstance(gap, float)
        assert gap == pytest.approx(nb07.shuffle_check(layer, x, perm.tolist()).equivariance_gap, abs=1e-12)
        gaps.append(gap)
    assert gaps[0] < 1e-12 and gaps[1] > 0.01 and gaps[2] < 1e-12  # blind, with positions, blind


# --- letters ----------------------------------------------------------------------------------------


def test_letters_round_trip_and_labels() -> None:
    tokens = nb07.encode("wordplay")
    assert tokens.dtype == torch.long and tokens.tolist() == [22, 14, 17, 3, 15, 11, 0, 24]
    assert nb07.decode(tokens) == "wordplay"
    assert nb07.token_labels("abc") == ["a 0", "b 1", "c 2"] == nb07.token_labels(torch.tensor([0, 1, 2]))
    assert nb07.feature_labels(4) == ["sin ω0", "cos ω0", "sin ω1", "cos ω1"]
    with pytest.raises(ValueError, match="empty"):
        nb07.encode("")
    with pytest.raises(ValueError, match="a–z only; the sequence holds '!H'"):
        nb07.encode("Hello!")


# --- permutation equivariance and the table ---------------------------------------------------------


def test_shuffle_check_without_and_with_positions() -> None:
    torch.manual_seed(0)
    blind = nb07.SelfAttention(8, 2).double()
    placed = nb07.SelfAttention(8, 2, positions=True).double()
    placed.attention.load_state_dict(blind.attention.state_dict())
    x = torch.randn(6, 8, dtype=F64)
    perm = [5, 0, 1, 2, 3, 4]
    blind_check, placed_check = nb07.shuffle_check(blind, x, perm), nb07.shuffle_check(placed, x, perm)
    assert blind_check.perm == tuple(perm) and blind_check.equivariance_gap < 1e-12 and blind_check.change > 0.01
    assert placed_check.equivariance_gap > 0.01
    assert blind(x[None]).shape == (1, 6, 8)  # batched input too
    with pytest.raises(ValueError, match="permutation of 0 .. T-1"):
        nb07.shuffle_check(blind, x, [0, 0, 1, 2, 3, 4])


def test_rotation_errors_are_rounding() -> None:
    check = nb07.rotation_errors(16, (1, -2, 7), range(2, 30))
    assert check.offsets == (1, -2, 7) and check.positions[0] == 2 and len(check.max_errors) == 3
    assert max(check.max_errors) < 1e-12 and min(check.identity_gap) > 0.1
    with pytest.raises(ValueError, match="p \\+ m must be >= 0"):
        nb07.rotation_errors(16, (-3,), range(0, 5))


def test_plots_label_both_axes() -> None:
    table = sinusoidal_positional_encoding(20, 8)
    fig, axes = plt.subplots(1, 4)
    nb07.plot_pe_heatmap(axes[0], table)
    nb07.plot_pe_curves(axes[1], table, pairs=(0, 1))
    nb07.plot_pe_similarity(axes[2], table)
    nb07.plot_rotation(axes[3], offset_rotation(2, 8), 2)
    for ax in axes:
        assert ax.get_xlabel() and ax.get_ylabel() and ax.get_title()
    assert [t.get_text() for t in axes[0].get_xticklabels()][:2] == ["sin ω0", "cos ω0"]
    assert [t.get_text() for t in axes[3].get_yticklabels()][-1] == "cos ω3"
    plt.close(fig)
    fig = plt.figure()
    nb07.plot_attention_maps(fig, torch.full((2, 3, 3), 1 / 3), ["a 0", "b 1", "c 2"], ["h0", "h1"])
    heat = fig.axes[0]
    assert [t.get_text() for t in heat.get_xticklabels()] == ["a 0", "b 1", "c 2"] == [
        t.get_text() for t in heat.get_yticklabels()]
    assert len(fig.axes) == 3  # two maps and one colour bar
    with pytest.raises(ValueError, match="maps must be"):
        nb07.plot_attention_maps(fig, torch.zeros(2, 3, 4), ["a", "b", "c"], ["h0", "h1"])
    plt.close(fig)


# --- the runs ---------------------------------------------------------------------------------------


def test_position_runs_record_what_the_notebook_reads() -> None:
    runs = nb07.train_position_runs(kinds=("none", "learned"), seeds=(0,), steps=3, test_length=10)
    assert [(run.kind, run.seed) for run in runs] == [("none", 0), ("learned", 0)]
    none, learned = runs
    assert len(none.losses) == 3 and none.initial_table is None and 0.0 <= none.accuracy <= 1.0
    assert none.by_position.shape == (10,) and torch.isnan(none.by_position[0])
    assert learned.initial_table.shape == (64, 32)
    moved = (learned.model.positional.table.detach() - learned.initial_table).abs().amax(dim=1)
    assert moved[:8].min() > 0 and moved[8:].max() == 0  # only the trained length's rows move
    fig, ax = plt.subplots()
    nb07.plot_accuracy_by_position(ax, runs)
    nb07.plot_training_losses(ax, runs)
    assert ax.get_xlabel() and ax.get_ylabel()
    plt.close(fig)


def test_head_runs_measure_each_head() -> None:
    runs = nb07.train_head_runs(head_counts=(1, 2), seeds=(0,), steps=3)
    one, two = runs
    assert one.alone is None and one.offset_weights.shape == (1, 2) and one.accuracy.shape == (2,)
    assert two.alone.shape == (2, 2) and two.offset_weights.shape == (2, 2)
    assert ((two.offset_weights >= 0) & (two.offset_weights <= 1)).all()


# --- multi-head attention, step by step --------------------------------------------------------------


def test_multihead_steps_rebuild_the_module_output() -> None:
    torch.manual_seed(3)
    mha = seqlib.MultiheadAttention(6, 3, batch_first=True)
    x = torch.randn(5, 6)
    steps = nb07.multihead_steps(mha, x)
    assert steps.q.shape == steps.concat.shape == steps.output.shape == (5, 6)
    assert steps.trace.q.shape == (3, 5, 2)
    for h in range(3):
        torch.testing.assert_close(steps.trace.q[h], steps.q[:, 2 * h : 2 * h + 2])
        torch.testing.assert_close(steps.concat[:, 2 * h : 2 * h + 2], steps.trace.head_outputs[h])
    torch.testing.assert_close(steps.output, steps.module_output)
    with pytest.raises(ValueError, match="x must be \\(T, d\\) with d = 6"):
        nb07.multihead_steps(mha, torch.randn(2, 5, 6))


# --- the head widget ----------------------------------------------------------------------------------


@pytest.fixture
def two_head_model() -> TinyAttentionModel:
    torch.manual_seed(0)
    return TinyAttentionModel(26, 8, 2, "sinusoidal", n_outputs=2)


def test_head_view_reads_one_head_and_silences_the_other(two_head_model: TinyAttentionModel) -> None:
    view = nb07.head_view(two_head_model, "wordplay", 1)
    _, trace = two_head_model(nb07.encode("wordplay"), return_trace=True)
    torch.testing.assert_close(view.weights, trace.attention.weights[1])
    assert view.answered == (7, 6) and len(view.predictions[0]) == 8 and view.predictions[1].startswith("··")
    one_back = torch.diagonal(trace.attention.weights[1], offset=-1).mean().item()
    assert view.offset_weights[0] == pytest.approx(one_back)
    alone = nb07.head_view(two_head_model, "wordplay", 1, only_this_head=True)
    logits = two_head_model(nb07.encode("wordplay"), keep_heads=[1])
    expected = "·" + nb07.decode(logits[1:, 0].argmax(-1))
    assert alone.only_this_head and alone.predictions[0] == expected
    assert two_head_model.training  # the mode is restored


def test_head_view_extremes(two_head_model: TinyAttentionModel) -> None:
    single = nb07.head_view(two_head_model, "q", 0)
    assert single.weights.tolist() == [[1.0]] and single.answered == (0, 0) and single.predictions == ("·", "·")
    with pytest.raises(ValueError, match="head must be an int from 0 to 1"):
        nb07.head_view(two_head_model, "abc", 2)
    with pytest.raises(ValueError, match="empty"):
        nb07.head_view(two_head_model, "", 0)
    with pytest.raises(ValueError, match="longer than the positional table"):
        nb07.head_view(two_head_model, "ab" * 40, 0)


def test_head_explorer_recomputes_and_reports_errors(two_head_model: TinyAttentionModel) -> None:
    explorer = nb07.head_explorer(two_head_model, "wordplay", head=0)
    assert explorer.result.head == 0 and not explorer.result.only_this_head
    explorer.controls["head"].value = 1
    explorer.controls["only_this_head"].value = True
    assert explorer.result.head == 1 and explorer.result.only_this_head
    assert "head 1 alone" in explorer.summary.value
    explorer.controls["text"].value = "Hello!"
    assert explorer.error and "a–z only" in explorer.error and "cannot compute" in explorer.summary.value
    explorer.controls["text"].value = "ab"
    assert explorer.error is None and "n/a" in explorer.summary.value  # nothing two back in two letters
    plt.close("all")

"""Notebook 09's course module: the mask views and widget, the leak runs, the result file and checkpoint, the
reverse model's cross-attention, exposure bias and decoding view, and what is particular to its exercises."""

from __future__ import annotations

import json

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

import seqlib  # noqa: E402
from seqlib.course import nb09_decoder_and_masks as nb09  # noqa: E402
from seqlib.course.checker import EXERCISES  # noqa: E402
from seqlib.decoder_models import DecoderLanguageModel  # noqa: E402
from seqlib.seq2seq import BOS_ID, EOS_ID, PAD_ID, TOY_VOCAB_SIZE, Seq2SeqTransformer, greedy_decode  # noqa: E402

NAMES = sorted(name for name in EXERCISES if name.startswith("09."))


def test_notebook_09_has_its_four_exercises() -> None:
    assert NAMES == ["09.causal_mask", "09.free_running", "09.padded_attention", "09.teacher_forcing_pair"]


# The reference, the stub, every named mistake and the solution are checked for every registered
# exercise in tests/course/test_checker.py; this file pins what is particular to notebook 09.


def test_causal_mask_reference_is_seqlibs() -> None:
    for (T,) in EXERCISES["09.causal_mask"].cases():
        assert torch.equal(EXERCISES["09.causal_mask"].reference(T), seqlib.causal_mask(T))


def test_padded_attention_reference_is_seqlibs_attention_with_a_padding_mask() -> None:
    for scores, lengths in EXERCISES["09.padded_attention"].cases():
        B, T, S = scores.shape
        mask = seqlib.padding_mask(lengths, max_len=S)
        expected = torch.softmax(scores.masked_fill(mask[:, None, :], float("-inf")), dim=-1)
        torch.testing.assert_close(EXERCISES["09.padded_attention"].reference(scores, lengths), expected)
    # one case has B = T, where the missing query axis runs silently
    assert any(scores.shape[0] == scores.shape[1] > 1 for scores, _ in EXERCISES["09.padded_attention"].cases())


def test_free_running_reference_is_greedy_decode_padded_to_the_reference() -> None:
    cases = EXERCISES["09.free_running"].cases()
    ended_early = never_ended = False
    for model, src, tgt, bos, eos, pad in cases:
        mine = EXERCISES["09.free_running"].reference(model, src, tgt, bos, eos, pad)
        library = greedy_decode(model, src, tgt.shape[1] - 1, bos, eos)
        assert mine.shape == (src.shape[0], tgt.shape[1] - 1)
        assert torch.equal(mine[:, : library.shape[1]], library) and (mine[:, library.shape[1]:] == pad).all()
        ended_early |= bool(((mine == eos).any(dim=1) & (mine[:, -1] == pad)).any())
        never_ended |= bool((~(mine == eos).any(dim=1)).any())
    assert ended_early and never_ended  # the cases tell "stop at EOS" apart from "never stop"


# --- masks ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", nb09.MASK_KINDS)
def test_mask_view_rows_sum_to_one_and_blocked_keys_get_nothing(kind: str) -> None:
    view = nb09.mask_view(kind, length=3, size=5)
    assert view.max_row_error < 1e-12 and view.max_blocked_weight == 0.0
    assert view.labels == ["the", "time", "traveller", "<pad>", "<pad>"]
    expected = torch.zeros(5, 5, dtype=torch.bool)
    if "causal" in kind:
        expected |= seqlib.causal_mask(5)
    if "padding" in kind:
        expected[:, 3:] = True
    assert torch.equal(view.mask, expected)
    assert torch.all(view.weights[view.mask] == 0)


def test_mask_view_with_no_real_token_gives_zero_rows_not_nan() -> None:
    view = nb09.mask_view("padding", length=0, size=4)
    assert view.empty_rows == [0, 1, 2, 3] and not torch.isnan(view.weights).any() and view.weights.sum() == 0


@pytest.mark.parametrize(("args", "match"), [(("diagonal", 2, 4), "kind"), (("causal", 5, 4), "length"),
                                             (("causal", 1, 9), "size"), (("causal", 1, 0), "size")])
def test_mask_view_refuses_bad_arguments(args: tuple, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        nb09.mask_view(*args)


def test_format_mask_draws_blocked_cells() -> None:
    text = nb09.format_mask(seqlib.causal_mask(3), ["a", "bb", "c"])
    assert text.splitlines() == [" a  · ■ ■", "bb  · · ■", " c  · · ·"]
    with pytest.raises(ValueError, match="bool"):
        nb09.format_mask(torch.zeros(2, 2))


def test_mask_explorer_recomputes_and_explains_extremes() -> None:
    explorer = nb09.mask_explorer(length=4, size=6)
    explorer.draw = None
    assert explorer.result.length == 4 and explorer.error is None
    explorer.controls["kind"].value = "causal"
    assert explorer.result.kind == "causal" and not explorer.result.mask[:, 4:].all()
    explorer.controls["size"].value = 2
    assert explorer.result is None and "raise T" in explorer.error
    explorer.controls["length"].value = 0
    assert explorer.result.empty_rows == [] and explorer.error is None  # causal alone: every row reads itself
    explorer.controls["kind"].value = "padding"
    assert explorer.result.empty_rows == [0, 1] and "zero weights" in explorer.summary.value
    explorer.controls["size"].value = 1
    explorer.controls["length"].value = 1
    assert explorer.result.weights.tolist() == [[1.0]]


def test_mask_plots_draw() -> None:
    fig = plt.figure()
    nb09.plot_mask_grid(fig, [nb09.mask_view(k, 2, 3) for k in nb09.MASK_KINDS])
    assert len(fig.axes) == 16  # 8 heat maps and their colour bars
    plt.close(fig)


# --- the leak ---------------------------------------------------------------------------------------


def test_leak_windows_are_consecutive_validation_text() -> None:
    inputs, targets = nb09.leak_windows(3)
    assert inputs.shape == targets.shape == (3, nb09.LEAK_MODEL["context"])
    assert torch.equal(inputs.flatten()[1:], targets.flatten()[:-1])
    with pytest.raises(ValueError, match="count"):
        nb09.leak_windows(0)


def test_judge_scores_only_the_generated_characters() -> None:
    judge = nb09.fit_judge(2)
    vocab = nb09.standard_split().vocab
    assert nb09.judge_loss(judge, vocab, "the the", "the ") < nb09.judge_loss(judge, vocab, "the qqq", "the ")
    with pytest.raises(ValueError, match="continue the prompt"):
        nb09.judge_loss(judge, vocab, "the", "the")


def test_leak_runs_train_both_arms(monkeypatch) -> None:
    monkeypatch.setitem(nb09.LEAK_RECIPE, "max_steps", 3)
    runs = nb09.leak_runs(seeds=(0,))
    assert [run.causal for run in runs] == [True, False]
    honest, leaky = runs
    assert honest.scores.max_logit_gap < 1e-4 and leaky.scores.max_logit_gap > 1e-4
    assert honest.sample.startswith(nb09.LEAK_PROMPT) and len(honest.sample) == nb09.LEAK_MODEL["context"]
    fig, ax = plt.subplots()
    nb09.plot_leak_positions(ax, runs)
    plt.close(fig)


# --- the leaderboard model ----------------------------------------------------------------------------


def test_checkpoint_round_trip(tmp_path) -> None:
    torch.manual_seed(0)
    model = nb09.make_char_decoder(28)
    nb09.save_checkpoint(tmp_path / "m.pt", model, {"seed": 5})
    loaded, meta = nb09.load_checkpoint(tmp_path / "m.pt")
    assert meta == {"seed": 5} and isinstance(loaded, DecoderLanguageModel) and not loaded.training
    tokens = torch.randint(0, 28, (2, 40))
    model.eval()
    torch.testing.assert_close(loaded(tokens)[0], model(tokens)[0])


def test_the_shipped_files_agree() -> None:
    results = nb09.load_results()
    assert len(results.runs) == len(results.settings["seeds"]) == 3 and len(results.lstm_runs) == 3
    assert results.runs[0]["parameters"] == 87_196
    model, meta = nb09.load_checkpoint()
    assert meta["seed"] == results.settings["saved_seed"] and model.context == nb09.CHAR_DECODER["context"]


def test_results_take_the_lstm_rows_from_notebook_04_unless_retrained(tmp_path) -> None:
    data = {"settings": {"seeds": [0]}, "sweep": [], "runs": [{"val_perplexity": 5.0}], "lstm_runs": []}
    lstm = {"leaderboard": {"runs": [{"arm": "lstm", "val_perplexity": 4.0, "history": []},
                                     {"arm": "rnn", "val_perplexity": 4.5, "history": []}]}}
    (tmp_path / "d.json").write_text(json.dumps(data))
    (tmp_path / "l.json").write_text(json.dumps(lstm))
    results = nb09.load_results(tmp_path / "d.json", tmp_path / "l.json")
    assert results.perplexities("gpt") == [5.0] and results.perplexities("lstm") == [4.0]
    data["lstm_runs"] = [{"val_perplexity": 3.9, "lr": 3e-3}]
    (tmp_path / "d.json").write_text(json.dumps(data))
    assert nb09.load_results(tmp_path / "d.json", tmp_path / "l.json").perplexities("lstm") == [3.9]


# --- the reverse model ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def reverser() -> Seq2SeqTransformer:
    torch.manual_seed(0)
    return Seq2SeqTransformer(TOY_VOCAB_SIZE, TOY_VOCAB_SIZE, **nb09.REVERSE_MODEL).eval()


def test_train_reverse_model_is_reproducible(monkeypatch) -> None:
    monkeypatch.setitem(nb09.REVERSE_RECIPE, "steps", 3)
    a, b = nb09.train_reverse_model(1), nb09.train_reverse_model(1)
    assert not a.training
    for (name, p), q in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(p, q), name


def test_digits_are_checked() -> None:
    assert nb09.digits_to_ids("09").tolist() == [[3, 12]]
    assert nb09.ids_to_labels([BOS_ID, 3, EOS_ID, PAD_ID]) == ["<bos>", "0", "<eos>", "<pad>"]
    for bad, match in (("", "digits"), ("12a", "digits"), ("1234567", "1 to 6"), ("٣", "digits")):
        with pytest.raises(ValueError, match=match):
            nb09.digits_to_ids(bad)


def test_cross_attention_parts_recompute_the_trace(reverser) -> None:
    src = nb09.digits_to_ids("2718")
    tgt = torch.cat([torch.tensor([[BOS_ID]]), nb09.digits_to_ids("817")], dim=1)
    parts = nb09.cross_attention_parts(reverser, src, tgt)
    assert parts.queries.shape == (2, 4, 16) and parts.keys.shape == parts.values.shape == (2, 4, 16)
    torch.testing.assert_close(parts.weights, parts.model_weights)
    torch.testing.assert_close(parts.keys_by_hand, parts.keys.transpose(0, 1).reshape(4, -1))
    keys = nb09.decoder_layer_keys(reverser, src)
    torch.testing.assert_close(keys[0], parts.keys_by_hand)


def test_mirror_attention_and_exposure_bias_on_a_small_set(reverser) -> None:
    src, tgt = nb09.reverse_test_set(size=20, seed=3)
    mirror = nb09.mirror_attention(reverser, src, tgt)
    assert 0 < mirror.uniform <= 1 and 0 <= mirror.on_mirror <= 1 and 0 <= mirror.argmax_share <= 1
    bias = nb09.exposure_bias(reverser, src, tgt)
    assert bias.free_running_exact == bias.teacher_forced_exact  # right free running iff right teacher forced
    assert bias.teacher_forced_by_position.shape == (tgt.shape[1] - 1,)
    fig, ax = plt.subplots()
    nb09.plot_exposure_bias(ax, [bias])
    nb09.plot_cross_attention(ax, reverser, "123")
    plt.close(fig)


def test_decoding_view_and_step_by_step(reverser) -> None:
    first = nb09.decoding_view(reverser, "314", 0)
    assert first.prefix == ["<bos>"] and first.self_mask.shape == (1, 1) and len(first.output) == 1
    late = nb09.decoding_view(reverser, "314", 99)  # past the end: the last step
    assert late.step == late.steps - 1 and len(late.prefix) == late.steps
    assert torch.isclose(late.cross_weights[-1].sum(), torch.tensor(1.0))
    fig = plt.figure()
    nb09.plot_decoding_view(late, fig)
    plt.close(fig)
    assert "step" in nb09.describe_decoding(late)
    gap, steps = nb09.step_by_step_gap(reverser, nb09.reverse_test_set(size=10)[0])
    assert gap < 1e-4 and 1 <= steps <= 7
    with pytest.raises(ValueError, match="step"):
        nb09.decoding_view(reverser, "314", -1)


def test_decoding_explorer_follows_the_step_and_the_source(reverser) -> None:
    explorer = nb09.decoding_explorer(reverser, "31415", step=0)
    explorer.draw = None
    explorer.controls["step"].value = 2
    assert explorer.result.step == 2 and explorer.result.source == list("31415")
    explorer.controls["digits"].value = "42"
    assert explorer.result.source == ["4", "2"]
    explorer.controls["digits"].value = ""
    assert explorer.result is None and "digits" in explorer.error

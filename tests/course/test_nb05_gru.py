"""Notebook 05's course module: the paper-form GRU, parameter counts, the gate reading and its widget, the
result-file reader, and what is particular to its exercises."""

from __future__ import annotations

import json

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

import seqlib  # noqa: E402
from seqlib.course import nb05_gru as nb05  # noqa: E402
from seqlib.course.checker import EXERCISES  # noqa: E402
from seqlib.course.leaderboard import standard_split  # noqa: E402
from seqlib.data import Vocab  # noqa: E402
from seqlib.language_models import RNNLanguageModel, make_language_model  # noqa: E402
from seqlib.recurrent import gru_step  # noqa: E402

F64 = torch.float64

NAMES = sorted(name for name in EXERCISES if name.startswith("05."))


def test_notebook_05_has_its_four_exercises() -> None:
    assert NAMES == ["05.gru_layer", "05.gru_step", "05.hidden_size_for_budget", "05.parameter_count"]


# The reference, the stub, every named mistake and the solution are checked for every registered
# exercise in tests/course/test_checker.py; this file pins what is particular to notebook 05.


def _load(module: nn.Module, W_ih, W_hh, b_ih, b_hh, suffix: str = "") -> None:
    with torch.no_grad():
        for name, value in [("weight_ih", W_ih), ("weight_hh", W_hh), ("bias_ih", b_ih), ("bias_hh", b_hh)]:
            getattr(module, name + suffix).copy_(value)


def test_gru_step_reference_is_seqlibs_and_torchs_cell() -> None:
    for x, h, W_ih, W_hh, b_ih, b_hh in EXERCISES["05.gru_step"].cases():
        ours = seqlib.GRUCell(x.shape[1], h.shape[1]).to(F64)
        theirs = nn.GRUCell(x.shape[1], h.shape[1]).to(F64)
        _load(ours, W_ih, W_hh, b_ih, b_hh)
        _load(theirs, W_ih, W_hh, b_ih, b_hh)
        expected = EXERCISES["05.gru_step"].reference(x, h, W_ih, W_hh, b_ih, b_hh)
        torch.testing.assert_close(ours(x, h), expected)
        torch.testing.assert_close(theirs(x, h), expected)


def test_gru_layer_reference_is_seqlibs_gru() -> None:
    for xs, h0, W_ih, W_hh, b_ih, b_hh in EXERCISES["05.gru_layer"].cases():
        gru = seqlib.GRU(xs.shape[2], h0.shape[1], batch_first=True).to(F64)
        _load(gru, W_ih, W_hh, b_ih, b_hh, "_l0")
        output, h_n = gru(xs, h0[None])
        mine, mine_n = EXERCISES["05.gru_layer"].reference(xs, h0, W_ih, W_hh, b_ih, b_hh)
        torch.testing.assert_close(mine, output)
        torch.testing.assert_close(mine_n, h_n[0])


def test_paper_step_differs_only_in_the_candidate() -> None:
    generator = torch.Generator().manual_seed(0)
    B, H = 3, 4
    x_proj = torch.randn(B, 3 * H, generator=generator, dtype=F64)
    h = torch.randn(B, H, generator=generator, dtype=F64)
    W_hh = torch.randn(3 * H, H, generator=generator, dtype=F64)
    b_hh = torch.randn(3 * H, generator=generator, dtype=F64)
    paper, ours = nb05.paper_gru_step(x_proj, h, W_hh, b_hh), gru_step(x_proj, h, W_hh, b_hh)
    torch.testing.assert_close(paper.r, ours.r)
    torch.testing.assert_close(paper.z, ours.z)
    assert (paper.n - ours.n).abs().max() > 1e-3
    r = ours.r
    n = torch.tanh(x_proj[:, 2 * H :] + (r * h) @ W_hh[2 * H :].T + b_hh[2 * H :])  # Cho et al. 2014
    torch.testing.assert_close(paper.n, n)
    torch.testing.assert_close(paper.h, (1 - ours.z) * n + ours.z * h)
    # with the reset gate wide open (r = 1) the two forms agree
    b_open = b_hh.clone()
    b_open[:H] = 50.0
    torch.testing.assert_close(nb05.paper_gru_step(x_proj, h, W_hh, b_open).h, gru_step(x_proj, h, W_hh, b_open).h)


def test_paper_gru_has_torchs_parameters_and_initialisation() -> None:
    torch.manual_seed(3)
    gru = seqlib.GRU(5, 6, batch_first=True)
    torch.manual_seed(3)
    paper = nb05.PaperGRU(5, 6, batch_first=True)
    assert list(paper.state_dict()) == list(gru.state_dict())
    for (name, a), (_, b) in zip(paper.state_dict().items(), gru.state_dict().items(), strict=True):
        assert torch.equal(a, b), name
    copied = nb05.PaperGRU.from_gru(nn.GRU(5, 6))
    assert not copied.batch_first and copied.hidden_size == 6
    x = torch.randn(2, 7, 5)
    output, h_n, traces = paper(x, return_trace=True)
    assert output.shape == (2, 7, 6) and h_n.shape == (1, 2, 6) and torch.equal(output[:, -1], h_n[0])
    assert torch.equal(traces[0][0].h, output) and traces[0][0].r.shape == (2, 7, 6)
    with pytest.raises(ValueError, match="input must be 3-D"):
        paper(torch.randn(7, 5))
    with pytest.raises(TypeError, match="seqlib.GRU or torch.nn.GRU"):
        nb05.PaperGRU.from_gru(seqlib.LSTM(5, 6))


def test_paper_gru_fits_in_a_language_model_and_carries_its_state() -> None:
    torch.manual_seed(0)
    model = make_language_model("gru", 7, 5, embedding_dim=3)
    model.recurrent = nb05.PaperGRU.from_gru(model.recurrent)
    tokens = torch.randint(7, (2, 6))
    logits, state = model(tokens)
    assert logits.shape == (2, 6, 7) and state.shape == (1, 2, 5)
    first, state_1 = model(tokens[:, :3])
    second, _ = model(tokens[:, 3:], state_1)
    torch.testing.assert_close(torch.cat([first, second], dim=1), logits)


def test_form_gap_is_zero_only_when_the_reset_is_open() -> None:
    torch.manual_seed(1)
    gru = seqlib.GRU(3, 4).to(F64)
    inputs = torch.randn(9, 3, dtype=F64)
    gap = nb05.form_gap(gru, inputs)
    assert gap.max_abs.shape == (9,) and gap.torch_h.shape == (9, 4) and gap.relative.shape == (9,)
    assert gap.max_abs.min() > 0
    torch.testing.assert_close(gap.torch_h, gru(inputs[:, None])[0][:, 0])
    with torch.no_grad():
        gru.bias_hh_l0[:4] = 50.0  # r = 1
    assert nb05.form_gap(gru, inputs).max_abs.max() < 1e-12


def test_from_h0_zero_the_forms_differ_by_b_hn_alone() -> None:
    # at t = 1, h_0 = 0: torch's r ⊙ (0 W_hn^T + b_hn) = r ⊙ b_hn, the paper's (r ⊙ 0) W_hn^T + b_hn = b_hn
    torch.manual_seed(2)
    gru = seqlib.GRU(3, 4).to(F64)
    inputs = torch.randn(2, 3, dtype=F64)
    assert nb05.form_gap(gru, inputs).max_abs[0] > 0
    with torch.no_grad():
        gru.bias_hh_l0[8:] = 0.0
    gap = nb05.form_gap(gru, inputs).max_abs
    assert gap[0] == 0 and gap[1] > 0


@pytest.mark.parametrize("kind", ["rnn", "gru", "lstm"])
def test_parameter_counts_match_the_modules(kind: str) -> None:
    cls = {"rnn": "RNN", "gru": "GRU", "lstm": "LSTM"}[kind]
    for I, H in [(32, 256), (3, 5)]:
        expected = nb05.layer_parameters(kind, I, H)
        assert sum(p.numel() for p in getattr(seqlib, cls)(I, H).parameters()) == expected
        assert sum(p.numel() for p in getattr(nn, cls)(I, H).parameters()) == expected
        assert EXERCISES["05.parameter_count"].reference(kind, I, H) == expected
    model = make_language_model(kind, 28, 17, embedding_dim=6)
    assert sum(p.numel() for p in model.parameters()) == nb05.language_model_parameters(kind, 28, 6, 17)


def test_gru_has_three_quarters_of_the_lstms_recurrent_parameters() -> None:
    assert 4 * nb05.layer_parameters("gru", 32, 256) == 3 * nb05.layer_parameters("lstm", 32, 256)


@pytest.mark.parametrize("kind", ["rnn", "gru", "lstm"])
def test_hidden_size_for_budget_is_the_largest_that_fits(kind: str) -> None:
    for budget in (100, 5000, 296960):
        H = nb05.hidden_size_for_budget(kind, budget, 7)
        assert nb05.layer_parameters(kind, 7, H) <= budget < nb05.layer_parameters(kind, 7, H + 1)
        assert EXERCISES["05.hidden_size_for_budget"].reference(kind, budget, 7) == H
    H = nb05.hidden_size_for_budget(kind, 82332, 32, vocab_size=28)
    count = nb05.language_model_parameters
    assert count(kind, 28, 32, H) <= 82332 < count(kind, 28, 32, H + 1)
    with pytest.raises(ValueError, match="does not hold even one"):
        nb05.hidden_size_for_budget(kind, 3, 7)
    with pytest.raises(ValueError, match="kind must be one of"):
        nb05.hidden_size_for_budget("transformer", 3, 7)


def test_equal_budget_sizes_of_the_bench() -> None:
    assert [nb05.hidden_size_for_budget(k, 82332, 32, vocab_size=28) for k in ("rnn", "gru", "lstm")] == [256, 144, 123]


def test_validation_passage_is_the_start_of_the_validation_text() -> None:
    ids, text = nb05.validation_passage()
    split = standard_split()
    assert len(text) == nb05.PASSAGE_LENGTH and torch.equal(ids, split.val[:80])
    assert split.vocab.encode(list(text)) == ids.tolist()
    with pytest.raises(ValueError, match="positive int"):
        nb05.validation_passage(0)


@pytest.fixture(scope="module")
def models():
    vocab = Vocab(list("ab c"))
    torch.manual_seed(0)
    gru = make_language_model("gru", len(vocab), 6, embedding_dim=3)
    lstm = make_language_model("lstm", len(vocab), 5, embedding_dim=3)
    return gru, lstm, vocab


def test_read_passage_keeps_every_gate(models) -> None:
    gru, lstm, vocab = models
    reading = nb05.read_passage(gru, lstm, vocab, "ab ca")
    assert reading.gru.z.shape == (5, 6) and reading.lstm.c.shape == (5, 5)
    assert torch.equal(reading.gru_h_prev[0], torch.zeros(6))
    assert torch.equal(reading.gru_h_prev[1:], reading.gru.h[:-1])
    assert gru.training  # left as it was
    output, _ = gru.recurrent(gru.embedding(torch.tensor(vocab.encode(list("ab ca")))))
    torch.testing.assert_close(reading.gru.h, output)  # the hidden state is the output
    streams = nb05.read_passage(gru, lstm, vocab, "ab cab c", num_streams=3)  # 3 streams of 2, "c" dropped
    assert streams.text == "ab cab" and streams.gru.h.shape == (6, 6)
    for k, piece in enumerate(["ab", " c", "ab"]):
        alone = nb05.read_passage(gru, lstm, vocab, piece)
        torch.testing.assert_close(streams.gru.z[2 * k : 2 * k + 2], alone.gru.z)
        torch.testing.assert_close(streams.lstm.c[2 * k : 2 * k + 2], alone.lstm.c)
        torch.testing.assert_close(streams.gru_h_prev[2 * k : 2 * k + 2], alone.gru_h_prev)
    with pytest.raises(ValueError, match="num_streams must be an int from 1"):
        nb05.read_passage(gru, lstm, vocab, "ab", num_streams=3)
    with pytest.raises(ValueError, match="never saw: 'xz'"):
        nb05.read_passage(gru, lstm, vocab, "abxz")
    with pytest.raises(ValueError, match="passage is empty"):
        nb05.read_passage(gru, lstm, vocab, "")
    with pytest.raises(ValueError, match="seqlib.LSTM"):
        nb05.read_passage(gru, gru, vocab, "ab")


def test_shifting_the_update_bias_freezes_or_frees_the_state(models) -> None:
    gru, lstm, vocab = models
    frozen = nb05.gate_view(gru, lstm, vocab, "abc abc", 4, z_shift=20.0)
    free = nb05.gate_view(gru, lstm, vocab, "abc abc", 4, z_shift=-20.0)
    assert frozen.kept > 0.999 and frozen.change < 1e-6
    assert free.kept < 1e-6
    torch.testing.assert_close(free.reading.gru.h, free.reading.gru.n)  # z = 0: h_t is the candidate
    assert torch.equal(gru.recurrent.bias_ih_l0, nb05.shift_update_bias(gru, 0.0).recurrent.bias_ih_l0)
    with pytest.raises(ValueError, match="finite number"):
        nb05.shift_update_bias(gru, float("inf"))


def test_gate_view_checks_the_step(models) -> None:
    gru, lstm, vocab = models
    view = nb05.gate_view(gru, lstm, vocab, "ab c", 4)
    assert view.char == "c" and view.step == 4
    assert abs(view.kept - float(view.reading.gru.z[3].mean())) < 1e-7
    with pytest.raises(ValueError, match="step must be an int from 1 to 4"):
        nb05.gate_view(gru, lstm, vocab, "ab c", 5)


def test_gate_explorer_follows_its_controls(models) -> None:
    gru, lstm, vocab = models
    explorer = nb05.gate_explorer(gru, lstm, vocab, "abc abc", step=2, z_shift=6.0)
    assert explorer.result.step == 2 and explorer.result.char == "b" and explorer.result.kept > 0.9
    explorer.controls["step"].value = 4
    assert explorer.result.char == " " and "step 4" in explorer.summary.value
    explorer.controls["text"].value = ""  # the step slider follows the passage, and the widget says why it stops
    assert explorer.controls["step"].max == 1 and explorer.result is None and "passage is empty" in explorer.error
    plt.close("all")


def _fake_results(tmp_path):
    runs = []
    for setting, arms in [("time", {"rnn": 4.5, "gru": 4.2, "lstm": 4.4}), ("params", {"gru": 4.3, "lstm": 4.3})]:
        for arm, base in arms.items():
            for seed in (1, 0):
                ppl = base + 0.1 * seed
                runs.append({
                    "setting": setting, "arm": arm, "kind": arm, "form": "torch", "hidden_size": 8, "params": 100,
                    "seed": seed, "steps": 10 + seed, "train_seconds": 2.0, "val_perplexity": ppl,
                    "curve": [{"step": 5, "seconds": 1.0, "val_perplexity": ppl + 1, "train_perplexity": ppl + 1},
                              {"step": 10, "seconds": 2.0, "val_perplexity": ppl, "train_perplexity": ppl}],
                })
    settings = {"settings": {"time": {"title": "equal time", "time_budget_s": 2.0},
                             "params": {"title": "equal parameters", "max_steps": 10}}}
    path = tmp_path / "fake.json"
    path.write_text(json.dumps({"settings": settings, "runs": runs}), encoding="utf-8")
    return path


def test_results_reader_summarises_each_arm(tmp_path) -> None:
    results = nb05.load_results(_fake_results(tmp_path))
    assert results.setting_names == ["time", "params"] and results.arms("time") == ["rnn", "gru", "lstm"]
    assert results.seeds == [0, 1] and [run["seed"] for run in results.select(setting="time", arm="gru")] == [0, 1]
    summary = results.summary("time", "gru")
    assert summary.perplexities == (4.2, 4.3) and abs(summary.mean - 4.25) < 1e-12
    assert abs(summary.std - 0.0707106781) < 1e-9 and (summary.low, summary.high) == (4.2, 4.3)
    assert summary.mean_steps == 10.5
    table = results.table("time")
    assert "GRU" in table and "4.250 ± 0.071" in table and "4.200–4.300" in table
    with pytest.raises(KeyError, match="no runs for setting='time', arm='gru-paper'"):
        results.summary("time", "gru-paper")
    assert json.loads(results.to_json())["runs"][0]["arm"] == "rnn"
    fig = plt.figure()
    nb05.plot_validation_curves(results, fig)
    assert len(fig.axes) == 2 and fig.axes[0].get_xlabel().startswith("training seconds")
    plt.close(fig)


def test_compare_arms_says_when_the_seeds_separate_two_models(tmp_path) -> None:
    results = nb05.load_results(_fake_results(tmp_path))
    apart = nb05.compare_arms(results, "time", "gru", "rnn")  # 4.2, 4.3 against 4.5, 4.6
    assert apart.separated and apart.better == "gru" and abs(apart.difference + 0.3) < 1e-12
    assert nb05.compare_arms(results, "time", "rnn", "gru").better == "gru"
    assert nb05.compare_arms(results, "time", "gru", "lstm").better == "gru"  # 4.2, 4.3 against 4.4, 4.5
    tied = nb05.compare_arms(results, "params", "gru", "lstm")  # the same values: within the spread
    assert not tied.separated and tied.better is None and tied.difference == 0


def test_results_reader_rejects_missing_and_broken_files(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="bench/gru_vs_lstm.py"):
        nb05.load_results(tmp_path / "absent.json")
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps({"runs": []}), encoding="utf-8")
    with pytest.raises(ValueError, match="missing \\['settings'\\]"):
        nb05.load_results(broken)
    broken.write_text(json.dumps({"settings": {}, "runs": [{"setting": "time"}]}), encoding="utf-8")
    with pytest.raises(ValueError, match="run 0 lacks"):
        nb05.load_results(broken)


def test_heatmaps_draw_six_panels_with_character_ticks(models) -> None:
    gru, lstm, vocab = models
    reading = nb05.read_passage(gru, lstm, vocab, "ab c")
    fig = plt.figure()
    nb05.plot_gate_heatmaps(reading, fig, step=2, units=3)
    heat = [ax for ax in fig.axes if ax.get_images()]
    assert len(heat) == 6 and [t.get_text() for t in heat[-1].get_xticklabels()] == ["a", "b", "␣", "c"]
    assert heat[0].get_images()[0].get_array().shape == (3, 4)
    plt.close(fig)


def test_language_model_check_rejects_other_modules(models) -> None:
    _, lstm, vocab = models
    with pytest.raises(ValueError, match="seqlib.GRU"):  # torch's GRU returns no trace
        nb05.read_passage(RNNLanguageModel(len(vocab), nn.GRU(3, 2, batch_first=True)), lstm, vocab, "a")

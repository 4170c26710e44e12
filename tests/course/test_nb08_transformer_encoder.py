"""Notebook 08's course module: the task's data and baselines, the gap view and its widget, the signal
widget, the result-file reader, the plots, and what is particular to its exercises."""

from __future__ import annotations

import json

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from seqlib.course import nb08_transformer_encoder as nb08  # noqa: E402
from seqlib.course.checker import EXERCISES  # noqa: E402
from seqlib.encoder_tasks import (  # noqa: E402
    ARMS,
    MaskedCharConfig,
    MaskedCharEncoder,
    build_masked_char_encoder,
    encoder_layer_steps,
)
from seqlib.transformer import LayerNorm, TransformerEncoderLayer  # noqa: E402

F64 = torch.float64
NAMES = sorted(name for name in EXERCISES if name.startswith("08."))
SMALL = MaskedCharConfig(d_model=8, nhead=2, num_layers=2, dim_feedforward=12)


def test_notebook_08_has_its_four_exercises() -> None:
    assert NAMES == ["08.encoder_layer", "08.layer_norm", "08.position_wise_ffn", "08.sublayer_connection"]


# The reference, the stub, every named mistake and the solution are checked for every registered
# exercise in tests/course/test_checker.py; this file pins what is particular to notebook 08.


def test_layer_norm_reference_is_seqlibs_and_torchs() -> None:
    for x, gamma, beta, eps in EXERCISES["08.layer_norm"].cases():
        ours = LayerNorm(x.shape[-1], eps=eps).to(F64)
        theirs = nn.LayerNorm(x.shape[-1], eps=eps).to(F64)
        for module in (ours, theirs):
            with torch.no_grad():
                module.weight.copy_(gamma)
                module.bias.copy_(beta)
        expected = EXERCISES["08.layer_norm"].reference(x, gamma, beta, eps)
        torch.testing.assert_close(ours(x), expected)
        torch.testing.assert_close(theirs(x), expected)
    # the constant position of case 2 comes out as β (x̂ = 0), not NaN
    x, gamma, beta, eps = EXERCISES["08.layer_norm"].cases()[1]
    torch.testing.assert_close(EXERCISES["08.layer_norm"].reference(x, gamma, beta, eps)[1, 2], beta)


def test_sublayer_connection_reference_is_the_layers_first_half() -> None:
    for norm_first in (False, True):
        torch.manual_seed(0)
        layer = TransformerEncoderLayer(8, 2, 12, dropout=0.0, batch_first=True, norm_first=norm_first).to(F64)
        x = torch.randn(2, 5, 8, dtype=F64)
        steps = encoder_layer_steps(layer, x)

        def attention(h, layer=layer):
            return layer.self_attn(h, h, h, need_weights=False)[0]

        middle = EXERCISES["08.sublayer_connection"].reference(x, attention, layer.norm1, norm_first)
        torch.testing.assert_close(middle, steps.middle)


def test_ffn_and_encoder_layer_references_are_the_layers() -> None:
    for layer, x in EXERCISES["08.encoder_layer"].cases():
        expected = layer(x)
        torch.testing.assert_close(EXERCISES["08.encoder_layer"].reference(layer, x), expected)
        torch.testing.assert_close(layer.to_torch()(x), expected)
        ffn = EXERCISES["08.position_wise_ffn"].reference(x, layer.linear1.weight, layer.linear1.bias,
                                                          layer.linear2.weight, layer.linear2.bias)
        torch.testing.assert_close(ffn, layer.linear2(torch.relu(layer.linear1(x))))
    # position-wise: permuting the positions permutes the output
    x, W1, b1, W2, b2 = EXERCISES["08.position_wise_ffn"].cases()[0]
    order = torch.randperm(x.shape[1])
    reference = EXERCISES["08.position_wise_ffn"].reference
    torch.testing.assert_close(reference(x[:, order], W1, b1, W2, b2), reference(x, W1, b1, W2, b2)[:, order])


def test_normalise_over_features_or_batch() -> None:
    x = torch.randn(4, 3, 5, dtype=F64)
    torch.testing.assert_close(nb08.normalise_over(x, -1, 0.0), nn.functional.layer_norm(x, (5,), eps=0.0))
    over_batch = nb08.normalise_over(x, 0)
    torch.testing.assert_close(over_batch.mean(dim=0), torch.zeros(3, 5, dtype=F64))
    changed = x.clone()
    changed[1] += 10.0  # another sample: layer norm of sample 0 does not move, batch statistics do
    torch.testing.assert_close(nb08.normalise_over(changed, -1)[0], nb08.normalise_over(x, -1)[0])
    assert not torch.allclose(nb08.normalise_over(changed, 0)[0], over_batch[0])


def test_task_data_and_baselines() -> None:
    data = nb08.task_data()
    assert data.eval_batch.inputs.shape == (nb08.EVAL_WINDOWS, nb08.WINDOW) and data.mask_id == len(data.vocab)
    assert torch.equal(data.eval_batch.hidden.sum(dim=1), torch.ones(nb08.EVAL_WINDOWS, dtype=torch.long))
    accuracies = nb08.baseline_accuracies(data)
    assert list(accuracies) == ["unigram", "left bigram", "right bigram", "both neighbours"]
    assert accuracies["unigram"] < accuracies["left bigram"] < accuracies["both neighbours"] < 1
    shown = nb08.show_window(data.eval_batch.inputs[0], data.vocab, data.mask_id)
    assert len(shown) == nb08.WINDOW and shown.count("_") == 1


@pytest.fixture(scope="module")
def models() -> dict[str, MaskedCharEncoder]:
    vocab_size = len(nb08.task_data().vocab)
    return {"a": build_masked_char_encoder(SMALL, vocab_size, 0), "b": build_masked_char_encoder(SMALL, vocab_size, 1)}


def test_gap_view(models) -> None:
    vocab = nb08.task_data().vocab
    view = nb08.gap_view(models["a"], vocab, "the time machine", 4, layer=2, head=1)
    assert view.char == " " and view.shown == "the_time machine" and view.weights.shape == (2, 2, 16, 16)
    assert abs(float(view.probabilities.sum()) - 1) < 1e-5 and len(view.top) == 5
    row = view.weights[1, 0, 3]
    assert view.neighbour_weight == pytest.approx(float(row[2] + row[4]))
    assert view.distance == pytest.approx(float((row * (torch.arange(16) - 3).abs()).sum()))
    single = nb08.gap_view(models["a"], vocab, "a", 1)  # a window of one character: only the gap
    assert single.neighbour_weight == 0.0 and single.weights.shape == (2, 2, 1, 1)
    for text, position, layer, head, message in [
        ("", 1, 1, 1, "empty"), ("The", 1, 1, 1, "never saw"), ("abc", 4, 1, 1, "position must be"),
        ("abc", 1, 3, 1, "layer must be"), ("abc", 1, 1, 0, "head must be"), ("a" * 65, 1, 1, 1, "at most 64"),
    ]:
        with pytest.raises(ValueError, match=message):
            nb08.gap_view(models["a"], vocab, text, position, layer, head)


def test_head_distances_and_layer_difference(models) -> None:
    data = nb08.task_data()
    batch = type(data.eval_batch)(*(field[:20] for field in data.eval_batch))
    distances = nb08.head_distances(models["a"], batch)
    gaps = nb08.head_distances(models["a"], batch, gaps_only=True)
    assert distances.shape == gaps.shape == (2, 2) and (distances > 0).all()
    assert nb08.layer_difference(models["a"]) == 0.0  # the layers start as copies of one
    changed = build_masked_char_encoder(SMALL, len(data.vocab), 0)
    with torch.no_grad():
        changed.encoder.layers[1].linear1.weight.add_(1.0)
    assert nb08.layer_difference(changed) > 0.1
    with pytest.raises(ValueError, match="one layer"):
        nb08.layer_difference(build_masked_char_encoder(MaskedCharConfig(num_layers=1, d_model=8, nhead=2), 28, 0))


def test_attention_explorer_recomputes_and_explains(models) -> None:
    vocab = nb08.task_data().vocab
    explorer = nb08.attention_explorer(models, vocab, "the time machine", 4)
    assert explorer.result.position == 4 and explorer.result.char == " " and explorer.error is None
    before = explorer.result.probabilities
    explorer.controls["model"].value = "b"
    assert not torch.allclose(explorer.result.probabilities, before)  # another model computes another answer
    explorer.controls["text"].value = "ab"  # the slider shrinks to the window; the gap moves inside it
    assert explorer.controls["position"].max == 2 and explorer.error is None and explorer.result.position == 2
    assert explorer.result.char == "b"
    explorer.controls["text"].value = "AB"
    assert explorer.result is None and "never saw" in explorer.error
    plt.close("all")


def test_signal_explorer_and_stack_signals() -> None:
    explorer = nb08.signal_explorer(num_layers=3)
    assert explorer.result.activation_rms.shape == (4,)
    explorer.controls["layer_norm"].value = False  # residuals alone: the sum grows layer after layer
    assert explorer.result.activation_rms[-1] > explorer.result.activation_rms[0] and explorer.error is None
    explorer.controls["num_layers"].value = 1
    assert explorer.result.similarity.shape == (2,) and explorer.error is None
    signals = nb08.stack_signals(2, seeds=(0,))
    assert list(signals) == list(nb08.SIGNAL_ARMS) and len(signals["neither"]) == 1
    fig = plt.figure()
    nb08.plot_stack_signals(fig, signals)
    plt.close("all")


def _fake_results(path) -> None:
    runs = []
    for arm in ("pre-norm", "no residual", "no layer norm"):
        for seed in (0, 1):
            accuracy = 0.4 + 0.01 * seed if arm == "pre-norm" else 0.19
            run = {"setting": "2 layers", "arm": arm, "seed": seed, "config": {}, "accuracy": accuracy,
                   "final_loss": 2.0, "diverged_at": None,
                   "curve": [{"step": 10, "train_loss": 2.5, "accuracy": accuracy}]}
            if arm == "no layer norm" and seed == 1:
                run.update(accuracy=None, final_loss=None, diverged_at=7, curve=[])
            runs.append(run)
    settings = {"settings": {"2 layers": {"title": "2 layers"}}}
    path.write_text(json.dumps({"settings": settings, "runs": runs}))


def test_load_ablation_reads_summarises_and_refuses(tmp_path) -> None:
    path = tmp_path / "ablation.json"
    _fake_results(path)
    results = nb08.load_ablation(path)
    assert results.setting_names == ["2 layers"]
    assert results.arms("2 layers") == ["pre-norm", "no residual", "no layer norm"]
    summary = results.summary("2 layers", "pre-norm")
    assert summary.accuracies == pytest.approx((0.4, 0.41)) and summary.low == 0.4 and not summary.diverged
    assert summary.mean == pytest.approx(0.405)
    broken = results.summary("2 layers", "no layer norm")
    assert broken.accuracies == (0.19,) and broken.diverged == ((1, 7),)
    table = results.table("2 layers")
    assert "no residual" in table and "diverged at step 7" in table
    with pytest.raises(KeyError, match="no runs"):
        results.summary("2 layers", "neither")
    fig = plt.figure()
    nb08.plot_ablation_curves(fig, results, {"unigram": 0.19})
    plt.close("all")
    with pytest.raises(FileNotFoundError, match="bench/encoder_ablation.py"):
        nb08.load_ablation(tmp_path / "missing.json")
    path.write_text(json.dumps({"runs": []}))
    with pytest.raises(ValueError, match="missing"):
        nb08.load_ablation(path)
    path.write_text(json.dumps({"settings": {}, "runs": [{"setting": "x", "arm": "nope", "seed": 0, "config": {},
                                                         "curve": [], "accuracy": 0, "final_loss": 0,
                                                         "diverged_at": None}]}))
    with pytest.raises(ValueError, match="unknown arm"):
        nb08.load_ablation(path)


def test_the_shipped_result_file_has_every_setting() -> None:
    if not nb08.RESULTS_PATH.exists():
        pytest.skip("the result file is made by bench/encoder_ablation.py")
    results = nb08.load_ablation()
    assert set(results.setting_names) == {"2 layers", "2 layers, lr 0.01", "6 layers", "12 layers",
                                          "12 layers, lr 0.005"}
    assert set(results.arms("2 layers")) == set(ARMS)
    run = results.select(setting="2 layers", arm="pre-norm")[0]
    assert run["seed"] == 0 and MaskedCharConfig(**run["config"]).with_arm("pre-norm") == MaskedCharConfig()
    assert len(run["losses"]) == MaskedCharConfig().steps


def test_attention_plots_draw(models) -> None:
    view = nb08.gap_view(models["a"], nb08.task_data().vocab, "the time machine", 4)
    fig = plt.figure()
    nb08.plot_attention_heads(fig, view.weights, view.shown, "title", gap=3)
    fig, ax = plt.subplots()
    nb08.plot_head_distances(ax, torch.ones(2, 2), torch.full((2, 2), 0.5), uniform=5.3)
    plt.close("all")

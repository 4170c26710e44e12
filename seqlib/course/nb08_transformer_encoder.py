"""Notebook 08 · the Transformer encoder: what the notebook shows and asks, computed here.

* **The notes' encoder.**  "동일한 학습구조를 가지는 독립된 인코더와 디코더의 스택으로 구성된다" (it is made of
  stacks of independent encoders and decoders with the same structure) and "encoder = Self-Attention +
  Feed Forward Neural Network".  The notebook builds seqlib's encoder layer and stack, shows each part
  (layer normalisation, residual connections, the position-wise feed-forward network) on numbers small
  enough to check by hand, and asserts that they equal ``torch.nn``'s.
* **The task** (:func:`task_data`): fill in a hidden character of *The Time Machine* from both sides,
  with the count baselines of :mod:`seqlib.encoder_tasks` beside the trained encoder
  (:func:`baseline_accuracies`, :func:`show_window`).
* **Attention before and after training**: :func:`gap_view` (one window with a gap, every layer's and
  head's weights, the model's guesses), :func:`head_distances` (how far each head looks),
  :func:`plot_attention_heads`, :func:`plot_head_distances`, and the widget :func:`attention_explorer`.
* **What residuals and layer normalisation buy**: at initialisation, :func:`stack_signals` and
  :func:`plot_stack_signals` (and the widget :func:`signal_explorer`); after training, the ablation's
  result file ``data/results/encoder_ablation.json`` written by ``bench/encoder_ablation.py``
  (:func:`load_ablation`, :class:`AblationResults`, :func:`plot_ablation_curves`).
* **Exercises** ``08.layer_norm``, ``08.sublayer_connection``, ``08.position_wise_ffn``,
  ``08.encoder_layer``.

Shape legend: B batch (windows), T window length, d ``d_model``, V vocabulary size (the mask token is
id V), N layers.
"""

from __future__ import annotations

import functools
import html
import json
import statistics
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import NamedTuple

import ipywidgets as widgets
import matplotlib.pyplot as plt
import torch
from torch import Tensor, nn

from seqlib.course.checker import Exercise, Mistake, register
from seqlib.course.explorer import Explorer
from seqlib.course.leaderboard import standard_split
from seqlib.data import Vocab
from seqlib.encoder_tasks import (
    ARMS,
    BASELINES,
    CountBaselines,
    MaskedBatch,
    MaskedCharEncoder,
    StackSignal,
    baseline_predictions,
    fit_count_baselines,
    mean_attention_distance,
    one_gap_per_window,
    signal_through_stack,
)
from seqlib.transformer import LayerNorm, TransformerEncoderLayer

RESULTS_PATH = Path(__file__).resolve().parents[2] / "data" / "results" / "encoder_ablation.json"
EVAL_WINDOWS = 2000
EVAL_SEED = 1234
WINDOW = 16
MASK_CHAR = "_"

__all__ = [
    "RESULTS_PATH",
    "EVAL_WINDOWS",
    "EVAL_SEED",
    "WINDOW",
    "MASK_CHAR",
    "TaskData",
    "task_data",
    "show_window",
    "baseline_accuracies",
    "normalise_over",
    "GapView",
    "gap_view",
    "head_distances",
    "layer_difference",
    "plot_attention_map",
    "plot_attention_heads",
    "plot_head_distances",
    "attention_explorer",
    "stack_signals",
    "plot_stack_signals",
    "signal_explorer",
    "ArmSummary",
    "AblationResults",
    "load_ablation",
    "plot_ablation_curves",
]


# --------------------------------------------------------------------------------------------------
# The task's data
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TaskData:
    """The leaderboard's text (letters and spaces; first 90 % train, last 10 % validation) and the fixed
    evaluation gaps: ``eval_batch`` holds ``EVAL_WINDOWS`` validation windows of ``WINDOW`` characters,
    one hidden character each (never at either end); ``counts`` the training text's character counts."""

    train: Tensor
    val: Tensor
    vocab: Vocab
    mask_id: int
    eval_batch: MaskedBatch
    counts: CountBaselines


@functools.lru_cache(maxsize=1)
def task_data() -> TaskData:
    """The masked-character task's data (cached; about 0.1 s the first time)."""
    split = standard_split()
    V = len(split.vocab)
    eval_batch = one_gap_per_window(split.val, EVAL_WINDOWS, WINDOW, V, torch.Generator().manual_seed(EVAL_SEED))
    return TaskData(split.train, split.val, split.vocab, V, eval_batch, fit_count_baselines(split.train, V))


def show_window(ids: Tensor, vocab: Vocab, mask_id: int) -> str:
    """A window of ids as text, the mask token shown as ``_``."""
    return "".join(MASK_CHAR if i == mask_id else vocab.to_tokens(i) for i in ids.tolist())


def baseline_accuracies(data: TaskData) -> dict[str, float]:
    """Each count baseline's share of the evaluation gaps filled in right (see ``seqlib.encoder_tasks.BASELINES``)."""
    truth = data.eval_batch.targets[data.eval_batch.hidden]  # (N_gap,) the hidden characters
    guesses = baseline_predictions(data.counts, data.eval_batch)
    return {name: float((guesses[name] == truth).double().mean()) for name in BASELINES}


def normalise_over(x: Tensor, dim: int | tuple[int, ...], eps: float = 1e-5) -> Tensor:
    """(x - mean) / √(Var + ε) with the mean and the (biased) variance taken over ``dim``.

    ``dim=-1`` is layer normalisation without γ and β (each position's features); ``dim=0`` normalises
    each feature over the batch instead, as batch normalisation does.
    """
    mean = x.mean(dim=dim, keepdim=True)
    var = (x - mean).pow(2).mean(dim=dim, keepdim=True)
    return (x - mean) / torch.sqrt(var + eps)


# --------------------------------------------------------------------------------------------------
# One window with a gap: what the model guesses and where its heads look
# --------------------------------------------------------------------------------------------------


def _label(ch: str) -> str:
    return "␣" if ch == " " else ch


class GapView(NamedTuple):
    """A model reading one window with one hidden character.

    ``text`` the window as given; ``position`` (1-based) and ``char`` the hidden character; ``shown``
    the window as the model sees it (``_`` at the gap); ``weights`` (N, nhead, T, T) every layer's
    attention, per head; ``probabilities`` (V,) the model's distribution at the gap; ``top`` its five
    likeliest characters with their probabilities; ``layer`` and ``head`` (1-based) the map selected;
    ``neighbour_weight`` the weight that head puts, from the gap, on the two characters beside it;
    ``distance`` how far that head looks from the gap (Σ_j α_gap,j |gap - j|).
    """

    text: str
    position: int
    char: str
    shown: str
    weights: Tensor
    probabilities: Tensor
    top: list[tuple[str, float]]
    layer: int
    head: int
    neighbour_weight: float
    distance: float


def _text_ids(text: str, vocab: Vocab, max_len: int) -> Tensor:
    if not isinstance(text, str) or not text:
        raise ValueError("the window is empty: type at least one character")
    if len(text) > max_len:
        raise ValueError(f"the window has {len(text)} characters; the model takes at most {max_len}")
    unknown = sorted({ch for ch in text if ch not in vocab.token_to_idx or ch == vocab.UNK})
    if unknown:
        raise ValueError(f"the window holds characters the model never saw: {''.join(unknown)!r} "
                         "(it reads lower-case letters and spaces only)")
    return torch.tensor(vocab.encode(list(text)), dtype=torch.long)  # (T,)


def _check_index(name: str, value: object, high: int, what: str) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= high:
        raise ValueError(f"{name} must be an int from 1 to {high} ({what}), got {value!r}")


@torch.no_grad()
def gap_view(
    model: MaskedCharEncoder, vocab: Vocab, text: str, position: int, layer: int = 1, head: int = 1
) -> GapView:
    """Hide the character at ``position`` (1-based) of ``text`` and run ``model`` on the window."""
    if not isinstance(model, MaskedCharEncoder):
        raise ValueError(f"model must be a MaskedCharEncoder, got {type(model).__name__}")
    ids = _text_ids(text, vocab, model.positional.max_len)
    T = len(ids)
    _check_index("position", position, T, "a character of the window")
    num_layers, nhead = len(model.encoder.layers), model.encoder.layers[0].self_attn.num_heads
    _check_index("layer", layer, num_layers, "the model's layers")
    _check_index("head", head, nhead, "the heads of a layer")
    gap = position - 1
    shown_ids = ids.clone()
    shown_ids[gap] = model.mask_id
    was_training = model.training
    model.eval()
    logits, trace = model(shown_ids[None], return_trace=True)  # (1, T, V)
    model.train(was_training)
    weights = torch.stack([w[0] for w in trace.self_attn_weights])  # (N, nhead, T, T)
    probabilities = logits[0, gap].softmax(dim=-1)  # (V,)
    best = probabilities.topk(min(5, len(probabilities)))
    top = [(vocab.to_tokens(int(i)), float(p)) for p, i in zip(best.values, best.indices, strict=True)]
    row = weights[layer - 1, head - 1, gap]  # (T,) where the gap looks
    neighbours = [j for j in (gap - 1, gap + 1) if 0 <= j < T]
    distance = float((row * (torch.arange(T) - gap).abs()).sum())
    return GapView(text, position, text[gap], show_window(shown_ids, vocab, model.mask_id), weights, probabilities,
                   top, layer, head, float(row[neighbours].sum()) if neighbours else 0.0, distance)


@torch.no_grad()
def head_distances(model: MaskedCharEncoder, batch: MaskedBatch, gaps_only: bool = False) -> Tensor:
    """(N, nhead) mean attention distance of every head over ``batch`` (all queries, or the gaps only)."""
    was_training = model.training
    model.eval()
    _, trace = model(batch.inputs, return_trace=True)
    model.train(was_training)
    queries = batch.hidden if gaps_only else None
    return torch.stack([mean_attention_distance(w, queries) for w in trace.self_attn_weights])


def layer_difference(model: MaskedCharEncoder) -> float:
    """How different the stack's layers are: min over pairs of layers (a, b) of ‖θ_a − θ_b‖ / ‖θ_a‖, with
    θ a layer's parameters as one vector.  0 when two layers are identical (every layer starts as a copy
    of the same one, as in ``torch.nn.TransformerEncoder``)."""
    vectors = [torch.cat([p.detach().flatten() for p in layer.parameters()]) for layer in model.encoder.layers]
    if len(vectors) < 2:
        raise ValueError("the stack has one layer: nothing to compare it with")
    return min(float((a - b).norm() / a.norm()) for k, a in enumerate(vectors) for b in vectors[k + 1 :])


def plot_attention_map(ax: plt.Axes, weights: Tensor, labels: str, title: str, gap: int | None = None) -> plt.Axes:
    """One head's (T, T) weights as a heat map: queries (rows) and keys (columns) labelled by character;
    ``gap`` (0-based) outlines the hidden character's row.  Returns the image for a colour bar."""
    T = weights.shape[-1]
    image = ax.imshow(weights.numpy(), cmap="viridis", vmin=0.0, vmax=1.0, interpolation="nearest")
    ticks = [_label(ch) for ch in labels]
    ax.set_xticks(range(T), ticks, fontsize=7, fontfamily="monospace")
    ax.set_yticks(range(T), ticks, fontsize=7, fontfamily="monospace")
    ax.set_xlabel("key j (attended to)", fontsize=8)
    ax.set_ylabel("query i", fontsize=8)
    ax.set_title(title, fontsize=9)
    if gap is not None:
        ax.add_patch(plt.Rectangle((-0.5, gap - 0.5), T, 1, fill=False, edgecolor="red", lw=1.5))
    return image


def plot_attention_heads(fig: plt.Figure, weights: Tensor, labels: str, title: str, gap: int | None = None) -> None:
    """Every layer's and head's map, (N, nhead, T, T): one row per layer, one column per head, one colour bar."""
    num_layers, nhead = weights.shape[:2]
    axes = fig.subplots(num_layers, nhead, squeeze=False, gridspec_kw={"hspace": 0.45, "wspace": 0.3})
    image = None
    for layer in range(num_layers):
        for head in range(nhead):
            image = plot_attention_map(axes[layer, head], weights[layer, head], labels,
                                       f"layer {layer + 1}, head {head + 1}", gap)
    fig.suptitle(title, fontsize=10)
    fig.colorbar(image, ax=axes, fraction=0.02, pad=0.02, label="attention weight α_ij")


def plot_head_distances(ax: plt.Axes, before: Tensor, after: Tensor, uniform: float) -> None:
    """Bars of every head's mean attention distance, (N, nhead) before and after training, and the
    distance of a uniform head for reference."""
    num_layers, nhead = before.shape
    names = [f"L{layer + 1}H{head + 1}" for layer in range(num_layers) for head in range(nhead)]
    x = torch.arange(len(names)).float()
    ax.bar(x - 0.2, before.flatten().numpy(), width=0.4, label="before training", color="C7")
    ax.bar(x + 0.2, after.flatten().numpy(), width=0.4, label="after training", color="C0")
    ax.axhline(uniform, color="k", ls=":", lw=1, label=f"uniform over the window ({uniform:.2f})")
    ax.axhline(1.0, color="C3", ls="--", lw=1, label="only the two neighbours (1)")
    ax.set_xticks(x.tolist(), names)
    ax.set_xlabel("head (L = layer, H = head)")
    ax.set_ylabel("mean |i − j| under α (positions)")
    ax.set_title("How far each head looks, averaged over every query of the evaluation windows", fontsize=10)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))


def attention_explorer(
    models: dict[str, MaskedCharEncoder], vocab: Vocab, text: str, position: int, layer: int = 1, head: int = 1,
) -> Explorer:
    """A window box, a gap slider, a layer and a head, and a choice of model (e.g. before/after training).

    Each move runs :func:`gap_view`: the selected head's heat map (the gap's row outlined), the model's
    five likeliest characters for the gap, and a summary line.
    """
    if not models:
        raise ValueError("give at least one model")
    first = next(iter(models.values()))
    num_layers, nhead = len(first.encoder.layers), first.encoder.layers[0].self_attn.num_heads

    def compute(model: str, text: str, position: int, layer: int, head: int) -> GapView:
        return gap_view(models[model], vocab, text, position, layer, head)

    def draw(view: GapView, fig: plt.Figure) -> None:
        ax_map, ax_bar = fig.subplots(1, 2, gridspec_kw={"width_ratios": [3, 1.3]})
        image = plot_attention_map(ax_map, view.weights[view.layer - 1, view.head - 1], view.shown,
                                   f"layer {view.layer}, head {view.head}: “{view.shown}”", view.position - 1)
        fig.colorbar(image, ax=ax_map, fraction=0.046, pad=0.04, label="attention weight α_ij")
        chars = [_label(ch) for ch, _ in view.top][::-1]
        probs = [p for _, p in view.top][::-1]
        colors = ["C2" if ch == _label(view.char) else "C7" for ch in chars]
        ax_bar.barh(range(len(chars)), probs, color=colors)
        ax_bar.set_yticks(range(len(chars)), chars, fontfamily="monospace")
        ax_bar.set_xlim(0, 1)
        ax_bar.set_xlabel("probability")
        ax_bar.set_title(f"guesses for the gap (truth: {_label(view.char)})", fontsize=9)
        fig.tight_layout()

    def describe(view: GapView) -> str:
        guess, p = view.top[0]
        verdict = "right" if guess == view.char else "wrong"
        return (f"gap at {view.position} (“{html.escape(_label(view.char))}”): the model says "
                f"“{html.escape(_label(guess))}” with p = {p:.2f} ({verdict}); layer {view.layer}, head {view.head} "
                f"puts {view.neighbour_weight:.0%} of the gap's attention on its two neighbours and looks "
                f"{view.distance:.2f} positions away on average")

    controls = {
        "model": widgets.ToggleButtons(options=list(models), value=next(iter(models)), description="model"),
        "text": widgets.Text(value=text, description="window", continuous_update=False),
        "position": widgets.IntSlider(value=position, min=1, max=max(1, len(text)), description="gap at",
                                      continuous_update=False),
        "layer": widgets.IntSlider(value=layer, min=1, max=num_layers, description="layer", continuous_update=False),
        "head": widgets.IntSlider(value=head, min=1, max=nhead, description="head", continuous_update=False),
    }

    def fit_slider(change: dict) -> None:  # a new window: the gap slider spans its characters
        controls["position"].max = max(1, len(change["new"]))

    controls["text"].observe(fit_slider, names="value")
    return Explorer(compute, controls, draw, describe, figsize=(10.0, 4.6))


# --------------------------------------------------------------------------------------------------
# The signal through a deep stack at initialisation
# --------------------------------------------------------------------------------------------------

SIGNAL_ARMS = {
    "residual + LayerNorm (post-norm)": {"residual": True, "layer_norm": True, "norm_first": False},
    "residual + LayerNorm (pre-norm)": {"residual": True, "layer_norm": True, "norm_first": True},
    "no residual (post-norm LayerNorm)": {"residual": False, "layer_norm": True, "norm_first": False},
    "residual, no LayerNorm": {"residual": True, "layer_norm": False, "norm_first": False},
    "neither": {"residual": False, "layer_norm": False, "norm_first": False},
}


def stack_signals(num_layers: int, seeds: tuple[int, ...] = (0, 1, 2)) -> dict[str, list[StackSignal]]:
    """:func:`~seqlib.encoder_tasks.signal_through_stack` for every arm of ``SIGNAL_ARMS`` and seed."""
    return {name: [signal_through_stack(num_layers, **arm, seed=seed) for seed in seeds]
            for name, arm in SIGNAL_ARMS.items()}


def plot_stack_signals(fig: plt.Figure, signals: dict[str, list[StackSignal]]) -> None:
    """Three panels against depth: the activations' RMS, the gradient's norm, the similarity of positions
    (one line per arm and seed)."""
    axes = fig.subplots(1, 3)
    panels = [("activation_rms", "RMS of the activations", True),
              ("gradient_norm", "‖∂L/∂x‖ at the layer's output", True),
              ("similarity", "mean cosine similarity of positions", False)]
    for ax, (field, title, log) in zip(axes, panels, strict=True):
        for k, (name, runs) in enumerate(signals.items()):
            for s, signal in enumerate(runs):
                values = getattr(signal, field)
                ax.plot(range(len(values)), values.numpy(), color=f"C{k}", lw=1.2, alpha=0.8,
                        label=name if s == 0 else None)
        ax.set_xlabel("layer (0 = the stack's input)")
        ax.set_title(title, fontsize=10)
        if log:
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
    axes[2].set_ylim(-0.05, 1.05)
    axes[0].set_ylabel("value (one line per seed)")
    axes[0].legend(fontsize=7)
    fig.tight_layout()


def signal_explorer(num_layers: int = 12) -> Explorer:
    """Depth, residual, LayerNorm and its place: the signal through a fresh stack (:func:`signal_through_stack`)."""

    def compute(num_layers: int, residual: bool, layer_norm: bool, norm_first: bool, seed: int) -> StackSignal:
        return signal_through_stack(num_layers, residual=residual, layer_norm=layer_norm, norm_first=norm_first,
                                    seed=seed)

    def draw(signal: StackSignal, fig: plt.Figure) -> None:
        plot_stack_signals(fig, {"this stack": [signal]})

    def describe(signal: StackSignal) -> str:
        N = len(signal.activation_rms) - 1
        return (f"after {N} layers: activations' RMS {signal.activation_rms[-1]:.3g} (input "
                f"{signal.activation_rms[0]:.3g}); gradient at the input {signal.gradient_norm[0]:.3g} against "
                f"{signal.gradient_norm[-1]:.3g} at the output; positions' cosine similarity "
                f"{signal.similarity[-1]:.2f} (input {signal.similarity[0]:.2f})")

    controls = {
        "num_layers": widgets.IntSlider(value=num_layers, min=1, max=48, description="layers N",
                                        continuous_update=False),
        "residual": widgets.Checkbox(value=True, description="residual connections"),
        "layer_norm": widgets.Checkbox(value=True, description="layer normalisation"),
        "norm_first": widgets.Checkbox(value=False, description="pre-norm (norm_first)"),
        "seed": widgets.IntSlider(value=0, min=0, max=9, description="seed", continuous_update=False),
    }
    return Explorer(compute, controls, draw, describe, figsize=(13.0, 3.6))


# --------------------------------------------------------------------------------------------------
# The ablation's result file, written by bench/encoder_ablation.py
# --------------------------------------------------------------------------------------------------


class ArmSummary(NamedTuple):
    """One arm of one setting over its seeds.  ``accuracies`` and ``losses``: the final accuracy on the
    evaluation gaps and the final training loss of every run that finished (by seed); ``mean``, ``low``,
    ``high`` over those (NaN when none finished); ``diverged``: ``(seed, step)`` of every run that diverged."""

    arm: str
    accuracies: tuple[float, ...]
    mean: float
    low: float
    high: float
    losses: tuple[float, ...]
    diverged: tuple[tuple[int, int], ...]


@dataclass
class AblationResults:
    """``data/results/encoder_ablation.json``: ``settings`` (what the runs shared, the machine, the
    command) and ``runs`` (one dict per run: ``setting``, ``arm``, ``seed``, ``config``, ``curve``,
    ``losses``, ``diverged_at`` (the step at which a loss or a parameter became NaN or infinite, else None),
    ``accuracy`` and ``final_loss`` (None for a diverged run), ``distance_before``/``distance_after``
    (N, nhead) over all queries, ``gap_distance_before``/``gap_distance_after`` at the gaps,
    ``layer_difference``, ``seconds``)."""

    settings: dict
    runs: list[dict]

    def select(self, **conditions) -> list[dict]:
        chosen = [run for run in self.runs if all(run.get(k) == v for k, v in conditions.items())]
        return sorted(chosen, key=lambda run: run["seed"])

    @property
    def setting_names(self) -> list[str]:
        return list(dict.fromkeys(run["setting"] for run in self.runs))

    def arms(self, setting: str) -> list[str]:
        return list(dict.fromkeys(run["arm"] for run in self.runs if run["setting"] == setting))

    def summary(self, setting: str, arm: str) -> ArmSummary:
        runs = self.select(setting=setting, arm=arm)
        if not runs:
            raise KeyError(f"no runs for setting={setting!r}, arm={arm!r}; arms: {', '.join(self.arms(setting))}")
        finished = [run for run in runs if run.get("diverged_at") is None]
        accuracies = tuple(float(run["accuracy"]) for run in finished)
        nan = float("nan")
        return ArmSummary(
            arm, accuracies, statistics.fmean(accuracies) if accuracies else nan,
            min(accuracies, default=nan), max(accuracies, default=nan),
            tuple(float(run["final_loss"]) for run in finished),
            tuple((run["seed"], run["diverged_at"]) for run in runs if run.get("diverged_at") is not None),
        )

    def table(self, setting: str) -> str:
        """The setting's arms as aligned text: accuracy mean and min–max, and per seed the accuracy (or the
        step where the run diverged) and the final training loss."""
        lines = [f"{'arm':14s} {'accuracy mean':>13s}  {'min–max':>11s}   per seed: accuracy (final training loss)"]
        for arm in self.arms(setting):
            s = self.summary(setting, arm)
            cells = []
            for run in self.select(setting=setting, arm=arm):
                if run.get("diverged_at") is None:
                    cells.append(f"{run['accuracy']:.3f} ({run['final_loss']:.3f})")
                else:
                    cells.append(f"diverged at step {run['diverged_at']}")
            spread = f"{s.low:.3f}–{s.high:.3f}" if s.accuracies else "–"
            lines.append(f"{arm:14s} {s.mean:13.3f}  {spread:>11s}   " + ", ".join(cells))
        return "\n".join(lines)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1, sort_keys=True) + "\n"


def load_ablation(path: str | Path | None = None) -> AblationResults:
    """Read the bench's result file (default ``data/results/encoder_ablation.json``)."""
    path = RESULTS_PATH if path is None else Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no result file; run `python bench/encoder_ablation.py` to make it")
    data = json.loads(path.read_text(encoding="utf-8"))
    missing = {"settings", "runs"} - set(data)
    if missing:
        raise ValueError(f"{path}: not an encoder-ablation result file (missing {sorted(missing)})")
    for k, run in enumerate(data["runs"]):
        absent = {"setting", "arm", "seed", "config", "curve", "accuracy", "final_loss", "diverged_at"} - set(run)
        if absent:
            raise ValueError(f"{path}: run {k} lacks {sorted(absent)}")
        if run["arm"] not in ARMS:
            raise ValueError(f"{path}: run {k} has an unknown arm {run['arm']!r}")
    return AblationResults(data["settings"], data["runs"])


ARM_COLORS = {"pre-norm": "C0", "post-norm": "C1", "no residual": "C3", "no layer norm": "C2", "neither": "C7"}


def plot_ablation_curves(fig: plt.Figure, results: AblationResults, baselines: dict[str, float] | None = None) -> None:
    """Accuracy on the evaluation gaps against training steps, one panel per setting, one thin line per
    seed, one colour per arm (a cross where a run diverged); the count baselines as horizontal lines."""
    names = results.setting_names
    axes = fig.subplots(1, len(names), sharey=True, squeeze=False)[0]
    for ax, setting in zip(axes, names, strict=True):
        for arm in results.arms(setting):
            for k, run in enumerate(results.select(setting=setting, arm=arm)):
                steps = [point["step"] for point in run["curve"]]
                accuracy = [point["accuracy"] for point in run["curve"]]
                color = ARM_COLORS.get(arm, "k")
                ax.plot(steps, accuracy, color=color, lw=1.2, alpha=0.85, marker="." if len(steps) < 2 else None,
                        label=arm if k == 0 else None)
                if run.get("diverged_at") is not None:  # a cross on the step axis where the run diverged
                    ax.plot([run["diverged_at"]], [0.03], "x", color=color, ms=9, mew=2, clip_on=False,
                            transform=ax.get_xaxis_transform(), label=f"{arm}: diverged at this step")
        for k, (name, value) in enumerate((baselines or {}).items()):
            ax.axhline(value, color="k", lw=0.8, ls=[":", "--", "-.", "-"][k % 4], alpha=0.6, label=f"count: {name}")
        ax.set_xlabel("training step")
        ax.set_title(results.settings["settings"][setting]["title"], fontsize=10)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("accuracy at the validation gaps")
    handles = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(label, handle)
    fig.legend(list(handles.values()), list(handles), loc="lower center", ncol=min(len(handles), 5), fontsize=8,
               bbox_to_anchor=(0.5, -0.02))
    fig.tight_layout(rect=(0, 0.1, 1, 1))


# --------------------------------------------------------------------------------------------------
# Exercises
# --------------------------------------------------------------------------------------------------


def _draw(generator: torch.Generator, *shape: int) -> Tensor:
    return torch.randn(*shape, generator=generator, dtype=torch.float64)


# --- 08.layer_norm --------------------------------------------------------------------------------


def layer_norm(x, gamma, beta, eps):
    # each position's features: mean and (biased) variance over the last axis only
    mean = x.mean(dim=-1, keepdim=True)  # μ (..., 1)
    var = ((x - mean) ** 2).mean(dim=-1, keepdim=True)  # Var[x] (..., 1), divided by d, not d - 1
    return gamma * (x - mean) / torch.sqrt(var + eps) + beta  # γ ⊙ x̂ + β


def _ln_over_batch(x, gamma, beta, eps):
    mean = x.mean(dim=0, keepdim=True)
    var = ((x - mean) ** 2).mean(dim=0, keepdim=True)
    return gamma * (x - mean) / torch.sqrt(var + eps) + beta


def _ln_over_sequence(x, gamma, beta, eps):
    mean = x.mean(dim=(-2, -1), keepdim=True)
    var = ((x - mean) ** 2).mean(dim=(-2, -1), keepdim=True)
    return gamma * (x - mean) / torch.sqrt(var + eps) + beta


def _ln_no_eps(x, gamma, beta, eps):
    mean = x.mean(dim=-1, keepdim=True)
    var = ((x - mean) ** 2).mean(dim=-1, keepdim=True)
    return gamma * (x - mean) / torch.sqrt(var) + beta


def _ln_eps_outside(x, gamma, beta, eps):
    mean = x.mean(dim=-1, keepdim=True)
    var = ((x - mean) ** 2).mean(dim=-1, keepdim=True)
    return gamma * (x - mean) / (torch.sqrt(var) + eps) + beta


def _ln_unbiased(x, gamma, beta, eps):
    mean = x.mean(dim=-1, keepdim=True)
    return gamma * (x - mean) / torch.sqrt(x.var(dim=-1, keepdim=True) + eps) + beta


def _ln_swapped(x, gamma, beta, eps):
    return layer_norm(x, beta, gamma, eps)


def _ln_not_centred(x, gamma, beta, eps):
    return gamma * x / torch.sqrt((x**2).mean(dim=-1, keepdim=True) + eps) + beta


def _ln_no_affine(x, gamma, beta, eps):
    return layer_norm(x, torch.ones_like(gamma), torch.zeros_like(beta), eps)


def _layer_norm_cases():
    generator = torch.Generator().manual_seed(81)
    constant = 2.0 + _draw(generator, 3, 4, 5)
    constant[1, 2] = 3.0  # one position whose features are all equal: its variance is 0
    return [
        (_draw(generator, 2, 3, 4), _draw(generator, 4), _draw(generator, 4), 1e-5),
        (constant, _draw(generator, 5), _draw(generator, 5), 1e-5),
        (3.0 * _draw(generator, 4, 2, 6), _draw(generator, 6), _draw(generator, 6), 0.5),
    ]


register(
    Exercise(
        name="08.layer_norm",
        title="layer normalisation",
        hint=(
            "normalise each position's vector of features on its own: its mean and its variance come from its "
            "own d features, never from other positions or other samples. The variance is the plain mean of the "
            "squared deviations (as torch's LayerNorm computes it), ε sits inside the square root, and γ scales what β "
            "then shifts."
        ),
        reference=layer_norm,
        cases=_layer_norm_cases,
        mistakes=[
            Mistake(
                "you normalised over the batch (dim 0): that is batch normalisation's statistic; layer "
                "normalisation takes the mean and variance over each position's own features (the last axis)",
                _ln_over_batch,
            ),
            Mistake(
                "you normalised over the whole sequence (positions and features together); each position is "
                "normalised on its own, over its d features",
                _ln_over_sequence,
            ),
            Mistake(
                "ε is missing: a position whose features are all equal has variance 0, and 0 / √0 gives NaN; "
                "ε inside the square root keeps the division finite",
                _ln_no_eps,
            ),
            Mistake("ε is outside the square root: (x − μ) / √(Var[x] + ε), as torch computes it",
                    _ln_eps_outside),
            Mistake(
                "you used the unbiased variance (divided by d − 1, torch.var's default); LayerNorm divides by d",
                _ln_unbiased,
            ),
            Mistake("γ and β are swapped: γ multiplies the normalised value, β is added", _ln_swapped),
            Mistake("you did not subtract the mean: dividing by the root mean square alone is RMSNorm",
                    _ln_not_centred),
            Mistake("γ and β are not applied: the normalised value is scaled by γ and shifted by β", _ln_no_affine),
        ],
    )
)


# --- 08.sublayer_connection -----------------------------------------------------------------------


def sublayer_connection(x, sublayer, norm, norm_first):
    if norm_first:
        return x + sublayer(norm(x))  # pre-norm: normalise what the sublayer reads; the residual stays raw
    return norm(x + sublayer(x))  # post-norm (the paper's "Add & Norm"): normalise the sum


def _sub_swapped(x, sublayer, norm, norm_first):
    return sublayer_connection(x, sublayer, norm, not norm_first)


def _sub_always_post(x, sublayer, norm, norm_first):
    return norm(x + sublayer(x))


def _sub_always_pre(x, sublayer, norm, norm_first):
    return x + sublayer(norm(x))


def _sub_no_residual(x, sublayer, norm, norm_first):
    return sublayer(norm(x)) if norm_first else norm(sublayer(x))


def _sub_normalised_residual(x, sublayer, norm, norm_first):
    if norm_first:
        h = norm(x)
        return h + sublayer(h)
    return norm(x + sublayer(x))


def _sub_twice(x, sublayer, norm, norm_first):
    return norm(x + sublayer(norm(x))) if norm_first else norm(x + sublayer(x))


def _sublayer_cases():
    generator = torch.Generator().manual_seed(82)

    def case(B: int, T: int, d: int, norm_first: bool) -> tuple:
        sublayer = nn.Linear(d, d).double()
        norm = LayerNorm(d).double()
        with torch.no_grad():
            for p in (*sublayer.parameters(), *norm.parameters()):
                p.copy_(_draw(generator, *p.shape))
        return (2.0 + _draw(generator, B, T, d), sublayer, norm, norm_first)

    return [case(2, 3, 4, False), case(2, 3, 4, True), case(1, 5, 3, True), case(3, 2, 5, False)]


register(
    Exercise(
        name="08.sublayer_connection",
        title="a residual sublayer connection, post-norm and pre-norm",
        hint=(
            "both forms add the sublayer's output to its input (the residual path); they differ in where the "
            "normalisation sits. Post-norm (the paper's 'Add & Norm') normalises the sum; pre-norm normalises only "
            "what the sublayer reads and leaves the residual path untouched."
        ),
        reference=sublayer_connection,
        cases=_sublayer_cases,
        mistakes=[
            Mistake("the two orders are swapped: norm_first=True is pre-norm x + Sublayer(LN(x)); False is post-norm "
                    "LN(x + Sublayer(x))", _sub_swapped),
            Mistake("you always compute post-norm LN(x + Sublayer(x)); with norm_first=True the norm comes first: "
                    "x + Sublayer(LN(x))", _sub_always_post),
            Mistake("you always compute pre-norm x + Sublayer(LN(x)); with norm_first=False the norm comes after the "
                    "sum: LN(x + Sublayer(x))", _sub_always_pre),
            Mistake("the residual is missing: the sublayer's input x must be added to its output", _sub_no_residual),
            Mistake("in pre-norm the residual path carries x itself, not LN(x): x + Sublayer(LN(x))",
                    _sub_normalised_residual),
            Mistake("pre-norm normalises once, before the sublayer; you also normalised the sum", _sub_twice),
        ],
    )
)


# --- 08.position_wise_ffn -------------------------------------------------------------------------


def position_wise_ffn(x, W1, b1, W2, b2):
    # the same two-layer network at every position: it acts on the last axis (features) only
    hidden = torch.relu(x @ W1.T + b1)  # (B, T, d_ff)
    return hidden @ W2.T + b2  # (B, T, d)


def _ffn_across_positions(x, W1, b1, W2, b2):
    return position_wise_ffn(x.transpose(1, 2), W1, b1, W2, b2).transpose(1, 2)


def _ffn_relu_at_the_end(x, W1, b1, W2, b2):
    return torch.relu(position_wise_ffn(x, W1, b1, W2, b2))


def _ffn_no_activation(x, W1, b1, W2, b2):
    return (x @ W1.T + b1) @ W2.T + b2


def _ffn_bias_outside(x, W1, b1, W2, b2):
    return (torch.relu(x @ W1.T) + b1) @ W2.T + b2


def _ffn_not_transposed(x, W1, b1, W2, b2):
    return torch.relu(x @ W1 + b1) @ W2 + b2


def _ffn_with_residual(x, W1, b1, W2, b2):
    return x + position_wise_ffn(x, W1, b1, W2, b2)


def _ffn_cases():
    generator = torch.Generator().manual_seed(83)

    def case(B: int, d: int, d_ff: int) -> tuple:  # T = d, so that a product over the positions fits too
        return (_draw(generator, B, d, d), _draw(generator, d_ff, d), _draw(generator, d_ff),
                _draw(generator, d, d_ff), _draw(generator, d))

    return [case(2, 3, 5), case(1, 4, 7), case(3, 2, 6)]


register(
    Exercise(
        name="08.position_wise_ffn",
        title="the position-wise feed-forward network",
        hint=(
            "'position-wise' means the same small network runs on every position separately: it transforms each "
            "position's features and never mixes positions (mixing is attention's job). Two linear maps with the "
            "nonlinearity between them, each bias inside its own layer; rows of x are positions, so the weights "
            "are applied transposed. The residual is not part of the FFN."
        ),
        reference=position_wise_ffn,
        cases=_ffn_cases,
        mistakes=[
            Mistake(
                "your network runs across positions: it mixes the T positions of each feature instead of the d "
                "features of each position; apply the weights to the last axis",
                _ffn_across_positions,
            ),
            Mistake("there is a ReLU after the second layer; the FFN ends with the linear map W₂ h + b₂",
                    _ffn_relu_at_the_end),
            Mistake("there is no nonlinearity: two linear maps in a row are one linear map", _ffn_no_activation),
            Mistake("b₁ is added after the ReLU; it belongs inside, ReLU(x W₁ᵀ + b₁)", _ffn_bias_outside),
            Mistake("the weights are not transposed: W₁ is (d_ff, d) like nn.Linear's weight, so rows of x meet W₁ᵀ",
                    _ffn_not_transposed),
            Mistake("you added the residual x: the sublayer connection adds it, the FFN itself does not",
                    _ffn_with_residual),
        ],
    )
)


# --- 08.encoder_layer -----------------------------------------------------------------------------


def encoder_layer(layer, x):
    # the layer's parts: layer.self_attn, layer.norm1, layer.linear1, layer.activation, layer.linear2, layer.norm2
    def self_attention(h):
        return layer.self_attn(h, h, h, need_weights=False)[0]  # queries, keys and values all from h

    def ffn(h):
        return layer.linear2(layer.activation(layer.linear1(h)))  # the same network at every position

    if layer.norm_first:  # pre-norm
        x = x + self_attention(layer.norm1(x))
        return x + ffn(layer.norm2(x))
    x = layer.norm1(x + self_attention(x))  # post-norm: "Add & Norm" after each sublayer
    return layer.norm2(x + ffn(x))


def _layer_parts(layer):
    def self_attention(h):
        return layer.self_attn(h, h, h, need_weights=False)[0]

    def ffn(h):
        return layer.linear2(layer.activation(layer.linear1(h)))

    return self_attention, ffn


def _layer_always_post(layer, x):
    sa, ffn = _layer_parts(layer)
    x = layer.norm1(x + sa(x))
    return layer.norm2(x + ffn(x))


def _layer_always_pre(layer, x):
    sa, ffn = _layer_parts(layer)
    x = x + sa(layer.norm1(x))
    return x + ffn(layer.norm2(x))


def _layer_norms_swapped(layer, x):
    sa, ffn = _layer_parts(layer)
    if layer.norm_first:
        x = x + sa(layer.norm2(x))
        return x + ffn(layer.norm1(x))
    x = layer.norm2(x + sa(x))
    return layer.norm1(x + ffn(x))


def _layer_no_ffn_residual(layer, x):
    sa, ffn = _layer_parts(layer)
    if layer.norm_first:
        x = x + sa(layer.norm1(x))
        return ffn(layer.norm2(x))
    x = layer.norm1(x + sa(x))
    return layer.norm2(ffn(x))


def _layer_no_attention_residual(layer, x):
    sa, ffn = _layer_parts(layer)
    if layer.norm_first:
        x = sa(layer.norm1(x))
        return x + ffn(layer.norm2(x))
    x = layer.norm1(sa(x))
    return layer.norm2(x + ffn(x))


def _layer_ffn_first(layer, x):
    sa, ffn = _layer_parts(layer)
    if layer.norm_first:
        x = x + ffn(layer.norm1(x))
        return x + sa(layer.norm2(x))
    x = layer.norm1(x + ffn(x))
    return layer.norm2(x + sa(x))


def _layer_no_activation(layer, x):
    sa, _ = _layer_parts(layer)

    def ffn(h):
        return layer.linear2(layer.linear1(h))

    if layer.norm_first:
        x = x + sa(layer.norm1(x))
        return x + ffn(layer.norm2(x))
    x = layer.norm1(x + sa(x))
    return layer.norm2(x + ffn(x))


def _encoder_layer_cases():
    generator = torch.Generator().manual_seed(84)

    def case(B: int, T: int, d: int, nhead: int, norm_first: bool) -> tuple:
        torch.manual_seed(int(torch.randint(10_000, (1,), generator=generator)))
        layer = TransformerEncoderLayer(d, nhead, dim_feedforward=2 * d + 1, dropout=0.0, batch_first=True,
                                        norm_first=norm_first).double()
        with torch.no_grad():  # LayerNorms that are not the identity, so swapping them shows
            for norm in (layer.norm1, layer.norm2):
                norm.weight.copy_(1.0 + 0.5 * _draw(generator, d))
                norm.bias.copy_(_draw(generator, d))
        return (layer, 1.5 * _draw(generator, B, T, d))

    return [case(2, 3, 4, 2, False), case(2, 4, 4, 1, True), case(1, 3, 6, 3, True), case(3, 2, 2, 2, False)]


register(
    Exercise(
        name="08.encoder_layer",
        title="build an encoder layer from its parts",
        hint=(
            "two sublayers in order, self-attention (queries, keys and values all from the same input) and then the "
            "feed-forward network, each inside its own residual connection with its own LayerNorm (norm1 goes with "
            "attention, norm2 with the FFN). Whether the norm comes before the sublayer or after the sum is the "
            "layer's norm_first."
        ),
        reference=encoder_layer,
        cases=_encoder_layer_cases,
        mistakes=[
            Mistake("you ignore layer.norm_first: this layer is pre-norm, x + Sublayer(LN(x)), and you computed "
                    "post-norm", _layer_always_post),
            Mistake("you ignore layer.norm_first: this layer is post-norm, LN(x + Sublayer(x)), and you computed "
                    "pre-norm", _layer_always_pre),
            Mistake("the norms are swapped: norm1 belongs to the attention sublayer, norm2 to the FFN",
                    _layer_norms_swapped),
            Mistake("the FFN has no residual connection: add its input back", _layer_no_ffn_residual),
            Mistake("the attention sublayer has no residual connection: add its input back",
                    _layer_no_attention_residual),
            Mistake("the sublayers are in the wrong order: self-attention first, then the FFN", _layer_ffn_first),
            Mistake("the FFN has no activation between linear1 and linear2 (use layer.activation)",
                    _layer_no_activation),
        ],
    )
)

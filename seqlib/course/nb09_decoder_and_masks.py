"""Notebook 09 · the decoder and its masks: what the notebook shows and asks, computed here.

The source notes' decoding paragraph ("마지막 encoder의 Key, Value 벡터가 decoder로 전달 … decoder에 들어가는
Query 벡터와 encoder의 Key, Value 벡터로 autoregressive하게 결과물이 하나씩 만들어지게 된다 … 미래에 있는 정보를
활용하지 않기 위해 masking 과정을 거친다") and what this module computes for each part of it:

* **Masks** (section 2): :func:`mask_view` runs scaled dot-product attention on a padded batch under no mask,
  the causal mask, the padding mask or both, and keeps the trace; :func:`plot_mask_grid` draws the masks beside
  the weights they produce; :func:`mask_explorer` is the widget.
* **What the mask is for** (section 3): :func:`leak_runs` trains small decoder-only models on *The Time
  Machine* with and without the causal mask and scores each on whole windows (as trained) and on prefixes (as
  when generating), with a greedy sample judged by the 5-gram of notebook 01 (:func:`judge_loss`).
* **The decoder-only model on the leaderboard** (section 4): :data:`CHAR_DECODER`, :func:`make_char_decoder`,
  the shipped checkpoint (:func:`load_checkpoint`) and result file (:func:`load_results`, written by
  ``bench/decoder_char_model.py``), :func:`plot_leaderboard_curves`.
* **Cross-attention** (section 5): :func:`train_reverse_models` (the toy reverse task of ``seqlib.seq2seq``),
  :func:`cross_attention_parts` (queries from the decoder, keys and values from the encoder's output, recomputed
  and compared with the model's trace), :func:`mirror_attention`, :func:`plot_cross_attention`.
* **Teacher forcing against free running** (section 6): :func:`exposure_bias`, :func:`plot_exposure_bias`.
* **Greedy decoding, one step at a time** (section 7): :func:`decoding_view`, :func:`decoding_explorer`,
  :func:`step_by_step_gap`.
* **Exercises** ``09.causal_mask``, ``09.padded_attention``, ``09.teacher_forcing_pair``,
  ``09.free_running``.

Mask convention (torch.nn's, as in all of seqlib): bool True = may not attend.
Shape legend: B batch, T query (target) length, S key (source) length, V vocabulary size, W context.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from seqlib.attention import causal_mask, combine_masks, padding_mask, scaled_dot_product_attention
from seqlib.course.checker import Exercise, Mistake, register
from seqlib.course.explorer import Explorer
from seqlib.course.leaderboard import standard_split
from seqlib.data import Vocab
from seqlib.decoder_models import DecoderLanguageModel, FullVsPrefix, full_vs_prefix, train_decoder_language_model
from seqlib.language_models import sample
from seqlib.ngram import NGramLanguageModel
from seqlib.seq2seq import (
    BOS_ID,
    EOS_ID,
    PAD_ID,
    TOY_VOCAB_SIZE,
    Seq2SeqTransformer,
    greedy_decode,
    toy_batch,
    toy_batches,
    train_seq2seq,
)

ROOT = Path(__file__).resolve().parents[2]
RESULTS_PATH = ROOT / "data" / "results" / "decoder_char_model.json"
CHECKPOINT_PATH = ROOT / "data" / "decoder_char_model.pt"
LSTM_RESULTS_PATH = ROOT / "data" / "results" / "lstm_char_model.json"

__all__ = [
    "RESULTS_PATH",
    "CHECKPOINT_PATH",
    "CHAR_DECODER",
    "MASK_KINDS",
    "MaskView",
    "mask_view",
    "format_mask",
    "plot_heatmap",
    "plot_mask_grid",
    "mask_explorer",
    "LEAK_MODEL",
    "LEAK_RECIPE",
    "LeakRun",
    "leak_windows",
    "fit_judge",
    "judge_loss",
    "leak_runs",
    "plot_leak_positions",
    "make_char_decoder",
    "save_checkpoint",
    "load_checkpoint",
    "DecoderResults",
    "load_results",
    "plot_leaderboard_curves",
    "REVERSE_MODEL",
    "REVERSE_RECIPE",
    "train_reverse_model",
    "train_reverse_models",
    "reverse_test_set",
    "digits_to_ids",
    "ids_to_labels",
    "CrossAttentionParts",
    "cross_attention_parts",
    "decoder_layer_keys",
    "MirrorAttention",
    "mirror_attention",
    "plot_cross_attention",
    "ExposureBias",
    "exposure_bias",
    "plot_exposure_bias",
    "DecodingView",
    "decoding_view",
    "plot_decoding_view",
    "describe_decoding",
    "decoding_explorer",
    "step_by_step_gap",
]

# ==================================================================================================
# Section 2 · masks drawn beside the weights they produce
# ==================================================================================================

MASK_KINDS = ("none", "causal", "padding", "causal + padding")
MASK_WORDS = ("the", "time", "traveller", "smiled", "at", "us", "and", "went")
PAD_LABEL = "<pad>"
MAX_MASK_SIZE = len(MASK_WORDS)


class MaskView(NamedTuple):
    """One attention call under one mask, for the padded sequence of a batch of two.

    The batch holds a full sequence (``size`` real tokens) and the one shown (``length`` real tokens, then
    padding); queries, keys and values are seeded random projections of seeded random vectors (the masks,
    not the words, are the point).
    """

    kind: str  # one of MASK_KINDS
    labels: list[str]  # (T,) the shown sequence's tokens, "<pad>" at padding
    length: int  # real tokens of the shown sequence
    mask: Tensor  # (T, T) bool, True = may not attend: what the scores of the shown sequence were masked with
    scaled_scores: Tensor  # (T, T) q·k / √d_k
    weights: Tensor  # (T, T) α, rows over keys
    empty_rows: list[int]  # query rows whose keys are all blocked: seqlib gives them zero weights
    max_row_error: float  # max |Σ_j α_ij − 1| over rows with at least one allowed key
    max_blocked_weight: float  # max α_ij over the blocked (i, j): 0 exactly


def _check_mask_args(kind: str, length: int, size: int) -> None:
    if kind not in MASK_KINDS:
        raise ValueError(f"kind must be one of {MASK_KINDS}, got {kind!r}")
    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= MAX_MASK_SIZE:
        raise ValueError(f"size must be an int from 1 to {MAX_MASK_SIZE} (tokens in the sequence), got {size!r}")
    if isinstance(length, bool) or not isinstance(length, int) or not 0 <= length <= size:
        raise ValueError(f"length (real tokens) must be an int from 0 to size={size}, got {length!r}")


def mask_view(kind: str = "causal + padding", length: int = 4, size: int = 6, seed: int = 0) -> MaskView:
    """Attention on a padded batch under ``kind`` of mask, traced by ``seqlib.scaled_dot_product_attention``.

    Args:
        kind: ``"none"``, ``"causal"``, ``"padding"`` or ``"causal + padding"``.
        length: real tokens of the shown sequence (0 … size); the rest is padding at the end.
        size: T, the padded length (1 … 8).
        seed: draws the vectors and the projections.
    """
    _check_mask_args(kind, length, size)
    generator = torch.Generator().manual_seed(seed)
    d_in, d_k = 8, 4
    x = torch.randn(2, size, d_in, generator=generator, dtype=torch.float64)  # (B, T, d_in)
    W_Q, W_K, W_V = (torch.randn(d_in, d_k, generator=generator, dtype=torch.float64) / math.sqrt(d_in)
                     for _ in range(3))
    q, k, v = x @ W_Q, x @ W_K, x @ W_V  # (B, T, d_k) each
    attn_mask = causal_mask(size) if "causal" in kind else None  # (T, T)
    key_padding = padding_mask([size, length], max_len=size) if "padding" in kind else None  # (B, S)
    _, trace = scaled_dot_product_attention(q, k, v, attn_mask, key_padding, return_trace=True)
    combined = combine_masks(attn_mask, key_padding, ndim=3)  # broadcastable to (B, T, S)
    mask = torch.zeros(2, size, size, dtype=torch.bool) if combined is None else combined.expand(2, size, size)
    mask, weights = mask[1], trace.weights[1]  # the padded sequence
    allowed_rows = ~mask.all(dim=1)  # (T,)
    row_error = (weights.sum(dim=1) - 1).abs()[allowed_rows]
    labels = [MASK_WORDS[i] if i < length else PAD_LABEL for i in range(size)]
    return MaskView(
        kind, labels, length, mask.clone(), trace.scaled_scores[1], weights,
        [int(i) for i in torch.nonzero(~allowed_rows).flatten()],
        float(row_error.max()) if row_error.numel() else 0.0,
        float(weights[mask].max()) if bool(mask.any()) else 0.0,
    )


def format_mask(mask: Tensor, labels: Sequence[str] | None = None) -> str:
    """A bool mask as text, one row per query: ``■`` = True (may not attend), ``·`` = False (allowed)."""
    if mask.dim() != 2 or mask.dtype != torch.bool:
        raise ValueError(f"mask must be a 2-D bool tensor, got {mask.dtype} of shape {tuple(mask.shape)}")
    labels = list(labels) if labels is not None else [str(i) for i in range(mask.shape[0])]
    width = max(len(label) for label in labels)
    rows = [f"{label:>{width}}  " + " ".join("■" if blocked else "·" for blocked in row.tolist())
            for label, row in zip(labels, mask, strict=True)]
    return "\n".join(rows)


def _labelled(labels: Sequence[str]) -> list[str]:
    return [f"{i} {label}" for i, label in enumerate(labels)]


def plot_heatmap(
    ax: plt.Axes, matrix: Tensor, row_labels: Sequence[str], col_labels: Sequence[str], title: str, *,
    blocked: Tensor | None = None, xlabel: str = "key j", ylabel: str = "query i", cmap: str = "viridis",
    vmin: float = 0.0, vmax: float = 1.0, colorbar_label: str = "attention weight α", annotate: bool = False,
    colorbar_ticks: Sequence[float] | None = None,
) -> None:
    """A heat map with token labels on both axes, a colour bar and a title; ``blocked`` cells drawn grey."""
    values = matrix.detach().double().cpu().numpy()
    if blocked is not None:
        values = np.ma.masked_where(blocked.cpu().numpy(), values)
    colours = plt.get_cmap(cmap).with_extremes(bad="0.82")  # blocked cells: grey
    image = ax.imshow(values, cmap=colours, vmin=vmin, vmax=vmax, aspect="auto", interpolation="nearest")
    ax.set_xticks(range(len(col_labels)), col_labels, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(len(row_labels)), row_labels, fontsize=8)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    if annotate:
        for (i, j), value in np.ndenumerate(matrix.detach().double().cpu().numpy()):
            if blocked is None or not bool(blocked[i, j]):
                ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=7,
                        color="white" if value < 0.5 * (vmin + vmax) else "black")
    ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label=colorbar_label, ticks=colorbar_ticks)


def _plot_mask(ax: plt.Axes, view: MaskView) -> None:
    labels = _labelled(view.labels)
    plot_heatmap(ax, view.mask.double(), labels, labels, f"mask: {view.kind}", cmap="Greys", vmin=0.0, vmax=1.0,
                 colorbar_label="1 = True = may not attend", colorbar_ticks=(0.0, 1.0))


def _plot_weights(ax: plt.Axes, view: MaskView) -> None:
    labels = _labelled(view.labels)
    title = f"weights under '{view.kind}'"
    plot_heatmap(ax, view.weights, labels, labels, title, blocked=view.mask, annotate=len(labels) <= 6)


def plot_mask_grid(fig: plt.Figure, views: Sequence[MaskView]) -> None:
    """Masks (top row) above the weights they produce (bottom row, blocked cells grey), one column per view."""
    axes = fig.subplots(2, len(views), squeeze=False)
    for column, view in enumerate(views):
        _plot_mask(axes[0, column], view)
        _plot_weights(axes[1, column], view)
    fig.tight_layout()


def _describe_mask(view: MaskView) -> str:
    allowed = int((~view.mask).sum())
    text = (f"{view.kind}: {allowed} of {view.mask.numel()} (query, key) pairs allowed; every row with an allowed "
            f"key sums to 1 (max error {view.max_row_error:.1e}); largest weight on a blocked key "
            f"{view.max_blocked_weight:.1f}")
    if view.empty_rows:
        text += (f"; rows {view.empty_rows} have every key blocked: seqlib gives them zero weights "
                 "(a softmax over nothing; torch would give NaN)")
    return text


def mask_explorer(length: int = 4, size: int = 6, kind: str = "causal + padding") -> Explorer:
    """Widget: real tokens, padded length and kind of mask -> the mask and the weights it produces."""
    controls = {
        "length": widgets.IntSlider(value=length, min=0, max=MAX_MASK_SIZE, description="real tokens"),
        "size": widgets.IntSlider(value=size, min=1, max=MAX_MASK_SIZE, description="T (padded)"),
        "kind": widgets.Dropdown(options=list(MASK_KINDS), value=kind, description="mask"),
    }

    def draw(view: MaskView, fig: plt.Figure) -> None:
        plot_mask_grid(fig, [view])

    def compute(length: int, size: int, kind: str) -> MaskView:
        if length > size:
            raise ValueError(f"the sequence has {length} real tokens but is padded to only T = {size}: "
                             "raise T or lower the real tokens")
        return mask_view(kind, length, size)

    return Explorer(compute, controls, draw, _describe_mask, figsize=(5.0, 8.0))


# ==================================================================================================
# Section 3 · what the causal mask is for: a decoder trained without it
# ==================================================================================================

LEAK_MODEL = {"d_model": 32, "nhead": 1, "num_layers": 1, "dim_feedforward": 64, "context": 16}
LEAK_RECIPE = {"batch_size": 16, "num_steps": 16, "lr": 0.02, "lr_schedule": "cosine", "clip": 1.0,
               "max_steps": 150}
LEAK_PROMPT = "t"


class LeakRun(NamedTuple):
    """One small decoder-only model, trained with or without the causal mask, and how it does."""

    seed: int
    causal: bool
    model: DecoderLanguageModel
    train_loss: float  # mean training loss of the last 20 steps, nats per character
    scores: FullVsPrefix  # whole windows (as trained) against prefixes (as when generating), validation text
    sample: str  # greedy continuation of LEAK_PROMPT, one window long
    sample_loss: float  # the 5-gram judge's nats per generated character


def leak_windows(count: int = 64) -> tuple[Tensor, Tensor]:
    """``count`` consecutive windows of the validation text, ``(count, W)`` inputs and targets."""
    W = LEAK_MODEL["context"]
    val = standard_split().val
    if not isinstance(count, int) or not 1 <= count <= (len(val) - 1) // W:
        raise ValueError(f"count must be an int from 1 to {(len(val) - 1) // W}, got {count!r}")
    return val[: count * W].reshape(count, W), val[1 : count * W + 1].reshape(count, W)


def fit_judge(n: int = 5) -> NGramLanguageModel:
    """Notebook 01's n-gram on the leaderboard's training text: an honest judge of generated text."""
    split = standard_split()
    return NGramLanguageModel(n, len(split.vocab)).fit(split.train)


def judge_loss(judge: NGramLanguageModel, vocab: Vocab, text: str, prompt: str) -> float:
    """The judge's mean −log p (nats) of the characters of ``text`` after ``prompt``."""
    if not text.startswith(prompt) or len(text) <= len(prompt):
        raise ValueError("text must continue the prompt by at least one character")
    probabilities = judge.token_probabilities(vocab[list(text)])  # p of text[1:]
    generated = probabilities[len(prompt) - 1 :]
    return float(-np.log(generated).mean())


def _train_leak_run(seed: int, causal: bool, windows: tuple[Tensor, Tensor], judge: NGramLanguageModel) -> LeakRun:
    split = standard_split()
    torch.manual_seed(seed)
    model = DecoderLanguageModel(len(split.vocab), **LEAK_MODEL, causal=causal)
    result = train_decoder_language_model(model, split.train, None, **LEAK_RECIPE,
                                          generator=torch.Generator().manual_seed(seed))
    model.eval()
    scores = full_vs_prefix(model, *windows)
    text = sample(model, split.vocab, LEAK_PROMPT, LEAK_MODEL["context"] - len(LEAK_PROMPT), temperature=0)
    return LeakRun(seed, causal, model, statistics.fmean(result.losses[-20:]), scores, text,
                   judge_loss(judge, split.vocab, text, LEAK_PROMPT))


def leak_runs(seeds: Sequence[int] = (0, 1, 2)) -> list[LeakRun]:
    """For each seed, the same small decoder trained with the causal mask and without it (about 1-2 s each).

    Both see the same windows of the training text in the same order (:data:`LEAK_RECIPE`); each is scored on
    64 validation windows read whole and read prefix by prefix (:func:`seqlib.decoder_models.full_vs_prefix`),
    and generates one window greedily from :data:`LEAK_PROMPT`, judged by the 5-gram (:func:`fit_judge`).
    """
    windows, judge = leak_windows(), fit_judge()
    return [_train_leak_run(seed, causal, windows, judge) for seed in seeds for causal in (True, False)]


def plot_leak_positions(ax: plt.Axes, runs: Sequence[LeakRun]) -> None:
    """Accuracy per position in the window, read whole (dashed) and prefix by prefix (solid), every run."""
    colours = {True: "tab:blue", False: "tab:red"}
    for run in runs:
        positions = np.arange(len(run.scores.full_by_position))
        name = "with the causal mask" if run.causal else "without the mask"
        first = run.seed == runs[0].seed
        ax.plot(positions, run.scores.full_by_position.numpy(), "--", color=colours[run.causal], alpha=0.7,
                label=f"{name}, whole window (as trained)" if first else None)
        ax.plot(positions, run.scores.prefix_by_position.numpy(), "-", color=colours[run.causal], alpha=0.9,
                label=f"{name}, prefix only (as generating)" if first else None)
    ax.set_xlabel("position t in the window (predicting character t + 1)")
    ax.set_ylabel("next-character accuracy")
    ax.set_ylim(0, 1.02)
    ax.set_title("Validation windows: one line per seed", fontsize=10)
    ax.legend(fontsize=8, loc="center right")
    ax.grid(alpha=0.3)


# ==================================================================================================
# Section 4 · the decoder-only model on the leaderboard (bench/decoder_char_model.py)
# ==================================================================================================

# 87,196 parameters, about the leaderboard LSTM's 87,452 (notebook 04)
CHAR_DECODER = {"d_model": 64, "nhead": 4, "num_layers": 2, "dim_feedforward": 192, "context": 35, "stride": 17}


def make_char_decoder(vocab_size: int) -> DecoderLanguageModel:
    """A fresh leaderboard decoder (:data:`CHAR_DECODER`), drawn from torch's global generator."""
    return DecoderLanguageModel(vocab_size, **CHAR_DECODER)


def save_checkpoint(path: str | Path, model: DecoderLanguageModel, meta: dict) -> None:
    """The weights (float32) and the configuration, loadable with ``torch.load(..., weights_only=True)``."""
    torch.save({"config": {"vocab_size": model.vocab_size, **CHAR_DECODER}, "meta": dict(meta),
                "state_dict": {k: v.detach().float().cpu() for k, v in model.state_dict().items()}}, path)


def load_checkpoint(path: str | Path = CHECKPOINT_PATH) -> tuple[DecoderLanguageModel, dict]:
    """The shipped (or another saved) decoder, in eval mode, and its meta data."""
    stored = torch.load(path, map_location="cpu", weights_only=True)
    config = dict(stored["config"])
    model = DecoderLanguageModel(config.pop("vocab_size"), **config)
    model.load_state_dict(stored["state_dict"])
    return model.eval(), stored["meta"]


class DecoderResults(NamedTuple):
    """``data/results/decoder_char_model.json`` and notebook 04's LSTM rows, read."""

    settings: dict
    sweep: list[dict]  # seed 0 of each model at each learning rate of the sweep
    runs: list[dict]  # the decoder, every seed, at its chosen learning rate
    lstm_runs: list[dict]  # the LSTM, every seed, at its chosen learning rate

    def perplexities(self, arm: str) -> list[float]:
        runs = self.runs if arm == "gpt" else self.lstm_runs
        return [run["val_perplexity"] for run in runs]


def load_results(path: str | Path | None = None, lstm_path: str | Path | None = None) -> DecoderResults:
    """The bench's file; the LSTM's rows come from it when the sweep retrained the LSTM, else from notebook 04's
    ``lstm_char_model.json`` (trained at the same learning rate, 0.01)."""
    data = json.loads(Path(path or RESULTS_PATH).read_text(encoding="utf-8"))
    lstm_runs = data["lstm_runs"]
    if not lstm_runs:
        lstm_data = json.loads(Path(lstm_path or LSTM_RESULTS_PATH).read_text(encoding="utf-8"))
        lstm_runs = [{**run, "lr": 1e-2} for run in lstm_data["leaderboard"]["runs"] if run["arm"] == "lstm"]
    return DecoderResults(data["settings"], data["sweep"], data["runs"], lstm_runs)


def plot_leaderboard_curves(ax: plt.Axes, results: DecoderResults) -> None:
    """Validation perplexity during training, every seed of the decoder and of the LSTM."""
    for arm, runs, colour in (("GPT-style decoder", results.runs, "tab:purple"),
                              ("LSTM (notebook 04)", results.lstm_runs, "tab:green")):
        for k, run in enumerate(runs):
            steps = [point[0] for point in run["history"]]
            values = [point[2] for point in run["history"]]
            ax.plot(steps, values, "o-", color=colour, alpha=0.8, markersize=3,
                    label=f"{arm}, lr {run['lr']:g}" if k == 0 else None)
    ax.set_xlabel("training step (32 chunks of 35 characters each)")
    ax.set_ylabel("validation perplexity")
    ax.set_title("The Time Machine, last 10 %: one line per seed", fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)


# ==================================================================================================
# Sections 5-7 · cross-attention, teacher forcing, greedy decoding on the toy reverse task
# ==================================================================================================

REVERSE_MODEL = {"d_model": 32, "nhead": 2, "num_encoder_layers": 1, "num_decoder_layers": 1,
                 "dim_feedforward": 64, "dropout": 0.0, "max_len": 8}
REVERSE_RECIPE = {"batch_size": 32, "max_digits": 6, "steps": 150, "lr": 5e-3}
TOKEN_LABELS = {PAD_ID: "<pad>", BOS_ID: "<bos>", EOS_ID: "<eos>", **{3 + d: str(d) for d in range(10)}}


def train_reverse_model(seed: int) -> Seq2SeqTransformer:
    """A small encoder-decoder Transformer taught to reverse 1-6 digits (teacher forcing, a few seconds)."""
    torch.manual_seed(seed)
    model = Seq2SeqTransformer(TOY_VOCAB_SIZE, TOY_VOCAB_SIZE, **REVERSE_MODEL)
    batches = toy_batches("reverse", REVERSE_RECIPE["batch_size"], max_len=REVERSE_RECIPE["max_digits"], seed=seed)
    train_seq2seq(model, batches, max_steps=REVERSE_RECIPE["steps"], lr=REVERSE_RECIPE["lr"], seed=seed)
    return model.eval()


def train_reverse_models(seeds: Sequence[int] = (0, 1, 2)) -> dict[int, Seq2SeqTransformer]:
    return {seed: train_reverse_model(seed) for seed in seeds}


def reverse_test_set(size: int = 500, seed: int = 1000) -> tuple[Tensor, Tensor]:
    """Fresh reverse examples: ``src (size, 6)``, ``tgt (size, 8)`` (BOS, answer, EOS, padding)."""
    return toy_batch("reverse", size, max_len=REVERSE_RECIPE["max_digits"],
                     generator=torch.Generator().manual_seed(seed))


def digits_to_ids(digits: str) -> Tensor:
    """``"314"`` -> ``(1, 3)`` source ids (digit d is id 3 + d)."""
    if not isinstance(digits, str) or not digits.isdigit() or not digits.isascii():
        raise ValueError(f"type the source as digits 0-9 only, got {digits!r}")
    if not 1 <= len(digits) <= REVERSE_RECIPE["max_digits"]:
        raise ValueError(f"type 1 to {REVERSE_RECIPE['max_digits']} digits (the model was trained on those "
                         f"lengths), got {len(digits)}")
    return torch.tensor([[3 + int(d) for d in digits]])


def ids_to_labels(ids: Tensor | Sequence[int]) -> list[str]:
    return [TOKEN_LABELS[int(i)] for i in ids]


class CrossAttentionParts(NamedTuple):
    """The first decoder layer's cross-attention on one example, recomputed outside the model.

    Queries come from the decoder's own states (after its masked self-attention), keys and values from the
    encoder's output ``memory`` projected by *this decoder layer's* W^K and W^V.
    """

    decoder_states: Tensor  # (T, d): the input of the cross-attention sublayer
    memory: Tensor  # (S, d): the encoder's output
    queries: Tensor  # (nhead, T, d_head)
    keys: Tensor  # (nhead, S, d_head)
    values: Tensor  # (nhead, S, d_head)
    weights: Tensor  # (nhead, T, S) softmax(q kᵀ / √d_head), recomputed here
    model_weights: Tensor  # (nhead, T, S) the model's own trace
    keys_by_hand: Tensor  # (S, d) memory W^Kᵀ + b^K, one matrix product
    encoder_keys: Tensor  # (S, d) the keys the encoder's own last self-attention used (another W^K)


@torch.no_grad()
def cross_attention_parts(model: Seq2SeqTransformer, src: Tensor, tgt_input: Tensor) -> CrossAttentionParts:
    """Recompute the first decoder layer's cross-attention for ``src (1, S)``, ``tgt_input (1, T)``."""
    if model.transformer.decoder.layers[0].norm_first:
        raise ValueError("cross_attention_parts follows the post-norm decoder layer (norm_first=False)")
    model.eval()
    logits, trace = model(src, tgt_input, return_trace=True)
    memory, src_padding = model.encode(src)  # (1, S, d), (1, S)
    layer = model.transformer.decoder.layers[0]
    x = model.embed_target(tgt_input)  # (1, T, d)
    T = tgt_input.shape[1]
    tgt_padding = padding_mask(tokens=tgt_input, pad_id=model.pad_id)
    # x ← LayerNorm(x + MaskedSelfAttention(x)): the decoder's own states, each seeing itself and the past
    attended, _ = layer.self_attn(x, x, x, key_padding_mask=tgt_padding, attn_mask=causal_mask(T))
    states = layer.norm1(x + attended)  # (1, T, d)
    # cross-attention: queries from the decoder's states, keys and values from the encoder's memory
    _, _, parts = layer.multihead_attn(states, memory, memory, key_padding_mask=src_padding,
                                       average_attn_weights=False, return_trace=True)
    d_head = parts.q.shape[-1]
    weights = torch.softmax(parts.q @ parts.k.transpose(-2, -1) / math.sqrt(d_head)
                            + torch.zeros_like(parts.scores).masked_fill(src_padding[:, None, None, :], -math.inf),
                            dim=-1)  # (1, nhead, T, S)
    keys_by_hand = memory[0] @ layer.multihead_attn.k_proj.weight.T + layer.multihead_attn.k_proj.bias  # (S, d)
    encoder_layer = model.transformer.encoder.layers[-1]
    encoder_input = model.embed_source(src)
    for earlier in model.transformer.encoder.layers[:-1]:
        encoder_input = earlier(encoder_input, src_key_padding_mask=src_padding)
    encoder_keys = encoder_layer.self_attn.k_proj(encoder_input)[0]  # (S, d)
    return CrossAttentionParts(states[0], memory[0], parts.q[0], parts.k[0], parts.v[0], weights[0],
                               trace.decoder.cross_attn_weights[0][0], keys_by_hand, encoder_keys)


@torch.no_grad()
def decoder_layer_keys(model: Seq2SeqTransformer, src: Tensor) -> list[Tensor]:
    """The keys each decoder layer's cross-attention computes from the same encoder output: ``(S, d)`` each.

    ``memory W^K_ℓᵀ + b^K_ℓ`` with layer ℓ's own projection: the encoder hands over ``memory``, not keys.
    """
    memory, _ = model.encode(src)  # (1, S, d)
    return [layer.multihead_attn.k_proj(memory)[0] for layer in model.transformer.decoder.layers]


class MirrorAttention(NamedTuple):
    """Where the reverse model's cross-attention looks, teacher-forced, over a test set.

    For the answer token t (0-based) of a source of n digits, the right source position is n - 1 - t.
    """

    on_mirror: float  # mean weight (heads averaged, last decoder layer) on the mirrored source position
    uniform: float  # what a uniform spread over the n real digits would put there, mean of 1/n
    argmax_share: float  # share of answer tokens whose largest weight is on the mirrored position


@torch.no_grad()
def mirror_attention(model: Seq2SeqTransformer, src: Tensor, tgt: Tensor) -> MirrorAttention:
    """Cross-attention weight on the mirrored source digit, for every answer digit of ``(src, tgt)``."""
    model.eval()
    _, trace = model(src, tgt[:, :-1], return_trace=True)
    weights = trace.decoder.cross_attn_weights[-1].mean(dim=1)  # (B, T, S), heads averaged
    lengths = (src != model.pad_id).sum(dim=1)  # (B,)
    on, uniform, hits, count = 0.0, 0.0, 0, 0
    for b, n in enumerate(lengths.tolist()):
        t = torch.arange(n)
        row = weights[b, t, :n]  # (n, n): answer token t over the real source digits
        mirror = n - 1 - t
        on += float(row[t, mirror].sum())
        uniform += 1.0
        hits += int((row.argmax(dim=1) == mirror).sum())
        count += n
    return MirrorAttention(on / count, uniform / count, hits / count)


def plot_cross_attention(ax: plt.Axes, model: Seq2SeqTransformer, digits: str) -> Tensor:
    """The last decoder layer's cross-attention (heads averaged) while the model writes its answer to ``digits``;
    returns the generated ids."""
    src = digits_to_ids(digits)
    generated, trace = greedy_decode(model, src, REVERSE_RECIPE["max_digits"] + 1, BOS_ID, EOS_ID,
                                     return_trace=True)
    prefix = torch.cat([torch.tensor([[BOS_ID]]), generated[:, :-1]], dim=1)
    weights = trace.decoder.cross_attn_weights[-1][0].mean(dim=0)  # (L, S)
    rows = [f"{i} reads {a} → writes {b}" for i, (a, b) in
            enumerate(zip(ids_to_labels(prefix[0]), ids_to_labels(generated[0]), strict=True))]
    plot_heatmap(ax, weights, rows, _labelled(list(digits)), f"cross-attention while reversing {digits}",
                 xlabel="source position j (encoder: keys, values)", ylabel="decoder step i (queries)",
                 annotate=True)
    return generated[0]


class ExposureBias(NamedTuple):
    """Teacher forcing against free running on a test set (token accuracy over y1 … EOS of each reference)."""

    teacher_forced_accuracy: float  # each position given the true prefix
    free_running_accuracy: float  # each position given the model's own earlier outputs
    teacher_forced_exact: float  # share of sequences with every token right, teacher forced
    free_running_exact: float  # the same, free running
    positions_after_error: int  # answer positions after free running's first mistake
    teacher_forced_error_after: float  # error rate there when the true prefix is given
    free_running_error_after: float  # error rate there in free running
    teacher_forced_by_position: Tensor  # (T,) accuracy per answer position
    free_running_by_position: Tensor  # (T,)


@torch.no_grad()
def exposure_bias(model: Seq2SeqTransformer, src: Tensor, tgt: Tensor) -> ExposureBias:
    """Score the same model teacher forced and free running (greedy) on ``(src, tgt)``."""
    model.eval()
    expected = tgt[:, 1:]  # (B, T): y1 .. EOS PAD ..
    valid = expected != model.pad_id
    forced = model(src, tgt[:, :-1]).argmax(dim=-1)  # (B, T)
    free = greedy_decode(model, src, expected.shape[1], BOS_ID, EOS_ID)  # (B, <= T)
    free = F.pad(free, (0, expected.shape[1] - free.shape[1]), value=model.pad_id)
    forced_ok, free_ok = (forced == expected) & valid, (free == expected) & valid
    wrong = valid & ~free_ok
    after = (wrong.long().cumsum(dim=1) - wrong.long() > 0) & valid  # after the first free-running mistake
    n_after = int(after.sum())

    def rate(ok: Tensor, where: Tensor) -> float:
        return float(ok[where].double().mean()) if bool(where.any()) else float("nan")

    return ExposureBias(
        rate(forced_ok, valid), rate(free_ok, valid),
        float((forced_ok | ~valid).all(dim=1).double().mean()), float((free_ok | ~valid).all(dim=1).double().mean()),
        n_after, 1 - rate(forced_ok, after), 1 - rate(free_ok, after),
        forced_ok.double().sum(dim=0) / valid.double().sum(dim=0).clamp(min=1),
        free_ok.double().sum(dim=0) / valid.double().sum(dim=0).clamp(min=1),
    )


def plot_exposure_bias(ax: plt.Axes, results: Sequence[ExposureBias]) -> None:
    """Accuracy per answer position, teacher forced and free running, one line per seed."""
    for k, result in enumerate(results):
        positions = np.arange(1, len(result.teacher_forced_by_position) + 1)
        ax.plot(positions, result.teacher_forced_by_position.numpy(), "o--", color="tab:blue", alpha=0.8,
                label="teacher forced (true prefix)" if k == 0 else None)
        ax.plot(positions, result.free_running_by_position.numpy(), "o-", color="tab:orange", alpha=0.8,
                label="free running (own outputs)" if k == 0 else None)
    ax.set_xlabel("answer position (1 = first output token; a string of n digits ends with EOS at n + 1)")
    ax.set_ylabel("token accuracy")
    ax.set_ylim(0, 1.02)
    ax.set_title("Reverse task, 500 test strings: one line per seed", fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)


class DecodingView(NamedTuple):
    """Greedy decoding of one source, seen at one step."""

    source: list[str]  # (S,) digit labels
    step: int  # the step shown, 0-based: the decoder reads BOS and `step` tokens it wrote, and writes one more
    steps: int  # steps the whole decoding took (it stops after EOS)
    prefix: list[str]  # (step + 1,) what the decoder reads at this step
    self_mask: Tensor  # (step + 1, step + 1) the causal mask, True = may not attend
    self_weights: Tensor  # (step + 1, step + 1) masked self-attention, last layer, heads averaged
    cross_weights: Tensor  # (step + 1, S) cross-attention, last layer, heads averaged; the last row is this step's
    probabilities: Tensor  # (V,) the next-token distribution at this step
    chosen: str  # the token written at this step (the argmax)
    output: list[str]  # everything written up to and including this step


@torch.no_grad()
def decoding_view(model: Seq2SeqTransformer, digits: str, step: int) -> DecodingView:
    """What greedy decoding computes at ``step`` when the source is ``digits``.

    A step past the end of the decoding (after EOS) shows the last step.
    """
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise ValueError(f"step must be an int >= 0, got {step!r}")
    src = digits_to_ids(digits)
    model.eval()
    generated = greedy_decode(model, src, REVERSE_RECIPE["max_digits"] + 1, BOS_ID, EOS_ID)[0]  # (L,)
    step = min(step, len(generated) - 1)
    prefix = torch.cat([torch.tensor([BOS_ID]), generated[:step]]).unsqueeze(0)  # (1, step + 1)
    memory, src_padding = model.encode(src)
    logits, trace = model.decode(prefix, memory, src_padding, return_trace=True)
    probabilities = torch.softmax(logits[0, -1], dim=-1)  # (V,)
    return DecodingView(
        list(digits), step, len(generated), ids_to_labels(prefix[0]), causal_mask(step + 1),
        trace.self_attn_weights[-1][0].mean(dim=0), trace.cross_attn_weights[-1][0].mean(dim=0), probabilities,
        TOKEN_LABELS[int(generated[step])], ids_to_labels(generated[: step + 1]),
    )


def plot_decoding_view(view: DecodingView, fig: plt.Figure) -> None:
    """Masked self-attention (the mask grows by one row and one column per step), this step's cross-attention
    row, and the next-token distribution."""
    ax_self, ax_cross, ax_next = fig.subplots(1, 3, gridspec_kw={"width_ratios": [1.0, 1.0, 1.1]})
    labels = _labelled(view.prefix)
    plot_heatmap(ax_self, view.self_weights, labels, labels,
                 f"step {view.step}: masked self-attention\n({view.step + 1} positions, future grey)",
                 blocked=view.self_mask, annotate=view.step < 6, xlabel="key j (decoder)",
                 ylabel="query i (decoder)")
    plot_heatmap(ax_cross, view.cross_weights[-1:], [f"{view.step} {view.prefix[-1]}"], _labelled(view.source),
                 "this step's cross-attention row", annotate=True, xlabel="source position j (encoder)",
                 ylabel="this step's query")
    ids = torch.argsort(view.probabilities, descending=True)[:6]
    names = ids_to_labels(ids)
    colours = ["tab:orange" if name == view.chosen else "tab:gray" for name in names]
    ax_next.barh(range(len(ids)), view.probabilities[ids].numpy(), color=colours)
    ax_next.set_yticks(range(len(ids)), names)
    ax_next.invert_yaxis()
    ax_next.set_xlim(0, 1)
    ax_next.set_xlabel("probability of the next token")
    ax_next.set_title(f"writes {view.chosen!r} (the argmax)", fontsize=10)
    fig.tight_layout()


def describe_decoding(view: DecodingView) -> str:
    row = view.cross_weights[-1]
    look = int(row.argmax())
    text = (f"step {view.step} (of 0 … {view.steps - 1}): reads {' '.join(view.prefix)} → writes {view.chosen} "
            f"(p = {float(view.probabilities.max()):.2f}); its cross-attention looks most at source position {look} "
            f"({view.source[look]}, weight {float(row[look]):.2f}); output so far: {' '.join(view.output)}")
    if view.chosen == "<eos>":
        text += " — decoding stops here"
    return text


def decoding_explorer(model: Seq2SeqTransformer, digits: str = "31415", step: int = 0) -> Explorer:
    """Widget: a step slider (one token per click) and the source digits -> :func:`decoding_view`."""
    controls = {
        "step": widgets.IntSlider(value=step, min=0, max=REVERSE_RECIPE["max_digits"], description="step"),
        "digits": widgets.Text(value=digits, description="source", continuous_update=False),
    }

    def compute(step: int, digits: str) -> DecodingView:
        return decoding_view(model, digits, step)

    return Explorer(compute, controls, plot_decoding_view, describe_decoding, figsize=(13.0, 3.8))


@torch.no_grad()
def step_by_step_gap(model: Seq2SeqTransformer, src: Tensor) -> tuple[float, int]:
    """Greedy decoding step by step against one masked pass over what it fed itself.

    Returns ``(max |step logits − full-pass logits|, steps)``: with the causal mask, step t's logits depend only
    on the tokens up to t, so the one pass reproduces every step (up to rounding).
    """
    model.eval()
    generated, trace = greedy_decode(model, src, REVERSE_RECIPE["max_digits"] + 1, BOS_ID, EOS_ID, return_trace=True)
    prefix = torch.cat([torch.full((src.shape[0], 1), BOS_ID), generated[:, :-1]], dim=1)
    full = model(src, prefix)  # (B, L, V), one pass with the causal mask
    return float((full - trace.step_logits).abs().max()), generated.shape[1]


# ==================================================================================================
# Exercises
# ==================================================================================================


# --- 09.causal_mask -------------------------------------------------------------------------------


def causal_mask_answer(T):
    # True above the diagonal: query i may not attend to the keys j > i (its future); j <= i stays allowed
    return torch.ones(T, T, dtype=torch.bool).triu(diagonal=1)


def _causal_inverted(T):
    return torch.ones(T, T, dtype=torch.bool).tril()


def _causal_diagonal_blocked(T):
    return torch.ones(T, T, dtype=torch.bool).triu()


def _causal_one_future_allowed(T):
    return torch.ones(T, T, dtype=torch.bool).triu(diagonal=2)


def _causal_past_blocked(T):
    return torch.ones(T, T, dtype=torch.bool).tril(diagonal=-1)


def _causal_float(T):
    return torch.zeros(T, T).masked_fill(torch.ones(T, T, dtype=torch.bool).triu(diagonal=1), float("-inf"))


def _causal_ints(T):
    return torch.ones(T, T, dtype=torch.long).triu(diagonal=1)


register(
    Exercise(
        name="09.causal_mask",
        title="build the causal mask",
        hint=(
            "row i is query i, column j is key j; seqlib's convention marks with True what may NOT be attended to. "
            "A position may read itself and everything before it, nothing after it. Return a T by T tensor of "
            "booleans."
        ),
        reference=causal_mask_answer,
        cases=lambda: [(1,), (2,), (4,), (5,)],
        mistakes=[
            Mistake("the polarity is inverted: your True marks the keys a query MAY attend to (the convention of "
                    "torch's functional scaled_dot_product_attention); seqlib and torch.nn's modules mark the blocked "
                    "keys with True", _causal_inverted),
            Mistake("you blocked the diagonal: a position may attend to itself (the key j = i is its own token, "
                    "already read); only j > i is the future", _causal_diagonal_blocked),
            Mistake("off by one: your mask lets query i see key i + 1, the very token it must predict; block every "
                    "j > i", _causal_one_future_allowed),
            Mistake("you blocked the past (below the diagonal) instead of the future (above it): rows are queries, "
                    "columns keys", _causal_past_blocked),
            Mistake("you built a float mask (0 and -inf, added to the scores): it works in seqlib, but this exercise "
                    "asks for the bool mask (True = may not attend)", _causal_float),
            Mistake("your mask holds integers 0 and 1: torch reads a non-bool mask as numbers to add to the scores, "
                    "so 1 would only nudge them; make it bool", _causal_ints),
        ],
    )
)


# --- 09.padded_attention --------------------------------------------------------------------------


def padded_attention(scores, lengths):
    # scores (B, T, S), lengths (B,): sequence b has lengths[b] real keys, then padding
    S = scores.shape[-1]
    padded = torch.arange(S)[None, :] >= lengths[:, None]  # (B, S): True at the padded keys
    masked = scores.masked_fill(padded[:, None, :], float("-inf"))  # (B, 1, S): the same keys for every query
    return torch.softmax(masked, dim=-1)  # over the keys


def _padded_mask(scores, lengths):
    return torch.arange(scores.shape[-1])[None, :] >= lengths[:, None]


def _padded_queries(scores, lengths):
    padded = torch.arange(scores.shape[1])[None, :] >= lengths[:, None]  # (B, T): the padded *queries*
    return torch.softmax(scores.masked_fill(padded[:, :, None], float("-inf")), dim=-1)


def _padded_no_query_axis(scores, lengths):
    return torch.softmax(scores.masked_fill(_padded_mask(scores, lengths), float("-inf")), dim=-1)


def _padded_inverted(scores, lengths):
    return torch.softmax(scores.masked_fill(~_padded_mask(scores, lengths)[:, None, :], float("-inf")), dim=-1)


def _padded_off_by_one(scores, lengths):
    padded = torch.arange(scores.shape[-1])[None, :] > lengths[:, None]
    return torch.softmax(scores.masked_fill(padded[:, None, :], float("-inf")), dim=-1)


def _padded_softmax_over_queries(scores, lengths):
    return torch.softmax(scores.masked_fill(_padded_mask(scores, lengths)[:, None, :], float("-inf")), dim=1)


def _padded_cases():
    generator = torch.Generator().manual_seed(9)

    def case(B: int, T: int, lengths: list[int]) -> tuple:
        return torch.randn(B, T, T, generator=generator, dtype=torch.float64), torch.tensor(lengths)

    return [case(3, 3, [3, 1, 2]), case(2, 4, [2, 4]), case(4, 4, [1, 3, 4, 2]), case(2, 5, [5, 3])]


register(
    Exercise(
        name="09.padded_attention",
        title="attention weights with padded keys masked",
        hint=(
            "padding is a property of the keys: a padded key must get weight 0 from every query of its own sequence, "
            "and each row is a softmax over the keys. The mask you build has one row per sequence; before it meets "
            "the scores it needs an axis for the queries, or broadcasting will pair sequence b with query b."
        ),
        reference=padded_attention,
        cases=_padded_cases,
        mistakes=[
            Mistake("you masked the padded *queries* (rows) instead of the padded *keys* (columns): a padded row "
                    "becomes all -inf (NaN), while real queries still read the padding", _padded_queries),
            Mistake("wrong batch dimension: the (B, S) mask met the (B, T, S) scores without a query axis, so "
                    "broadcasting lined it up as (1, B, S) and query i got sequence i's padding (this runs silently "
                    "when B = T, and fails otherwise); give it shape (B, 1, S)", _padded_no_query_axis),
            Mistake("the polarity is inverted: you blocked the real keys and left the padding open", _padded_inverted),
            Mistake("off by one: key j is padding when j >= length (positions 0 … length - 1 are real); you left the "
                    "first padded key open", _padded_off_by_one),
            Mistake("the softmax runs over the queries (down each column); attention weights are a distribution over "
                    "the keys, along each row", _padded_softmax_over_queries),
        ],
    )
)


# --- 09.teacher_forcing_pair ----------------------------------------------------------------------


def teacher_forcing_pair(tgt):
    # tgt (B, T+1) = BOS y1 .. yn EOS PAD ..: the decoder reads BOS y1 .. and must predict y1 .. EOS
    decoder_input = tgt[:, :-1]  # drop the last column: nothing comes after it to predict
    expected = tgt[:, 1:]  # drop BOS: the answer for position t is the token after it
    return decoder_input, expected


def _pair_unshifted(tgt):
    return tgt, tgt


def _pair_backwards(tgt):
    return tgt[:, 1:], tgt[:, :-1]


def _pair_no_bos(tgt):
    return tgt[:, 1:], tgt[:, 1:]


def _pair_expected_with_bos(tgt):
    return tgt[:, :-1], tgt[:, :-1]


def _pair_cases():
    generator = torch.Generator().manual_seed(19)
    return [(toy_batch("reverse", 3, max_len=4, generator=generator)[1],),
            (toy_batch("copy", 2, min_len=2, max_len=5, generator=generator)[1],)]


register(
    Exercise(
        name="09.teacher_forcing_pair",
        title="the decoder's input and its expected output under teacher forcing",
        hint=(
            "position t of the decoder reads the true tokens up to t and is scored on the token after t. So the input "
            "starts with BOS and stops one token before the end, and the expected output is the same sequence moved "
            "one step to the left. Return the pair, input first."
        ),
        reference=teacher_forcing_pair,
        cases=_pair_cases,
        mistakes=[
            Mistake("no shift: the decoder would read at position t the very token it is asked to predict there (the "
                    "leak of section 3: a loss near zero that teaches nothing)", _pair_unshifted),
            Mistake("shifted the wrong way: your decoder reads the answer and is asked for the token before it",
                    _pair_backwards),
            Mistake("you dropped BOS from the input too, so input and expected output are the same tokens: the "
                    "decoder reads its answer", _pair_no_bos),
            Mistake("the expected output still starts with BOS: position t must be scored on the token after it",
                    _pair_expected_with_bos),
        ],
    )
)


# --- 09.free_running ------------------------------------------------------------------------------


def free_running(model, src, tgt, bos_id, eos_id, pad_id):
    # as many steps as the reference has answer tokens (y1 .. EOS), so the result lines up with tgt[:, 1:]
    steps = tgt.shape[1] - 1
    memory, src_padding = model.encode(src)  # the encoder runs once
    tokens = torch.full((src.shape[0], 1), bos_id)  # every sequence starts from BOS
    finished = torch.zeros(src.shape[0], dtype=torch.bool)
    for _ in range(steps):
        logits = model.decode(tokens, memory, src_padding)  # (B, t, V)
        next_token = logits[:, -1].argmax(dim=-1)  # the last position predicts the next token
        next_token = next_token.masked_fill(finished, pad_id)  # after its EOS a sequence only pads
        finished = finished | (next_token == eos_id)
        tokens = torch.cat([tokens, next_token[:, None]], dim=1)  # feed the model's own output back in
    return tokens[:, 1:]  # without BOS


def _free_teacher_forced(model, src, tgt, bos_id, eos_id, pad_id):
    return model(src, tgt[:, :-1]).argmax(dim=-1)


def _free_teacher_forced_loop(model, src, tgt, bos_id, eos_id, pad_id):
    memory, src_padding = model.encode(src)
    finished = torch.zeros(src.shape[0], dtype=torch.bool)
    outputs = []
    for t in range(tgt.shape[1] - 1):
        next_token = model.decode(tgt[:, : t + 1], memory, src_padding)[:, -1].argmax(dim=-1)
        next_token = next_token.masked_fill(finished, pad_id)
        finished = finished | (next_token == eos_id)
        outputs.append(next_token)
    return torch.stack(outputs, dim=1)


def _free_variant(model, src, tgt, bos_id, eos_id, pad_id, *, position=-1, pad_after_eos=True, sticky=True,
                  keep_bos=False):
    memory, src_padding = model.encode(src)
    tokens = torch.full((src.shape[0], 1), bos_id)
    finished = torch.zeros(src.shape[0], dtype=torch.bool)
    for _ in range(tgt.shape[1] - 1):
        next_token = model.decode(tokens, memory, src_padding)[:, position].argmax(dim=-1)
        if pad_after_eos:
            next_token = next_token.masked_fill(finished, pad_id)
        finished = (finished | (next_token == eos_id)) if sticky else (next_token == eos_id)
        tokens = torch.cat([tokens, next_token[:, None]], dim=1)
    return tokens if keep_bos else tokens[:, 1:]


def _free_no_stop(model, src, tgt, bos_id, eos_id, pad_id):
    return _free_variant(model, src, tgt, bos_id, eos_id, pad_id, pad_after_eos=False)


def _free_first_position(model, src, tgt, bos_id, eos_id, pad_id):
    return _free_variant(model, src, tgt, bos_id, eos_id, pad_id, position=0)


def _free_forgets_finished(model, src, tgt, bos_id, eos_id, pad_id):
    return _free_variant(model, src, tgt, bos_id, eos_id, pad_id, sticky=False)


def _free_keeps_bos(model, src, tgt, bos_id, eos_id, pad_id):
    return _free_variant(model, src, tgt, bos_id, eos_id, pad_id, keep_bos=True)


def _free_running_model() -> Seq2SeqTransformer:
    """A small untrained seq2seq model whose greedy outputs end with EOS at different steps (or never)."""
    with torch.random.fork_rng():  # seeded here without moving the caller's generator
        torch.manual_seed(4)
        model = Seq2SeqTransformer(TOY_VOCAB_SIZE, TOY_VOCAB_SIZE, d_model=16, nhead=2, num_encoder_layers=1,
                                   num_decoder_layers=1, dim_feedforward=32, dropout=0.0, max_len=8)
    with torch.no_grad():
        model.output_projection.bias[EOS_ID] += 2.0  # makes EOS likely enough to appear sometimes
    return model.eval()


def _free_running_cases():
    model = _free_running_model()
    cases = []
    for seed, size in ((104, 4), (7, 5)):
        src, tgt = toy_batch("reverse", size, min_len=2, max_len=5, generator=torch.Generator().manual_seed(seed))
        cases.append((model, src, tgt, BOS_ID, EOS_ID, PAD_ID))
    return cases


register(
    Exercise(
        name="09.free_running",
        title="greedy decoding, free running: the loop",
        hint=(
            "run the encoder once; then, step by step, give the decoder everything written so far (starting from BOS) "
            "and append the most likely token of the last position. What the decoder reads must be what the model "
            "wrote, never the reference: the reference only tells you how many steps to take. A sequence that has "
            "written EOS is finished: from then on it only receives padding."
        ),
        reference=free_running,
        cases=_free_running_cases,
        mistakes=[
            Mistake("you fed the decoder the reference tokens (teacher forcing) instead of its own outputs: that is "
                    "how it trains, but when it generates there is no reference to read", _free_teacher_forced),
            Mistake("you fed the decoder the reference tokens (teacher forcing, one step at a time) instead of its "
                    "own outputs: when it generates there is no reference to read", _free_teacher_forced_loop),
            Mistake("you did not stop at EOS: after a sequence has written EOS it must only receive padding, not "
                    "more tokens", _free_no_stop),
            Mistake("you took the prediction of the first position (BOS) at every step; the next token is predicted "
                    "by the last position, the one that has read everything written so far", _free_first_position),
            Mistake("a finished sequence must stay finished: you set it from the latest token only, so after the "
                    "padding that follows EOS it starts writing again", _free_forgets_finished),
            Mistake("your result starts with BOS: return the generated tokens only (y1, y2, …), lined up with the "
                    "reference without its BOS", _free_keeps_bos),
        ],
    )
)

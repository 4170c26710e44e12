"""Notebook 10 · the capstone: a seq2seq Transformer for dates, its cross-attention, and the course's leaderboard.

The source notes, on the Transformer as a whole: "입력 시퀀스와 출력 시퀀스의 도메인(언어..?), 단어 숫자가 다를 수
있다" (the input and output sequences may differ in domain and in length) and, on decoding, "decoder에 들어가는
Query 벡터와 encoder의 Key, Value 벡터로 autoregressive하게 결과물이 하나씩 만들어지게 된다" (the decoder's queries
meet the encoder's keys and values, and the output is made one token at a time).  The date task
(``seqlib.dates``) has both: "the 3rd of May 1999" (19 characters of letters, digits and spaces) becomes
"1999-05-03" (10 characters of digits and dashes).

What this module computes for the notebook:

* **The task** (section 1): :func:`format_table`, :func:`evaluation_sets` (held-out dates in the seen and the
  unseen formats, and the validation dates the live curve is drawn on).
* **The model and its training** (sections 2-3): :data:`TRANSFORMER` (a ``seqlib.seq2seq.Seq2SeqTransformer``),
  :data:`RECIPE`, :func:`train_transformer`; :class:`LiveCurve` draws the curve while it trains,
  :func:`plot_training_curve` draws it afterwards.
* **The full-budget model** (section 4): ``bench/date_capstone.py`` trains it for 60 CPU seconds over seeds and
  writes :data:`RESULTS_PATH` and :data:`CHECKPOINT_PATH`; :func:`load_results`, :func:`load_checkpoint`,
  :func:`plot_seed_curves`.
* **Where it fails** (section 5): :func:`error_report`, :func:`plot_format_scores`, :func:`plot_position_errors`.
* **Cross-attention** (sections 6-7): :func:`field_attention` (which share of the attention of the output's
  year, month and day characters falls on the input's year, month and day), :func:`plot_cross_attention`,
  the widget :func:`date_explorer` over :func:`date_view`.
* **The baseline** (section 8): :data:`GRU_BASELINE` (``seqlib.additive_attention.AttentionGRU``),
  :func:`baseline_table`.
* **The course's leaderboard** (section 9): :func:`course_rows` reads every shipped result file,
  :func:`course_leaderboard`, :func:`plot_course_leaderboard`.
* **Exercises** ``10.exact_match``, ``10.teacher_forcing_batch``, ``10.most_attended``, ``10.additive_attention``.

Shape legend: B batch, S source length (characters), T target length (11: ten characters and EOS),
n_heads heads, V vocabulary size.
"""

from __future__ import annotations

import functools
import json
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import ipywidgets as widgets
import matplotlib.pyplot as plt
import matplotlib.ticker as ticker
import numpy as np
import torch
import torch.nn.functional as F
from IPython.display import clear_output, display
from torch import Tensor, nn

from seqlib import dates as D
from seqlib.additive_attention import AttentionGRU
from seqlib.course.checker import Exercise, Mistake, register
from seqlib.course.explorer import Explorer
from seqlib.course.leaderboard import Leaderboard, ngram_rows
from seqlib.seq2seq import BOS_ID, EOS_ID, PAD_ID, Seq2SeqTransformer, exact_match, greedy_decode
from seqlib.train import TrainRecord

ROOT = Path(__file__).resolve().parents[2]
RESULTS_PATH = ROOT / "data" / "results" / "date_capstone.json"
CHECKPOINT_PATH = ROOT / "data" / "date_transformer.pt"
RESULT_FILES = {  # the leaderboard's sources, notebook by notebook
    "02": ROOT / "data" / "results" / "rnn_lm_seeds.json",
    "04": ROOT / "data" / "results" / "lstm_char_model.json",
    "05": ROOT / "data" / "results" / "gru_vs_lstm.json",
    "09": ROOT / "data" / "results" / "decoder_char_model.json",
}

__all__ = [
    "RESULTS_PATH",
    "CHECKPOINT_PATH",
    "TRANSFORMER",
    "GRU_BASELINE",
    "RECIPE",
    "LEARNING_RATES",
    "FULL_BUDGET_S",
    "SHORT_STEPS",
    "format_table",
    "EvaluationSets",
    "evaluation_sets",
    "make_transformer",
    "make_gru",
    "count_parameters",
    "train_transformer",
    "LiveCurve",
    "plot_training_curve",
    "save_checkpoint",
    "load_checkpoint",
    "CapstoneResults",
    "load_results",
    "plot_seed_curves",
    "ErrorReport",
    "Analysis",
    "analyse",
    "cross_attention",
    "error_report",
    "plot_format_scores",
    "plot_position_errors",
    "FieldAttention",
    "field_attention",
    "plot_cross_attention",
    "DateView",
    "date_view",
    "plot_date_view",
    "describe_date_view",
    "date_explorer",
    "baseline_table",
    "time_to_reach",
    "CourseRow",
    "course_rows",
    "course_leaderboard",
    "plot_course_leaderboard",
]

# --- the models and the recipe --------------------------------------------------------------------

# d_model 48, 4 heads (d_head 12), one encoder layer, two decoder layers, pre-norm, no dropout (the data
# never repeats, so there is nothing to over-fit), sinusoidal positions
TRANSFORMER = {"d_model": 48, "nhead": 4, "num_encoder_layers": 1, "num_decoder_layers": 2, "dim_feedforward": 96,
               "dropout": 0.0, "max_len": D.MAX_SOURCE_LEN, "norm_first": True}
GRU_BASELINE = {"embedding_dim": 32, "hidden_size": 64, "attention_size": 64}
RECIPE = {"batch_size": 64, "lr_schedule": "cosine", "final_lr_fraction": 0.05, "clip": 1.0}
# each arm's learning rate, chosen by bench/date_capstone.py's sweep (0.001, 0.003, 0.01; seed 0, the full budget,
# the highest exact match on validation dates, ties broken by the lowest final training loss)
LEARNING_RATES = {"transformer": 1e-2, "gru": 1e-2}
FULL_BUDGET_S = 60.0  # CPU seconds of one thread
SHORT_STEPS = 150  # the notebook's live run
EVAL_EVERY = 15  # steps between two points of the live curve
PER_FORMAT = 200  # held-out dates per format in the test sets
MONITOR_PER_FORMAT = 20  # validation dates per seen format for the curve


def make_transformer(seed: int = 0) -> Seq2SeqTransformer:
    """A fresh date Transformer (:data:`TRANSFORMER`), its initial weights drawn after ``torch.manual_seed(seed)``."""
    torch.manual_seed(seed)
    return Seq2SeqTransformer(D.SOURCE_VOCAB_SIZE, D.TARGET_VOCAB_SIZE, **TRANSFORMER)


def make_gru(seed: int = 0) -> AttentionGRU:
    """A fresh GRU encoder–decoder with additive attention (:data:`GRU_BASELINE`), seeded like
    :func:`make_transformer`."""
    torch.manual_seed(seed)
    return AttentionGRU(D.SOURCE_VOCAB_SIZE, D.TARGET_VOCAB_SIZE, **GRU_BASELINE)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# --- the task -------------------------------------------------------------------------------------


def format_table(date: object = None) -> list[tuple[str, str, bool]]:
    """``(format name, the date written in it, seen in training?)`` for every format (default date 2026-11-29)."""
    import datetime as dt

    date = dt.date(2026, 11, 29) if date is None else date
    return [(name, D.write_date(date, name).text, name in D.SEEN_FORMATS) for name in D.FORMATS]


class EvaluationSets(NamedTuple):
    seen: D.DateSet  # held-out test dates, every seen format (the same dates in each)
    unseen: D.DateSet  # the same held-out dates, every unseen format
    monitor: D.DateSet  # validation dates, every seen format: the live curve's score


@functools.lru_cache(maxsize=1)
def evaluation_sets() -> EvaluationSets:
    """The course's fixed evaluation sets (cached): :data:`PER_FORMAT` test dates per format, seen and unseen,
    and :data:`MONITOR_PER_FORMAT` validation dates per seen format."""
    split = D.date_split()
    return EvaluationSets(D.date_set(split.test, D.SEEN_FORMATS, PER_FORMAT, seed=0),
                          D.date_set(split.test, D.UNSEEN_FORMATS, PER_FORMAT, seed=0),
                          D.date_set(split.validation, D.SEEN_FORMATS, MONITOR_PER_FORMAT, seed=0))


# --- training, and the curve while it trains -------------------------------------------------------


def train_transformer(
    seed: int = 0, *, max_steps: int | None = None, cpu_budget_s: float | None = None,
    lr: float = LEARNING_RATES["transformer"], eval_every: int = EVAL_EVERY,
    progress: Callable[[TrainRecord], None] | None = None,
) -> tuple[Seq2SeqTransformer, D.DateTraining]:
    """A date Transformer trained on the training dates in the seen formats (:data:`RECIPE`).

    The batches are seeded with ``seed`` (as the initial weights); every ``eval_every`` steps the exact match on
    the validation dates (:func:`evaluation_sets` ``.monitor``) is recorded as ``"exact_match"``.
    """
    model = make_transformer(seed)
    return model, train_date_arm(model, seed, max_steps=max_steps, cpu_budget_s=cpu_budget_s, lr=lr,
                                 eval_every=eval_every, progress=progress)


def train_date_arm(
    model: nn.Module, seed: int, *, lr: float, max_steps: int | None = None, cpu_budget_s: float | None = None,
    eval_every: int = EVAL_EVERY, progress: Callable[[TrainRecord], None] | None = None,
    clock: D.CpuClock | None = None,
) -> D.DateTraining:
    """Train ``model`` (either arm) with :data:`RECIPE` at ``lr`` on seeded batches; the monitor's exact match
    recorded."""
    monitor = evaluation_sets().monitor
    batches = D.date_batches(D.date_split().train, RECIPE["batch_size"], D.SEEN_FORMATS, seed=seed)
    return D.train_date_model(
        model, batches, max_steps=max_steps, cpu_budget_s=cpu_budget_s, lr=lr, lr_schedule=RECIPE["lr_schedule"],
        final_lr_fraction=RECIPE["final_lr_fraction"], clip=RECIPE["clip"], eval_every=eval_every,
        evaluate=lambda: {"exact_match": D.exact_match_score(model, monitor)}, progress=progress, seed=seed,
        clock=clock)


def curve_points(result_or_records: object) -> list[tuple[int, float, float]]:
    """``(step, training loss, validation exact match)`` of every record of a run."""
    records = getattr(result_or_records, "history", result_or_records)
    return [(r.step, r.train_loss, r.metrics["exact_match"]) for r in records]


def plot_training_curve(fig: plt.Figure, points: Sequence[tuple[int, float, float]], total_steps: int,
                        title: str = "") -> None:
    """Training loss (log scale) and validation exact match against the step, the x axis fixed to the budget."""
    ax_loss, ax_match = fig.subplots(1, 2)
    steps = [p[0] for p in points]
    ax_loss.plot(steps, [p[1] for p in points], "o-", color="tab:blue", markersize=3)
    ax_loss.set_yscale("log")
    ax_loss.yaxis.set_major_locator(ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax_loss.yaxis.set_major_formatter(ticker.FormatStrFormatter("%.3g"))
    ax_loss.yaxis.set_minor_formatter(ticker.NullFormatter())
    ax_loss.set_ylabel("training loss (nats per character)")
    ax_match.plot(steps, [p[2] for p in points], "o-", color="tab:green", markersize=3)
    ax_match.set_ylim(-0.02, 1.02)
    ax_match.set_ylabel("exact match on validation dates")
    for ax in (ax_loss, ax_match):
        ax.set_xlim(0, total_steps)
        ax.set_xlabel("optimizer step")
        ax.grid(alpha=0.3)
    ax_loss.set_title("loss, mean since the last point", fontsize=10)
    ax_match.set_title(f"{len(evaluation_sets().monitor)} validation dates, greedy decoding", fontsize=10)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()


class LiveCurve:
    """A figure that grows while a model trains: pass it as ``progress``; display it before training starts.

    It redraws into an ipywidgets ``Output`` at every record (so the stored notebook shows the final curve), and
    keeps the points in ``points``.
    """

    def __init__(self, total_steps: int, title: str = "", figsize: tuple[float, float] = (11.0, 3.4)) -> None:
        self.total_steps, self.title, self.figsize = total_steps, title, figsize
        self.points: list[tuple[int, float, float]] = []
        self.output = widgets.Output()

    def __call__(self, record: TrainRecord) -> None:
        self.points.append((record.step, record.train_loss, record.metrics["exact_match"]))
        with self.output:
            clear_output(wait=True)
            fig = plt.figure(figsize=self.figsize)
            plot_training_curve(fig, self.points, self.total_steps, self.title)
            plt.show()

    def _ipython_display_(self) -> None:
        display(self.output)


# --- the shipped model and results ----------------------------------------------------------------


def save_checkpoint(path: str | Path, model: Seq2SeqTransformer, meta: dict) -> None:
    """The weights (float32), the configuration and ``meta``; loadable with ``torch.load(..., weights_only=True)``."""
    torch.save({"config": dict(TRANSFORMER), "meta": dict(meta),
                "state_dict": {k: v.detach().float().cpu() for k, v in model.state_dict().items()}}, path)


def load_checkpoint(path: str | Path = CHECKPOINT_PATH) -> tuple[Seq2SeqTransformer, dict]:
    """The shipped (or another saved) date Transformer, in eval mode, and its meta data."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no checkpoint; run `python bench/date_capstone.py --replace-shipped`")
    stored = torch.load(path, map_location="cpu", weights_only=True)
    model = Seq2SeqTransformer(D.SOURCE_VOCAB_SIZE, D.TARGET_VOCAB_SIZE, **stored["config"])
    model.load_state_dict(stored["state_dict"])
    return model.eval(), stored["meta"]


@dataclass(frozen=True)
class CapstoneResults:
    """``data/results/date_capstone.json`` read: the settings, the learning-rate sweep, the full-budget runs of
    both arms and the short runs of the notebook's live recipe."""

    settings: dict
    sweep: list[dict]
    runs: list[dict]
    short: list[dict]

    def select(self, arm: str) -> list[dict]:
        return sorted((run for run in self.runs if run["arm"] == arm), key=lambda run: run["seed"])

    def values(self, arm: str, key: str) -> list[float]:
        return [run[key] for run in self.select(arm)]


def load_results(path: str | Path | None = None) -> CapstoneResults:
    """Read the bench's result file (default :data:`RESULTS_PATH`)."""
    path = RESULTS_PATH if path is None else Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no result file; run `python bench/date_capstone.py --replace-shipped`")
    data = json.loads(path.read_text(encoding="utf-8"))
    missing = {"settings", "sweep", "runs", "short"} - set(data)
    if missing:
        raise ValueError(f"{path}: not a capstone result file (missing {sorted(missing)})")
    return CapstoneResults(data["settings"], data["sweep"], data["runs"], data["short"])


ARM_NAMES = {"transformer": "Transformer", "gru": "GRU + additive attention"}
ARM_COLORS = {"transformer": "tab:purple", "gru": "tab:orange"}


def plot_seed_curves(ax: plt.Axes, results: CapstoneResults) -> None:
    """Validation exact match against CPU seconds for every full-budget run (one line per seed, a colour per arm)."""
    for arm in ("transformer", "gru"):
        for k, run in enumerate(results.select(arm)):
            ax.plot([p["cpu_seconds"] for p in run["curve"]], [p["exact_match"] for p in run["curve"]],
                    color=ARM_COLORS[arm], alpha=0.8, lw=1.2, label=ARM_NAMES[arm] if k == 0 else None)
    ax.axhline(0.99, color="grey", ls=":", lw=1)
    ax.set_xlabel("training time (CPU seconds, one thread)")
    ax.set_ylabel("exact match on validation dates")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title("full budget, every seed: validation exact match while training", fontsize=10)
    ax.legend(loc="lower right")
    ax.grid(alpha=0.3)


# --- where it fails, and where it looks -----------------------------------------------------------


class ErrorReport(NamedTuple):
    format: str
    count: int
    exact_match: float
    position_error: tuple[float, ...]  # per ISO position 0..9: share of examples whose character there is wrong
    field_error: dict[str, float]  # year, month, day: share with any wrong character in the field
    wrong: tuple[tuple[str, str, str], ...]  # (source, expected, decoded) of the wrong examples


class FieldAttention(NamedTuple):
    """``share[field][layer, head]``: mean over examples and over the output characters of ``field`` of the
    cross-attention weight on the input characters of the same field; ``head_average[field][layer]`` the same
    for the mean of the heads; ``uniform[field]`` what attention spread evenly over the input would give."""

    share: dict[str, np.ndarray]  # (layers, heads)
    head_average: dict[str, np.ndarray]  # (layers,)
    uniform: dict[str, float]
    count: int


class Analysis(NamedTuple):
    """One greedy decoding of a set, and everything measured on it."""

    exact_match: float  # seqlib.seq2seq.exact_match over the whole set
    decoded: tuple[str, ...]  # the outputs as text (up to EOS)
    reports: dict[str, ErrorReport]  # per format
    attention: FieldAttention | None  # None for a model without decoder cross-attention maps (the GRU)


@torch.no_grad()
def cross_attention(model: Seq2SeqTransformer, src: Tensor) -> tuple[Tensor, tuple[Tensor, ...]]:
    """Greedy decoding with its cross-attention: ``(tokens (B, L), one (B, n_heads, L, S) per decoder layer)``.

    Row k of each map is the query that *produces* output character k (it reads BOS and outputs 0..k-1).
    """
    tokens, trace = greedy_decode(model, src, D.TARGET_LEN, BOS_ID, EOS_ID, return_trace=True)
    return tokens, trace.decoder.cross_attn_weights


def _field_shares(examples: Sequence[D.DateExample], maps: tuple[Tensor, ...], sums: dict, uniform: dict) -> None:
    weights = torch.stack(maps, dim=1)  # (B, layers, n_heads, L, S)
    if weights.shape[3] < 10:
        raise ValueError("the model stopped before writing ten characters: no field to measure")
    for field, (a, b) in D.ISO_FIELDS.items():
        on_field = torch.zeros(weights.shape[0], weights.shape[-1])  # (B, S): 1 on the field's input span
        for k, example in enumerate(examples):
            on_field[k, slice(*example.spans[field])] = 1.0
            uniform[field] += (example.spans[field][1] - example.spans[field][0]) / len(example.text)
        rows = weights[:, :, :, a:b, :]  # (B, layers, n_heads, rows of the field, S)
        share = (rows * on_field[:, None, None, None, :]).sum(dim=-1).mean(dim=-1)  # (B, layers, n_heads)
        sums[field] = sums[field] + share.sum(dim=0).numpy()


def _reports(dates: D.DateSet, decoded: Sequence[str]) -> dict[str, ErrorReport]:
    reports = {}
    for name in dict.fromkeys(e.format for e in dates.examples):
        rows = [(e, got) for e, got in zip(dates.examples, decoded, strict=True) if e.format == name]
        wrong_at = np.array([[k >= len(got) or got[k] != e.iso[k] for k in range(10)] for e, got in rows])
        fields = {field: float(wrong_at[:, a:b].any(axis=1).mean()) for field, (a, b) in D.ISO_FIELDS.items()}
        right = [got == e.iso for e, got in rows]
        reports[name] = ErrorReport(name, len(rows), sum(right) / len(rows), tuple(wrong_at.mean(axis=0).tolist()),
                                    fields, tuple((e.text, e.iso, got) for (e, got), ok in zip(rows, right, strict=True)
                                          if not ok))
    return reports


def analyse(model: nn.Module, dates: D.DateSet, batch_size: int = 1000) -> Analysis:
    """Decode ``dates`` once (greedy) and measure: exact match, per-format errors and, for the Transformer, where the
    output's year, month and day characters look in the input (:class:`FieldAttention`).

    A per-format ``exact_match`` compares text (a decoded text equals the ISO date); the set's ``exact_match``
    compares token ids up to and including EOS (``seqlib.seq2seq.exact_match``), as training scores.
    """
    transformer = isinstance(model, Seq2SeqTransformer)
    decoded: list[str] = []
    correct = 0.0
    sums = {field: 0.0 for field in D.ISO_FIELDS}
    uniform = {field: 0.0 for field in D.ISO_FIELDS}
    for start in range(0, len(dates), batch_size):
        examples = dates.examples[start:start + batch_size]
        src, tgt = dates.src[start:start + batch_size], dates.tgt[start:start + batch_size]
        if transformer:
            tokens, maps = cross_attention(model, src)
            _field_shares(examples, maps, sums, uniform)
        else:
            tokens = D.decode_dates(model, src)
        correct += exact_match(tokens, tgt[:, 1:], EOS_ID, PAD_ID) * len(src)
        decoded += [D.decode_target(row) for row in tokens]
    attention = None
    if transformer:
        share = {field: total / len(dates) for field, total in sums.items()}
        attention = FieldAttention(share, {f: v.mean(axis=1) for f, v in share.items()},
                                   {f: u / len(dates) for f, u in uniform.items()}, len(dates))
    return Analysis(correct / len(dates), tuple(decoded), _reports(dates, decoded), attention)


def error_report(model: nn.Module, dates: D.DateSet) -> dict[str, ErrorReport]:
    """Per format: exact match, the share of wrong characters at each ISO position and field, the wrong examples.

    A decoded text shorter than ten characters counts as wrong at the positions it lacks.
    """
    return analyse(model, dates).reports


def field_attention(model: Seq2SeqTransformer, dates: D.DateSet, batch_size: int = 1000) -> FieldAttention:
    """Where the output's year, month and day characters look in the input, measured over ``dates``."""
    return analyse(model, dates, batch_size).attention


def plot_format_scores(ax: plt.Axes, reports: dict[str, ErrorReport]) -> None:
    """Exact match per format, seen formats in one colour and unseen in another."""
    names = list(reports)
    values = [reports[n].exact_match for n in names]
    colours = ["tab:purple" if n in D.SEEN_FORMATS else "tab:red" for n in names]
    ax.barh(range(len(names)), values, color=colours)
    for k, v in enumerate(values):
        ax.text(min(v, 0.86) + 0.01, k, f"{v:.3f}", va="center", fontsize=8, color="white" if v > 0.9 else "black")
    ax.set_yticks(range(len(names)), [f"{n}  ({'seen' if n in D.SEEN_FORMATS else 'unseen'})" for n in names],
                  fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("exact match on held-out dates")
    ax.set_title("per format (purple: formats of the training set, red: never seen)", fontsize=10)


def plot_position_errors(ax: plt.Axes, reports: dict[str, ErrorReport]) -> None:
    """Share of wrong characters at each position of ``YYYY-MM-DD``, one line per format."""
    labels = list("YYYY-MM-DD")
    for name, report in reports.items():
        ax.plot(range(10), report.position_error, "o-", label=name, markersize=4)
    ax.set_xticks(range(10), [f"{ch}\n{k}" for k, ch in enumerate(labels)])
    ax.set_xlabel("position in the ISO output (field and index)")
    ax.set_ylabel("share of examples wrong there")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title("which output characters go wrong", fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)


# --- cross-attention ------------------------------------------------------------------------------


def plot_cross_attention(ax: plt.Axes, weights: Tensor, source: str, output: Sequence[str], title: str) -> None:
    """One cross-attention map ``(rows, S)``: output characters (rows) against input characters (columns)."""
    image = ax.imshow(weights.detach().numpy(), cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto")
    ax.set_xticks(range(len(source)), D.source_tokens(source), fontsize=8)
    ax.set_yticks(range(len(output)), [f"{k}: {ch}" for k, ch in enumerate(output)], fontsize=8)
    ax.set_xlabel("input character (key position j)")
    ax.set_ylabel("output character i (query)")
    ax.set_title(title, fontsize=9)
    ax.figure.colorbar(image, ax=ax, fraction=0.04, pad=0.02, label="attention weight α")


# --- the widget: type a date ----------------------------------------------------------------------


class DateView(NamedTuple):
    text: str  # what was typed
    output: tuple[str, ...]  # every decoded token ("<eos>" last when it stopped)
    shown: int  # how many of them are shown (the rest not yet decoded)
    weights: Tensor  # (shown, S): the chosen layer's and head's cross-attention rows
    layer: int
    head: int  # -1: the mean of the heads
    reading: str  # what the rule-based reader says of the text
    expected: str | None  # the rule-based reading, ISO, when there is one
    verdict: str


def _token_text(i: int) -> str:
    return "<eos>" if i == EOS_ID else D.decode_target([i]) or "?"


def date_view(model: Seq2SeqTransformer, text: str, tokens: int = 11, layer: int = 1, head: int = -1) -> DateView:
    """Decode ``text`` and keep the cross-attention of decoder layer ``layer``, head ``head`` (-1: the mean).

    ``tokens``: how many output tokens to show (1 … 11), as if decoding stopped there.  A text the model cannot
    read (empty, too long, a character outside the vocabulary, no digit) raises ``ValueError`` with a message.
    """
    D.check_date_text(text)
    layers = len(model.transformer.decoder.layers)
    n_heads = model.transformer.decoder.layers[0].multihead_attn.num_heads
    if not 0 <= layer < layers:
        raise ValueError(f"layer must be 0 … {layers - 1} (the model has {layers} decoder layers), got {layer}")
    if not -1 <= head < n_heads:
        raise ValueError(f"head must be -1 (the mean) or 0 … {n_heads - 1}, got {head}")
    if not 1 <= tokens <= D.TARGET_LEN:
        raise ValueError(f"tokens must be 1 … {D.TARGET_LEN}, got {tokens}")
    ids, maps = cross_attention(model, D.encode_source([text]))
    output = []
    for i in ids[0].tolist():
        output.append(_token_text(i))
        if i == EOS_ID:
            break
    shown = min(tokens, len(output))
    chosen = maps[layer][0]  # (n_heads, L, S)
    weights = (chosen.mean(dim=0) if head == -1 else chosen[head])[:shown]  # (shown, S)
    written = "".join(ch for ch in output if ch != "<eos>")
    try:
        name, date = D.read_date(text)
    except ValueError as err:
        reading, expected = f"the rules cannot read it: {err}", None
    else:
        seen = "seen in training" if name in D.SEEN_FORMATS else "a format never seen in training"
        expected = date.isoformat()
        reading = f"written as {name!r} ({seen}), which the rules read as {expected}"
    if expected is not None:
        verdict = "right" if written == expected else f"wrong: the date is {expected}"
    elif D.is_valid_iso(written):
        verdict = "a real date, but the rules read no date in the text: the model writes one anyway"
    else:
        verdict = "not a real calendar date"
    return DateView(text, tuple(output), shown, weights, layer, head, reading, expected, verdict)


def plot_date_view(view: DateView, fig: plt.Figure) -> None:
    ax = fig.subplots()
    head = "mean of the heads" if view.head == -1 else f"head {view.head}"
    plot_cross_attention(ax, view.weights, view.text, view.output[:view.shown],
                         f"decoder layer {view.layer}, {head}: which input characters each output character reads "
                         f"({view.shown} of {len(view.output)} tokens decoded)")
    fig.tight_layout()


def describe_date_view(view: DateView) -> str:
    written = "".join(ch for ch in view.output if ch != "<eos>")
    last = view.shown - 1
    look = int(view.weights[last].argmax())
    return (f"{view.text!r} → <b>{written}</b> ({view.verdict}). {view.reading}. Output {last} "
            f"({view.output[last]}) reads input {look} ({view.text[look]!r}) most, weight "
            f"{float(view.weights[last, look]):.2f}.")


def date_explorer(model: Seq2SeqTransformer, text: str = "Tuesday, 1 Feb 2000", tokens: int = 4) -> Explorer:
    """Widget: type a date; step through the output one token at a time; pick a decoder layer and a head."""
    layers = len(model.transformer.decoder.layers)
    n_heads = model.transformer.decoder.layers[0].multihead_attn.num_heads
    controls = {
        "text": widgets.Text(value=text, description="date", continuous_update=False),
        "tokens": widgets.IntSlider(value=tokens, min=1, max=D.TARGET_LEN, description="tokens"),
        "layer": widgets.Dropdown(options=[(f"decoder layer {k}", k) for k in range(layers)], value=layers - 1,
                                  description="layer"),
        "head": widgets.Dropdown(options=[("mean of the heads", -1)] + [(f"head {h}", h) for h in range(n_heads)],
                                 value=-1, description="head"),
    }

    def compute(text: str, tokens: int, layer: int, head: int) -> DateView:
        return date_view(model, text, tokens, layer, head)

    return Explorer(compute, controls, plot_date_view, describe_date_view, figsize=(11.0, 4.2))


# --- the baseline ---------------------------------------------------------------------------------


class ArmSummary(NamedTuple):
    arm: str
    params: int
    seeds: list[int]
    steps: list[int]
    steps_per_second: list[float]  # per CPU second
    seen: list[float]
    unseen: list[float]


def time_to_reach(run: dict, level: float = 0.99) -> float | None:
    """CPU seconds until a full-budget run's validation exact match first reached ``level`` (None: never)."""
    return next((point["cpu_seconds"] for point in run["curve"] if point["exact_match"] >= level), None)


def baseline_table(results: CapstoneResults) -> dict[str, ArmSummary]:
    """Both arms of the full-budget runs side by side: parameters, steps, steps per CPU second, exact match."""
    table = {}
    for arm in ("transformer", "gru"):
        runs = results.select(arm)
        table[arm] = ArmSummary(arm, runs[0]["params"], [r["seed"] for r in runs], [r["steps"] for r in runs],
                                [r["steps"] / r["cpu_seconds"] for r in runs], [r["exact_match_seen"] for r in runs],
                                [r["exact_match_unseen"] for r in runs])
    return table


# --- the course's leaderboard ---------------------------------------------------------------------


@dataclass(frozen=True)
class CourseRow:
    """One model of the course on *The Time Machine*'s characters (the leaderboard's protocol)."""

    name: str
    family: str  # n-gram, RNN, LSTM, GRU, Transformer
    notebook: str
    params: int
    val_perplexity: float  # mean over the seeds (one value for the deterministic n-grams)
    low: float
    high: float
    seconds: float | None  # mean training time per seed (None: counted, not trained)
    source: str  # where the numbers come from


def _row(name: str, family: str, notebook: str, runs: list[dict], ppl: str, seconds: str, params: str,
         source: str) -> CourseRow:
    values = [run[ppl] for run in runs]
    return CourseRow(name, family, notebook, runs[0][params], statistics.fmean(values), min(values), max(values),
                     statistics.fmean(run[seconds] for run in runs), f"{source}, {len(runs)} seeds")


def course_rows(include: Sequence[str] = ("02", "04", "05", "09")) -> tuple[list[CourseRow], list[str]]:
    """Every language model the course trained, read from the shipped result files, and notes on what is missing.

    The n-gram rows are recomputed (:func:`seqlib.course.leaderboard.ngram_rows`, counting, about a second).
    A notebook in ``include`` whose result file is absent is listed in the notes, not invented.
    """
    rows = [CourseRow(r.name, "n-gram", "01", r.params, r.val_perplexity, r.val_perplexity, r.val_perplexity, None,
                      "counted here (seqlib.course.leaderboard.ngram_rows)") for r in ngram_rows()]
    notes = ["window MLP (01): notebook 01's MLP reads a window of sunspot numbers, not text; no model of that kind "
             "was trained on The Time Machine, so it has no row"]
    data = {nb: json.loads(path.read_text(encoding="utf-8")) for nb, path in RESULT_FILES.items()
            if nb in include and path.exists()}
    notes += [f"notebook {nb}: {RESULT_FILES[nb].name} is not shipped; no row" for nb in include if nb not in data]
    if "02" in data:
        runs = data["02"]["runs"]
        for arm, label in (("notebook", "1200 steps"), ("long", "4800 steps")):
            rows.append(_row(f"RNN (H=256, {label})", "RNN", "02", [r for r in runs if r["arm"] == arm],
                             "leaderboard_val_perplexity", "seconds", "parameters", "rnn_lm_seeds.json"))
    if "04" in data:
        runs = [r for r in data["04"]["leaderboard"]["runs"] if r["arm"] == "lstm"]
        rows.append(_row("LSTM (H=128, 1200 steps)", "LSTM", "04", runs, "val_perplexity", "seconds", "parameters",
                         "lstm_char_model.json"))
    if "05" in data:
        runs = data["05"]["runs"]
        for setting, label in (("params", "1200 steps, ~82k params"), ("time", "30 s")):
            for arm, family in (("rnn", "RNN"), ("gru", "GRU"), ("lstm", "LSTM")):
                chosen = [r for r in runs if r["setting"] == setting and r["arm"] == arm]
                rows.append(_row(f"{family} (H={chosen[0]['hidden_size']}, {label})", family, "05", chosen,
                                 "val_perplexity", "train_seconds", "params", "gru_vs_lstm.json"))
    if "09" in data:
        rows.append(_row("GPT-style decoder (d=64, 2 layers)", "Transformer", "09", data["09"]["runs"],
                         "val_perplexity", "seconds", "parameters", "decoder_char_model.json"))
    return rows, notes


def course_leaderboard(rows: Sequence[CourseRow]) -> Leaderboard:
    """The rows on a :class:`~seqlib.course.leaderboard.Leaderboard` (ranked by validation perplexity), the
    training time and the seeds' range in the notes."""
    board = Leaderboard()
    for row in rows:
        time = "counted, no training" if row.seconds is None else f"{row.seconds:.0f} s a seed"
        spread = "" if row.low == row.high else f"mean ({row.low:.3f}-{row.high:.3f}), "
        board.add(row.name, row.params, row.val_perplexity, notes=f"{spread}{time}; {row.source}",
                  notebook=row.notebook)
    return board


FAMILY_COLORS = {"n-gram": "tab:gray", "RNN": "tab:blue", "GRU": "tab:green", "LSTM": "tab:red",
                 "Transformer": "tab:purple"}


def plot_course_leaderboard(ax: plt.Axes, rows: Sequence[CourseRow]) -> None:
    """Validation perplexity of every model (best at the top), the seeds' range as an error bar, coloured by family."""
    ranked = sorted(rows, key=lambda r: r.val_perplexity)
    y = np.arange(len(ranked))
    for k, row in enumerate(ranked):
        ax.barh(k, row.val_perplexity, color=FAMILY_COLORS[row.family], alpha=0.85)
        if row.high > row.low:
            ax.plot([row.low, row.high], [k, k], color="black", lw=1.5)
        time = "counted" if row.seconds is None else f"{row.seconds:.0f} s"
        ax.text(row.val_perplexity + 0.1, k, f"{row.val_perplexity:.3f}  ({row.params:,} params, {time})",
                va="center", fontsize=7)
    ax.set_yticks(y, [f"{r.name} [{r.notebook}]" for r in ranked], fontsize=8)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xticks([4, 5, 6, 8, 10, 15, 20, 30], ["4", "5", "6", "8", "10", "15", "20", "30"])
    ax.xaxis.set_minor_formatter(ticker.NullFormatter())
    ax.set_xlabel("validation perplexity on The Time Machine (log scale; lower is better)")
    ax.set_xlim(3.5, max(r.val_perplexity for r in ranked) * 2.2)
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in FAMILY_COLORS.values()]
    ax.legend(handles, list(FAMILY_COLORS), loc="lower right", fontsize=8)
    ax.set_title("every language model of the course (mean of seeds, bar = the seeds' range)", fontsize=10)


# --- exercises ------------------------------------------------------------------------------------

# 10.exact_match: exact-match scoring with padding and EOS


def exact_match_answer(predicted, target, eos_id, pad_id):
    return exact_match(predicted, target, eos_id, pad_id)


def _em_token_accuracy(predicted, target, eos_id, pad_id):
    width = max(predicted.shape[1], target.shape[1])
    p = F.pad(predicted, (0, width - predicted.shape[1]), value=pad_id)
    t = F.pad(target, (0, width - target.shape[1]), value=pad_id)
    return (p == t).float().mean().item()


def _em_before_eos(predicted, target, eos_id, pad_id):  # stops comparing before the EOS
    width = max(predicted.shape[1], target.shape[1])
    p = F.pad(predicted, (0, width - predicted.shape[1]), value=pad_id)
    t = F.pad(target, (0, width - target.shape[1]), value=pad_id)
    upto = (t == eos_id).long().cumsum(dim=1) == 0
    return ((p == t) | ~upto).all(dim=1).float().mean().item()


def _em_everything(predicted, target, eos_id, pad_id):  # compares the positions after EOS too
    width = max(predicted.shape[1], target.shape[1])
    p = F.pad(predicted, (0, width - predicted.shape[1]), value=pad_id)
    t = F.pad(target, (0, width - target.shape[1]), value=pad_id)
    return (p == t).all(dim=1).float().mean().item()


def _em_batch_axis(predicted, target, eos_id, pad_id):
    width = max(predicted.shape[1], target.shape[1])
    p = F.pad(predicted, (0, width - predicted.shape[1]), value=pad_id)
    t = F.pad(target, (0, width - target.shape[1]), value=pad_id)
    after = (t == eos_id).long().cumsum(dim=1) - (t == eos_id).long() > 0
    return ((p == t) | after).all(dim=0).float().mean().item()


def _em_cases():
    E, P = EOS_ID, PAD_ID
    target = torch.tensor([[5, 6, 7, E, P], [5, 6, 7, E, P], [8, 9, E, P, P], [4, 4, 4, 4, E], [3, 3, E, P, P]])
    predicted = torch.tensor([
        [5, 6, 7, E, P, P],  # right (one more padded column than the target)
        [5, 6, 7, 9, E, P],  # the right characters, then one too many: wrong
        [8, 9, E, 7, 7, 7],  # right: what comes after its EOS does not count (teacher-forced argmax continues)
        [4, 4, 4, 4, E, P],  # right
        [3, 3, 3, E, P, P],  # wrong character at the EOS's place
    ])
    short = torch.tensor([[5, 6, E], [5, 7, E]])  # shorter than the target
    return [(predicted, target, E, P), (short, target[:2], E, P), (target[:1], target[:1], E, P)]


register(Exercise(
    name="10.exact_match",
    title="exact match, with padding and EOS",
    hint="A sequence counts only when every token up to and including the reference's end token is right: an "
         "answer that stops early, or writes one character too many before its end token, is wrong. What comes "
         "after the reference's end token never counts (the decoder may write anything there), and the two "
         "tensors may have different widths. Return the fraction of sequences, as a Python float.",
    reference=exact_match_answer,
    cases=_em_cases,
    mistakes=[
        Mistake("you scored tokens, not sequences: exact match counts a sequence only when all of its tokens are "
                "right", _em_token_accuracy),
        Mistake("you stopped comparing before the end token: an answer that goes on past the last character "
                "instead of ending there is counted right", _em_before_eos),
        Mistake("you compared the positions after the reference's end token too: what the decoder writes after "
                "the end does not count", _em_everything),
        Mistake("you took 'all correct' over the batch axis (per position) instead of over each sequence's "
                "positions", _em_batch_axis),
    ],
))

# 10.teacher_forcing_batch: build one teacher-forcing batch from answer strings


def teacher_forcing_batch(answers, char_ids, bos_id, eos_id, pad_id):
    width = max(len(a) for a in answers) + 1
    decoder_input = torch.full((len(answers), width), pad_id, dtype=torch.long)
    expected = torch.full((len(answers), width), pad_id, dtype=torch.long)
    for b, answer in enumerate(answers):
        ids = [char_ids[ch] for ch in answer]
        decoder_input[b, :len(ids) + 1] = torch.tensor([bos_id, *ids])  # BOS y1 .. yn
        expected[b, :len(ids) + 1] = torch.tensor([*ids, eos_id])  # y1 .. yn EOS
    return decoder_input, expected


def _tf_wrong_way(answers, char_ids, bos_id, eos_id, pad_id):
    decoder_input, expected = teacher_forcing_batch(answers, char_ids, bos_id, eos_id, pad_id)
    return expected, decoder_input


def _tf_unshifted(answers, char_ids, bos_id, eos_id, pad_id):
    width = max(len(a) for a in answers) + 2
    both = torch.full((len(answers), width), pad_id, dtype=torch.long)
    for b, answer in enumerate(answers):
        both[b, :len(answer) + 2] = torch.tensor([bos_id, *[char_ids[ch] for ch in answer], eos_id])
    return both, both.clone()


def _tf_no_eos(answers, char_ids, bos_id, eos_id, pad_id):
    decoder_input, expected = teacher_forcing_batch(answers, char_ids, bos_id, eos_id, pad_id)
    return decoder_input, expected.masked_fill(expected == eos_id, pad_id)


def _tf_left_padded(answers, char_ids, bos_id, eos_id, pad_id):
    decoder_input, expected = teacher_forcing_batch(answers, char_ids, bos_id, eos_id, pad_id)
    for b, answer in enumerate(answers):
        shift = decoder_input.shape[1] - len(answer) - 1
        decoder_input[b] = decoder_input[b].roll(shift)
        expected[b] = expected[b].roll(shift)
    return decoder_input, expected


def _tf_cases():
    char_ids = {ch: k + 3 for k, ch in enumerate("0123456789-")}
    return [(["2026-11-29", "1999-05-03"], char_ids, BOS_ID, EOS_ID, PAD_ID),
            (["12", "3", "45-6"], char_ids, BOS_ID, EOS_ID, PAD_ID)]


register(Exercise(
    name="10.teacher_forcing_batch",
    title="one teacher-forcing batch: the decoder's input and what it must predict",
    hint="With teacher forcing the decoder reads the true answer shifted one place to the right, starting with "
         "the start token, and is scored at every position on the next true token, the last one being the end "
         "token; the two rows have the same length. Answers of different lengths are padded after their end, "
         "with the padding id, so every row starts at position 0. Return two int64 tensors (decoder input, "
         "expected).",
    reference=teacher_forcing_batch,
    cases=_tf_cases,
    mistakes=[
        Mistake("your target is shifted the wrong way: the decoder would read the answer and be asked for the "
                "token before it (the start token comes first in the decoder's input, the end token last in what "
                "it predicts)", _tf_wrong_way),
        Mistake("you did not shift at all: input and expected are the same sequence, so each position is asked "
                "for the token it already reads", _tf_unshifted),
        Mistake("your expected row has no end token: a model trained on it never learns to stop", _tf_no_eos),
        Mistake("you padded on the left: positions must start at 0 for every answer (the positional encoding "
                "and the causal mask count from the start)", _tf_left_padded),
    ],
))

# 10.most_attended: reading the attention map


def most_attended(weights, output_index):
    return int(weights.mean(dim=0)[output_index].argmax())


def _attended_column(weights, output_index):
    return int(weights.mean(dim=0)[:, output_index].argmax())


def _attended_first_head(weights, output_index):
    return int(weights[0][output_index].argmax())


def _attended_next_row(weights, output_index):
    return int(weights.mean(dim=0)[min(output_index + 1, weights.shape[1] - 1)].argmax())


def _attended_weight(weights, output_index):
    return float(weights.mean(dim=0)[output_index].max())


def _attended_cases():
    generator = torch.Generator().manual_seed(10)
    cases = []
    for heads, T, S, k in ((4, 6, 9, 2), (2, 11, 14, 0), (4, 11, 20, 7), (3, 5, 5, 4)):
        scores = torch.randn(heads, T, S, generator=generator) * 2
        cases.append((torch.softmax(scores, dim=-1), k))
    return cases


register(Exercise(
    name="10.most_attended",
    title="which input position does an output character look at most?",
    hint="The map holds one row per output character (a query) and one column per input character (a key); "
         "each row sums to 1. Average the heads first, then look along the row of that output character for its "
         "largest weight: the row that produces an output character has the same number as the character. Return "
         "the position, an int.",
    reference=most_attended,
    cases=_attended_cases,
    mistakes=[
        Mistake("you looked down a column (an input position) instead of along the row of the output character: "
                "rows are queries, columns are input positions", _attended_column),
        Mistake("you read one head only: average the heads first", _attended_first_head),
        Mistake("you read the row after the output character's own: the row with the same number is the query that "
                "produces it", _attended_next_row),
        Mistake("you returned the largest weight, not its position", _attended_weight),
    ],
))

# 10.additive_attention: Bahdanau's score, built


def additive_attention(query, keys, W_q, W_k, b, w, padding):
    # s_ij = wᵀ tanh(W^Q q_i + W^K k_j + b)
    hidden = torch.tanh((query @ W_q.T).unsqueeze(1) + keys @ W_k.T + b)  # (B, S, A)
    scores = (hidden @ w).masked_fill(padding, float("-inf"))  # (B, S)
    weights = torch.softmax(scores, dim=1)
    return (weights.unsqueeze(1) @ keys).squeeze(1), weights  # o_i = Σ_j α_ij k_j


def _additive_dot(query, keys, W_q, W_k, b, w, padding):
    scores = ((keys @ W_k.T + b) @ (query @ W_q.T).unsqueeze(2)).squeeze(2).masked_fill(padding, float("-inf"))
    weights = torch.softmax(scores, dim=1)
    return (weights.unsqueeze(1) @ keys).squeeze(1), weights


def _additive_no_tanh(query, keys, W_q, W_k, b, w, padding):
    scores = (((query @ W_q.T).unsqueeze(1) + keys @ W_k.T + b) @ w).masked_fill(padding, float("-inf"))
    weights = torch.softmax(scores, dim=1)
    return (weights.unsqueeze(1) @ keys).squeeze(1), weights


def _additive_batch_softmax(query, keys, W_q, W_k, b, w, padding):
    scores = (torch.tanh((query @ W_q.T).unsqueeze(1) + keys @ W_k.T + b) @ w).masked_fill(padding, -1e9)
    weights = torch.softmax(scores, dim=0)
    return (weights.unsqueeze(1) @ keys).squeeze(1), weights


def _additive_unmasked(query, keys, W_q, W_k, b, w, padding):
    weights = torch.softmax(torch.tanh((query @ W_q.T).unsqueeze(1) + keys @ W_k.T + b) @ w, dim=1)
    return (weights.unsqueeze(1) @ keys).squeeze(1), weights


def _additive_cases():
    generator = torch.Generator().manual_seed(11)
    cases = []
    for B, S, Dq, Dk, A, lengths in ((2, 5, 3, 4, 6, (5, 3)), (3, 4, 2, 2, 3, (2, 4, 1))):
        padding = torch.arange(S).expand(B, S) >= torch.tensor(lengths).unsqueeze(1)
        cases.append((torch.randn(B, Dq, generator=generator), torch.randn(B, S, Dk, generator=generator),
                      torch.randn(A, Dq, generator=generator), torch.randn(A, Dk, generator=generator),
                      torch.randn(A, generator=generator), torch.randn(A, generator=generator), padding))
    return cases


register(Exercise(
    name="10.additive_attention",
    title="additive (Bahdanau) attention, built",
    hint="The score is a small network, not a dot product: project the query and each key, add them and the bias, "
         "squash with tanh, then take one number per key with the vector w. The softmax runs over the keys of "
         "each example, and padding keys (True in the mask) must get no weight. The context is the weighted sum "
         "of the keys. Return (context (B, key size), weights (B, S)).",
    reference=additive_attention,
    cases=_additive_cases,
    mistakes=[
        Mistake("you scored with a dot product of the projected query and key: Bahdanau's score adds them and "
                "passes the sum through tanh and the vector w", _additive_dot),
        Mistake("the tanh is missing: without it the score is linear, and w only re-weights a sum of two "
                "projections", _additive_no_tanh),
        Mistake("your softmax runs over the batch, not over the keys of each example", _additive_batch_softmax),
        Mistake("the padding keys get weight: mask them before the softmax", _additive_unmasked),
    ],
))

"""Notebook 06 · attention: what the notebook shows and asks, computed here.

* **Why not recurrence.**  The source notes: attention "재귀적 구조가 아닌" (is not a recurrent
  structure) and "한 번에 처리하는 구조" (processes the whole input at once).  :func:`products_on_path`
  counts the matrix products on the longest path of autograd's graph from one input to one output;
  :func:`path_lengths` does it for every (input x_j, output o_i) pair of an RNN (``seqlib.RNNCell``,
  stepped) and of one self-attention layer (``seqlib.scaled_dot_product_attention``), and
  :func:`product_counts` counts the products of a whole sequence and its longest chain.
* **The mechanics on numbers small enough for a pen**: :func:`pen_example` (three tokens, d_k = 4 so that
  √d_k = 2, d_v = 2) and :func:`pen_attention` (Q, K, V and seqlib's :class:`~seqlib.attention.AttentionTrace`).
* **Why √d_k, measured**: :func:`scaling_stats` draws random q, k of d_k features and measures the
  spread of the scores, the entropy of the softmax (:func:`weight_entropy`), its largest weight and its
  slope, with and without the scaling; :func:`scaling_curve` over many d_k; :func:`scaling_explorer`.
* **Meaning in context, learned**: the key-value lookup of :mod:`seqlib.attention_tasks` (a task whose
  right attention is known) and its tiny self-attention model; :func:`train_lookup_runs` trains it for
  several seeds, :func:`lookup_test_sets` and :func:`score_runs` measure every run on the task as trained
  and on reordered, shorter, longer and partly asked sequences, :func:`encode_in_context` shows one token
  encoded in two contexts, :func:`permutation_gap` what a model without positions does with a reordered
  input; :func:`lookup_view` and :func:`lookup_explorer` pick a query token and a model.
* **Plotting boilerplate**: :func:`plot_path_lengths`, :func:`plot_scaling_curve`,
  :func:`plot_attention_heatmap`, :func:`plot_lookup_view`.
* **Exercises** ``06.score_matrix``, ``06.attention``, ``06.weight_entropy``, ``06.right_key_matrix``.

Notation (the course's): Q, K, V the query, key, value matrices with rows q_i, k_j, v_j; W^Q, W^K, W^V the
projections; d_model, d_k, d_v; s_ij = q_i·k_j the score; α_ij the weight (softmax over j); o_i = Σ_j α_ij v_j;
𝓗 the entropy of a weight row.  Shape legend: T query positions, S key positions (T = S in
self-attention), N samples.
"""

from __future__ import annotations

import copy
import html
import math
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.patches import Rectangle
from torch import Tensor

from seqlib.attention import AttentionTrace, scaled_dot_product_attention
from seqlib.attention_tasks import (
    LookupAttention,
    LookupBatch,
    LookupScore,
    LookupTrace,
    evaluate_lookup,
    lookup_batch,
    parse_lookup,
    token_labels,
    train_lookup,
)
from seqlib.course.checker import Exercise, Mistake, register
from seqlib.course.explorer import Explorer
from seqlib.recurrent import RNNCell
from seqlib.train import TrainResult

__all__ = [
    "PRODUCT_NODES",
    "products_on_path",
    "PathLengths",
    "path_lengths",
    "ProductCounts",
    "product_counts",
    "format_counts",
    "plot_path_lengths",
    "PenExample",
    "pen_example",
    "PenAttention",
    "pen_attention",
    "format_matrix",
    "weight_entropy",
    "D_K_GRID",
    "ScalingStats",
    "scaling_stats",
    "scaling_curve",
    "plot_scaling_curve",
    "plot_scaling_view",
    "scaling_explorer",
    "LOOKUP_EXAMPLE",
    "LookupRun",
    "train_lookup_runs",
    "lookup_test_sets",
    "score_runs",
    "ContextEncoding",
    "encode_in_context",
    "permutation_gap",
    "LookupView",
    "lookup_view",
    "plot_attention_heatmap",
    "plot_lookup_view",
    "describe_lookup",
    "lookup_explorer",
]


# --------------------------------------------------------------------------------------------------
# 1 · Why not recurrence: matrix products on the path from an input to an output
# --------------------------------------------------------------------------------------------------

PRODUCT_NODES = frozenset({
    "MmBackward0", "AddmmBackward0", "BmmBackward0", "BaddbmmBackward0", "MvBackward0", "AddmvBackward0",
    "DotBackward0", "MatmulBackward0", "LinearBackward0",
})
"""Names of autograd's nodes that record a matrix (or matrix-vector, or dot) product."""


def products_on_path(output: Tensor, leaf: Tensor) -> int | None:
    """The most matrix products on any path of autograd's graph from ``leaf`` to ``output``.

    Every operation torch records is a node of the graph that ``output.grad_fn`` starts; a path from the
    leaf (a tensor created with ``requires_grad=True``) to the output is a chain of operations each of
    which needs the previous one's result.  The count is deterministic: it depends on the code, not on
    the machine or on the numbers.

    Returns:
        The count (``0`` if the output is reached without a product), or ``None`` if ``output`` does not
        depend on ``leaf`` at all.
    """
    if not isinstance(output, Tensor) or not isinstance(leaf, Tensor):
        raise ValueError("output and leaf must be tensors")
    if not leaf.requires_grad or leaf.grad_fn is not None:
        raise ValueError("leaf must be a leaf tensor created with requires_grad=True")
    if output is leaf:
        return 0
    if output.grad_fn is None:
        return None
    longest: dict[object, int | None] = {}
    stack: list[tuple[object, bool]] = [(output.grad_fn, False)]
    while stack:  # iterative post-order walk: a long RNN's graph is deeper than Python's recursion limit
        node, expanded = stack.pop()
        if node in longest:
            continue
        children = [child for child, _ in node.next_functions if child is not None]
        if not expanded:
            stack.append((node, True))
            stack.extend((child, False) for child in children if child not in longest)
            continue
        if getattr(node, "variable", None) is leaf:
            longest[node] = 0
            continue
        reached = [longest[child] for child in children if longest.get(child) is not None]
        longest[node] = max(reached) + (type(node).__name__ in PRODUCT_NODES) if reached else None
    return longest[output.grad_fn]


class PathLengths(NamedTuple):
    """Matrix products on the longest path from input x_j (column j) to output o_i (row i), for a sequence
    of ``length`` T; ``-1`` where o_i does not depend on x_j.  ``rnn`` (T, T) for ``seqlib.RNNCell`` stepped
    over the sequence (o_i = h_i), ``attention`` (T, T) for one self-attention layer (o_i its output row)."""

    length: int
    rnn: Tensor
    attention: Tensor


def _inputs(length: int, input_size: int, generator: torch.Generator) -> list[Tensor]:
    return [torch.randn(input_size, generator=generator).requires_grad_() for _ in range(length)]


def _rnn_outputs(xs: list[Tensor], hidden_size: int) -> list[Tensor]:
    """h_1 … h_T of a seqlib.RNNCell stepped over the inputs, from h_0 = 0: one step after another."""
    cell = RNNCell(xs[0].shape[0], hidden_size)
    h = torch.zeros(1, hidden_size)
    outputs = []
    for x in xs:
        h = cell(x.unsqueeze(0), h)  # h_t = tanh(x_t W_ihᵀ + b_ih + h_{t-1} W_hhᵀ + b_hh), (1, H)
        outputs.append(h[0])
    return outputs


def _attention_outputs(xs: list[Tensor], d_k: int, d_v: int, generator: torch.Generator) -> list[Tensor]:
    """o_1 … o_T of one self-attention layer over the inputs: every row from one set of products."""
    x = torch.stack(xs)  # (T, d_model)
    d_model = x.shape[1]
    W_Q, W_K = (torch.randn(d_model, d_k, generator=generator) for _ in range(2))
    W_V = torch.randn(d_model, d_v, generator=generator)
    output = scaled_dot_product_attention(x @ W_Q, x @ W_K, x @ W_V)  # (T, d_v)
    return list(output.unbind(0))


def _check_length(length: int) -> None:
    if not isinstance(length, int) or isinstance(length, bool) or length < 1:
        raise ValueError(f"length must be a positive int, got {length!r}")


def path_lengths(length: int, input_size: int = 3, hidden_size: int = 4, d_k: int = 2, d_v: int = 3,
                 seed: int = 0) -> PathLengths:
    """:class:`PathLengths` of an RNN and of self-attention over the same ``length`` random inputs."""
    _check_length(length)
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)  # the cell's initial weights (the counts do not depend on them)
    xs = _inputs(length, input_size, generator)
    tables = []
    for outputs in (_rnn_outputs(xs, hidden_size), _attention_outputs(xs, d_k, d_v, generator)):
        table = torch.full((length, length), -1, dtype=torch.long)
        for i, o in enumerate(outputs):
            for j, x in enumerate(xs):
                count = products_on_path(o, x)
                table[i, j] = -1 if count is None else count
        tables.append(table)
    return PathLengths(length, *tables)


class ProductCounts(NamedTuple):
    """For a sequence of ``length`` T: matrix products in the whole computation of all T outputs
    (``*_total``) and on its longest chain (``*_longest``: from x_1 to o_T, the products that must run one
    after another), for the RNN and for self-attention; and the ``scores`` (T·T numbers) that attention
    computes and an RNN does not."""

    length: int
    rnn_total: int
    rnn_longest: int
    attention_total: int
    attention_longest: int
    scores: int


def _count_products(outputs: list[Tensor]) -> int:
    seen, stack, count = set(), [o.grad_fn for o in outputs], 0
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        count += type(node).__name__ in PRODUCT_NODES
        stack.extend(child for child, _ in node.next_functions)
    return count


def product_counts(length: int, input_size: int = 3, hidden_size: int = 4, d_k: int = 2, d_v: int = 3,
                   seed: int = 0) -> ProductCounts:
    """:class:`ProductCounts` of an RNN and of self-attention over the same ``length`` random inputs."""
    _check_length(length)
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    xs = _inputs(length, input_size, generator)
    rnn, attention = _rnn_outputs(xs, hidden_size), _attention_outputs(xs, d_k, d_v, generator)
    return ProductCounts(
        length,
        _count_products(rnn),
        products_on_path(rnn[-1], xs[0]) or 0,
        _count_products(attention),
        max(products_on_path(attention[-1], xs[0]) or 0, products_on_path(attention[0], xs[-1]) or 0),
        length * length,
    )


def format_counts(table: Tensor, output: str = "o", source: str = "x") -> str:
    """A :class:`PathLengths` table as text: rows o_1 … o_T, columns x_1 … x_T, "·" where there is no path."""
    T = table.shape[0]
    width = len(f"{source}_{T}") + 1
    label = len(f"{output}_{T}")
    lines = [" " * label + "".join(f"{source}_{j + 1}".rjust(width) for j in range(T))]
    for i in range(T):
        cells = "".join(("·" if v < 0 else str(v)).rjust(width) for v in table[i].tolist())
        lines.append(f"{output}_{i + 1}".ljust(label) + cells)
    return "\n".join(lines)


def plot_path_lengths(ax: plt.Axes, paths: PathLengths) -> None:
    """Products on the longest path from each input x_j to the last output o_T: the RNN's grow with the
    distance T − j, attention's do not."""
    T = paths.length
    j = np.arange(1, T + 1)
    ax.plot(j, paths.rnn[-1].numpy(), "o-", color="C3", label="RNN: one step after another")
    ax.plot(j, paths.attention[-1].numpy(), "s-", color="C0", label="self-attention: all positions at once")
    ax.set_xticks(j, [f"$x_{{{k}}}$" for k in j])
    ax.set_xlabel(f"input position j (the path ends at the last output $o_{{{T}}}$)")
    ax.set_ylabel("matrix products on the path")
    ax.set_title(f"from input $x_j$ to output $o_{{{T}}}$, T = {T}")
    ax.set_ylim(0, T + 1.5)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)


# --------------------------------------------------------------------------------------------------
# 2 · The mechanics, on numbers small enough for a pen
# --------------------------------------------------------------------------------------------------


class PenExample(NamedTuple):
    """Three tokens and three projections with small integer entries: ``x`` (T, d_model) = (3, 3),
    ``W_Q`` and ``W_K`` (d_model, d_k) = (3, 4), ``W_V`` (d_model, d_v) = (3, 2).  d_k = 4 makes √d_k = 2."""

    tokens: tuple[str, ...]
    x: Tensor
    W_Q: Tensor
    W_K: Tensor
    W_V: Tensor


def pen_example() -> PenExample:
    """The worked example of the notebook (numbers chosen so that the scores are small integers)."""
    x = torch.tensor([[1.0, 0.0, 1.0],    # the
                      [0.0, 2.0, 0.0],    # cat
                      [1.0, 1.0, 0.0]])   # sat
    W_Q = torch.tensor([[1.0, 0.0, 1.0, 0.0], [0.0, 1.0, 0.0, 1.0], [1.0, 0.0, 0.0, 1.0]])
    W_K = torch.tensor([[0.0, 1.0, 1.0, 0.0], [1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 1.0]])
    W_V = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    return PenExample(("the", "cat", "sat"), x, W_Q, W_K, W_V)


class PenAttention(NamedTuple):
    """``Q`` = x W^Q, ``K`` = x W^K (T, d_k), ``V`` = x W^V (T, d_v), and seqlib's trace of
    softmax(Q Kᵀ / √d_k) V (scores, scaled_scores, masked_scores, weights (T, T), output (T, d_v))."""

    Q: Tensor
    K: Tensor
    V: Tensor
    trace: AttentionTrace


def pen_attention(example: PenExample) -> PenAttention:
    """Self-attention of the pen example, every step kept (``return_trace=True``)."""
    # q_i = x_i W^Q,  k_j = x_j W^K,  v_j = x_j W^V: three linear projections of the same tokens
    Q, K, V = example.x @ example.W_Q, example.x @ example.W_K, example.x @ example.W_V
    _, trace = scaled_dot_product_attention(Q, K, V, return_trace=True)
    return PenAttention(Q, K, V, trace)


def format_matrix(matrix: Tensor, rows: Sequence[str], columns: Sequence[str] | None = None, digits: int = 4) -> str:
    """A small matrix as text with row labels and (optionally) column labels, rounded to ``digits``."""
    values = matrix.detach().double().tolist()
    if len(values) != len(rows):
        raise ValueError(f"{len(rows)} row labels for {len(values)} rows")
    cells = [[f"{v:.{digits}f}" for v in row] for row in values]
    width = max([len(c) for row in cells for c in row] + [len(c) for c in (columns or [])])
    label = max(len(r) for r in rows)
    lines = []
    if columns is not None:
        lines.append(" " * (label + 2) + " ".join(f"{c:>{width}s}" for c in columns))
    lines += [f"{r:>{label}s}  " + " ".join(f"{c:>{width}s}" for c in row) for r, row in zip(rows, cells, strict=True)]
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------------
# 3 · Why √d_k, measured
# --------------------------------------------------------------------------------------------------


def weight_entropy(weights: Tensor) -> Tensor:
    """𝓗 = −Σ_j α_j log α_j of each weight row, in nats (0 · log 0 counts as 0): shape ``weights.shape[:-1]``.

    0 for a one-hot row (all weight on one key); log S for the uniform row over S keys.
    """
    return -torch.special.xlogy(weights, weights).sum(dim=-1)


def _softmax_slope(weights: Tensor) -> Tensor:
    """‖∂α/∂s‖_F of each row: the Jacobian of the softmax is diag(α) − ααᵀ, near 0 when α is one-hot."""
    jacobian = torch.diag_embed(weights) - weights.unsqueeze(-1) * weights.unsqueeze(-2)  # (..., S, S)
    return jacobian.flatten(-2).norm(dim=-1)


D_K_GRID = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)


class ScalingStats(NamedTuple):
    """Random queries against random keys, entries N(0, 1), ``d_k`` features, ``num_keys`` keys each.

    ``scores`` (N, S) the raw q·k; ``weights_unscaled`` and ``weights_scaled`` (N, S) the softmax of
    q·k and of q·k/√d_k (seqlib's trace with ``scale=1`` and with the default); per-sample means:
    ``std_*`` the scores' standard deviation, ``entropy_*`` 𝓗 of a weight row (nats), ``max_weight_*`` the
    largest weight of a row, ``slope_*`` the softmax's Jacobian norm ‖∂α/∂s‖_F (how much a score change
    still moves the weights: what a gradient passes through); ``uniform_entropy`` = log S.
    """

    d_k: int
    num_keys: int
    scores: Tensor
    weights_unscaled: Tensor
    weights_scaled: Tensor
    std_unscaled: float
    std_scaled: float
    entropy_unscaled: float
    entropy_scaled: float
    max_weight_unscaled: float
    max_weight_scaled: float
    slope_unscaled: float
    slope_scaled: float
    uniform_entropy: float


def scaling_stats(d_k: int, num_keys: int = 8, num_queries: int = 1000, seed: int = 0) -> ScalingStats:
    """:class:`ScalingStats` for ``num_queries`` random queries of ``d_k`` features, ``num_keys`` keys each."""
    for name, value, top in (("d_k", d_k, 4096), ("num_keys", num_keys, 1024), ("num_queries", num_queries, 100_000)):
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= top:
            raise ValueError(f"{name} must be an int from 1 to {top}, got {value!r}")
    generator = torch.Generator().manual_seed(seed)
    N, S = num_queries, num_keys
    q = torch.randn(N, 1, d_k, generator=generator)  # one query per sample
    k = torch.randn(N, S, d_k, generator=generator)  # its S keys
    v = torch.zeros(N, S, 1)  # the values do not matter here
    _, unscaled = scaled_dot_product_attention(q, k, v, scale=1.0, return_trace=True)
    _, scaled = scaled_dot_product_attention(q, k, v, return_trace=True)  # default scale 1/√d_k
    scores, w_raw, w_scaled = unscaled.scores[:, 0], unscaled.weights[:, 0], scaled.weights[:, 0]  # (N, S)

    def std(values: Tensor) -> float:
        return float(values.std()) if values.numel() > 1 else 0.0

    return ScalingStats(
        d_k, S, scores, w_raw, w_scaled,
        std(scores), std(scaled.scaled_scores[:, 0]),
        float(weight_entropy(w_raw).mean()), float(weight_entropy(w_scaled).mean()),
        float(w_raw.max(dim=-1).values.mean()), float(w_scaled.max(dim=-1).values.mean()),
        float(_softmax_slope(w_raw).mean()), float(_softmax_slope(w_scaled).mean()),
        math.log(S),
    )


def scaling_curve(d_ks: Sequence[int] = D_K_GRID, num_keys: int = 8, num_queries: int = 1000, seed: int = 0
                  ) -> list[ScalingStats]:
    """:func:`scaling_stats` for every ``d_k`` of ``d_ks``."""
    return [scaling_stats(d_k, num_keys, num_queries, seed) for d_k in d_ks]


def plot_scaling_curve(axes: Sequence[plt.Axes], curve: Sequence[ScalingStats], cursor: int | None = None) -> None:
    """Three panels against d_k (log scale): the scores' spread, the weights' entropy, the softmax's slope,
    each without (red) and with (blue) the division by √d_k; ``cursor`` marks one d_k."""
    d = [s.d_k for s in curve]
    panels = [
        ("std", "standard deviation of the scores", "spread of the scores"),
        ("entropy", r"entropy $\mathcal{H}$ of a weight row (nats)", "how spread the weights are"),
        ("slope", "‖∂α/∂s‖ (softmax Jacobian)", "what a gradient can pass"),
    ]
    for ax, (field, ylabel, title) in zip(axes, panels, strict=True):
        ax.plot(d, [getattr(s, f"{field}_unscaled") for s in curve], "o-", color="C3", label="q·k (unscaled)")
        ax.plot(d, [getattr(s, f"{field}_scaled") for s in curve], "s-", color="C0", label="q·k / √d_k")
        if field == "entropy":
            ax.axhline(curve[0].uniform_entropy, color="grey", ls=":", lw=1,
                       label=f"uniform over {curve[0].num_keys} keys (log {curve[0].num_keys})")
        if field == "std":
            ax.plot(d, np.sqrt(d), color="grey", ls=":", lw=1, label="√d_k")
        if cursor is not None:
            ax.axvline(cursor, color="k", lw=1)
        ax.set_xscale("log", base=2)
        ax.set_xlabel("d_k (query/key features)")
        ax.set_ylabel(ylabel)
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)


def _keys(count: int) -> str:
    return "1 key" if count == 1 else f"{count} keys"


def plot_scaling_view(stats: ScalingStats, curve: Sequence[ScalingStats], fig: plt.Figure) -> None:
    """The widget's figure: the scores' histogram at this d_k, the mean sorted weights, the entropy curve."""
    ax_hist, ax_sorted, ax_curve = fig.subplots(1, 3)
    scores = stats.scores.flatten()
    scaled = scores / math.sqrt(stats.d_k)
    low, high = float(min(scores.min(), scaled.min())), float(max(scores.max(), scaled.max()))
    bins = np.linspace(low, high if high > low else low + 1, 60)
    ax_hist.hist(scores.numpy(), bins=bins, color="C3", alpha=0.5, density=True, label="q·k")
    ax_hist.hist(scaled.numpy(), bins=bins, color="C0", alpha=0.5, density=True, label="q·k / √d_k")
    ax_hist.set_xlabel("score")
    ax_hist.set_ylabel("density")
    ax_hist.set_title(f"scores, d_k = {stats.d_k}", fontsize=10)
    ax_hist.legend(fontsize=7)
    rank = np.arange(1, stats.num_keys + 1)
    for weights, color, label in ((stats.weights_unscaled, "C3", "unscaled"), (stats.weights_scaled, "C0", "scaled")):
        mean_sorted = weights.sort(dim=-1, descending=True).values.mean(dim=0).numpy()
        ax_sorted.plot(rank, mean_sorted, "o-", color=color, label=label)
    ax_sorted.set_xticks(rank if stats.num_keys <= 16 else rank[:: max(1, stats.num_keys // 8)])
    ax_sorted.set_ylim(0, 1.02)
    ax_sorted.set_xlabel("key, by rank of its weight")
    ax_sorted.set_ylabel("mean weight α")
    ax_sorted.set_title(f"weights of one query over {_keys(stats.num_keys)}", fontsize=10)
    ax_sorted.legend(fontsize=7)
    d = [s.d_k for s in curve]
    ax_curve.plot(d, [s.entropy_unscaled for s in curve], "o-", color="C3", label="unscaled")
    ax_curve.plot(d, [s.entropy_scaled for s in curve], "s-", color="C0", label="scaled")
    ax_curve.plot([stats.d_k], [stats.entropy_unscaled], "o", color="k", ms=8, mfc="none")
    ax_curve.plot([stats.d_k], [stats.entropy_scaled], "s", color="k", ms=8, mfc="none")
    ax_curve.axhline(stats.uniform_entropy, color="grey", ls=":", lw=1, label="uniform")
    ax_curve.set_xscale("log", base=2)
    ax_curve.set_xlabel("d_k")
    ax_curve.set_ylabel(r"entropy $\mathcal{H}$ (nats)")
    ax_curve.set_title(f"mean entropy, {_keys(stats.num_keys)}", fontsize=10)
    ax_curve.legend(fontsize=7)
    fig.subplots_adjust(left=0.06, right=0.98, bottom=0.18, top=0.88, wspace=0.3)


def scaling_explorer(d_k: int = 64, num_keys: int = 8, num_queries: int = 1000) -> Explorer:
    """A d_k slider (1 … 512) and a number-of-keys slider over :func:`scaling_stats`."""
    curves: dict[int, list[ScalingStats]] = {}

    def compute(d_k: int, num_keys: int) -> tuple[ScalingStats, list[ScalingStats]]:
        if num_keys not in curves:
            curves[num_keys] = scaling_curve(D_K_GRID, num_keys, num_queries)
        return scaling_stats(d_k, num_keys, num_queries), curves[num_keys]

    def draw(result: tuple[ScalingStats, list[ScalingStats]], fig: plt.Figure) -> None:
        plot_scaling_view(*result, fig)

    def describe(result: tuple[ScalingStats, list[ScalingStats]]) -> str:
        s = result[0]
        text = (f"d<sub>k</sub> = {s.d_k}, {_keys(s.num_keys)}: the scores' spread {s.std_unscaled:.2f} unscaled, "
                f"{s.std_scaled:.2f} scaled; entropy {s.entropy_unscaled:.2f} vs {s.entropy_scaled:.2f} nats "
                f"(uniform {s.uniform_entropy:.2f}); largest weight {s.max_weight_unscaled:.2f} vs "
                f"{s.max_weight_scaled:.2f}")
        if s.num_keys == 1:
            text += " (one key: its weight is 1 whatever the scaling)"
        return text

    controls = {
        "d_k": widgets.IntSlider(value=d_k, min=1, max=512, description="d_k", continuous_update=False),
        "num_keys": widgets.IntSlider(value=num_keys, min=1, max=64, description="keys S", continuous_update=False),
    }
    return Explorer(compute, controls, draw, describe, figsize=(13.0, 3.4))


# --------------------------------------------------------------------------------------------------
# 4 · Meaning in context, learned: the key-value lookup
# --------------------------------------------------------------------------------------------------

LOOKUP_EXAMPLE = "a3 f5 b7 e0 b? e? a? f?"


class LookupRun(NamedTuple):
    """One seed: the model at its initial weights (``untrained``), the same model after training
    (``trained``) and :func:`seqlib.train.train`'s result."""

    seed: int
    untrained: LookupAttention
    trained: LookupAttention
    result: TrainResult


def train_lookup_runs(seeds: Sequence[int] = (0, 1, 2), steps: int = 200, **model_kwargs: int) -> list[LookupRun]:
    """For each seed: build a :class:`~seqlib.attention_tasks.LookupAttention` (torch seeded with the seed),
    keep a copy of its initial weights, and train it with :func:`~seqlib.attention_tasks.train_lookup`."""
    runs = []
    for seed in seeds:
        torch.manual_seed(seed)
        model = LookupAttention(**model_kwargs)
        untrained = copy.deepcopy(model).eval()
        result = train_lookup(model, steps=steps, seed=seed)
        runs.append(LookupRun(seed, untrained, model.eval(), result))
    return runs


def lookup_test_sets(size: int = 500, seed: int = 1000) -> dict[str, LookupBatch]:
    """Test batches the models never trained on: as trained (4 pairs, every key asked) and four variations.

    ``reordered``: the queries mixed among the pairs; ``shorter``: 2 pairs; ``longer``: 8 pairs (every key
    of the alphabet); ``some asked``: 6 pairs of which 2 are asked (4 pairs nobody asks about).
    """
    generator = torch.Generator().manual_seed(seed)
    return {
        "as trained (4 pairs, 4 queries)": lookup_batch(size, 4, generator=generator),
        "reordered (queries among pairs)": lookup_batch(size, 4, shuffle=True, generator=generator),
        "shorter (2 pairs, 2 queries)": lookup_batch(size, 2, generator=generator),
        "longer (8 pairs, 8 queries)": lookup_batch(size, 8, generator=generator),
        "some asked (6 pairs, 2 queries)": lookup_batch(size, 6, 2, generator=generator),
    }


def score_runs(
    runs: Sequence[LookupRun], test_sets: Mapping[str, LookupBatch]
) -> dict[tuple[str, int, str], LookupScore]:
    """``{(test set, seed, "trained" or "untrained"): LookupScore}`` for every run on every test set."""
    return {
        (name, run.seed, which): evaluate_lookup(getattr(run, which), batch)
        for name, batch in test_sets.items() for run in runs for which in ("untrained", "trained")
    }


class ContextEncoding(NamedTuple):
    """Token ``label`` at ``position`` (0-based) of ``text``: its input vector ``x`` (d_model,), its output
    ``output`` o_i (d_v,), its weight row (T,) and the answer the model reads from it."""

    text: str
    position: int
    label: str
    x: Tensor
    output: Tensor
    weights: Tensor
    prediction: str


@torch.no_grad()
def encode_in_context(model: LookupAttention, text: str, position: int) -> ContextEncoding:
    """What ``model`` makes of the token at ``position`` (0-based) of the sequence ``text``."""
    batch = parse_lookup(text, num_keys=model.num_keys, num_values=model.num_values)
    T = batch.keys.shape[1]
    if not isinstance(position, int) or isinstance(position, bool) or not 0 <= position < T:
        raise ValueError(f"position must be an int from 0 to {T - 1}, got {position!r}")
    logits, trace = model(batch.keys, batch.values, return_trace=True)
    labels = token_labels(batch, num_values=model.num_values)
    prediction = str(int(logits[0, position].argmax()))
    return ContextEncoding(text, position, labels[position], trace.x[0, position], trace.attention.output[0, position],
                           trace.attention.weights[0, position], prediction)


@torch.no_grad()
def permutation_gap(model: LookupAttention, batch: LookupBatch, generator: torch.Generator | None = None
                    ) -> tuple[float, float]:
    """Reorder every sequence of ``batch`` at random and compare: returns the largest |difference| between
    the outputs of the reordered input and the reordered outputs of the original, and the same for the
    weight matrices (rows and columns reordered).  Both are ~0 for a model without positions."""
    B, T = batch.keys.shape
    order = torch.stack([torch.randperm(T, generator=generator) for _ in range(B)])  # (B, T)
    _, trace = model(batch.keys, batch.values, return_trace=True)
    _, moved = model(batch.keys.gather(1, order), batch.values.gather(1, order), return_trace=True)
    out, w = trace.attention.output, trace.attention.weights  # (B, T, d_v), (B, T, T)
    expected_out = out.gather(1, order.unsqueeze(2).expand(-1, -1, out.shape[2]))
    rows = w.gather(1, order.unsqueeze(2).expand(-1, -1, T))  # rows reordered
    expected_w = rows.gather(2, order.unsqueeze(1).expand(-1, T, -1))  # then columns
    return (float((moved.attention.output - expected_out).abs().max()),
            float((moved.attention.weights - expected_w).abs().max()))


class LookupView(NamedTuple):
    """The lookup widget's result: the sequence's ``labels``, the chosen ``position`` (1-based) and
    ``model`` name, the model's :class:`~seqlib.attention_tasks.LookupTrace` (batch of one), the chosen
    query's weight ``row`` (T,), ``right_key`` (0-based position, or None: a pair token, or a query whose
    key has no pair), ``weight_on_right`` (or None), the model's ``prediction`` and the task's ``answer``
    (None for a pair token or a query without a pair); ``right_keys`` the right key of every row (for the
    heat map's rings)."""

    labels: list[str]
    position: int
    model: str
    trace: LookupTrace
    row: Tensor
    right_key: int | None
    weight_on_right: float | None
    prediction: str | None
    answer: str | None
    right_keys: list[int | None]


@torch.no_grad()
def lookup_view(models: Mapping[str, LookupAttention], text: str, position: int, model: str) -> LookupView:
    """Run ``models[model]`` on the sequence ``text`` and look at the query token at ``position`` (1-based)."""
    if model not in models:
        raise ValueError(f"model must be one of {sorted(models)}, got {model!r}")
    network = models[model]
    batch = parse_lookup(text, num_keys=network.num_keys, num_values=network.num_values)
    T = batch.keys.shape[1]
    if not isinstance(position, int) or isinstance(position, bool) or not 1 <= position <= T:
        raise ValueError(f"position must be an int from 1 to {T} (the sequence's length), got {position!r}")
    i = position - 1
    logits, trace = network(batch.keys, batch.values, return_trace=True)
    row = trace.attention.weights[0, i]  # (T,)
    is_query = int(batch.values[0, i]) == network.num_values
    right = int(batch.right_key[0, i])
    right_key = right if right >= 0 else None
    return LookupView(
        token_labels(batch, num_values=network.num_values), position, model, trace, row, right_key,
        None if right_key is None else float(row[right_key]),
        str(int(logits[0, i].argmax())) if is_query else None,
        None if right_key is None else str(int(batch.targets[0, i])),
        [r if r >= 0 else None for r in batch.right_key[0].tolist()],
    )


def plot_attention_heatmap(ax: plt.Axes, weights: Tensor, labels: Sequence[str], title: str,
                           right_keys: Sequence[int | None] | None = None, row: int | None = None):
    """Attention weights (T, S) as a heat map: queries i down, keys j across, token labels on both axes.

    ``right_keys[i]`` (0-based, or None) draws a ring on the key query i should attend to; ``row`` (0-based)
    frames one query's row.  Returns the image (for a colour bar).
    """
    image = ax.imshow(weights.detach().numpy(), cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto",
                      interpolation="nearest")
    ax.set_xticks(range(len(labels)), labels, fontfamily="monospace")
    ax.set_yticks(range(len(labels)), labels, fontfamily="monospace")
    ax.set_xlabel("key token j (attended to)")
    ax.set_ylabel("query token i (attending)")
    ax.set_title(title, fontsize=10)
    if right_keys is not None:
        marked = [(j, i) for i, j in enumerate(right_keys) if j is not None]
        if marked:
            ax.scatter(*zip(*marked, strict=True), s=160, facecolors="none", edgecolors="red", linewidths=1.5,
                       label="right key")
            ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(0.0, -0.18), frameon=False)
    if row is not None:
        ax.add_patch(Rectangle((-0.5, row - 0.5), len(labels), 1, fill=False, edgecolor="white", lw=2))
    return image


def plot_lookup_view(view: LookupView, fig: plt.Figure) -> None:
    """The widget's figure: the whole weight matrix (the chosen query framed) and the chosen row as bars."""
    ax_map, ax_row = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1, 1.3]})
    image = plot_attention_heatmap(ax_map, view.trace.attention.weights[0], view.labels,
                                   f"{view.model} model: weights $\\alpha_{{ij}}$", view.right_keys, view.position - 1)
    fig.colorbar(image, ax=ax_map, fraction=0.046, pad=0.04, label="weight α")
    T = len(view.labels)
    colors = ["C3" if j == view.right_key else "C0" for j in range(T)]
    ax_row.bar(range(T), view.row.numpy(), color=colors)
    ax_row.axhline(1 / T, color="grey", ls=":", lw=1, label=f"uniform, 1/T = {1 / T:.3f}")
    ax_row.set_xticks(range(T), view.labels, fontfamily="monospace")
    ax_row.set_ylim(0, 1.05)
    ax_row.set_xlabel("key token j")
    ax_row.set_ylabel(f"weight α from query {view.labels[view.position - 1]}")
    ax_row.set_title(f"row {view.position}: query token {view.labels[view.position - 1]!r} "
                     "(red bar: the right key)", fontsize=10)
    ax_row.legend(fontsize=7)
    fig.subplots_adjust(left=0.07, right=0.98, bottom=0.25, top=0.9, wspace=0.35)


def describe_lookup(view: LookupView) -> str:
    token = html.escape(view.labels[view.position - 1])
    head = f"{view.model} model, token {view.position} “{token}”: "
    if view.prediction is None:
        return head + ("a pair token: the task asks nothing here (the loss never looked at this row), so its "
                       f"weights mean nothing; its largest weight is {float(view.row.max()):.2f}")
    if view.right_key is None:
        return head + (f"a query whose key has no pair in this sequence: no right answer; the model says "
                       f"{view.prediction}, its largest weight is {float(view.row.max()):.2f}")
    right = html.escape(view.labels[view.right_key])
    verdict = "right" if view.prediction == view.answer else "wrong"
    return head + (f"{view.weight_on_right:.1%} of its weight on the right key “{right}” (uniform: "
                   f"{1 / len(view.labels):.1%}); it answers {view.prediction}, the answer is {view.answer} "
                   f"({verdict})")


def lookup_explorer(models: Mapping[str, LookupAttention], text: str = LOOKUP_EXAMPLE, position: int = 5,
                    model: str = "trained") -> Explorer:
    """A sequence box, a query-position slider and a model switch over :func:`lookup_view`."""
    names = list(models)

    def compute(text: str, position: int, model: str) -> LookupView:
        return lookup_view(models, text, position, model)

    def draw(view: LookupView, fig: plt.Figure) -> None:
        plot_lookup_view(view, fig)

    controls = {
        "text": widgets.Text(value=text, description="sequence", continuous_update=False,
                             layout=widgets.Layout(width="60%")),
        "position": widgets.IntSlider(value=position, min=1, max=max(1, len(text.split())), description="query i",
                                      continuous_update=False),
        "model": widgets.ToggleButtons(options=names, value=model, description="model"),
    }

    explorer = Explorer(compute, controls, draw, describe_lookup, figsize=(12.0, 4.2))

    def fit_slider(change: dict) -> None:  # a new sequence: the slider spans its tokens
        controls["position"].max = max(1, len(change["new"].split()))

    # observed after the Explorer: a shorter sequence is computed once, when the slider has been clamped to it
    # (the computation before the clamp stops at the position check, with no figure to draw)
    controls["text"].observe(fit_slider, names="value")
    return explorer


# --------------------------------------------------------------------------------------------------
# Exercises
# --------------------------------------------------------------------------------------------------

F64 = torch.float64


def _draw(generator: torch.Generator, *shape: int) -> Tensor:
    return torch.randn(*shape, generator=generator, dtype=F64)


# --- 06.score_matrix -------------------------------------------------------------------------------


def score_matrix(x, W_Q, W_K):
    # q_i = x_i W^Q and k_j = x_j W^K for every token; s_ij = q_i · k_j: row i is query i, column j is key j
    Q = x @ W_Q  # (T, d_k)
    K = x @ W_K  # (T, d_k)
    return Q @ K.T  # (T, T)


def _scores_transposed(x, W_Q, W_K):
    return (x @ W_K) @ (x @ W_Q).T


def _scores_queries_only(x, W_Q, W_K):
    return (x @ W_Q) @ (x @ W_Q).T


def _scores_keys_only(x, W_Q, W_K):
    return (x @ W_K) @ (x @ W_K).T


def _scores_diagonal(x, W_Q, W_K):
    return ((x @ W_Q) * (x @ W_K)).sum(dim=-1)


def _scores_scaled(x, W_Q, W_K):
    return score_matrix(x, W_Q, W_K) / math.sqrt(W_Q.shape[1])


def _score_cases():
    generator = torch.Generator().manual_seed(61)
    return [
        (_draw(generator, 3, 4), _draw(generator, 4, 2), _draw(generator, 4, 2)),
        (_draw(generator, 4, 3), _draw(generator, 3, 5), _draw(generator, 3, 5)),
        (_draw(generator, 2, 2), _draw(generator, 2, 3), _draw(generator, 2, 3)),
    ]


register(
    Exercise(
        name="06.score_matrix",
        title="the score matrix s_ij = q_i · k_j",
        hint=(
            "every token gives a query through W^Q and a key through W^K (rows of x are tokens, so the projection "
            "multiplies from the right). Then every query meets every key: a T by T table whose row i belongs to "
            "query i and column j to key j. Raw scores: no scaling yet."
        ),
        reference=score_matrix,
        cases=_score_cases,
        mistakes=[
            Mistake("rows and columns are swapped: you computed k_i · q_j; row i must hold query i's scores against "
                    "every key j (the matrix is not symmetric)", _scores_transposed),
            Mistake("you used W^Q for both sides (q_i · q_j): the keys come from their own projection W^K",
                    _scores_queries_only),
            Mistake("you used W^K for both sides (k_i · k_j): the queries come from their own projection W^Q",
                    _scores_keys_only),
            Mistake("you paired each query only with its own key (q_i · k_i, one number per token); every query "
                    "meets every key: a T × T matrix", _scores_diagonal),
            Mistake("you divided by √d_k already; this exercise asks for the raw scores (the scaling is the next step)",
                    _scores_scaled),
        ],
    )
)


# --- 06.attention ----------------------------------------------------------------------------------


def attention(q, k, v):
    # softmax(q kᵀ / √d_k) v: q (B, T, d_k), k (B, S, d_k), v (B, S, d_v) -> (B, T, d_v)
    d_k = q.shape[-1]
    scores = q @ k.transpose(-2, -1) / math.sqrt(d_k)  # (B, T, S): s_ij / √d_k
    weights = torch.softmax(scores, dim=-1)  # over the keys j: every row sums to 1
    return weights @ v  # o_i = Σ_j α_ij v_j


def _attention_unscaled(q, k, v):
    return torch.softmax(q @ k.transpose(-2, -1), dim=-1) @ v


def _attention_wrong_axis(q, k, v):
    return torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), dim=-2) @ v


def _attention_not_transposed(q, k, v):
    return torch.softmax(q @ k / math.sqrt(q.shape[-1]), dim=-1) @ v


def _attention_by_d_k(q, k, v):
    return torch.softmax(q @ k.transpose(-2, -1) / q.shape[-1], dim=-1) @ v


def _attention_by_d_v(q, k, v):
    return torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(v.shape[-1]), dim=-1) @ v


def _attention_times_root(q, k, v):
    return torch.softmax(q @ k.transpose(-2, -1) * math.sqrt(q.shape[-1]), dim=-1) @ v


def _attention_weights_only(q, k, v):
    return torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), dim=-1)


def _attention_cases():
    generator = torch.Generator().manual_seed(62)

    def case(B: int, T: int, S: int, d_k: int, d_v: int) -> tuple:
        return (_draw(generator, B, T, d_k), _draw(generator, B, S, d_k), _draw(generator, B, S, d_v))

    return [case(2, 3, 4, 5, 2), case(1, 2, 2, 4, 3), case(1, 4, 3, 9, 1)]


register(
    Exercise(
        name="06.attention",
        title="scaled dot-product attention",
        hint=(
            "four steps: every query against every key (so one side must be turned on its side), divide by the "
            "square root of the query/key width (not the value width), softmax so that each query's weights over "
            "the keys sum to 1, then the weighted sum of the values. The output has the values' width."
        ),
        reference=attention,
        cases=_attention_cases,
        mistakes=[
            Mistake("no √d_k: the raw scores q·k grow like √d_k and push the softmax towards one-hot; divide them "
                    "by √d_k", _attention_unscaled),
            Mistake("the softmax runs over the wrong axis (over the queries i); each query's weights over the keys j "
                    "must sum to 1: the last axis of the scores", _attention_wrong_axis),
            Mistake("k is not transposed: q (T, d_k) times k (S, d_k) needs kᵀ (d_k, S) to give the (T, S) scores",
                    _attention_not_transposed),
            Mistake("you divided by d_k instead of √d_k: that shrinks the scores' spread to 1/√d_k, and the weights "
                    "flatten towards uniform as d_k grows", _attention_by_d_k),
            Mistake("you divided by the square root of the values' width d_v; the scaling is by √d_k, the width of "
                    "the queries and keys whose products make the scores", _attention_by_d_v),
            Mistake("you multiplied by √d_k; the scores are divided by it", _attention_times_root),
            Mistake("you returned the weights α; the output is their weighted sum of the values, Σ_j α_ij v_j",
                    _attention_weights_only),
        ],
    )
)


# --- 06.weight_entropy -----------------------------------------------------------------------------


def entropy(weights):
    # 𝓗 = -Σ_j α_j log α_j over the last axis, in nats; a weight of 0 contributes 0 (the limit of a log a)
    return -torch.special.xlogy(weights, weights).sum(dim=-1)


def _entropy_bits(weights):
    return entropy(weights) / math.log(2)


def _entropy_negative(weights):
    return -entropy(weights)


def _entropy_nan_at_zero(weights):
    return -(weights * weights.log()).sum(dim=-1)


def _entropy_wrong_axis(weights):
    return -torch.special.xlogy(weights, weights).sum(dim=-2)


def _entropy_mean(weights):
    return -torch.special.xlogy(weights, weights).mean(dim=-1)


def _entropy_cases():
    generator = torch.Generator().manual_seed(63)
    rows = torch.tensor([[1.0, 0.0, 0.0], [0.5, 0.5, 0.0], [1 / 3, 1 / 3, 1 / 3]], dtype=F64)
    mixed = torch.tensor([[0.7, 0.2, 0.1], [0.0, 0.25, 0.75], [0.4, 0.4, 0.2]], dtype=F64)
    return [(rows,), (mixed,), (torch.softmax(_draw(generator, 2, 3, 4) * 2, dim=-1),)]


register(
    Exercise(
        name="06.weight_entropy",
        title="the entropy of attention weights",
        hint=(
            "the entropy of a row of weights is minus the sum, over the keys, of each weight times its natural "
            "logarithm: one number per row (the last axis is the keys). A weight of exactly 0 contributes 0, the "
            "limit of a times log a, but a computer evaluates 0 times minus infinity as not-a-number."
        ),
        reference=entropy,
        cases=_entropy_cases,
        mistakes=[
            Mistake("you measured in bits (log base 2); the course measures entropy in nats, with the natural log "
                    "(log S for S equal weights)", _entropy_bits),
            Mistake("the sign: Σ α log α is ≤ 0 because every log α ≤ 0; the entropy is its negative",
                    _entropy_negative),
            Mistake("0 · log 0 gave NaN: a weight of exactly 0 must contribute 0 (the limit of a log a as a → 0); "
                    "there are functions that compute a · log b with that convention, or mask the zeros",
                    _entropy_nan_at_zero),
            Mistake("you summed over the wrong axis (the queries); a row's entropy sums over its keys, the last axis",
                    _entropy_wrong_axis),
            Mistake("you averaged over the keys instead of summing", _entropy_mean),
        ],
    )
)


# --- 06.right_key_matrix ---------------------------------------------------------------------------


def right_key_matrix(keys, is_query):
    # target[i, j] = 1 where token i is a query, token j is a pair (not a query) and both have the same key
    same_key = keys[:, None] == keys[None, :]  # (T, T)
    return (same_key & is_query[:, None] & ~is_query[None, :]).to(torch.float64)


def _right_key_self_included(keys, is_query):
    return ((keys[:, None] == keys[None, :]) & is_query[:, None]).to(torch.float64)


def _right_key_transposed(keys, is_query):
    return right_key_matrix(keys, is_query).T


def _right_key_pairs_too(keys, is_query):
    same_key = keys[:, None] == keys[None, :]
    return (same_key & ~is_query[None, :]).to(torch.float64)


def _right_key_bool(keys, is_query):
    return right_key_matrix(keys, is_query).bool()


def _right_key_cases():
    def case(text: str) -> tuple[Tensor, Tensor]:
        batch = parse_lookup(text)
        return batch.keys[0], batch.values[0] == 8

    return [case("a3 b7 c1 b? a?"), case("d? c2 d5 c? d? e4"), case("a1 a? f? b0 b?"), case("h7")]


register(
    Exercise(
        name="06.right_key_matrix",
        title="where each query should look: the lookup's target attention",
        hint=(
            "a T by T table of floats: row i for the attending token, column j for the token attended to. Only a "
            "query's row has a target, and only the pair with the same key holds the value it needs: not the query "
            "itself, not another query with that key. Rows of pair tokens, and of queries whose key has no pair, "
            "stay all zero."
        ),
        reference=right_key_matrix,
        cases=_right_key_cases,
        mistakes=[
            Mistake("your query points at every token with its key, itself and other queries included; only the pair "
                    "token carries the value (a query's own value is '?')", _right_key_self_included),
            Mistake("rows and columns are swapped: row i is the attending query, column j the key it attends to",
                    _right_key_transposed),
            Mistake("pair tokens got targets too (each pair points at itself); a pair asks nothing, its row stays zero",
                    _right_key_pairs_too),
            Mistake("you returned booleans; return floats (1.0 and 0.0), so that the table can weigh attention weights "
                    "(their product, summed, is the weight on the right key)", _right_key_bool),
        ],
    )
)

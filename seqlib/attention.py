"""Scaled dot-product attention and multi-head attention, one named line per step.

Vaswani et al. (2017), "Attention Is All You Need", section 3.2:

    Attention(Q, K, V) = softmax(Q Kᵀ / √d_k) V                                  (eq. 1)
    MultiHead(Q, K, V) = Concat(head_1, ..., head_h) W^O,
        head_i = Attention(Q W_i^Q, K W_i^K, V W_i^V)

Mask convention (one for all of seqlib, the one of ``torch.nn.MultiheadAttention``):

* a **bool** mask marks with ``True`` the keys a query **may not** attend to (blocked);
* a **float** mask is **added** to the scaled scores (``-inf`` blocks, ``0`` leaves alone).

``torch.nn.functional.scaled_dot_product_attention`` uses the *opposite* bool polarity
(``True`` = may attend): pass it ``~mask``.

A query row whose keys are *all* blocked (every entry ``True``, or every entry ``-inf``) has no
defined softmax (0/0 gives NaN in torch).  seqlib defines its weights as all zero, so its
attention output is the zero vector (after ``MultiheadAttention``'s output projection: the
projection's bias).  No NaN reaches later layers or gradients.  Only ``-inf`` counts as blocked
in a float mask; a row of large finite negatives is an ordinary (uniform) softmax.

Shape legend: B batch, T query length, S key/value length, E ``embed_dim``, h heads,
d_head = E / h, d_k query/key features, d_v value features.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqlib import _checks

__all__ = [
    "AttentionTrace",
    "MultiheadAttention",
    "MultiheadAttentionTrace",
    "causal_mask",
    "combine_masks",
    "padding_mask",
    "scaled_dot_product_attention",
    "state_dict_from_torch",
    "state_dict_to_torch",
]


class AttentionTrace(NamedTuple):
    """Every step of scaled dot-product attention, for one call.

    Shapes follow the query: ``(..., T, S)`` for the score-like fields and ``(..., T, d_v)`` for
    ``output``; in ``MultiheadAttention`` the leading dims are ``(B, heads)``.
    """

    scores: Tensor  # s = q·kᵀ                                   (..., T, S)
    scaled_scores: Tensor  # s / √d_k (or s · scale)             (..., T, S)
    masked_scores: Tensor  # scaled scores, -inf where blocked, float mask added (..., T, S)
    weights: Tensor  # softmax over S (after dropout, if any); all-blocked rows are 0 (..., T, S)
    output: Tensor  # weights · v                                 (..., T, d_v)


class MultiheadAttentionTrace(NamedTuple):
    """The per-head internals of one ``MultiheadAttention`` call, always batch-first.

    Batched input gives ``(B, heads, ...)``; unbatched input drops the ``B``.
    """

    q: Tensor  # projected queries q = x W^Q, split into heads (B, heads, T, d_head)
    k: Tensor  # projected keys                               (B, heads, S, d_head)
    v: Tensor  # projected values                             (B, heads, S, d_head)
    scores: Tensor  # q·kᵀ                                   (B, heads, T, S)
    scaled_scores: Tensor  # q·kᵀ / √d_head                  (B, heads, T, S)
    masked_scores: Tensor  # -inf where blocked              (B, heads, T, S)
    weights: Tensor  # softmax, per head                     (B, heads, T, S)
    head_outputs: Tensor  # weights · v, per head, before concat and W^O (B, heads, T, d_head)


# --- masks ----------------------------------------------------------------------------------------


def causal_mask(
    size: int, *, dtype: torch.dtype = torch.bool, device: torch.device | str | None = None
) -> Tensor:
    """Mask of the future: query ``i`` may not attend to keys ``j > i``.

    Args:
        size: sequence length T.
        dtype: ``torch.bool`` (default) gives ``True`` above the diagonal (True = may not
            attend); a floating dtype gives ``-inf`` above and ``0`` on/below the diagonal, exactly
            ``torch.nn.Transformer.generate_square_subsequent_mask(size)``.
        device: where to create it.

    Returns:
        ``(T, T)`` mask in seqlib's (torch.nn's) convention.
    """
    _checks.positive_int("size", size)
    # blocked[i, j] = j > i
    blocked = torch.ones(size, size, dtype=torch.bool, device=device).triu(diagonal=1)  # (T, T)
    if dtype == torch.bool:
        return blocked
    _checks.mask_dtype(dtype)
    return torch.zeros(size, size, dtype=dtype, device=device).masked_fill(blocked, float("-inf"))


def padding_mask(
    lengths: Tensor | list[int] | None = None, max_len: int | None = None, *, tokens: Tensor | None = None,
    pad_id: int | None = None,
) -> Tensor:
    """Key padding mask: ``True`` at padded positions (may not attend).

    Give either the sequence lengths (padding at the end) or the padded token ids and the pad id.

    Args:
        lengths: ``(B,)`` number of real tokens in each sequence (the rest is padding at the end).
        max_len: padded length S; defaults to ``max(lengths)``.
        tokens: ``(B, S)`` token ids, padded with ``pad_id`` (keyword only, with ``pad_id``).
        pad_id: the padding token.

    Returns:
        ``(B, S)`` bool mask, ``mask[b, j] = j >= lengths[b]`` (or ``tokens[b, j] == pad_id``); the
        ``key_padding_mask`` of ``MultiheadAttention`` and the ``*_key_padding_mask`` of the
        Transformer modules.
    """
    if tokens is not None or pad_id is not None:
        if lengths is not None or max_len is not None or tokens is None or pad_id is None:
            raise ValueError("give either lengths (and max_len) or tokens and pad_id, not both")
        _checks.tensor("tokens", tokens)
        return tokens == pad_id  # (B, S)
    if lengths is None:
        raise ValueError("give lengths, or tokens and pad_id")
    lengths = torch.as_tensor(lengths)
    _checks.padding_lengths(lengths, max_len)
    if max_len is None:
        max_len = int(lengths.max()) if lengths.numel() else 0
    positions = torch.arange(max_len, device=lengths.device)  # (S,)
    return positions.unsqueeze(0) >= lengths.unsqueeze(1)  # (B, S)


def combine_masks(attn_mask: Tensor | None, key_padding_mask: Tensor | None, *, ndim: int = 4) -> Tensor | None:
    """Merge an attention mask and a key padding mask into one mask for the scores.

    Args:
        attn_mask: mask broadcastable to the scores ``(..., T, S)``, e.g. ``(T, S)`` or
            ``(B, heads, T, S)``; bool (True = may not attend) or float (added).
        key_padding_mask: ``(B, S)`` (or ``(S,)`` for unbatched scores), bool (True = padding,
            may not attend) or float (added); it is viewed as ``(B, 1, ..., 1, S)``.
        ndim: rank of the scores the result will be applied to (4 for ``(B, heads, T, S)``).

    Returns:
        ``None`` if both are ``None``; a bool mask (logical or) if both are bool; otherwise a float
        mask (bool entries become ``-inf``, then the two are added).  Broadcastable to the scores.
    """
    if key_padding_mask is not None and key_padding_mask.dim() == 2:
        B, S = key_padding_mask.shape
        key_padding_mask = key_padding_mask.view(B, *([1] * (ndim - 2)), S)  # (B, 1, ..., 1, S)
    if attn_mask is None or key_padding_mask is None:
        return attn_mask if key_padding_mask is None else key_padding_mask
    if attn_mask.dtype == torch.bool and key_padding_mask.dtype == torch.bool:
        return attn_mask | key_padding_mask
    float_dtype = attn_mask.dtype if attn_mask.dtype != torch.bool else key_padding_mask.dtype
    return _as_additive(attn_mask, float_dtype) + _as_additive(key_padding_mask, float_dtype)


def _as_additive(mask: Tensor, dtype: torch.dtype) -> Tensor:
    """A bool mask as 0 / -inf of ``dtype``; a float mask unchanged."""
    if mask.dtype != torch.bool:
        return mask
    return torch.zeros(mask.shape, dtype=dtype, device=mask.device).masked_fill(mask, float("-inf"))


# --- scaled dot-product attention -----------------------------------------------------------------


def scaled_dot_product_attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    attn_mask: Tensor | None = None,
    key_padding_mask: Tensor | None = None,
    scale: float | None = None,
    *,
    dropout_p: float = 0.0,
    return_trace: bool = False,
) -> Tensor | tuple[Tensor, AttentionTrace]:
    """softmax(q·kᵀ / √d_k + mask) · v, step by step (Vaswani et al. 2017, eq. 1).

    Mask convention: torch.nn.MultiheadAttention's, **bool True = may not attend**, a float mask
    is added to the scaled scores.  (``torch.nn.functional.scaled_dot_product_attention`` has the
    opposite bool polarity: pass it ``~attn_mask``.)  A query whose keys are all blocked gets
    weights 0 and output 0 instead of NaN.

    Args:
        q: ``(..., T, d_k)`` queries, e.g. ``(B, heads, T, d_k)``.
        k: ``(..., S, d_k)`` keys, same leading dims as ``q``.
        v: ``(..., S, d_v)`` values, same leading dims as ``q``.
        attn_mask: bool or float, broadcastable to the scores ``(..., T, S)``, e.g. ``(T, S)``
            from :func:`causal_mask`.
        key_padding_mask: bool or float ``(B, S)`` with ``B = q.shape[0]`` (``(S,)`` when ``q`` is
            2-D), e.g. from :func:`padding_mask`.
        scale: multiplies the scores; default ``1 / √d_k``.
        dropout_p: dropout on the weights (applied whenever > 0; pass 0 for evaluation).
        return_trace: also return an :class:`AttentionTrace` of every step.

    Returns:
        ``output`` ``(..., T, d_v)``, or ``(output, trace)`` when ``return_trace``.
    """
    _checks.attention_inputs(q, k, v, attn_mask, key_padding_mask, scale, dropout_p)
    mask = combine_masks(attn_mask, key_padding_mask, ndim=q.dim())
    trace = _attention(q, k, v, mask, scale, dropout_p)
    return (trace.output, trace) if return_trace else trace.output


def _attention(
    q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None, scale: float | None, dropout_p: float
) -> AttentionTrace:
    """The math of :func:`scaled_dot_product_attention`, on inputs already checked."""
    if scale is None:
        scale = 1.0 / math.sqrt(q.shape[-1])
    # s = q · kᵀ                 similarity of every query with every key
    scores = q @ k.transpose(-2, -1)  # (..., T, S)
    # s' = s / √d_k              keeps the softmax out of its flat tails for large d_k
    scaled_scores = scores * scale  # (..., T, S)
    # s'' = s' + M               M = -inf where blocked (bool True), or the float mask itself
    masked_scores = _apply_mask(scaled_scores, mask)  # (..., T, S)
    # a = softmax(s'') over keys  rows with every key blocked are defined as 0 (see module doc)
    weights = _softmax_over_keys(masked_scores, mask)  # (..., T, S)
    if dropout_p > 0.0:
        weights = F.dropout(weights, p=dropout_p)
    # o = a · v                  weighted sum of the values
    output = weights @ v  # (..., T, d_v)
    return AttentionTrace(scores, scaled_scores, masked_scores, weights, output)


def _apply_mask(scaled_scores: Tensor, mask: Tensor | None) -> Tensor:
    if mask is None:
        return scaled_scores
    if mask.dtype == torch.bool:
        return scaled_scores.masked_fill(mask, float("-inf"))
    return scaled_scores + mask


def _softmax_over_keys(masked_scores: Tensor, mask: Tensor | None) -> Tensor:
    """Softmax over the last axis; a row whose keys are all blocked becomes all zeros.

    softmax of an all ``-inf`` row is 0/0 = NaN.  Such rows are set to 0 *before* the softmax (so
    neither the forward nor the backward pass computes a NaN) and their weights to 0 after it.
    """
    if mask is None:
        return torch.softmax(masked_scores, dim=-1)
    blocked = mask if mask.dtype == torch.bool else torch.isneginf(mask)
    empty_rows = blocked.all(dim=-1, keepdim=True)  # (..., T, 1), broadcastable to the scores
    if not bool(empty_rows.any()):
        return torch.softmax(masked_scores, dim=-1)
    safe_scores = masked_scores.masked_fill(empty_rows, 0.0)
    return torch.softmax(safe_scores, dim=-1).masked_fill(empty_rows, 0.0)


# --- multi-head attention -------------------------------------------------------------------------


class MultiheadAttention(nn.Module):
    """Multi-head attention with ``torch.nn.MultiheadAttention``'s constructor, call and results.

    ``head_i = Attention(Q W_i^Q, K W_i^K, V W_i^V)``, ``MultiHead = Concat(head_1..h) W^O``.
    The three input projections are separate ``nn.Linear`` modules ``q_proj``, ``k_proj``,
    ``v_proj`` (torch packs them into ``in_proj_weight``/``in_proj_bias``; :meth:`from_torch`,
    :meth:`to_torch`, :func:`state_dict_from_torch` and :func:`state_dict_to_torch` convert), and
    ``out_proj`` is W^O.  Parameters are initialised with the same distributions as torch's.

    Mask convention: **bool True = may not attend**, a float mask is added to the scaled scores.
    A query whose keys are all blocked gets zero weights and output ``out_proj.bias`` (torch gives
    NaN there).

    Args:
        embed_dim: E, features of the query and of the output; divisible by ``num_heads``.
        num_heads: h; each head works on ``d_head = E / h`` features.
        dropout: dropout on the attention weights, in training mode.
        bias: add biases to the four projections.
        add_bias_kv, add_zero_attn: accepted for torch's positional signature; not implemented.
        kdim, vdim: features of ``key`` and ``value`` (default ``embed_dim``).
        batch_first: inputs and outputs are ``(B, T, E)`` instead of ``(T, B, E)``.
    """

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        dropout: float = 0.0,
        bias: bool = True,
        add_bias_kv: bool = False,
        add_zero_attn: bool = False,
        kdim: int | None = None,
        vdim: int | None = None,
        batch_first: bool = False,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        _checks.mha_config(embed_dim, num_heads, dropout, kdim, vdim, add_bias_kv, add_zero_attn)
        factory = {"device": device, "dtype": dtype}
        self.embed_dim = embed_dim
        self.kdim = kdim if kdim is not None else embed_dim
        self.vdim = vdim if vdim is not None else embed_dim
        self.num_heads = num_heads
        self.head_dim = embed_dim // num_heads
        self.dropout = dropout
        self.batch_first = batch_first
        self.q_proj = nn.Linear(embed_dim, embed_dim, bias=bias, **factory)  # W^Q, all heads
        self.k_proj = nn.Linear(self.kdim, embed_dim, bias=bias, **factory)  # W^K
        self.v_proj = nn.Linear(self.vdim, embed_dim, bias=bias, **factory)  # W^V
        self.out_proj = nn.Linear(embed_dim, embed_dim, bias=bias, **factory)  # W^O
        self._reset_parameters()

    def _reset_parameters(self) -> None:
        """torch's initialisation: Xavier-uniform input projections, zero biases.

        torch draws the packed ``(3E, E)`` ``in_proj_weight`` when kdim = vdim = E, so its bound is
        √(6 / (E + 3E)); with separate weights each has its own Xavier bound.
        """
        packed = self.kdim == self.embed_dim and self.vdim == self.embed_dim
        for proj in (self.q_proj, self.k_proj, self.v_proj):
            fan_out, fan_in = proj.weight.shape
            fan_out = 3 * fan_out if packed else fan_out
            bound = math.sqrt(6.0 / (fan_in + fan_out))
            nn.init.uniform_(proj.weight, -bound, bound)
            if proj.bias is not None:
                nn.init.zeros_(proj.bias)
        if self.out_proj.bias is not None:
            nn.init.zeros_(self.out_proj.bias)

    def forward(
        self,
        query: Tensor,
        key: Tensor,
        value: Tensor,
        key_padding_mask: Tensor | None = None,
        need_weights: bool = True,
        attn_mask: Tensor | None = None,
        average_attn_weights: bool = True,
        is_causal: bool = False,
        *,
        return_trace: bool = False,
    ) -> tuple[Tensor, Tensor | None] | tuple[Tensor, Tensor | None, MultiheadAttentionTrace]:
        """Attend from ``query`` to ``key``/``value``.

        Mask convention: **bool True = may not attend**; a float mask is added to the scores.

        Args:
            query: ``(T, B, E)``, ``(B, T, E)`` if ``batch_first``, or ``(T, E)`` unbatched.
            key: ``(S, B, kdim)`` / ``(B, S, kdim)`` / ``(S, kdim)``.
            value: ``(S, B, vdim)`` / ``(B, S, vdim)`` / ``(S, vdim)``.
            key_padding_mask: ``(B, S)`` (``(S,)`` unbatched), True at padding keys.
            need_weights: return the attention weights (else ``None`` in their place).
            attn_mask: ``(T, S)`` or ``(B * heads, T, S)``, e.g. :func:`causal_mask`.
            average_attn_weights: average the returned weights over heads.
            is_causal: if ``attn_mask`` is ``None``, use :func:`causal_mask` (T must equal S);
                if ``attn_mask`` is given it is used as is (torch's "hint" meaning).
            return_trace: (seqlib only) also return a :class:`MultiheadAttentionTrace`.

        Returns:
            ``(output, weights)``: output shaped like ``query`` with E features; weights
            ``(B, T, S)`` averaged or ``(B, heads, T, S)`` per head (no ``B`` when unbatched),
            or ``None``.  With ``return_trace``, ``(output, weights, trace)``.
        """
        _checks.mha_inputs(self, query, key, value, key_padding_mask, attn_mask, is_causal)
        batched = query.dim() == 3
        if not batched:
            batch_dim = 0 if self.batch_first else 1
            query, key, value = (x.unsqueeze(batch_dim) for x in (query, key, value))
            key_padding_mask = None if key_padding_mask is None else key_padding_mask.unsqueeze(0)
        B = query.shape[0] if self.batch_first else query.shape[1]
        T = query.shape[1] if self.batch_first else query.shape[0]

        # q = x W^Q, k = x W^K, v = x W^V, each split into h heads of d_head features
        q, k, v = self._project(query, key, value)
        q = self._split_heads(q)  # (B, heads, T, d_head)
        k = self._split_heads(k)  # (B, heads, S, d_head)
        v = self._split_heads(v)  # (B, heads, S, d_head)

        if attn_mask is None and is_causal:
            attn_mask = causal_mask(T, device=query.device)  # (T, S)
        if attn_mask is not None and attn_mask.dim() == 3:
            attn_mask = attn_mask.view(B, self.num_heads, T, -1)  # (B, heads, T, S)
        mask = combine_masks(attn_mask, key_padding_mask, ndim=4)
        dropout_p = self.dropout if self.training else 0.0

        # head_i = softmax(q_i k_iᵀ / √d_head + M) v_i, all heads at once
        steps = _attention(q, k, v, mask, None, dropout_p)
        # MultiHead = Concat(head_1, ..., head_h) W^O
        output = self.out_proj(self._merge_heads(steps.output))  # (B, T, E) or (T, B, E)

        weights = None
        if need_weights:
            weights = steps.weights.mean(dim=1) if average_attn_weights else steps.weights
        if not batched:
            output = output.squeeze(batch_dim)
            weights = None if weights is None else weights.squeeze(0)
        if not return_trace:
            return output, weights
        trace = MultiheadAttentionTrace(q, k, v, *steps[:4], head_outputs=steps.output)
        if not batched:
            trace = MultiheadAttentionTrace(*(t.squeeze(0) for t in trace))
        return output, weights, trace

    def _project(self, query: Tensor, key: Tensor, value: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``q_proj(query), k_proj(key), v_proj(value)``, each ``(B, T, E)`` or ``(T, B, E)``.

        In self-attention (one tensor passed three times) the three products share their input, so
        they run as one matmul with the weights stacked ``[W^Q; W^K; W^V]`` (torch stores them
        packed for this reason): one large product is faster than three small ones.
        """
        if not (query is key is value) or self.kdim != self.embed_dim or self.vdim != self.embed_dim:
            return self.q_proj(query), self.k_proj(key), self.v_proj(value)
        projections = (self.q_proj, self.k_proj, self.v_proj)
        weight = torch.cat([p.weight for p in projections])  # (3E, E)
        bias = None if self.q_proj.bias is None else torch.cat([p.bias for p in projections])  # (3E,)
        q, k, v = F.linear(query, weight, bias).chunk(3, dim=-1)  # views of one (..., 3E) result
        return q, k, v

    def _split_heads(self, x: Tensor) -> Tensor:
        """``(B, T, E)`` or ``(T, B, E)`` -> ``(B, heads, T, d_head)`` (a view, no copy)."""
        if self.batch_first:
            B, T, _ = x.shape
            return x.view(B, T, self.num_heads, self.head_dim).transpose(1, 2)
        T, B, _ = x.shape
        return x.view(T, B, self.num_heads, self.head_dim).permute(1, 2, 0, 3)

    def _merge_heads(self, x: Tensor) -> Tensor:
        """``(B, heads, T, d_head)`` -> ``(B, T, E)`` or ``(T, B, E)``: the concat of the heads."""
        B, _, T, _ = x.shape
        if self.batch_first:
            return x.transpose(1, 2).reshape(B, T, self.embed_dim)
        return x.permute(2, 0, 1, 3).reshape(T, B, self.embed_dim)

    @classmethod
    def from_torch(cls, module: nn.MultiheadAttention) -> MultiheadAttention:
        """A seqlib copy of a ``torch.nn.MultiheadAttention`` (same config, same weights)."""
        if module.bias_k is not None or module.add_zero_attn:
            raise ValueError("module uses add_bias_kv / add_zero_attn, which seqlib does not implement")
        weight = module.out_proj.weight
        ours = cls(module.embed_dim, module.num_heads, module.dropout, bias=module.in_proj_bias is not None,
                   kdim=module.kdim, vdim=module.vdim, batch_first=module.batch_first,
                   device=weight.device, dtype=weight.dtype)
        ours.load_state_dict(state_dict_from_torch(module.state_dict()))
        return ours.train(module.training)

    def to_torch(self) -> nn.MultiheadAttention:
        """A ``torch.nn.MultiheadAttention`` with this module's config and weights."""
        weight = self.out_proj.weight
        theirs = nn.MultiheadAttention(self.embed_dim, self.num_heads, self.dropout,
                                       bias=self.out_proj.bias is not None, kdim=self.kdim, vdim=self.vdim,
                                       batch_first=self.batch_first, device=weight.device, dtype=weight.dtype)
        theirs.load_state_dict(state_dict_to_torch(self.state_dict()))
        return theirs.train(self.training)


# --- state_dict conversion ------------------------------------------------------------------------

_PROJECTIONS = ("q_proj", "k_proj", "v_proj")


def state_dict_from_torch(state_dict: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Rename the ``torch.nn.MultiheadAttention`` entries of a (whole model's) state_dict.

    ``<p>.in_proj_weight`` (3E, E) is split into ``<p>.q_proj.weight``, ``<p>.k_proj.weight``,
    ``<p>.v_proj.weight`` (rows 0:E, E:2E, 2E:3E: torch's q, k, v order); ``<p>.in_proj_bias``
    likewise into the three biases; ``<p>.q_proj_weight`` (used when kdim/vdim differ from E)
    becomes ``<p>.q_proj.weight``.  Every other entry is kept.
    """
    converted: dict[str, Tensor] = {}
    for name, tensor in state_dict.items():
        prefix, _, leaf = name.rpartition(".")
        prefix = prefix + "." if prefix else ""
        if leaf in ("in_proj_weight", "in_proj_bias"):
            kind = "weight" if leaf == "in_proj_weight" else "bias"
            for proj, part in zip(_PROJECTIONS, tensor.chunk(3), strict=True):
                converted[f"{prefix}{proj}.{kind}"] = part
        elif leaf in ("q_proj_weight", "k_proj_weight", "v_proj_weight"):
            converted[f"{prefix}{leaf[:6]}.weight"] = tensor
        elif leaf in ("bias_k", "bias_v"):
            raise ValueError(f"state_dict entry {name!r}: add_bias_kv is not implemented in seqlib")
        else:
            converted[name] = tensor
    return converted


def state_dict_to_torch(state_dict: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """The inverse of :func:`state_dict_from_torch`: pack ``q_proj``/``k_proj``/``v_proj`` back.

    Weights are packed into ``in_proj_weight`` when all three are ``(E, E)`` (torch's rule:
    kdim = vdim = E), else kept as ``q_proj_weight``/``k_proj_weight``/``v_proj_weight``; biases
    are always packed into ``in_proj_bias``.
    """
    converted: dict[str, Tensor] = {}
    groups: dict[str, dict[str, Tensor]] = {}
    for name, tensor in state_dict.items():
        parts = name.split(".")
        if len(parts) >= 2 and parts[-2] in _PROJECTIONS and parts[-1] in ("weight", "bias"):
            prefix = ".".join(parts[:-2])
            groups.setdefault(prefix, {})[f"{parts[-2]}.{parts[-1]}"] = tensor
        else:
            converted[name] = tensor
    for prefix, group in groups.items():
        p = prefix + "." if prefix else ""
        weights = [group[f"{proj}.weight"] for proj in _PROJECTIONS]
        if all(w.shape == weights[0].shape for w in weights) and weights[0].shape[0] == weights[0].shape[1]:
            converted[f"{p}in_proj_weight"] = torch.cat(weights)
        else:
            for proj, w in zip(_PROJECTIONS, weights, strict=True):
                converted[f"{p}{proj}_weight"] = w
        if "q_proj.bias" in group:
            converted[f"{p}in_proj_bias"] = torch.cat([group[f"{proj}.bias"] for proj in _PROJECTIONS])
    return converted


"""Argument validation, kept away from the math (private to seqlib).

The model files call these checks first thing and then read as equations.  A check either returns
(``None``, or the validated value where a caller needs it) or raises with a message that names the
argument, what was expected and what was given.  The tests match those messages, so they are part
of the contract: change one only together with its tests.

Two families of exception types coexist on purpose, each kept as its module has always raised:
``seqlib.recurrent`` (like ``torch.nn``'s recurrent modules) raises ``TypeError`` for an argument of
the wrong type and ``ValueError`` for a bad value; the attention, Transformer, positional, n-gram and
data modules raise ``ValueError`` for both.

Mask convention (one for all of seqlib, the one of ``torch.nn.MultiheadAttention``): a **bool** mask
marks with ``True`` the keys a query **may not** attend to; a **float** mask is **added** to the
scores.

Contents: generic checks first (integers, booleans, rates, choices, tensors, shapes, masks), then
the composite checks of each module in the order recurrent, attention, Transformer, positional,
n-gram.  Model classes appear in type hints only (``TYPE_CHECKING``), so this module imports none
of seqlib and no import cycle can arise.
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Sequence
from types import UnionType
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor

if TYPE_CHECKING:
    from seqlib.attention import MultiheadAttention
    from seqlib.recurrent import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell
    from seqlib.transformer import Transformer, TransformerDecoderLayer, TransformerEncoderLayer

# --------------------------------------------------------------------------------------------------
# Generic checks.
# --------------------------------------------------------------------------------------------------


def positive_int(name: str, value: object, *, types: type | UnionType = int, allow_bool: bool = False) -> None:
    """``ValueError`` unless ``value`` is an int >= 1 (an instance of ``types``; a bool only with
    ``allow_bool``)."""
    if not isinstance(value, types) or (isinstance(value, bool) and not allow_bool) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")


def positive_int_strict(name: str, value: object) -> None:
    """``TypeError`` unless ``value`` is an int (bool excluded), ``ValueError`` unless it is >= 1."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} ({value!r})")
    if value <= 0:
        raise ValueError(f"{name} must be a positive int, got {value}")


def non_negative_int(name: str, value: object, *, allow_bool: bool = False) -> None:
    """``ValueError`` unless ``value`` is an int >= 0 (a bool only with ``allow_bool``)."""
    if not isinstance(value, int) or (isinstance(value, bool) and not allow_bool) or value < 0:
        raise ValueError(f"{name} must be a non-negative int, got {value!r}")


def int_at_least(name: str, value: object, minimum: int, *, types: type | UnionType = int) -> None:
    """``ValueError`` unless ``value`` is an int (of ``types``, bool excluded) >= ``minimum``."""
    if not isinstance(value, types) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")


def boolean(name: str, value: object) -> None:
    """``TypeError`` unless ``value`` is a bool."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool, got {type(value).__name__} ({value!r})")


def dropout_rate(name: str, value: float) -> None:
    """``ValueError`` unless ``0 <= value < 1``."""
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {value}")


def fraction(name: str, value: float) -> None:
    """``ValueError`` unless ``0 < value < 1`` (a split of a sequence into two non-empty parts)."""
    if not 0.0 < value < 1.0:
        raise ValueError(f"{name} must lie strictly between 0 and 1, got {value}")


def real_number(
    name: str, value: object, *, minimum: float | None = None, exclusive: bool = False, maximum: float | None = None,
    allow_inf: bool = False,
) -> float:
    """``value`` as a float, or ``ValueError`` unless it is a real number (an int, a float or a NumPy scalar;
    a bool, a string or a complex number is not), finite (inf only with ``allow_inf``; NaN never) and within
    the bounds: ``>= minimum`` (``> minimum`` with ``exclusive``) and ``<= maximum``.

    NaN and inf are the values a float slider or a diverged computation hands on silently; they are
    refused here, where the argument still has its name."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a real number, got {type(value).__name__} ({value!r})")
    number = float(value)
    if math.isnan(number) or (math.isinf(number) and not allow_inf):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    if minimum is not None and (number <= minimum if exclusive else number < minimum):
        raise ValueError(f"{name} must be {'>' if exclusive else '>='} {minimum:g}, got {value!r}")
    if maximum is not None and number > maximum:
        raise ValueError(f"{name} must be <= {maximum:g}, got {value!r}")
    return number


def whole_number(name: str, value: object) -> int:
    """``value`` as an int when it is a whole number (an int, a NumPy integer, or a float such as ``1200.0``
    that is one); ``ValueError`` otherwise: a count is never rounded (1.5 is refused, not stored as 1)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a whole number, got {type(value).__name__} ({value!r})")
    if isinstance(value, numbers.Integral):
        return int(value)
    if not math.isfinite(value) or not float(value).is_integer():
        raise ValueError(f"{name} must be a whole number (a count), got {value!r}: it is never rounded")
    return int(value)


def optional_positive_number(name: str, value: object, meaning: str) -> float | None:
    """``None``, or ``value`` as a finite float > 0; ``meaning`` says what None means (for the message)."""
    if value is None:
        return None
    try:
        return real_number(name, value, minimum=0.0, exclusive=True)
    except ValueError as err:
        raise ValueError(f"{err} ({name}=None: {meaning})") from None


def callable_or_none(name: str, value: object) -> None:
    """``ValueError`` unless ``value`` is None or callable (a function, not the result of calling one)."""
    if value is not None and not callable(value):
        raise ValueError(f"{name} must be a function or None, got {type(value).__name__} ({value!r:.60})")


def finite_tensor(name: str, value: Tensor, advice: str = "") -> None:
    """``ValueError`` unless the floating-point tensor ``value`` holds no NaN and no inf; ``advice`` (e.g.
    "a diverged training run?") follows the count of bad entries in the message."""
    if value.is_floating_point() or value.is_complex():
        bad = ~torch.isfinite(value)
        if bool(bad.any()):
            nan = int(torch.isnan(value).sum())
            message = f"{name} holds {nan} NaN and {int(bad.sum()) - nan} infinite entries of {value.numel()}"
            raise ValueError(message + (f": {advice}" if advice else ""))


def token_tensor(
    name: str, value: object, vocab_size: int | None, *, dims: int = 2, legend: str = "(B, T)",
    type_error: type[Exception] = TypeError,
) -> Tensor:
    """``value`` an int64 tensor of ``dims`` dimensions whose entries are token ids in ``[0, vocab_size)``
    (``vocab_size`` None: any id >= 0).

    ``type_error`` (``TypeError`` by default, as ``torch.nn.Embedding``; the caller's own family otherwise)
    for anything but an int64 tensor of that rank, ``ValueError`` for an id outside the vocabulary
    (``nn.Embedding``'s own message is "index out of range in self")."""
    if not isinstance(value, Tensor) or value.dtype != torch.long or value.dim() != dims:
        got = f"{value.dtype} of shape {tuple(value.shape)}" if isinstance(value, Tensor) else type(value).__name__
        raise type_error(f"{name} must be an int64 tensor of shape {legend}, got {got}")
    if vocab_size is None:
        if value.numel() and int(value.min()) < 0:
            raise ValueError(f"{name} must hold token ids >= 0, got {int(value.min())}")
        return value
    if value.numel():
        low, high = int(value.min()), int(value.max())
        if low < 0 or high >= vocab_size:
            bad = low if low < 0 else high
            raise ValueError(
                f"{name} must hold token ids in [0, {vocab_size}) (the vocabulary has V = {vocab_size} tokens), "
                f"got values in [{low}, {high}]: {bad} is not a token of this vocabulary"
            )
    return value


def token_id(name: str, value: object, vocab_size: int) -> int:
    """``value`` a single token id: an int (or NumPy integer) in ``[0, vocab_size)``; returned as an int."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be a token id (an int), got {type(value).__name__} ({value!r})")
    if not 0 <= value < vocab_size:
        raise ValueError(f"{name} must be a token id in [0, {vocab_size}) (the vocabulary has V = {vocab_size} "
                         f"tokens), got {value}")
    return int(value)


def floating_like(name: str, value: object, dtype: torch.dtype, owner: str, fix: str = "") -> Tensor:
    """``ValueError`` unless ``value`` is a floating-point Tensor of ``dtype`` (``owner``'s dtype, e.g.
    "the module's parameters"); as torch.nn refuses a mismatch, but naming the argument and the fix."""
    tensor(name, value)
    if not value.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor ({dtype}, as {owner}), got dtype {value.dtype}"
                         + (": token ids go through an embedding first" if not value.is_complex() and
                            value.dtype != torch.bool else ""))
    if value.dtype != dtype:
        verb = "have" if owner.endswith("s") else "has"
        raise ValueError(f"{name} has dtype {value.dtype} but {owner} {verb} dtype {dtype}; convert one of them, "
                         f"e.g. {fix or f'{name}.to({dtype})'}")
    return value


def one_of(name: str, value: object, choices: Sequence[str]) -> None:
    """``ValueError`` unless ``value`` is one of ``choices``; the message lists them as
    ``'a', 'b' or 'c'``."""
    if value not in choices:
        listed = ", ".join(repr(choice) for choice in choices[:-1]) + f" or {choices[-1]!r}"
        raise ValueError(f"{name} must be {listed}, got {value!r}")


def tensor(name: str, value: object) -> None:
    """``ValueError`` unless ``value`` is a Tensor."""
    if not isinstance(value, Tensor):
        raise ValueError(f"{name} must be a Tensor, got {type(value).__name__}")


def tensor_matching(name: str, value: object, dtype: torch.dtype, device: torch.device) -> Tensor:
    """``TypeError`` unless ``value`` is a floating-point Tensor of ``dtype`` (a module's parameters'),
    ``ValueError`` unless it is on ``device``; returns it."""
    if not isinstance(value, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    if not value.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor of dtype {dtype}, got dtype {value.dtype}")
    if value.dtype != dtype:
        raise TypeError(
            f"{name} has dtype {value.dtype} but the module's parameters have dtype {dtype}; "
            f"convert one of them, e.g. module.to({value.dtype}) or {name}.to({dtype})"
        )
    if value.device != device:
        raise ValueError(f"{name} is on device {value.device} but the module's parameters are on {device}")
    return value


def shape(name: str, value: Tensor, expected: tuple[int, ...], legend: str) -> None:
    """``ValueError`` unless ``value.shape == expected``; ``legend`` names the axes, e.g. ``"(B, H)"``."""
    if tuple(value.shape) != expected:
        raise ValueError(f"{name} must have shape {legend} = {expected}, got {tuple(value.shape)}")


def one_dimensional(name: str, value: Tensor) -> None:
    """``ValueError`` unless ``value`` is 1-D."""
    if value.dim() != 1:
        raise ValueError(f"{name} must be 1-D, got shape {tuple(value.shape)}")


def mask(
    name: str, value: Tensor | None, expected: tuple[int, ...] | None, hint: str = "", dtype: torch.dtype | None = None,
) -> None:
    """``ValueError`` unless ``value`` is None or a bool (True = may not attend) / floating (added)
    Tensor, of shape ``expected`` (legend ``hint``) unless that is None.  A floating mask must have
    ``dtype`` (the scores', when given), as torch.nn requires."""
    if value is None:
        return
    if not isinstance(value, Tensor):
        raise ValueError(f"{name} must be a Tensor or None, got {type(value).__name__}")
    if value.dtype != torch.bool and not value.dtype.is_floating_point:
        raise ValueError(f"{name} must be bool (True = may not attend) or floating (added), got {value.dtype}")
    if dtype is not None and value.dtype.is_floating_point and value.dtype != dtype:
        raise ValueError(f"{name} is a floating mask of dtype {value.dtype} but the scores it is added to have dtype "
                         f"{dtype}; use {name}.to({dtype}), or a bool mask (True = may not attend)")
    if expected is not None and tuple(value.shape) != expected:
        raise ValueError(f"{name} must have shape {hint} = {expected}, got {tuple(value.shape)}")


# --------------------------------------------------------------------------------------------------
# seqlib.recurrent: TypeError for a wrong type, ValueError for a wrong value (torch.nn's habit).
# --------------------------------------------------------------------------------------------------


def recurrent_dropout(dropout: object, num_layers: int) -> None:
    """``dropout`` a number in [0, 1]; warns (as torch) when it is > 0 with a single layer."""
    if not isinstance(dropout, numbers.Real) or isinstance(dropout, bool):
        raise TypeError(f"dropout must be a number in [0, 1], got {type(dropout).__name__} ({dropout!r})")
    if not 0 <= dropout <= 1:
        raise ValueError(f"dropout must be in [0, 1], got {dropout}")
    if dropout > 0 and num_layers == 1:
        warnings.warn(
            "dropout acts between recurrent layers, so it needs num_layers > 1, "
            f"but got dropout={dropout} and num_layers={num_layers}",
            stacklevel=4,  # the caller of the module's constructor, as when the check sat in __init__
        )


def lstm_proj_size(proj_size: object) -> None:
    if proj_size != 0:
        raise ValueError(f"proj_size > 0 (projected LSTM) is not supported, got proj_size={proj_size!r}")


def state(
    mode: str, hx: object, expected: tuple[int, ...], legend: str, dtype: torch.dtype, device: torch.device
) -> tuple[Tensor, ...]:
    """Checks ``hx`` (a tensor, or an ``(h, c)`` pair for LSTM) and returns it as a tuple."""
    if mode == "LSTM":
        if not isinstance(hx, tuple | list) or len(hx) != 2:
            raise TypeError(f"hx for an LSTM must be a tuple (h_0, c_0), got {type(hx).__name__}")
        names = ("hx[0] (h_0)", "hx[1] (c_0)")
        states = tuple(hx)
    else:
        names = ("hx",)
        states = (hx,)
    for name, value in zip(names, states, strict=True):
        tensor_matching(name, value, dtype, device)
        if value.dim() != len(expected):
            raise ValueError(
                f"{name} must be {len(expected)}-D {legend} = {expected}, got {value.dim()}-D "
                f"shape {tuple(value.shape)}"
            )
        shape(name, value, expected, legend)
    return states


def cell_inputs(
    cell: RNNCell | LSTMCell | GRUCell, input: object, hx: object
) -> tuple[bool, tuple[Tensor, ...] | None]:
    """Validates a cell call; returns (is_batched, hx as a tuple or None)."""
    dtype, device = cell.weight_ih.dtype, cell.weight_ih.device
    tensor_matching("input", input, dtype, device)
    if input.dim() not in (1, 2):
        raise ValueError(
            f"input to {type(cell).__name__} must be 2-D (B, I) or 1-D (I,) unbatched, "
            f"got {input.dim()}-D shape {tuple(input.shape)}"
        )
    if input.shape[-1] != cell.input_size:
        raise ValueError(
            f"input must have input_size={cell.input_size} features in its last dimension, "
            f"got shape {tuple(input.shape)}"
        )
    is_batched = input.dim() == 2
    if hx is None:
        return is_batched, None
    expected = (input.shape[0], cell.hidden_size) if is_batched else (cell.hidden_size,)
    legend = "(B, H)" if is_batched else "(H,)"
    return is_batched, state(cell.mode, hx, expected, legend, dtype, device)


def recurrent_inputs(
    module: RNN | LSTM | GRU, input: object, hx: object
) -> tuple[bool, tuple[Tensor, ...] | None]:
    """Validates a forward call of a multi-layer module; returns (is_batched, hx as a tuple or None)."""
    weight = module.weight_ih_l0
    tensor_matching("input", input, weight.dtype, weight.device)
    layout = "(B, T, I)" if module.batch_first else "(T, B, I)"
    if input.dim() not in (2, 3):
        raise ValueError(
            f"input to {type(module).__name__} must be 3-D {layout} or 2-D (T, I) unbatched, "
            f"got {input.dim()}-D shape {tuple(input.shape)}"
        )
    if input.shape[-1] != module.input_size:
        raise ValueError(
            f"input must have input_size={module.input_size} features in its last dimension, "
            f"got shape {tuple(input.shape)}"
        )
    is_batched = input.dim() == 3
    time_dim = 1 if (is_batched and module.batch_first) else 0
    if input.shape[time_dim] == 0 or input.numel() == 0:
        raise ValueError(f"input must have at least one time step and one sample, got shape {tuple(input.shape)}")
    if hx is None:
        return is_batched, None
    layers = module.num_layers * module.num_directions
    if is_batched:
        batch = input.shape[0 if module.batch_first else 1]
        expected, legend = (layers, batch, module.hidden_size), "(L*D, B, H)"
    else:
        expected, legend = (layers, module.hidden_size), "(L*D, H) for unbatched input"
    return is_batched, state(module.mode, hx, expected, legend, weight.dtype, weight.device)


# --------------------------------------------------------------------------------------------------
# seqlib.attention
# --------------------------------------------------------------------------------------------------


def mask_dtype(dtype: torch.dtype) -> None:
    """``ValueError`` unless a mask can be built in ``dtype`` (bool or floating)."""
    if not dtype.is_floating_point:
        raise ValueError(f"dtype must be torch.bool or a floating dtype, got {dtype}")


def padding_lengths(lengths: Tensor, max_len: int | None) -> None:
    """``lengths`` a 1-D tensor of non-negative ints, none longer than ``max_len`` (if given)."""
    if lengths.dim() != 1 or lengths.dtype.is_floating_point or lengths.dtype == torch.bool:
        raise ValueError(f"lengths must be a 1-D integer tensor, got shape {tuple(lengths.shape)} "
                         f"and dtype {lengths.dtype}")
    if (lengths < 0).any():
        raise ValueError("lengths must be non-negative")
    longest = int(lengths.max()) if lengths.numel() else 0
    if max_len is not None and max_len < longest:
        raise ValueError(f"max_len={max_len} is shorter than the longest length {longest}")


def attention_inputs(
    q: Tensor, k: Tensor, v: Tensor, attn_mask: Tensor | None, key_padding_mask: Tensor | None,
    scale: float | None, dropout_p: float,
) -> None:
    for name, x in (("q", q), ("k", k), ("v", v)):
        tensor(name, x)
        if x.dim() < 2:
            raise ValueError(f"{name} must have rank >= 2 (..., length, features), got shape {tuple(x.shape)}")
    if not (q.dim() == k.dim() == v.dim()):
        raise ValueError(f"q, k, v must have the same rank, got {q.dim()}, {k.dim()}, {v.dim()}")
    if k.shape[:-2] != q.shape[:-2] or v.shape[:-2] != q.shape[:-2]:
        raise ValueError(f"q, k, v must share leading dims, got {tuple(q.shape)}, {tuple(k.shape)}, "
                         f"{tuple(v.shape)}")
    if k.shape[-1] != q.shape[-1]:
        raise ValueError(f"k must have the features of q (d_k = {q.shape[-1]}), got {k.shape[-1]}")
    if v.shape[-2] != k.shape[-2]:
        raise ValueError(f"v must have as many positions as k (S = {k.shape[-2]}), got {v.shape[-2]}")
    if not q.is_floating_point():
        raise ValueError(f"q must be a floating-point tensor, got dtype {q.dtype}"
                         + (": token ids go through an embedding first" if q.dtype != torch.bool else ""))
    for name, x in (("k", k), ("v", v)):
        floating_like(name, x, q.dtype, "q", fix=f"{name}.to({q.dtype})")
    scores_shape = (*q.shape[:-1], k.shape[-2])
    if attn_mask is not None:
        mask("attn_mask", attn_mask, None, dtype=q.dtype)
        try:
            broadcast = torch.broadcast_shapes(attn_mask.shape, scores_shape)
        except RuntimeError:
            broadcast = None
        if broadcast != torch.Size(scores_shape):
            raise ValueError(f"attn_mask must broadcast to the scores (..., T, S) = {scores_shape}, "
                             f"got {tuple(attn_mask.shape)}")
    expected = (k.shape[-2],) if q.dim() == 2 else (q.shape[0], k.shape[-2])
    mask("key_padding_mask", key_padding_mask, expected, "(B, S)" if q.dim() > 2 else "(S,)", dtype=q.dtype)
    if scale is not None and (not isinstance(scale, (int, float)) or isinstance(scale, bool)):
        raise ValueError(f"scale must be a number or None, got {scale!r}")
    dropout_rate("dropout_p", dropout_p)


def mha_config(
    embed_dim: int, num_heads: int, dropout: float, kdim: int | None, vdim: int | None, add_bias_kv: bool,
    add_zero_attn: bool,
) -> None:
    for name, n in (("embed_dim", embed_dim), ("num_heads", num_heads), ("kdim", kdim), ("vdim", vdim)):
        if n is None and name in ("kdim", "vdim"):
            continue
        positive_int(name, n)
    if embed_dim % num_heads:
        raise ValueError(f"embed_dim ({embed_dim}) must be divisible by num_heads ({num_heads})")
    dropout_rate("dropout", dropout)
    if add_bias_kv or add_zero_attn:
        raise NotImplementedError("seqlib's MultiheadAttention has no add_bias_kv / add_zero_attn")


def mha_inputs(
    mha: MultiheadAttention, query: Tensor, key: Tensor, value: Tensor,
    key_padding_mask: Tensor | None, attn_mask: Tensor | None, is_causal: bool,
) -> None:
    layout = "(B, T, E)" if mha.batch_first else "(T, B, E)"
    dtype = mha.q_proj.weight.dtype
    for name, x in (("query", query), ("key", key), ("value", value)):
        tensor(name, x)
        if x.dim() not in (2, 3):
            raise ValueError(f"{name} must be 3-D {layout} or 2-D unbatched, got shape {tuple(x.shape)}")
        floating_like(name, x, dtype, "the module's parameters", fix=f"module.to({x.dtype}) or {name}.to({dtype})")
    if not (query.dim() == key.dim() == value.dim()):
        raise ValueError(f"query, key, value must all be batched or all unbatched, got ranks "
                         f"{query.dim()}, {key.dim()}, {value.dim()}")
    for name, x, features in (("query", query, mha.embed_dim), ("key", key, mha.kdim), ("value", value, mha.vdim)):
        if x.shape[-1] != features:
            what = "embed_dim" if name == "query" else ("kdim" if name == "key" else "vdim")
            raise ValueError(f"{name} must have {what} = {features} features, got {x.shape[-1]}")
    batched = query.dim() == 3
    seq_dim = 1 if (batched and mha.batch_first) else 0
    T, S = query.shape[seq_dim], key.shape[seq_dim]
    if value.shape[seq_dim] != S:
        raise ValueError(f"value must have as many positions as key (S = {S}), got {value.shape[seq_dim]}")
    B = None
    if batched:
        batch_dim = 0 if mha.batch_first else 1
        B = query.shape[batch_dim]
        for name, x in (("key", key), ("value", value)):
            if x.shape[batch_dim] != B:
                raise ValueError(f"{name} must have the batch size of query (B = {B}), got {x.shape[batch_dim]}")
    if key_padding_mask is not None:
        expected = (B, S) if batched else (S,)
        mask("key_padding_mask", key_padding_mask, expected, "(B, S)" if batched else "(S,)", dtype)
    if attn_mask is not None:
        if isinstance(attn_mask, Tensor) and attn_mask.dim() == 3:
            mask("attn_mask", attn_mask, ((B or 1) * mha.num_heads, T, S), "(B * num_heads, T, S)", dtype)
        else:
            mask("attn_mask", attn_mask, (T, S), "(T, S)", dtype)
    if is_causal and attn_mask is None and T != S:
        raise ValueError(f"is_causal without attn_mask needs T == S, got T = {T}, S = {S}")


# --------------------------------------------------------------------------------------------------
# seqlib.transformer
# --------------------------------------------------------------------------------------------------


def layer_norm_input(x: Tensor, features: int, dtype: torch.dtype | None = None) -> None:
    tensor("input", x)
    if dtype is not None:
        floating_like("input", x, dtype, "the layer's parameters", fix=f"layer.to({x.dtype}) or input.to({dtype})")
    elif not x.is_floating_point():
        raise ValueError(f"input must be a floating-point tensor, got dtype {x.dtype}")
    if x.dim() == 0 or x.shape[-1] != features:
        raise ValueError(f"x must have {features} features, got shape {tuple(x.shape)}")


def layer_config(d_model: int, nhead: int, dim_feedforward: int, dropout: float) -> None:
    for name, n in (("d_model", d_model), ("nhead", nhead), ("dim_feedforward", dim_feedforward)):
        positive_int(name, n)
    if d_model % nhead:
        raise ValueError(f"d_model ({d_model}) must be divisible by nhead ({nhead})")
    dropout_rate("dropout", dropout)


def stack(name: str, layer: object, kind: type, num_layers: int) -> None:
    """``layer`` (the argument ``name``) an instance of ``kind``; ``num_layers`` a positive int."""
    if not isinstance(layer, kind):
        raise ValueError(f"{name} must be a seqlib {kind.__name__}, got {type(layer).__name__}")
    positive_int("num_layers", num_layers)


def sequence(
    name: str, x: Tensor, d_model: int, batch_first: bool, dtype: torch.dtype | None = None,
) -> tuple[int | None, int]:
    """Checks a (L, B, d) / (B, L, d) / (L, d) input (of the parameters' ``dtype`` when given); returns
    (B or None, L)."""
    layout = "(B, L, d_model)" if batch_first else "(L, B, d_model)"
    if not isinstance(x, Tensor) or x.dim() not in (2, 3):
        got = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f"{name} must be 3-D {layout} or 2-D (L, d_model), got {got}")
    if x.shape[-1] != d_model:
        raise ValueError(f"{name} must have d_model = {d_model} features, got {x.shape[-1]}")
    if dtype is not None:
        floating_like(name, x, dtype, "the layer's parameters", fix=f"layer.to({x.dtype}) or {name}.to({dtype})")
    if x.dim() == 2:
        return None, x.shape[0]
    return (x.shape[0], x.shape[1]) if batch_first else (x.shape[1], x.shape[0])


def attention_masks(
    nhead: int, B: int | None, T: int, S: int, attn_name: str, attn_mask: Tensor | None, padding_name: str,
    key_padding_mask: Tensor | None, dtype: torch.dtype | None = None,
) -> None:
    if isinstance(attn_mask, Tensor) and attn_mask.dim() == 3:
        mask(attn_name, attn_mask, ((B or 1) * nhead, T, S), "(B * nhead, T, S)", dtype)
    else:
        mask(attn_name, attn_mask, (T, S), "(T, S)", dtype)
    mask(padding_name, key_padding_mask, (S,) if B is None else (B, S), "(B, S)", dtype)


def encoder_layer_inputs(
    layer: TransformerEncoderLayer, src: Tensor, src_mask: Tensor | None, src_key_padding_mask: Tensor | None,
) -> None:
    attn = layer.self_attn
    dtype = attn.q_proj.weight.dtype
    B, S = sequence("src", src, attn.embed_dim, attn.batch_first, dtype)
    attention_masks(attn.num_heads, B, S, S, "src_mask", src_mask, "src_key_padding_mask", src_key_padding_mask,
                    dtype)


def decoder_layer_inputs(
    layer: TransformerDecoderLayer, tgt: Tensor, memory: Tensor, tgt_mask: Tensor | None,
    memory_mask: Tensor | None, tgt_key_padding_mask: Tensor | None, memory_key_padding_mask: Tensor | None,
) -> None:
    attn = layer.self_attn
    dtype = attn.q_proj.weight.dtype
    B, T = sequence("tgt", tgt, attn.embed_dim, attn.batch_first, dtype)
    memory_batch, S = sequence("memory", memory, attn.embed_dim, attn.batch_first, dtype)
    if memory_batch != B:
        raise ValueError(f"memory must have the batch size of tgt ({B}), got {memory_batch}")
    attention_masks(attn.num_heads, B, T, T, "tgt_mask", tgt_mask, "tgt_key_padding_mask", tgt_key_padding_mask,
                    dtype)
    attention_masks(attn.num_heads, B, T, S, "memory_mask", memory_mask, "memory_key_padding_mask",
                    memory_key_padding_mask, dtype)


def transformer_inputs(model: Transformer, src: Tensor, tgt: Tensor) -> None:
    tensor("src", src)
    tensor("tgt", tgt)
    if src.dim() != tgt.dim() or src.dim() not in (2, 3):
        raise ValueError(f"src and tgt must both be 3-D (batched) or 2-D, got shapes {tuple(src.shape)} and "
                         f"{tuple(tgt.shape)}")
    if src.dim() == 3:
        batch_dim = 0 if model.batch_first else 1
        if src.shape[batch_dim] != tgt.shape[batch_dim]:
            raise ValueError(f"src and tgt must have the same batch size, got {src.shape[batch_dim]} and "
                             f"{tgt.shape[batch_dim]}")
    for name, x in (("src", src), ("tgt", tgt)):
        if x.shape[-1] != model.d_model:
            raise ValueError(f"{name} must have d_model = {model.d_model} features, got {x.shape[-1]}")


# --------------------------------------------------------------------------------------------------
# seqlib.positional
# --------------------------------------------------------------------------------------------------


def positional_input(
    x: Tensor, offset: int, d_model: int, max_len: int, batch_first: bool, dtype: torch.dtype | None = None,
) -> None:
    """``x`` (B, T, d) / (T, B, d) / (T, d) with ``d_model`` features (floating, of the table's ``dtype``
    when given), ``offset`` an int, positions within ``max_len``."""
    tensor("x", x)
    if isinstance(offset, bool) or not isinstance(offset, int | np.integer):
        raise ValueError(f"offset must be an int (the position of x's first element), got {offset!r}")
    if dtype is not None:
        floating_like("x", x, dtype, "the positional table", fix=f"x.to({dtype}), or build the encoding with "
                      f"dtype={x.dtype}")
    if x.dim() not in (2, 3) or x.shape[-1] != d_model:
        raise ValueError(f"x must be (B, T, d_model={d_model}), (T, B, d_model) or (T, d_model), "
                         f"got shape {tuple(x.shape)}")
    seq_dim = 1 if (x.dim() == 3 and batch_first) else 0
    T = x.shape[seq_dim]
    if offset < 0 or offset + T > max_len:
        raise ValueError(f"positions {offset}..{offset + T - 1} exceed max_len={max_len}")


# --------------------------------------------------------------------------------------------------
# seqlib.ngram
# --------------------------------------------------------------------------------------------------


def ngram_config(n: int, vocab_size: int, smoothing: str, k: float, smoothings: tuple[str, ...]) -> None:
    positive_int("n", n, types=int | np.integer)
    int_at_least("vocab_size", vocab_size, 2, types=int | np.integer)
    if smoothing not in smoothings:
        raise ValueError(f"smoothing must be one of {smoothings}, got {smoothing!r}")
    if smoothing == "add-k" and not (
        isinstance(k, int | float | np.floating | np.integer) and not isinstance(k, bool) and 0 < k < math.inf
    ):
        raise ValueError(f"add-k smoothing needs a finite k > 0, got {k!r}")
    if float(vocab_size) ** n >= 2.0**62:
        raise ValueError(f"vocab_size={vocab_size} and n={n}: V**n does not fit the 64-bit n-gram keys")


def ngram_fitted(orders: list) -> None:
    """``orders`` (a model's counts, one entry per order) is empty before ``fit``."""
    if not orders:
        raise ValueError("the model has not been fitted: call .fit(train_ids) first")


def token_ids(ids: object, vocab_size: int, name: str = "ids") -> np.ndarray:
    """``ids`` (sequence, array or tensor) as a 1-D int64 array of ids in ``[0, vocab_size)``."""
    if isinstance(ids, torch.Tensor):
        ids = ids.detach().cpu().numpy()
    array = np.asarray(ids)
    if array.ndim != 1:
        raise ValueError(f"{name} must be a 1-D sequence of token ids, got shape {array.shape}")
    if array.size and not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"{name} must hold integer token ids, got dtype {array.dtype}")
    seq = array.astype(np.int64)
    if seq.size and (seq.min() < 0 or seq.max() >= vocab_size):
        raise ValueError(f"{name} must lie in [0, {vocab_size}), got values in [{seq.min()}, {seq.max()}]")
    return seq

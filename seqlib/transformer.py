"""The Transformer of Vaswani et al. (2017) with ``torch.nn``'s modules, arguments and names.

An encoder layer is self-attention then a position-wise feed-forward network, each wrapped in a
residual connection and a layer normalisation; a decoder layer adds cross-attention to the
encoder's output (``memory``) between the two.  ``norm_first=False`` is the paper's post-norm
``x = LayerNorm(x + Sublayer(x))``; ``norm_first=True`` is pre-norm ``x = x + Sublayer(LayerNorm(x))``
(Xiong et al. 2020), as in torch.  Dropout sits where torch puts it: on the attention weights,
after each sublayer (``dropout1``/``dropout2``/``dropout3``) and inside the FFN (``dropout``).

Mask convention (torch.nn's, as everywhere in seqlib): a **bool** mask marks with **True** the
positions that **may not** be attended to; a **float** mask is **added** to the attention scores.
``src_mask`` / ``tgt_mask`` are ``(T, T)`` or ``(B * nhead, T, T)``, ``memory_mask`` is
``(T_tgt, T_src)``, the ``*_key_padding_mask``s are ``(B, T)`` with True at padding.  A query
whose keys are all masked gets zero attention (see :mod:`seqlib.attention`), never NaN.

Every forward takes ``return_trace=True`` (seqlib only) to also return the attention weights of
every layer and head: self-attention ``(B, nhead, T, T)``, cross-attention
``(B, nhead, T_tgt, T_src)``, always batch-first.

Shape legend: B batch, S source length, T target length, d ``d_model``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqlib import _checks
from seqlib.attention import MultiheadAttention, causal_mask, state_dict_from_torch, state_dict_to_torch

__all__ = [
    "DecoderLayerTrace",
    "DecoderTrace",
    "EncoderLayerTrace",
    "EncoderTrace",
    "LayerNorm",
    "Transformer",
    "TransformerDecoder",
    "TransformerDecoderLayer",
    "TransformerEncoder",
    "TransformerEncoderLayer",
    "TransformerTrace",
]

Activation = str | Callable[[Tensor], Tensor]


class EncoderLayerTrace(NamedTuple):
    self_attn_weights: Tensor  # (B, nhead, S, S), per head


class DecoderLayerTrace(NamedTuple):
    self_attn_weights: Tensor  # (B, nhead, T, T), per head, masked self-attention
    cross_attn_weights: Tensor  # (B, nhead, T, S), queries from the decoder, keys from memory


class EncoderTrace(NamedTuple):
    self_attn_weights: tuple[Tensor, ...]  # one (B, nhead, S, S) per layer


class DecoderTrace(NamedTuple):
    self_attn_weights: tuple[Tensor, ...]  # one (B, nhead, T, T) per layer
    cross_attn_weights: tuple[Tensor, ...]  # one (B, nhead, T, S) per layer


class TransformerTrace(NamedTuple):
    memory: Tensor  # encoder output, laid out like src: (B, S, d) or (S, B, d)
    encoder: EncoderTrace
    decoder: DecoderTrace


# --- layer normalisation --------------------------------------------------------------------------


class LayerNorm(nn.Module):
    """Layer normalisation over the last axis, equal to ``torch.nn.LayerNorm(int)``.

    Ba et al. (2016): each position's feature vector is normalised to mean 0 and variance 1, then
    scaled and shifted by learned ``weight`` (γ) and ``bias`` (β).

    Args:
        normalized_shape: features d (an int: the last axis only).
        eps: added to the variance.
        elementwise_affine: learn γ (ones) and β (zeros).
        bias: learn β (with ``elementwise_affine``).

    Shape: ``(..., d)`` in and out.
    """

    def __init__(
        self, normalized_shape: int, eps: float = 1e-5, elementwise_affine: bool = True, bias: bool = True,
        device: torch.device | str | None = None, dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        _checks.positive_int("normalized_shape", normalized_shape)
        factory = {"device": device, "dtype": dtype}
        self.normalized_shape = (normalized_shape,)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        self.weight = nn.Parameter(torch.ones(normalized_shape, **factory)) if elementwise_affine else None
        self.bias = nn.Parameter(torch.zeros(normalized_shape, **factory)) if elementwise_affine and bias else None

    def forward(self, input: Tensor) -> Tensor:  # torch's argument name
        x = input  # (..., d)
        _checks.layer_norm_input(x, self.normalized_shape[0], None if self.weight is None else self.weight.dtype)
        # μ = mean of the features
        mean = x.mean(dim=-1, keepdim=True)  # (..., 1)
        centered = x - mean  # (..., d)
        # σ² = mean((x - μ)²)   the biased variance, as torch.nn.LayerNorm
        var = (centered * centered).mean(dim=-1, keepdim=True)  # (..., 1)
        # x̂ = (x - μ) / √(σ² + ε)
        x_hat = centered * torch.rsqrt(var + self.eps)  # (..., d)
        # y = γ ⊙ x̂ + β
        if self.weight is not None:
            x_hat = x_hat * self.weight
        if self.bias is not None:
            x_hat = x_hat + self.bias
        return x_hat

    @classmethod
    def from_torch(cls, module: nn.LayerNorm) -> LayerNorm:
        if len(module.normalized_shape) != 1:
            raise ValueError(f"only 1-D normalized_shape is supported, got {module.normalized_shape}")
        ours = cls(module.normalized_shape[0], module.eps, module.elementwise_affine, module.bias is not None,
                   **_factory_of(module))
        ours.load_state_dict(module.state_dict())
        return ours

    def to_torch(self) -> nn.LayerNorm:
        theirs = nn.LayerNorm(self.normalized_shape[0], self.eps, self.elementwise_affine,
                              bias=self.bias is not None, **_factory_of(self))
        theirs.load_state_dict(self.state_dict())
        return theirs


# --- layers ---------------------------------------------------------------------------------------


class TransformerEncoderLayer(nn.Module):
    """Self-attention + feed-forward network, each with residual and LayerNorm (torch.nn's).

    Args (as ``torch.nn.TransformerEncoderLayer``):
        d_model: features d; nhead: heads (d divisible by nhead);
        dim_feedforward: hidden width of the FFN; dropout: everywhere torch has dropout;
        activation: ``"relu"``, ``"gelu"`` or a callable; layer_norm_eps: LayerNorm ε;
        batch_first: ``(B, S, d)`` instead of ``(S, B, d)``; norm_first: pre-norm instead of post-norm;
        bias: biases in the linear layers and LayerNorms.

    Submodules (same names as torch, so state_dicts map): ``self_attn``, ``linear1``, ``dropout``,
    ``linear2``, ``norm1``, ``norm2``, ``dropout1``, ``dropout2``.
    """

    def __init__(
        self, d_model: int, nhead: int, dim_feedforward: int = 2048, dropout: float = 0.1,
        activation: Activation = F.relu, layer_norm_eps: float = 1e-5, batch_first: bool = False,
        norm_first: bool = False, bias: bool = True, device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        factory = {"device": device, "dtype": dtype}
        _checks.layer_config(d_model, nhead, dim_feedforward, dropout)
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias, batch_first=batch_first,
                                            **factory)
        self.linear1 = nn.Linear(d_model, dim_feedforward, bias=bias, **factory)
        self.dropout = nn.Dropout(dropout)
        self.linear2 = nn.Linear(dim_feedforward, d_model, bias=bias, **factory)
        self.norm_first = norm_first
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **factory)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **factory)
        self.dropout1 = nn.Dropout(dropout)
        self.dropout2 = nn.Dropout(dropout)
        self.activation = _activation_fn(activation)

    def forward(
        self, src: Tensor, src_mask: Tensor | None = None, src_key_padding_mask: Tensor | None = None,
        is_causal: bool = False, *, return_trace: bool = False,
    ) -> Tensor | tuple[Tensor, EncoderLayerTrace]:
        """Encode ``src``.

        Mask convention: bool True = may not attend; float masks are added.

        Args:
            src: ``(S, B, d)``, ``(B, S, d)`` if ``batch_first``, or ``(S, d)``.
            src_mask: ``(S, S)`` or ``(B * nhead, S, S)``.
            src_key_padding_mask: ``(B, S)``, True at padding.
            is_causal: use a causal mask when ``src_mask`` is None (a hint otherwise).
            return_trace: also return :class:`EncoderLayerTrace` (weights ``(B, nhead, S, S)``).

        Returns:
            output shaped like ``src``, or ``(output, trace)``.
        """
        _checks.encoder_layer_inputs(self, src, src_mask, src_key_padding_mask)
        x = src
        if self.norm_first:
            # x ← x + Dropout(SelfAttention(LayerNorm(x)))
            attended, weights = self._sa_block(self.norm1(x), src_mask, src_key_padding_mask, is_causal, return_trace)
            x = x + attended
            # x ← x + Dropout(FFN(LayerNorm(x)))
            x = x + self._ff_block(self.norm2(x))
        else:
            # x ← LayerNorm(x + Dropout(SelfAttention(x)))     "Add & Norm"
            attended, weights = self._sa_block(x, src_mask, src_key_padding_mask, is_causal, return_trace)
            x = self.norm1(x + attended)
            # x ← LayerNorm(x + Dropout(FFN(x)))
            x = self.norm2(x + self._ff_block(x))
        return (x, EncoderLayerTrace(weights)) if return_trace else x

    def _sa_block(
        self, x: Tensor, attn_mask: Tensor | None, key_padding_mask: Tensor | None, is_causal: bool,
        need_weights: bool,
    ) -> tuple[Tensor, Tensor | None]:
        attended, weights = self.self_attn(x, x, x, key_padding_mask=key_padding_mask, need_weights=need_weights,
                                           attn_mask=attn_mask, average_attn_weights=False, is_causal=is_causal)
        return self.dropout1(attended), weights

    def _ff_block(self, x: Tensor) -> Tensor:
        # FFN(x) = W₂ · activation(W₁ x + b₁) + b₂      applied at every position alike
        hidden = self.dropout(_activate(self.activation, self.linear1(x)))  # (..., dim_feedforward)
        return self.dropout2(self.linear2(hidden))  # (..., d)

    @classmethod
    def from_torch(cls, module: nn.TransformerEncoderLayer) -> TransformerEncoderLayer:
        """A seqlib copy of a ``torch.nn.TransformerEncoderLayer`` (same config and weights)."""
        ours = cls(**_layer_config(module), **_factory_of(module))
        return _load_from_torch(ours, module)

    def to_torch(self) -> nn.TransformerEncoderLayer:
        theirs = nn.TransformerEncoderLayer(**_layer_config(self), **_factory_of(self))
        return _load_into_torch(theirs, self)


class TransformerDecoderLayer(nn.Module):
    """Masked self-attention, cross-attention to ``memory``, feed-forward; each with residual and
    LayerNorm (torch.nn's).

    Args: as :class:`TransformerEncoderLayer`.  Submodules (torch's names): ``self_attn``,
    ``multihead_attn`` (the cross-attention), ``linear1``, ``dropout``, ``linear2``, ``norm1``,
    ``norm2``, ``norm3``, ``dropout1``, ``dropout2``, ``dropout3``.
    """

    def __init__(
        self, d_model: int, nhead: int, dim_feedforward: int = 2048, dropout: float = 0.1,
        activation: Activation = F.relu, layer_norm_eps: float = 1e-5, batch_first: bool = False,
        norm_first: bool = False, bias: bool = True, device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        factory = {"device": device, "dtype": dtype}
        _checks.layer_config(d_model, nhead, dim_feedforward, dropout)
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias, batch_first=batch_first,
                                            **factory)
        self.multihead_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias,
                                                 batch_first=batch_first, **factory)
        self.linear1 = nn.Linear(d_model, dim_feedforward, bias=bias, **factory)
        self.dropout = nn.Dropout(dropout)
        self.linear2 = nn.Linear(dim_feedforward, d_model, bias=bias, **factory)
        self.norm_first = norm_first
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **factory)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **factory)
        self.norm3 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **factory)
        self.dropout1 = nn.Dropout(dropout)
        self.dropout2 = nn.Dropout(dropout)
        self.dropout3 = nn.Dropout(dropout)
        self.activation = _activation_fn(activation)

    def forward(
        self, tgt: Tensor, memory: Tensor, tgt_mask: Tensor | None = None, memory_mask: Tensor | None = None,
        tgt_key_padding_mask: Tensor | None = None, memory_key_padding_mask: Tensor | None = None,
        tgt_is_causal: bool = False, memory_is_causal: bool = False, *, return_trace: bool = False,
    ) -> Tensor | tuple[Tensor, DecoderLayerTrace]:
        """Decode ``tgt`` while attending to ``memory``.

        Mask convention: bool True = may not attend; float masks are added.

        Args:
            tgt: ``(T, B, d)``, ``(B, T, d)`` if ``batch_first``, or ``(T, d)``.
            memory: the encoder output ``(S, B, d)`` / ``(B, S, d)`` / ``(S, d)``.
            tgt_mask: ``(T, T)``, usually :func:`~seqlib.attention.causal_mask` (no peeking ahead).
            memory_mask: ``(T, S)``.
            tgt_key_padding_mask: ``(B, T)``; memory_key_padding_mask: ``(B, S)``; True at padding.
            tgt_is_causal, memory_is_causal: use a causal mask where the matching mask is None.
            return_trace: also return :class:`DecoderLayerTrace`.

        Returns:
            output shaped like ``tgt``, or ``(output, trace)``.
        """
        _checks.decoder_layer_inputs(self, tgt, memory, tgt_mask, memory_mask, tgt_key_padding_mask,
                                     memory_key_padding_mask)
        x = tgt
        if self.norm_first:
            # x ← x + SelfAttention(LayerNorm(x))          masked: position t sees only ≤ t
            attended, self_weights = self._sa_block(self.norm1(x), tgt_mask, tgt_key_padding_mask, tgt_is_causal,
                                                    return_trace)
            x = x + attended
            # x ← x + CrossAttention(LayerNorm(x), memory)   queries from x, keys and values from memory
            attended, cross_weights = self._mha_block(self.norm2(x), memory, memory_mask, memory_key_padding_mask,
                                                      memory_is_causal, return_trace)
            x = x + attended
            # x ← x + FFN(LayerNorm(x))
            x = x + self._ff_block(self.norm3(x))
        else:
            # x ← LayerNorm(x + SelfAttention(x))
            attended, self_weights = self._sa_block(x, tgt_mask, tgt_key_padding_mask, tgt_is_causal, return_trace)
            x = self.norm1(x + attended)
            # x ← LayerNorm(x + CrossAttention(x, memory))
            attended, cross_weights = self._mha_block(x, memory, memory_mask, memory_key_padding_mask,
                                                      memory_is_causal, return_trace)
            x = self.norm2(x + attended)
            # x ← LayerNorm(x + FFN(x))
            x = self.norm3(x + self._ff_block(x))
        return (x, DecoderLayerTrace(self_weights, cross_weights)) if return_trace else x

    def _sa_block(
        self, x: Tensor, attn_mask: Tensor | None, key_padding_mask: Tensor | None, is_causal: bool,
        need_weights: bool,
    ) -> tuple[Tensor, Tensor | None]:
        attended, weights = self.self_attn(x, x, x, key_padding_mask=key_padding_mask, need_weights=need_weights,
                                           attn_mask=attn_mask, average_attn_weights=False, is_causal=is_causal)
        return self.dropout1(attended), weights

    def _mha_block(
        self, x: Tensor, memory: Tensor, attn_mask: Tensor | None, key_padding_mask: Tensor | None,
        is_causal: bool, need_weights: bool,
    ) -> tuple[Tensor, Tensor | None]:
        attended, weights = self.multihead_attn(x, memory, memory, key_padding_mask=key_padding_mask,
                                                need_weights=need_weights, attn_mask=attn_mask,
                                                average_attn_weights=False, is_causal=is_causal)
        return self.dropout2(attended), weights

    def _ff_block(self, x: Tensor) -> Tensor:
        # FFN(x) = W₂ · activation(W₁ x + b₁) + b₂
        hidden = self.dropout(_activate(self.activation, self.linear1(x)))  # (..., dim_feedforward)
        return self.dropout3(self.linear2(hidden))  # (..., d)

    @classmethod
    def from_torch(cls, module: nn.TransformerDecoderLayer) -> TransformerDecoderLayer:
        """A seqlib copy of a ``torch.nn.TransformerDecoderLayer`` (same config and weights)."""
        ours = cls(**_layer_config(module), **_factory_of(module))
        return _load_from_torch(ours, module)

    def to_torch(self) -> nn.TransformerDecoderLayer:
        theirs = nn.TransformerDecoderLayer(**_layer_config(self), **_factory_of(self))
        return _load_into_torch(theirs, self)


# --- stacks ---------------------------------------------------------------------------------------


class TransformerEncoder(nn.Module):
    """``num_layers`` deep copies of ``encoder_layer`` applied in turn, then ``norm`` if given.

    As in torch, every layer starts with the same parameters (copies of the one passed).  torch's
    ``enable_nested_tensor``/``mask_check`` (fast-path switches) have no counterpart here.

    Args:
        encoder_layer: a :class:`TransformerEncoderLayer`.
        num_layers: N.
        norm: optional final :class:`LayerNorm` (``torch.nn.Transformer`` uses one; needed for pre-norm).
    """

    def __init__(
        self, encoder_layer: TransformerEncoderLayer, num_layers: int, norm: nn.Module | None = None,
        enable_nested_tensor: bool = True, mask_check: bool = True,
    ) -> None:
        # enable_nested_tensor and mask_check are torch's fast-path switches: accepted for the same
        # signature, without effect here (every step is computed explicitly, padding included)
        super().__init__()
        _checks.stack("encoder_layer", encoder_layer, TransformerEncoderLayer, num_layers)
        self.layers = nn.ModuleList(copy.deepcopy(encoder_layer) for _ in range(num_layers))
        self.num_layers = num_layers
        self.norm = norm

    def forward(
        self, src: Tensor, mask: Tensor | None = None, src_key_padding_mask: Tensor | None = None,
        is_causal: bool | None = None, *, return_trace: bool = False,
    ) -> Tensor | tuple[Tensor, EncoderTrace]:
        """Encode ``src`` through every layer, then the final norm.

        Mask convention: bool True = may not attend; float masks are added.

        Args:
            src: ``(S, B, d)``, ``(B, S, d)`` if ``batch_first``, or ``(S, d)``.
            mask: ``(S, S)`` or ``(B * nhead, S, S)``.
            src_key_padding_mask: ``(B, S)``, True at padding.
            is_causal: use a causal mask when ``mask`` is None.
            return_trace: also return an :class:`EncoderTrace`.

        Returns:
            output shaped like ``src``, or ``(output, EncoderTrace)`` with one ``(B, nhead, S, S)``
            weight tensor per layer.
        """
        x = src
        weights = []
        for layer in self.layers:
            x = layer(x, mask, src_key_padding_mask, bool(is_causal), return_trace=return_trace)
            if return_trace:
                x, layer_trace = x
                weights.append(layer_trace.self_attn_weights)
        if self.norm is not None:
            x = self.norm(x)
        return (x, EncoderTrace(tuple(weights))) if return_trace else x

    @classmethod
    def from_torch(cls, module: nn.TransformerEncoder) -> TransformerEncoder:
        """A seqlib copy of a ``torch.nn.TransformerEncoder`` (layers and final norm)."""
        norm = None if module.norm is None else LayerNorm.from_torch(module.norm)
        ours = cls(TransformerEncoderLayer.from_torch(module.layers[0]), len(module.layers), norm)
        return _load_from_torch(ours, module)

    def to_torch(self) -> nn.TransformerEncoder:
        norm = None if self.norm is None else self.norm.to_torch()
        theirs = nn.TransformerEncoder(self.layers[0].to_torch(), self.num_layers, norm, enable_nested_tensor=False)
        return _load_into_torch(theirs, self)


class TransformerDecoder(nn.Module):
    """``num_layers`` deep copies of ``decoder_layer`` applied in turn, then ``norm`` if given.

    Args:
        decoder_layer: a :class:`TransformerDecoderLayer`.
        num_layers: N.
        norm: optional final :class:`LayerNorm`.
    """

    def __init__(self, decoder_layer: TransformerDecoderLayer, num_layers: int, norm: nn.Module | None = None) -> None:
        super().__init__()
        _checks.stack("decoder_layer", decoder_layer, TransformerDecoderLayer, num_layers)
        self.layers = nn.ModuleList(copy.deepcopy(decoder_layer) for _ in range(num_layers))
        self.num_layers = num_layers
        self.norm = norm

    def forward(
        self, tgt: Tensor, memory: Tensor, tgt_mask: Tensor | None = None, memory_mask: Tensor | None = None,
        tgt_key_padding_mask: Tensor | None = None, memory_key_padding_mask: Tensor | None = None,
        tgt_is_causal: bool | None = None, memory_is_causal: bool = False, *, return_trace: bool = False,
    ) -> Tensor | tuple[Tensor, DecoderTrace]:
        """Decode ``tgt`` against ``memory`` through every layer, then the final norm.

        Mask convention: bool True = may not attend; float masks are added.

        Args:
            tgt: ``(T, B, d)``, ``(B, T, d)`` if ``batch_first``, or ``(T, d)``.
            memory: ``(S, B, d)`` / ``(B, S, d)`` / ``(S, d)``, the encoder output.
            tgt_mask: ``(T, T)``, usually causal; memory_mask: ``(T, S)``.
            tgt_key_padding_mask: ``(B, T)``; memory_key_padding_mask: ``(B, S)``; True at padding.
            tgt_is_causal, memory_is_causal: use a causal mask where the matching mask is None.
            return_trace: also return a :class:`DecoderTrace`.

        Returns:
            output shaped like ``tgt``, or ``(output, DecoderTrace)`` with per-layer
            self-attention ``(B, nhead, T, T)`` and cross-attention ``(B, nhead, T, S)`` weights.
        """
        x = tgt
        self_weights, cross_weights = [], []
        for layer in self.layers:
            x = layer(x, memory, tgt_mask, memory_mask, tgt_key_padding_mask, memory_key_padding_mask,
                      bool(tgt_is_causal), memory_is_causal, return_trace=return_trace)
            if return_trace:
                x, layer_trace = x
                self_weights.append(layer_trace.self_attn_weights)
                cross_weights.append(layer_trace.cross_attn_weights)
        if self.norm is not None:
            x = self.norm(x)
        return (x, DecoderTrace(tuple(self_weights), tuple(cross_weights))) if return_trace else x

    @classmethod
    def from_torch(cls, module: nn.TransformerDecoder) -> TransformerDecoder:
        """A seqlib copy of a ``torch.nn.TransformerDecoder`` (layers and final norm)."""
        norm = None if module.norm is None else LayerNorm.from_torch(module.norm)
        ours = cls(TransformerDecoderLayer.from_torch(module.layers[0]), len(module.layers), norm)
        return _load_from_torch(ours, module)

    def to_torch(self) -> nn.TransformerDecoder:
        norm = None if self.norm is None else self.norm.to_torch()
        theirs = nn.TransformerDecoder(self.layers[0].to_torch(), self.num_layers, norm)
        return _load_into_torch(theirs, self)


class Transformer(nn.Module):
    """Encoder-decoder Transformer with ``torch.nn.Transformer``'s arguments, call and weights.

    Both stacks end with a :class:`LayerNorm` (``encoder.norm``, ``decoder.norm``), and every
    parameter with more than one dimension is re-drawn Xavier-uniform, as in torch.

    Args: as :class:`TransformerEncoderLayer`, plus ``num_encoder_layers``, ``num_decoder_layers``
    and ``custom_encoder``/``custom_decoder`` (modules used instead of the default stacks).
    """

    def __init__(
        self, d_model: int = 512, nhead: int = 8, num_encoder_layers: int = 6, num_decoder_layers: int = 6,
        dim_feedforward: int = 2048, dropout: float = 0.1, activation: Activation = F.relu,
        custom_encoder: nn.Module | None = None, custom_decoder: nn.Module | None = None,
        layer_norm_eps: float = 1e-5, batch_first: bool = False, norm_first: bool = False, bias: bool = True,
        device: torch.device | str | None = None, dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        factory = {"device": device, "dtype": dtype}
        layer_args = (d_model, nhead, dim_feedforward, dropout, activation, layer_norm_eps, batch_first, norm_first,
                      bias)
        if custom_encoder is not None:
            self.encoder = custom_encoder
        else:
            self.encoder = TransformerEncoder(TransformerEncoderLayer(*layer_args, **factory), num_encoder_layers,
                                              LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **factory))
        if custom_decoder is not None:
            self.decoder = custom_decoder
        else:
            self.decoder = TransformerDecoder(TransformerDecoderLayer(*layer_args, **factory), num_decoder_layers,
                                              LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **factory))
        self._reset_parameters()
        self.d_model = d_model
        self.nhead = nhead
        self.batch_first = batch_first

    def _reset_parameters(self) -> None:
        for p in self.parameters():
            if p.dim() > 1:
                nn.init.xavier_uniform_(p)

    def forward(
        self, src: Tensor, tgt: Tensor, src_mask: Tensor | None = None, tgt_mask: Tensor | None = None,
        memory_mask: Tensor | None = None, src_key_padding_mask: Tensor | None = None,
        tgt_key_padding_mask: Tensor | None = None, memory_key_padding_mask: Tensor | None = None,
        src_is_causal: bool | None = None, tgt_is_causal: bool | None = None, memory_is_causal: bool = False,
        *, return_trace: bool = False,
    ) -> Tensor | tuple[Tensor, TransformerTrace]:
        """Encode ``src`` into memory, then decode ``tgt`` against it.

        Mask convention: bool True = may not attend; float masks are added.

        Args:
            src: ``(S, B, d)``, ``(B, S, d)`` if ``batch_first``, or ``(S, d)``.
            tgt: ``(T, B, d)``, ``(B, T, d)`` if ``batch_first``, or ``(T, d)``.
            src_mask: ``(S, S)``; tgt_mask: ``(T, T)`` (usually causal); memory_mask: ``(T, S)``.
            src_key_padding_mask, memory_key_padding_mask: ``(B, S)``; tgt_key_padding_mask: ``(B, T)``.
            src_is_causal, tgt_is_causal, memory_is_causal: build a causal mask where the mask is None.
            return_trace: also return a :class:`TransformerTrace` (memory and all attention weights).

        Returns:
            ``(T, B, d)`` / ``(B, T, d)`` / ``(T, d)``, or ``(output, trace)``.
        """
        _checks.transformer_inputs(self, src, tgt)
        memory = self.encoder(src, src_mask, src_key_padding_mask, src_is_causal, return_trace=return_trace)
        if return_trace:
            memory, encoder_trace = memory
        output = self.decoder(tgt, memory, tgt_mask, memory_mask, tgt_key_padding_mask, memory_key_padding_mask,
                              tgt_is_causal, memory_is_causal, return_trace=return_trace)
        if not return_trace:
            return output
        output, decoder_trace = output
        return output, TransformerTrace(memory, encoder_trace, decoder_trace)

    @staticmethod
    def generate_square_subsequent_mask(
        sz: int, device: torch.device | str | None = None, dtype: torch.dtype | None = None,
    ) -> Tensor:
        """Float causal mask, ``-inf`` above the diagonal (torch's); bool version: ``causal_mask(sz)``."""
        return causal_mask(sz, dtype=dtype or torch.get_default_dtype(), device=device)

    @classmethod
    def from_torch(cls, module: nn.Transformer) -> Transformer:
        """A seqlib copy of a ``torch.nn.Transformer`` built with its default stacks."""
        ours = cls(**_transformer_config(module), **_factory_of(module))
        return _load_from_torch(ours, module)

    def to_torch(self) -> nn.Transformer:
        theirs = nn.Transformer(**_transformer_config(self), **_factory_of(self))
        return _load_into_torch(theirs, self)


# --- helpers --------------------------------------------------------------------------------------


def _activation_fn(activation: Activation) -> Callable[[Tensor], Tensor]:
    if activation == "relu":
        return F.relu
    if activation == "gelu":
        return F.gelu
    if callable(activation):
        return activation
    raise ValueError(f"activation must be 'relu', 'gelu' or a callable, got {activation!r}")


def _activate(activation: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
    """``activation(x)``; without autograd, ReLU runs in place on the fresh ``W₁ x + b₁`` tensor.

    Allocating (and first touching) a second ``(B, T, dim_feedforward)`` tensor costs as much as
    the ReLU itself on CPU (torch's inference path fuses ReLU into the matmul instead).  Under
    autograd ``x`` is a view of the matmul's 2-D result, and an in-place op on a view is slower.
    """
    if activation is F.relu and not x.requires_grad:
        return F.relu(x, inplace=True)
    return activation(x)


def _factory_of(module: nn.Module) -> dict:
    p = next(module.parameters(), None)
    return {} if p is None else {"device": p.device, "dtype": p.dtype}


def _layer_config(layer: nn.Module) -> dict:
    """Constructor arguments of a (torch or seqlib) encoder/decoder layer, read off the layer."""
    return {
        "d_model": layer.self_attn.embed_dim,
        "nhead": layer.self_attn.num_heads,
        "dim_feedforward": layer.linear1.out_features,
        "dropout": layer.dropout.p,
        "activation": layer.activation,
        "layer_norm_eps": layer.norm1.eps,
        "batch_first": layer.self_attn.batch_first,
        "norm_first": layer.norm_first,
        "bias": layer.linear1.bias is not None,
    }


def _transformer_config(model: nn.Module) -> dict:
    """Constructor arguments of a (torch or seqlib) Transformer with the default stacks."""
    config = _layer_config(model.encoder.layers[0])
    return {
        "d_model": config.pop("d_model"),
        "nhead": config.pop("nhead"),
        "num_encoder_layers": len(model.encoder.layers),
        "num_decoder_layers": len(model.decoder.layers),
        **config,
    }


def _load_from_torch(ours: nn.Module, theirs: nn.Module) -> nn.Module:
    ours.load_state_dict(state_dict_from_torch(theirs.state_dict()))
    return ours.train(theirs.training)


def _load_into_torch(theirs: nn.Module, ours: nn.Module) -> nn.Module:
    theirs.load_state_dict(state_dict_to_torch(ours.state_dict()))
    return theirs.train(ours.training)


"""Positional encodings: attention alone is blind to order, so position is added to the input.

Vaswani et al. (2017), section 3.5:

    PE(pos, 2i)   = sin(pos / 10000^(2i / d_model))
    PE(pos, 2i+1) = cos(pos / 10000^(2i / d_model))

Moving by m positions is one fixed linear map of the table, the same at every position:
``PE(p + m) = R(m) PE(p)``, one 2×2 rotation per sine/cosine pair (:func:`offset_rotation`, with the
pairs' frequencies ω_ℓ from :func:`frequencies`).

Shape legend: B batch, T sequence length, d ``d_model``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from seqlib import _checks

__all__ = ["PositionalEncoding", "frequencies", "offset_rotation", "sinusoidal_positional_encoding"]


def sinusoidal_positional_encoding(
    max_len: int, d_model: int, *, base: float = 10000.0, dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> Tensor:
    """The paper's sinusoidal table: sine on even, cosine on odd feature indices.

    Column ``2i`` is ``sin(pos / base^(2i/d_model))`` and column ``2i+1`` the cosine of the same
    angle, so each sine/cosine pair shares one frequency.  For odd ``d_model`` the last column is a
    sine without its cosine partner.

    Args:
        max_len: number of positions (rows), positions 0 .. max_len-1.
        d_model: features (columns); any positive int, odd allowed.
        base: the 10000 of the paper.
        dtype, device: of the result (computed in float64, then cast).

    Returns:
        ``(max_len, d_model)`` table.
    """
    _checks.positive_int("max_len", max_len)
    _checks.positive_int("d_model", d_model)
    position = torch.arange(max_len, dtype=torch.float64).unsqueeze(1)  # (max_len, 1)
    two_i = torch.arange(0, d_model, 2, dtype=torch.float64)  # (ceil(d/2),)
    # ω_i = 1 / base^(2i / d_model)
    frequency = torch.exp(-math.log(base) * two_i / d_model)  # (ceil(d/2),)
    angle = position * frequency  # (max_len, ceil(d/2))
    table = torch.empty(max_len, d_model, dtype=torch.float64)
    # PE(pos, 2i) = sin(pos · ω_i)
    table[:, 0::2] = torch.sin(angle)
    # PE(pos, 2i+1) = cos(pos · ω_i)   (one column fewer when d_model is odd)
    table[:, 1::2] = torch.cos(angle[:, : d_model // 2])
    return table.to(dtype=dtype, device=device)


class PositionalEncoding(nn.Module):
    """Adds position information to a sequence of embeddings, then applies dropout.

    ``y = dropout(x + P[:T])`` with P the sinusoidal table (a non-persistent buffer, so it is not in
    the state_dict) or, with ``learned=True``, a trained ``(max_len, d_model)`` parameter
    ``weight`` (as in BERT/GPT), initialised N(0, 0.02²).

    Args:
        d_model: features of the input.
        dropout: dropout after the addition (the paper uses 0.1).
        max_len: longest sequence supported.
        learned: learn the table instead of using the fixed sinusoids.
        batch_first: input is ``(B, T, d)``; else ``(T, B, d)``.

    Shape:
        input and output ``(B, T, d)`` if ``batch_first`` else ``(T, B, d)``; ``(T, d)`` unbatched.
    """

    def __init__(
        self, d_model: int, dropout: float = 0.0, max_len: int = 5000, *, learned: bool = False,
        batch_first: bool = True, device: torch.device | str | None = None, dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        _checks.dropout_rate("dropout", dropout)
        table = sinusoidal_positional_encoding(max_len, d_model, dtype=dtype or torch.get_default_dtype(),
                                               device=device)
        self.d_model = d_model
        self.max_len = max_len
        self.learned = learned
        self.batch_first = batch_first
        self.dropout = nn.Dropout(dropout)
        if learned:
            self.weight = nn.Parameter(torch.empty_like(table).normal_(0.0, 0.02))
        else:
            self.register_buffer("pe", table, persistent=False)

    @property
    def table(self) -> Tensor:
        """The ``(max_len, d_model)`` table that is added (sinusoidal or learned)."""
        return self.weight if self.learned else self.pe

    def forward(self, x: Tensor, offset: int = 0) -> Tensor:
        """``dropout(x + P[offset : offset + T])``.

        Args:
            x: ``(B, T, d)`` if ``batch_first`` else ``(T, B, d)``; or ``(T, d)``.
            offset: position of the first element (for a continuation of a sequence).
        """
        _checks.positional_input(x, offset, self.d_model, self.max_len, self.batch_first, self.table.dtype)
        offset = int(offset)
        seq_dim = 1 if (x.dim() == 3 and self.batch_first) else 0
        T = x.shape[seq_dim]
        positions = self.table[offset : offset + T]  # (T, d)
        if x.dim() == 3 and not self.batch_first:
            positions = positions.unsqueeze(1)  # (T, 1, d)
        return self.dropout(x + positions)


# --- the offset rotation of the sinusoidal table --------------------------------------------------


def frequencies(d_model: int, *, base: float = 10000.0) -> Tensor:
    """ω_ℓ = base^(-2ℓ / d_model) for the pairs ℓ = 0 .. d_model/2 - 1, float64 ``(d_model // 2,)``.

    Pair ℓ is columns ``2ℓ`` (sine) and ``2ℓ + 1`` (cosine) of the sinusoidal table.
    """
    _checks.positive_int("d_model", d_model)
    pair = torch.arange(d_model // 2, dtype=torch.float64)  # ℓ
    return torch.exp(-math.log(base) * 2 * pair / d_model)  # (d/2,)


def offset_rotation(offset: int | float, d_model: int, *, base: float = 10000.0) -> Tensor:
    """The ``(d, d)`` matrix R(m) with ``PE(p + m) = R(m) PE(p)`` for every position p.

    Block-diagonal: for pair ℓ with angle a = m ω_ℓ, acting on the column (sin pω, cos pω),

        [sin (p+m)ω]   [ cos a   sin a ] [sin pω]
        [cos (p+m)ω] = [-sin a   cos a ] [cos pω]      (the angle-addition formulas)

    a rotation by -a in the (sine, cosine) plane.  It depends on m only, not on p: moving by m
    positions is the same linear map everywhere.  R(m)ᵀ = R(-m).

    Args:
        offset: m, any real (an int for a shift by whole positions).
        d_model: even; with an odd d_model the last sine has no cosine partner and no such matrix exists.
        base: the 10000 of the paper.

    Returns:
        float64 ``(d_model, d_model)``; row vectors: ``PE[p + m] = PE[p] @ R(m).T``.
    """
    _checks.positive_int("d_model", d_model)
    if d_model % 2:
        raise ValueError(
            f"d_model must be even for an offset rotation, got {d_model}: the last sine column has no cosine "
            "partner, so PE(p + m) is not a linear function of PE(p)"
        )
    if isinstance(offset, bool) or not isinstance(offset, int | float) or not math.isfinite(offset):
        raise ValueError(f"offset must be a finite number, got {offset!r}")
    angle = offset * frequencies(d_model, base=base)  # (d/2,)  a_ℓ = m ω_ℓ
    cos, sin = torch.cos(angle), torch.sin(angle)
    rotation = torch.zeros(d_model, d_model, dtype=torch.float64)
    even, odd = torch.arange(0, d_model, 2), torch.arange(1, d_model, 2)
    # sin((p+m)ω) = sin(pω) cos(mω) + cos(pω) sin(mω)
    rotation[even, even], rotation[even, odd] = cos, sin
    # cos((p+m)ω) = cos(pω) cos(mω) - sin(pω) sin(mω)
    rotation[odd, even], rotation[odd, odd] = -sin, cos
    return rotation

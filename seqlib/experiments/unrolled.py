"""An RNN unrolled in time, written as one wide fully connected layer with shared weights.

The source notes: "RNN을 시간순서로 풀어놓으면 입력이 많고 width가 커진 fully connected layer라고 볼
수 있다" (unrolled in time, an RNN is a fully connected layer with many inputs and a large width).

Stack the T inputs into one vector ``[x_1 … x_T]`` (T*I values) and the T hidden states into
``[h_1 … h_T]`` (T*H values).  The whole unrolled network is then

    [h_1 … h_T] = tanh(W_in [x_1 … x_T] + W_rec [h_1 … h_T] + b)

with a (T*H, T*I) matrix ``W_in`` holding T copies of W_ih on its block diagonal, a (T*H, T*H)
matrix ``W_rec`` holding T-1 copies of W_hh just below its block diagonal (h_t reads h_{t-1}), and
T copies of ``b_ih + b_hh``.  Two small matrices fill a large one: the weights are *shared*.
Because ``W_rec`` is strictly block-lower-triangular, applying the layer to its own output T times,
starting from zeros, gives the loop's answer exactly (after k passes, h_1 … h_k are final).

Shape legend: B batch, T time steps, I input size, H hidden size.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from seqlib.recurrent import RNN, RNNCell

__all__ = ["WideLayer", "unroll_as_wide_layer", "wide_layer_forward"]


class WideLayer(NamedTuple):
    """An RNN's T steps as one fully connected layer (see the module docstring).

    Fields: ``weight_in`` (T*H, T*I), ``weight_rec`` (T*H, T*H), ``bias`` (T*H,), and the sizes.
    """

    weight_in: Tensor
    weight_rec: Tensor
    bias: Tensor
    num_steps: int
    input_size: int
    hidden_size: int
    nonlinearity: str

    @property
    def weight(self) -> Tensor:
        """The whole matrix ``[W_in | W_rec]``, (T*H, T*I + T*H): what the layer multiplies
        ``[x_1 … x_T, h_1 … h_T]`` by."""
        return torch.cat([self.weight_in, self.weight_rec], dim=1)

    @property
    def num_entries(self) -> int:
        """Entries of the wide weight matrix and bias."""
        return self.weight_in.numel() + self.weight_rec.numel() + self.bias.numel()

    @property
    def num_shared_parameters(self) -> int:
        """Distinct trainable numbers behind them: W_ih, W_hh, b_ih, b_hh of one cell."""
        H, I = self.hidden_size, self.input_size
        return H * I + H * H + 2 * H


def _cell_parameters(rnn: RNN | RNNCell) -> tuple[Tensor, Tensor, Tensor, str]:
    if isinstance(rnn, RNNCell):
        weight_ih, weight_hh, bias_ih, bias_hh = rnn.weight_ih, rnn.weight_hh, rnn.bias_ih, rnn.bias_hh
    elif isinstance(rnn, RNN):
        if rnn.num_layers != 1 or rnn.bidirectional:
            raise ValueError(
                f"unroll_as_wide_layer needs a one-layer unidirectional RNN, got num_layers={rnn.num_layers}, "
                f"bidirectional={rnn.bidirectional}"
            )
        weight_ih, weight_hh, bias_ih, bias_hh = rnn.layer_parameters(0)
    else:
        raise TypeError(f"rnn must be a seqlib RNN or RNNCell, got {type(rnn).__name__}")
    if bias_ih is None:
        bias = weight_ih.new_zeros(weight_ih.shape[0])
    else:
        bias = bias_ih + bias_hh
    return weight_ih, weight_hh, bias, rnn.nonlinearity


@torch.no_grad()
def unroll_as_wide_layer(rnn: RNN | RNNCell, num_steps: int) -> WideLayer:
    """The wide fully connected layer equal to ``rnn`` unrolled over ``num_steps`` steps.

    Args:
        rnn: a seqlib ``RNNCell`` or one-layer unidirectional ``RNN``.
        num_steps: T >= 1.
    """
    if not isinstance(num_steps, int) or isinstance(num_steps, bool) or num_steps < 1:
        raise ValueError(f"num_steps must be a positive int, got {num_steps!r}")
    weight_ih, weight_hh, bias, nonlinearity = _cell_parameters(rnn)
    H, I = weight_ih.shape  # (H, I)
    T = num_steps
    # W_in = diag(W_ih, …, W_ih): h_t's pre-activation reads x_t only
    weight_in = torch.block_diag(*[weight_ih] * T)  # (T*H, T*I)
    # W_rec: block (t, t-1) = W_hh, h_t reads h_{t-1}; h_0 = 0 needs no block
    weight_rec = weight_ih.new_zeros(T * H, T * H)  # (T*H, T*H)
    for t in range(1, T):
        weight_rec[t * H : (t + 1) * H, (t - 1) * H : t * H] = weight_hh
    return WideLayer(weight_in.clone(), weight_rec, bias.repeat(T).clone(), T, I, H, nonlinearity)


def wide_layer_forward(wide: WideLayer, x: Tensor, passes: int | None = None) -> Tensor:
    """Apply the wide layer to its own output ``passes`` times, starting from h = 0.

    Args:
        wide: from :func:`unroll_as_wide_layer`.
        x: (B, T, I) inputs, batch first.
        passes: how many times to apply the layer (default T, after which the result is exact;
            after k < T passes only h_1 … h_k are).

    Returns:
        (B, T, H): h_1 … h_T, the RNN's output for every step (initial state zero).
    """
    T, I, H = wide.num_steps, wide.input_size, wide.hidden_size
    if not isinstance(x, Tensor) or x.dim() != 3 or tuple(x.shape[1:]) != (T, I):
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f"x must have shape (B, T, I) = (B, {T}, {I}), got {shape}")
    passes = T if passes is None else passes
    if not isinstance(passes, int) or isinstance(passes, bool) or passes < 0:
        raise ValueError(f"passes must be a non-negative int, got {passes!r}")
    B = x.shape[0]
    activation = torch.tanh if wide.nonlinearity == "tanh" else torch.relu
    # the input's share W_in [x_1 … x_T] + b, the same in every pass
    from_inputs = x.reshape(B, T * I) @ wide.weight_in.T + wide.bias  # (B, T*H)
    h = x.new_zeros(B, T * H)  # (B, T*H)
    for _ in range(passes):
        # [h_1 … h_T] = tanh(W_in [x_1 … x_T] + W_rec [h_1 … h_T] + b)
        h = activation(from_inputs + h @ wide.weight_rec.T)
    return h.reshape(B, T, H)  # (B, T, H)

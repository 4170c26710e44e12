"""Recurrent layers written from tensor operations: ``RNN``, ``LSTM``, ``GRU`` and their cells.

Every class mirrors its ``torch.nn`` namesake: the same constructor arguments, parameter names
(``weight_ih_l0``, ``bias_hh_l1_reverse``, ...), shapes and gate order (LSTM ``i|f|g|o``, GRU
``r|z|n``), the same call ``(input, hx=None)`` and the same return ``(output, h_n)`` or
``(output, (h_n, c_n))``.  A ``state_dict`` therefore loads both ways, ``Class.from_torch(module)``
builds the equal seqlib module, and the tests compare outputs and gradients with ``torch.nn``.

What torch hides in fused kernels is written out here, one named line per gate with its equation in
a comment right above.  Asked with ``return_trace=True``, a module also returns every time step's
activations (the *trace*) as small named tuples, so a notebook plots the gates instead of recomputing
them.

Shape legend used in every docstring:

    B  batch size               T  number of time steps (sequence length)
    I  input_size (features)    H  hidden_size
    L  num_layers               D  directions (2 if bidirectional else 1)
    G  gates per cell: 1 (RNN), 4 (LSTM), 3 (GRU)

Speed: the input projections ``W_ih x_t + b`` of all T steps are one matrix product before the loop,
so each step costs one ``(B, H) @ (H, G*H)`` product plus elementwise work.  For RNN and LSTM the
gradient of W_hh, a sum over the steps, is also one product after the loop (see
``_RecurrentWeightGrad``); that small custom backward is why these modules support first
derivatives only (double backward raises).  The loop over time is Python;
``bench/bench_recurrent.py`` measures what that costs against torch's C++ loop.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import ClassVar, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.autograd.function import once_differentiable

from seqlib import _checks

__all__ = [
    "RNNTrace",
    "LSTMTrace",
    "GRUTrace",
    "rnn_step",
    "lstm_step",
    "gru_step",
    "RNNCell",
    "LSTMCell",
    "GRUCell",
    "RNN",
    "LSTM",
    "GRU",
]

# --------------------------------------------------------------------------------------------------
# Traces: the activations of one step (cells) or of every step (layers), as named results.
# In a cell each field is (B, H), or (H,) for unbatched input.  In a module trace each field is
# (B, T, H) whatever ``batch_first`` says, or (T, H) for unbatched input; index t is the input
# position t, also for the reverse direction (which computes it last-to-first).
# --------------------------------------------------------------------------------------------------


class RNNTrace(NamedTuple):
    """Elman RNN activations: ``pre_activation`` a_t = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh and
    h_t = tanh(a_t) (or relu(a_t))."""

    pre_activation: Tensor
    h: Tensor


class LSTMTrace(NamedTuple):
    """LSTM activations: input gate i, forget gate f, candidate g, output gate o, cell state c and
    hidden state h (Hochreiter & Schmidhuber 1997, with the forget gate of Gers et al. 2000)."""

    i: Tensor
    f: Tensor
    g: Tensor
    o: Tensor
    c: Tensor
    h: Tensor


class GRUTrace(NamedTuple):
    """GRU activations: reset gate r, update gate z, candidate n and hidden state h (Cho et al. 2014,
    in torch's variant: r multiplies ``W_hn h + b_hn``, see :func:`gru_step`)."""

    r: Tensor
    z: Tensor
    n: Tensor
    h: Tensor


# --------------------------------------------------------------------------------------------------
# The equations: one time step of each cell.  ``x_proj`` holds the input's share of the
# pre-activations, computed for all time steps at once by ``_input_projection``.
# --------------------------------------------------------------------------------------------------


def rnn_step(x_proj: Tensor, h: Tensor, weight_hh: Tensor, nonlinearity: str = "tanh") -> RNNTrace:
    """One Elman RNN step.

    Args:
        x_proj: (B, H) the input's share ``W_ih x_t + b_ih + b_hh`` (both biases folded in).
        h: (B, H) previous hidden state h_{t-1}.
        weight_hh: (H, H) recurrent weight W_hh.
        nonlinearity: ``"tanh"`` or ``"relu"``.

    Returns:
        ``RNNTrace(pre_activation, h)``, each (B, H).
    """
    # a_t = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh
    pre_activation = torch.addmm(x_proj, h, weight_hh.T)
    # h_t = tanh(a_t)   (or relu(a_t))
    h = torch.tanh(pre_activation) if nonlinearity == "tanh" else torch.relu(pre_activation)
    return RNNTrace(pre_activation, h)


def lstm_step(x_proj: Tensor, h: Tensor, c: Tensor, weight_hh: Tensor) -> LSTMTrace:
    """One LSTM step, gates in torch's order i, f, g, o.

    Args:
        x_proj: (B, 4H) the input's share ``W_ih x_t + b_ih + b_hh`` (both biases folded in).
        h: (B, H) previous hidden state h_{t-1}.
        c: (B, H) previous cell state c_{t-1}.
        weight_hh: (4H, H) recurrent weights ``W_hi|W_hf|W_hg|W_ho``.

    Returns:
        ``LSTMTrace(i, f, g, o, c, h)``, each (B, H).
    """
    gates = torch.addmm(x_proj, h, weight_hh.T)  # (B, 4H)
    i_pre, f_pre, g_pre, o_pre = gates.chunk(4, dim=1)  # 4 x (B, H)
    # i_t = σ(W_ii x_t + b_ii + W_hi h_{t-1} + b_hi)        input gate: what to write
    i = torch.sigmoid(i_pre)
    # f_t = σ(W_if x_t + b_if + W_hf h_{t-1} + b_hf)        forget gate: what to keep of c_{t-1}
    f = torch.sigmoid(f_pre)
    # g_t = tanh(W_ig x_t + b_ig + W_hg h_{t-1} + b_hg)     candidate cell content
    g = torch.tanh(g_pre)
    # o_t = σ(W_io x_t + b_io + W_ho h_{t-1} + b_ho)        output gate: what leaves as h_t
    o = torch.sigmoid(o_pre)
    # c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t
    c = f * c + i * g
    # h_t = o_t ⊙ tanh(c_t)
    h = o * torch.tanh(c)
    return LSTMTrace(i, f, g, o, c, h)


def gru_step(x_proj: Tensor, h: Tensor, weight_hh: Tensor, bias_hh: Tensor | None) -> GRUTrace:
    """One GRU step, gates in torch's order r, z, n.

    Follows torch, not Cho et al. (2014): the reset gate multiplies ``W_hn h_{t-1} + b_hn`` *after*
    the matrix product, instead of resetting h_{t-1} before it.  The two agree when b_hn = 0 only in
    form; their parameters are not interchangeable.

    Args:
        x_proj: (B, 3H) the input's share ``W_ih x_t + b_ih``.
        h: (B, H) previous hidden state h_{t-1}.
        weight_hh: (3H, H) recurrent weights ``W_hr|W_hz|W_hn``.
        bias_hh: (3H,) recurrent bias ``b_hr|b_hz|b_hn``, or None.

    Returns:
        ``GRUTrace(r, z, n, h)``, each (B, H).
    """
    x_r, x_z, x_n = x_proj.chunk(3, dim=1)  # 3 x (B, H)
    h_r, h_z, h_n = F.linear(h, weight_hh, bias_hh).chunk(3, dim=1)  # 3 x (B, H)
    # r_t = σ(W_ir x_t + b_ir + W_hr h_{t-1} + b_hr)        reset gate
    r = torch.sigmoid(x_r + h_r)
    # z_t = σ(W_iz x_t + b_iz + W_hz h_{t-1} + b_hz)        update gate
    z = torch.sigmoid(x_z + h_z)
    # n_t = tanh(W_in x_t + b_in + r_t ⊙ (W_hn h_{t-1} + b_hn))   candidate
    n = torch.tanh(x_n + r * h_n)
    # h_t = (1 - z_t) ⊙ n_t + z_t ⊙ h_{t-1}
    h = (1 - z) * n + z * h
    return GRUTrace(r, z, n, h)


def _input_projection(
    mode: str, x: Tensor, weight_ih: Tensor, bias_ih: Tensor | None, bias_hh: Tensor | None
) -> Tensor:
    """``W_ih x + b`` for every step at once: (..., I) -> (..., G*H).

    RNN and LSTM fold both biases in here (they are added to the same pre-activation).  GRU keeps
    ``b_hh`` for the step, because its share ``b_hn`` sits inside ``r_t ⊙ (...)``.  The input is
    flattened to 2-D first so that the product and the bias are one fused ``addmm``.
    """
    if bias_ih is None:
        bias = None
    elif mode == "GRU":
        bias = bias_ih
    else:
        bias = bias_ih + bias_hh
    x_2d = x.reshape(-1, x.shape[-1])  # (T*B, I)
    return F.linear(x_2d, weight_ih, bias).view(*x.shape[:-1], -1)  # (..., G*H)


# --------------------------------------------------------------------------------------------------
# Cells: one time step, the building block the notebooks show first.
# --------------------------------------------------------------------------------------------------

_GATES = {"RNN": 1, "LSTM": 4, "GRU": 3}


class _CellBase(nn.Module):
    mode: ClassVar[str]
    torch_class: ClassVar[type[nn.Module]]

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None, dtype=None) -> None:
        super().__init__()
        _checks.positive_int_strict("input_size", input_size)
        _checks.positive_int_strict("hidden_size", hidden_size)
        _checks.boolean("bias", bias)
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.bias = bias
        gate_size = _GATES[self.mode] * hidden_size
        factory = {"device": device, "dtype": dtype}
        self.weight_ih = nn.Parameter(torch.empty(gate_size, input_size, **factory))  # (G*H, I)
        self.weight_hh = nn.Parameter(torch.empty(gate_size, hidden_size, **factory))  # (G*H, H)
        if bias:
            self.bias_ih = nn.Parameter(torch.empty(gate_size, **factory))  # (G*H,)
            self.bias_hh = nn.Parameter(torch.empty(gate_size, **factory))  # (G*H,)
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Every weight and bias ~ U(-1/√H, 1/√H), as torch (same order, so the same seed gives the
        same numbers as the torch.nn cell)."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for weight in self.parameters():
            nn.init.uniform_(weight, -bound, bound)

    def extra_repr(self) -> str:
        extra = f"{self.input_size}, {self.hidden_size}"
        if not self.bias:
            extra += ", bias=False"
        return extra

    def forward(self, input: Tensor, hx=None, *, return_trace: bool = False):
        """One step.

        Args:
            input: (B, I), or (I,) unbatched.
            hx: initial state (B, H) (an ``(h, c)`` pair for LSTMCell), (H,) unbatched; zeros if None.
            return_trace: also return the step's activations as a trace (fields (B, H)).

        Returns:
            ``h'`` (``(h', c')`` for LSTMCell), plus the trace when ``return_trace=True``.
        """
        _checks.boolean("return_trace", return_trace)
        is_batched, states = _checks.cell_inputs(self, input, hx)
        x = input if is_batched else input.unsqueeze(0)  # (B, I)
        if states is None:
            zeros = x.new_zeros(x.shape[0], self.hidden_size)  # (B, H)
            states = (zeros,) * (2 if self.mode == "LSTM" else 1)
        elif not is_batched:
            states = tuple(state.unsqueeze(0) for state in states)  # (1, H)
        x_proj = _input_projection(self.mode, x, self.weight_ih, self.bias_ih, self.bias_hh)
        trace = self._step(x_proj, states)
        if not is_batched:
            trace = type(trace)(*(field.squeeze(0) for field in trace))
        result = (trace.h, trace.c) if self.mode == "LSTM" else trace.h
        return (result, trace) if return_trace else result

    def _step(self, x_proj: Tensor, states: tuple[Tensor, ...]) -> NamedTuple:
        raise NotImplementedError

    @classmethod
    def from_torch(cls, module: nn.Module):
        """The equal seqlib cell for a ``torch.nn`` cell (same config, dtype, device and weights)."""
        if not isinstance(module, cls.torch_class):
            raise TypeError(
                f"{cls.__name__}.from_torch expects a torch.nn.{cls.torch_class.__name__}, got {type(module).__name__}"
            )
        kwargs = {"nonlinearity": module.nonlinearity} if cls.mode == "RNN" else {}
        cell = cls(
            module.input_size,
            module.hidden_size,
            bias=module.bias,
            device=module.weight_ih.device,
            dtype=module.weight_ih.dtype,
            **kwargs,
        )
        cell.load_state_dict(module.state_dict())
        return cell.train(module.training)


class RNNCell(_CellBase):
    """Elman RNN cell, ``torch.nn.RNNCell``'s contract: h' = tanh(W_ih x + b_ih + W_hh h + b_hh).

    Args:
        input_size: I, features of x.   hidden_size: H.   bias: use b_ih and b_hh.
        nonlinearity: ``"tanh"`` or ``"relu"``.

    Call ``cell(input (B, I), hx (B, H) = zeros) -> h' (B, H)``; 1-D input/hx for one unbatched
    sample.  ``return_trace=True`` adds an :class:`RNNTrace`.
    """

    mode = "RNN"
    torch_class = nn.RNNCell

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        nonlinearity: str = "tanh",
        device=None,
        dtype=None,
    ) -> None:
        _checks.one_of("nonlinearity", nonlinearity, ("tanh", "relu"))
        self.nonlinearity = nonlinearity
        super().__init__(input_size, hidden_size, bias, device=device, dtype=dtype)

    def _step(self, x_proj: Tensor, states: tuple[Tensor, ...]) -> RNNTrace:
        return rnn_step(x_proj, states[0], self.weight_hh, self.nonlinearity)

    def extra_repr(self) -> str:
        extra = super().extra_repr()
        return extra if self.nonlinearity == "tanh" else f"{extra}, nonlinearity={self.nonlinearity!r}"


class LSTMCell(_CellBase):
    """LSTM cell, ``torch.nn.LSTMCell``'s contract; the equations are in :func:`lstm_step`.

    Args:
        input_size: I.   hidden_size: H.   bias: use b_ih and b_hh.

    Call ``cell(input (B, I), (h, c) each (B, H) = zeros) -> (h', c')``; 1-D for unbatched.
    ``weight_ih`` is ``W_ii|W_if|W_ig|W_io`` (4H, I).  ``return_trace=True`` adds an
    :class:`LSTMTrace`.
    """

    mode = "LSTM"
    torch_class = nn.LSTMCell

    def _step(self, x_proj: Tensor, states: tuple[Tensor, ...]) -> LSTMTrace:
        h, c = states
        return lstm_step(x_proj, h, c, self.weight_hh)


class GRUCell(_CellBase):
    """GRU cell, ``torch.nn.GRUCell``'s contract; the equations are in :func:`gru_step` (torch's
    variant: the reset gate multiplies ``W_hn h + b_hn``).

    Args:
        input_size: I.   hidden_size: H.   bias: use b_ih and b_hh.

    Call ``cell(input (B, I), hx (B, H) = zeros) -> h' (B, H)``; 1-D for unbatched.
    ``weight_ih`` is ``W_ir|W_iz|W_in`` (3H, I).  ``return_trace=True`` adds a :class:`GRUTrace`.
    """

    mode = "GRU"
    torch_class = nn.GRUCell

    def _step(self, x_proj: Tensor, states: tuple[Tensor, ...]) -> GRUTrace:
        return gru_step(x_proj, states[0], self.weight_hh, self.bias_hh)


# --------------------------------------------------------------------------------------------------
# Layers: the cell unrolled over time, stacked, optionally in both directions.
# --------------------------------------------------------------------------------------------------

StepFn = Callable[[Tensor, tuple[Tensor, ...], Tensor, Tensor | None], NamedTuple]


class _RecurrentWeightGrad(torch.autograd.Function):
    """Identity on ``x_proj`` whose backward also returns the recurrent weight's gradient.

    Backpropagation through time sums the recurrent weight's gradient over the steps:
    ∂L/∂W_hh = Σ_t δ_t h_{t-1}^T, with δ_t = ∂L/∂(W_ih x_t + b + W_hh h_{t-1}) the gates' gradient.
    Where the pre-activation is ``x_proj_t + W_hh h_{t-1}`` (RNN, LSTM), δ_t is exactly the gradient
    that reaches ``x_proj_t``, so the sum is one (G*H, T*B) @ (T*B, H) product once every δ_t is
    known, instead of T thin (G*H, B) @ (B, H) products that autograd would add up one by one.  The
    loop uses a detached W_hh; ``h_prev_box`` receives the (T, B, H) states h_{t-1} after the loop.
    """

    @staticmethod
    def forward(ctx, x_proj: Tensor, weight_hh: Tensor, h_prev_box: list[Tensor]) -> Tensor:
        ctx.h_prev_box = h_prev_box
        return x_proj.view_as(x_proj)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_x_proj: Tensor):  # (T, B, G*H): δ_t for every t
        grad_weight = None
        if ctx.needs_input_grad[1]:
            (h_prev,) = ctx.h_prev_box  # (T, B, H)
            grad_weight = grad_x_proj.flatten(0, 1).T @ h_prev.flatten(0, 1)  # (G*H, H) = Σ_t δ_t h_{t-1}^T
        return grad_x_proj, grad_weight, None


def _unroll(
    step: StepFn,
    x_proj: Tensor,
    states: tuple[Tensor, ...],
    weight_hh: Tensor,
    bias_hh: Tensor | None,
    reverse: bool,
    keep_trace: bool,
    one_product_weight_grad: bool,
) -> tuple[Tensor, tuple[Tensor, ...], NamedTuple | None]:
    """Runs ``step`` over time for one layer and direction.

    Args:
        step: ``(x_proj_t (B, G*H), state, weight_hh, bias_hh) -> trace of (B, H) fields``; the
            state is ``(h,)``, or ``(h, c)`` for LSTM, and is read back from the trace.
        x_proj: (T, B, G*H) input projections.   states: initial state, each (B, H).
        weight_hh: (G*H, H).   bias_hh: (G*H,) or None.
        reverse: walk t = T-1 ... 0 (the backward direction of a bidirectional layer).
        keep_trace: stack every field of every step (else only h).
        one_product_weight_grad: compute W_hh's gradient as one product (see
            :class:`_RecurrentWeightGrad`); only valid when the gates are ``x_proj_t + W_hh h``.

    Returns:
        ``(h_all (T, B, H) in input order, final state, trace with (B, T, H) fields or None)``.
    """
    h_prev_box: list[Tensor] = []
    defer = one_product_weight_grad and torch.is_grad_enabled() and weight_hh.requires_grad
    if defer:
        x_proj = _RecurrentWeightGrad.apply(x_proj, weight_hh, h_prev_box)
        weight_hh = weight_hh.detach()
    # Same matrix, column-major memory: each step's ``h @ weight_hh.T`` then reads a contiguous
    # (H, G*H) operand, which MKL multiplies ~15% faster.  One copy per call, not per step.
    weight_hh = weight_hh.T.contiguous().T  # (G*H, H)
    steps, h_prev = [], []
    inputs = x_proj.unbind(0)  # T x (B, G*H); unbind's backward is one stack, not T scatters
    for x_t in reversed(inputs) if reverse else inputs:
        if defer:
            h_prev.append(states[0])  # h_{t-1}, for W_hh's gradient
        trace = step(x_t, states, weight_hh, bias_hh)
        states = (trace.h, trace.c) if isinstance(trace, LSTMTrace) else (trace.h,)
        steps.append(trace if keep_trace else trace.h)
    if reverse:
        steps.reverse()
        h_prev.reverse()
    if defer:
        with torch.no_grad():
            h_prev_box.append(torch.stack(h_prev))  # (T, B, H), h_{t-1} of input position t
    if not keep_trace:
        return torch.stack(steps), states, None
    fields = [torch.stack(field) for field in zip(*steps, strict=True)]  # each (T, B, H)
    trace = type(steps[0])(*(field.transpose(0, 1) for field in fields))  # each (B, T, H)
    return fields[-1], states, trace


class _RecurrentBase(nn.Module):
    mode: ClassVar[str]
    torch_class: ClassVar[type[nn.Module]]

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        device=None,
        dtype=None,
    ) -> None:
        super().__init__()
        _checks.positive_int_strict("input_size", input_size)
        _checks.positive_int_strict("hidden_size", hidden_size)
        _checks.positive_int_strict("num_layers", num_layers)
        _checks.boolean("bias", bias)
        _checks.boolean("batch_first", batch_first)
        _checks.boolean("bidirectional", bidirectional)
        _checks.recurrent_dropout(dropout, num_layers)
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bias
        self.batch_first = batch_first
        self.dropout = float(dropout)
        self.bidirectional = bidirectional
        num_directions = 2 if bidirectional else 1
        gate_size = _GATES[self.mode] * hidden_size
        factory = {"device": device, "dtype": dtype}
        # Registered in torch's order (layer, direction, w_ih, w_hh, b_ih, b_hh): same state_dict
        # keys, same parameters() order, hence the same initial values for the same seed.
        for layer in range(num_layers):
            layer_input_size = input_size if layer == 0 else hidden_size * num_directions
            for direction in range(num_directions):
                suffix = f"_l{layer}" + ("_reverse" if direction == 1 else "")
                shapes = {"weight_ih": (gate_size, layer_input_size), "weight_hh": (gate_size, hidden_size)}
                if bias:
                    shapes |= {"bias_ih": (gate_size,), "bias_hh": (gate_size,)}
                for name, shape in shapes.items():
                    setattr(self, name + suffix, nn.Parameter(torch.empty(shape, **factory)))
        self.reset_parameters()

    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    def reset_parameters(self) -> None:
        """Every weight and bias ~ U(-1/√H, 1/√H), as torch."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for weight in self.parameters():
            nn.init.uniform_(weight, -bound, bound)

    def layer_parameters(self, layer: int, direction: int = 0) -> tuple[Tensor, ...]:
        """``(weight_ih, weight_hh, bias_ih, bias_hh)`` of one layer and direction (biases None
        when ``bias=False``)."""
        suffix = f"_l{layer}" + ("_reverse" if direction == 1 else "")
        return tuple(getattr(self, name + suffix, None) for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))

    def extra_repr(self) -> str:
        extra = f"{self.input_size}, {self.hidden_size}"
        defaults = {"num_layers": 1, "bias": True, "batch_first": False, "dropout": 0.0, "bidirectional": False}
        if self.mode == "RNN" and self.nonlinearity != "tanh":
            extra += f", nonlinearity={self.nonlinearity!r}"
        for name, default in defaults.items():
            if getattr(self, name) != default:
                extra += f", {name}={getattr(self, name)}"
        return extra

    def _step(self, x_proj: Tensor, states: tuple[Tensor, ...], weight_hh: Tensor, bias_hh: Tensor | None):
        raise NotImplementedError

    def forward(self, input: Tensor, hx=None, *, return_trace: bool = False):
        """Runs the stacked recurrence over the whole sequence.

        Args:
            input: (T, B, I), or (B, T, I) if ``batch_first``, or (T, I) unbatched.
            hx: initial state (L*D, B, H), or (L*D, H) unbatched; an ``(h_0, c_0)`` pair for LSTM.
                Zeros if None.
            return_trace: also return the traces (keyword only; the default call is torch's).

        Returns:
            ``output`` (T, B, D*H) (or (B, T, D*H) if ``batch_first``, (T, D*H) unbatched): the last
            layer's h_t for every t, both directions concatenated; ``h_n`` (L*D, B, H), or
            ``(h_n, c_n)`` for LSTM: the final state of every layer and direction, index
            ``layer * D + direction``.  With ``return_trace=True`` a third value ``traces``:
            ``traces[layer][direction]`` is an RNNTrace / LSTMTrace / GRUTrace whose fields are
            (B, T, H) ((T, H) unbatched), t being the input position for both directions.
        """
        _checks.boolean("return_trace", return_trace)
        is_batched, states = _checks.recurrent_inputs(self, input, hx)
        x = input if is_batched else input.unsqueeze(1)  # (T, B, I) when unbatched
        if is_batched and self.batch_first:
            x = x.transpose(0, 1)  # (T, B, I)
        T, B, _ = x.shape
        if states is None:
            zeros = x.new_zeros(self.num_layers * self.num_directions, B, self.hidden_size)  # (L*D, B, H)
            states = (zeros,) * (2 if self.mode == "LSTM" else 1)
        elif not is_batched:
            states = tuple(state.unsqueeze(1) for state in states)  # (L*D, 1, H)

        final_states, traces = [], []
        for layer in range(self.num_layers):
            if layer > 0 and self.dropout > 0 and self.training:
                x = F.dropout(x, self.dropout, training=True)  # between layers only, as torch
            outputs, layer_traces = [], []
            for direction in range(self.num_directions):
                weight_ih, weight_hh, bias_ih, bias_hh = self.layer_parameters(layer, direction)
                x_proj = _input_projection(self.mode, x, weight_ih, bias_ih, bias_hh)  # (T, B, G*H)
                initial = tuple(state[layer * self.num_directions + direction] for state in states)
                h_all, final, trace = _unroll(
                    self._step,
                    x_proj,
                    initial,
                    weight_hh,
                    bias_hh,
                    reverse=direction == 1,
                    keep_trace=return_trace,
                    one_product_weight_grad=self.mode != "GRU",  # GRU's b_hn sits inside r ⊙ (...)
                )
                outputs.append(h_all)  # (T, B, H)
                final_states.append(final)
                layer_traces.append(trace)
            x = torch.cat(outputs, dim=2) if len(outputs) > 1 else outputs[0]  # (T, B, D*H)
            traces.append(tuple(layer_traces))

        output = x
        stacked = [torch.stack(parts) for parts in zip(*final_states, strict=True)]  # each (L*D, B, H)
        if not is_batched:
            output = output.squeeze(1)  # (T, D*H)
            stacked = [state.squeeze(1) for state in stacked]  # (L*D, H)
            if return_trace:  # each field (1, T, H) -> (T, H)
                traces = [tuple(type(t)(*(f.squeeze(0) for f in t)) for t in layer) for layer in traces]
        elif self.batch_first:
            output = output.transpose(0, 1)  # (B, T, D*H)
        state_out = (stacked[0], stacked[1]) if self.mode == "LSTM" else stacked[0]
        if return_trace:
            return output, state_out, tuple(traces)
        return output, state_out

    @classmethod
    def from_torch(cls, module: nn.Module):
        """The equal seqlib module for a ``torch.nn`` one (same config, dtype, device, weights and
        train/eval mode)."""
        if not isinstance(module, cls.torch_class):
            raise TypeError(
                f"{cls.__name__}.from_torch expects a torch.nn.{cls.torch_class.__name__}, got {type(module).__name__}"
            )
        if getattr(module, "proj_size", 0):
            raise ValueError(f"proj_size > 0 is not supported, got proj_size={module.proj_size}")
        kwargs = {"nonlinearity": module.nonlinearity} if cls.mode == "RNN" else {}
        new = cls(
            module.input_size,
            module.hidden_size,
            num_layers=module.num_layers,
            bias=module.bias,
            batch_first=module.batch_first,
            dropout=module.dropout,
            bidirectional=module.bidirectional,
            device=module.weight_ih_l0.device,
            dtype=module.weight_ih_l0.dtype,
            **kwargs,
        )
        new.load_state_dict(module.state_dict())
        return new.train(module.training)


class RNN(_RecurrentBase):
    """Multi-layer Elman RNN, ``torch.nn.RNN``'s contract: h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1}
    + b_hh) per layer (:func:`rnn_step`).

    Args:
        input_size: I.   hidden_size: H.   num_layers: L stacked layers.
        nonlinearity: ``"tanh"`` or ``"relu"``.   bias: use b_ih, b_hh.
        batch_first: input and output are (B, T, ·) instead of (T, B, ·) (states are not affected).
        dropout: dropout on each layer's output except the last, in training mode only.
        bidirectional: add a layer reading the sequence backwards (D = 2).

    Call: ``rnn(input, hx=None) -> (output, h_n)``; shapes in :meth:`forward`.  Parameters
    ``weight_ih_l{k}`` (H, I or D*H), ``weight_hh_l{k}`` (H, H), ``bias_ih_l{k}``, ``bias_hh_l{k}``
    (H,), with ``_reverse`` for the backward direction.
    """

    mode = "RNN"
    torch_class = nn.RNN

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        nonlinearity: str = "tanh",
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        device=None,
        dtype=None,
    ) -> None:
        _checks.one_of("nonlinearity", nonlinearity, ("tanh", "relu"))
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional, device, dtype)
        self.nonlinearity = nonlinearity

    def _step(self, x_proj: Tensor, states: tuple[Tensor, ...], weight_hh: Tensor, bias_hh: Tensor | None):
        return rnn_step(x_proj, states[0], weight_hh, self.nonlinearity)


class LSTM(_RecurrentBase):
    """Multi-layer LSTM, ``torch.nn.LSTM``'s contract; the equations are in :func:`lstm_step`.

    Args: as :class:`RNN` without ``nonlinearity``; ``proj_size`` is accepted only as 0.

    Call: ``lstm(input, (h_0, c_0)=None) -> (output, (h_n, c_n))``; shapes in :meth:`forward`.
    ``weight_ih_l{k}`` is ``W_ii|W_if|W_ig|W_io`` (4H, I or D*H), ``weight_hh_l{k}`` (4H, H).
    """

    mode = "LSTM"
    torch_class = nn.LSTM

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        device=None,
        dtype=None,
    ) -> None:
        _checks.lstm_proj_size(proj_size)
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional, device, dtype)
        self.proj_size = 0

    def _step(self, x_proj: Tensor, states: tuple[Tensor, ...], weight_hh: Tensor, bias_hh: Tensor | None):
        h, c = states
        return lstm_step(x_proj, h, c, weight_hh)


class GRU(_RecurrentBase):
    """Multi-layer GRU, ``torch.nn.GRU``'s contract; the equations are in :func:`gru_step` (torch's
    variant: the reset gate multiplies ``W_hn h + b_hn``, after the product).

    Args: as :class:`RNN` without ``nonlinearity``.

    Call: ``gru(input, hx=None) -> (output, h_n)``; shapes in :meth:`forward`.
    ``weight_ih_l{k}`` is ``W_ir|W_iz|W_in`` (3H, I or D*H), ``weight_hh_l{k}`` (3H, H).
    """

    mode = "GRU"
    torch_class = nn.GRU

    def _step(self, x_proj: Tensor, states: tuple[Tensor, ...], weight_hh: Tensor, bias_hh: Tensor | None):
        return gru_step(x_proj, states[0], weight_hh, bias_hh)

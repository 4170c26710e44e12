"""Bad arguments raise ValueError/TypeError naming the argument with expected and actual values."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from seqlib import recurrent as R

I, H, T, B = 3, 4, 5, 2


def _lstm(**kwargs):
    return R.LSTM(I, H, **kwargs)


# (id, callable, exception type, fragments that must all appear in the message)
CASES = [
    ("input_size_zero", lambda: R.LSTM(0, H), ValueError, ["input_size", "positive", "0"]),
    ("input_size_negative", lambda: R.GRU(-2, H), ValueError, ["input_size", "-2"]),
    ("input_size_float", lambda: R.RNN(3.0, H), TypeError, ["input_size", "int", "float"]),
    ("hidden_size_zero", lambda: R.RNN(I, 0), ValueError, ["hidden_size", "0"]),
    ("hidden_size_bool", lambda: R.LSTM(I, True), TypeError, ["hidden_size", "bool"]),
    ("num_layers_zero", lambda: R.GRU(I, H, num_layers=0), ValueError, ["num_layers", "0"]),
    ("cell_hidden_size_negative", lambda: R.LSTMCell(I, -1), ValueError, ["hidden_size", "-1"]),
    ("cell_input_size_str", lambda: R.GRUCell("3", H), TypeError, ["input_size", "str"]),
    (
        "unknown_nonlinearity",
        lambda: R.RNN(I, H, nonlinearity="sigmoid"),
        ValueError,
        ["nonlinearity", "sigmoid", "tanh", "relu"],
    ),
    ("cell_unknown_nonlinearity", lambda: R.RNNCell(I, H, nonlinearity="gelu"), ValueError, ["nonlinearity", "gelu"]),
    ("dropout_above_one", lambda: R.LSTM(I, H, num_layers=2, dropout=1.5), ValueError, ["dropout", "[0, 1]", "1.5"]),
    ("dropout_str", lambda: R.LSTM(I, H, num_layers=2, dropout="0.1"), TypeError, ["dropout", "str"]),
    ("bias_int", lambda: R.GRU(I, H, bias=1), TypeError, ["bias", "bool", "int"]),
    ("batch_first_str", lambda: R.RNN(I, H, batch_first="yes"), TypeError, ["batch_first", "bool"]),
    ("bidirectional_none", lambda: R.LSTM(I, H, bidirectional=None), TypeError, ["bidirectional", "NoneType"]),
    ("proj_size", lambda: R.LSTM(I, H, proj_size=2), ValueError, ["proj_size", "2"]),
    ("input_not_tensor", lambda: _lstm()([[1.0, 2.0, 3.0]]), TypeError, ["input", "Tensor", "list"]),
    (
        "input_rank_4",
        lambda: _lstm()(torch.randn(T, B, 1, I)),
        ValueError,
        ["input", "3-D", "4-D", f"({T}, {B}, 1, {I})"],
    ),
    ("input_rank_1", lambda: R.GRU(I, H)(torch.randn(I)), ValueError, ["input", "2-D", "1-D"]),
    ("input_wrong_features", lambda: _lstm()(torch.randn(T, B, 7)), ValueError, ["input_size=3", f"({T}, {B}, 7)"]),
    ("unbatched_wrong_features", lambda: R.RNN(I, H)(torch.randn(T, 5)), ValueError, ["input_size=3", f"({T}, 5)"]),
    ("input_no_time_steps", lambda: _lstm()(torch.randn(0, B, I)), ValueError, ["time step", f"(0, {B}, {I})"]),
    (
        "input_float64_into_float32",
        lambda: _lstm()(torch.randn(T, B, I, dtype=torch.float64)),
        TypeError,
        ["input", "torch.float64", "torch.float32"],
    ),
    (
        "input_integer_tokens",
        lambda: _lstm()(torch.ones(T, B, I, dtype=torch.long)),
        TypeError,
        ["input", "floating", "torch.int64"],
    ),
    (
        "hx_wrong_batch",
        lambda: R.GRU(I, H)(torch.randn(T, B, I), torch.randn(1, 3, H)),
        ValueError,
        ["hx", f"(1, {B}, {H})", f"(1, 3, {H})"],
    ),
    (
        "hx_wrong_layers",
        lambda: R.GRU(I, H, num_layers=2)(torch.randn(T, B, I), torch.randn(1, B, H)),
        ValueError,
        ["hx", "(L*D, B, H)", f"(2, {B}, {H})", f"(1, {B}, {H})"],
    ),
    (
        "hx_bidirectional_needs_two",
        lambda: R.RNN(I, H, bidirectional=True)(torch.randn(T, B, I), torch.randn(1, B, H)),
        ValueError,
        ["hx", f"(2, {B}, {H})"],
    ),
    (
        "hx_wrong_hidden",
        lambda: R.RNN(I, H)(torch.randn(T, B, I), torch.randn(1, B, 9)),
        ValueError,
        ["hx", f"(1, {B}, 9)"],
    ),
    (
        "hx_rank_for_unbatched",
        lambda: R.GRU(I, H)(torch.randn(T, I), torch.randn(1, 1, H)),
        ValueError,
        ["hx", "2-D", "3-D", "unbatched"],
    ),
    (
        "hx_rank_for_batched",
        lambda: R.GRU(I, H)(torch.randn(T, B, I), torch.randn(1, H)),
        ValueError,
        ["hx", "3-D", "2-D"],
    ),
    (
        "lstm_hx_not_tuple",
        lambda: _lstm()(torch.randn(T, B, I), torch.zeros(1, B, H)),
        TypeError,
        ["hx", "tuple", "Tensor"],
    ),
    (
        "lstm_c0_wrong_shape",
        lambda: _lstm()(torch.randn(T, B, I), (torch.zeros(1, B, H), torch.zeros(1, B, 2))),
        ValueError,
        ["c_0", f"(1, {B}, 2)"],
    ),
    (
        "hx_dtype",
        lambda: R.GRU(I, H)(torch.randn(T, B, I), torch.zeros(1, B, H, dtype=torch.float64)),
        TypeError,
        ["hx", "torch.float64", "torch.float32"],
    ),
    ("hx_not_tensor", lambda: R.GRU(I, H)(torch.randn(T, B, I), 0.0), TypeError, ["hx", "Tensor", "float"]),
    ("cell_input_rank_3", lambda: R.GRUCell(I, H)(torch.randn(T, B, I)), ValueError, ["input", "2-D", "3-D"]),
    ("cell_input_features", lambda: R.RNNCell(I, H)(torch.randn(B, 6)), ValueError, ["input_size=3", f"({B}, 6)"]),
    (
        "cell_hx_shape",
        lambda: R.RNNCell(I, H)(torch.randn(B, I), torch.randn(B + 1, H)),
        ValueError,
        ["hx", f"({B}, {H})", f"({B + 1}, {H})"],
    ),
    (
        "cell_unbatched_hx_shape",
        lambda: R.GRUCell(I, H)(torch.randn(I), torch.randn(1, H)),
        ValueError,
        ["hx", f"({H},)", f"(1, {H})"],
    ),
    ("cell_lstm_hx_single", lambda: R.LSTMCell(I, H)(torch.randn(B, I), torch.zeros(B, H)), TypeError, ["hx", "tuple"]),
    (
        "cell_dtype",
        lambda: R.LSTMCell(I, H)(torch.randn(B, I, dtype=torch.float16)),
        TypeError,
        ["input", "torch.float16", "torch.float32"],
    ),
    (
        "return_trace_not_bool",
        lambda: _lstm()(torch.randn(T, B, I), return_trace="yes"),
        TypeError,
        ["return_trace", "bool"],
    ),
    ("from_torch_wrong_class", lambda: R.LSTM.from_torch(nn.GRU(I, H)), TypeError, ["LSTM", "GRU"]),
    ("cell_from_torch_wrong_class", lambda: R.GRUCell.from_torch(nn.GRU(I, H)), TypeError, ["GRUCell", "GRU"]),
    (
        "from_torch_projected_lstm",
        lambda: R.LSTM.from_torch(nn.LSTM(I, H, proj_size=2)),
        ValueError,
        ["proj_size", "2"],
    ),
]


@pytest.mark.parametrize("make_call,error,fragments", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_argument_raises_with_name_expected_and_actual(make_call, error, fragments):
    with pytest.raises(error) as raised:
        make_call()
    message = str(raised.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"


def test_at_least_twenty_distinct_cases():
    assert len({c[0] for c in CASES}) == len(CASES) >= 20

"""seqlib.init: spectral radius, forget-gate bias and chrono initialisation, in place."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
import torch
from torch import nn

from seqlib import recurrent as R
from seqlib.init import chrono_init_, set_forget_bias_, set_identity_recurrence_, set_spectral_radius_, spectral_radius


def test_set_spectral_radius_square_and_gated():
    torch.manual_seed(3)
    weight = torch.randn(6, 6)
    assert set_spectral_radius_(weight, 0.9) is weight
    assert spectral_radius(weight) == pytest.approx(0.9, rel=1e-5)
    lstm = R.LSTM(3, 5)
    set_spectral_radius_(lstm.weight_hh_l0, 1.5)
    for block in lstm.weight_hh_l0.detach().split(5):
        assert spectral_radius(block) == pytest.approx(1.5, rel=1e-5)


def test_set_spectral_radius_rejects_bad_input():
    with pytest.raises(ValueError, match="radius"):
        set_spectral_radius_(torch.randn(3, 3), 0.0)
    with pytest.raises(ValueError, match="shape"):
        set_spectral_radius_(torch.randn(5, 3), 1.0)
    with pytest.raises(ValueError, match="spectral radius 0"):
        set_spectral_radius_(torch.zeros(3, 3), 1.0)


@pytest.mark.parametrize("module", [R.LSTM(3, 5), R.GRU(3, 5), nn.LSTM(3, 5), nn.GRU(3, 5)])
def test_forget_bias_sets_the_keep_gate_rows_and_zeroes_their_hidden_bias(module):
    before = {name: p.detach().clone() for name, p in module.named_parameters()}
    assert set_forget_bias_(module, 1.0) is module
    keep = slice(5, 10)  # LSTM i|f|g|o: f;  GRU r|z|n: z
    assert torch.all(module.bias_ih_l0[keep] == 1.0) and torch.all(module.bias_hh_l0[keep] == 0.0)
    outside = torch.ones(module.bias_ih_l0.shape[0], dtype=torch.bool)
    outside[keep] = False
    assert torch.equal(module.bias_ih_l0[outside], before["bias_ih_l0"][outside])
    assert torch.equal(module.weight_hh_l0, before["weight_hh_l0"])
    # the gate sees the value: sigma(1) = 0.73 at zero input and state
    set_forget_bias_(module, torch.arange(5.0))
    assert torch.equal(module.bias_ih_l0[keep], torch.arange(5.0))


def test_chrono_spans_one_to_max_lag_and_closes_the_lstm_input_gate():
    lstm = R.LSTM(3, 200)
    chrono_init_(lstm, max_lag=50, generator=torch.Generator().manual_seed(0))
    b_f = lstm.bias_ih_l0[200:400].detach()
    assert 0.0 <= float(b_f.min()) and float(b_f.max()) <= torch.log(torch.tensor(49.0)) + 1e-6
    assert torch.equal(lstm.bias_ih_l0[:200], -b_f) and torch.all(lstm.bias_hh_l0[:400] == 0)
    again = chrono_init_(R.LSTM(3, 200), max_lag=50, generator=torch.Generator().manual_seed(0))
    assert torch.equal(again.bias_ih_l0[:400], lstm.bias_ih_l0[:400])  # the i and f rows; g, o stay random
    gru = chrono_init_(R.GRU(3, 4), max_lag=10, generator=torch.Generator().manual_seed(0))
    assert torch.all(gru.bias_hh_l0[4:8] == 0)


def test_gate_initialisers_refuse_a_module_without_a_gate_and_a_bad_lag():
    with pytest.raises(ValueError, match="LSTM or GRU"):
        set_forget_bias_(R.RNN(3, 4), 1.0)
    with pytest.raises(ValueError, match="max_lag"):
        chrono_init_(R.LSTM(3, 4), max_lag=1)


def test_identity_recurrence_sets_w_hh_to_the_identity_and_refuses_gated_cells():
    rnn = R.RNN(3, 4)
    assert set_identity_recurrence_(rnn) is rnn
    assert torch.equal(rnn.weight_hh_l0.detach(), torch.eye(4)) and torch.all(rnn.bias_hh_l0 == 0)
    assert spectral_radius(rnn.weight_hh_l0) == pytest.approx(1.0)
    set_identity_recurrence_(nn.RNN(3, 4))  # torch's too
    with pytest.raises(ValueError, match="plain RNN"):
        set_identity_recurrence_(R.LSTM(3, 4))


# --- bad input (issue 15): NaN and inf never reach LAPACK, never spread into W ---------------------------


def _with(value: float) -> torch.Tensor:
    weight = torch.randn(4, 4, generator=torch.Generator().manual_seed(0))
    weight[1, 2] = value
    return weight


@pytest.mark.parametrize("value,counts", [(float("nan"), "1 NaN and 0 infinite"),
                                          (float("inf"), "0 NaN and 1 infinite")])
def test_spectral_radius_refuses_a_matrix_with_nan_or_inf(value, counts):
    message = f"matrix holds {counts} entries of 16: it has no spectral radius (did training diverge? re-initialise it)"
    with pytest.raises(ValueError, match=re.escape(message)):
        spectral_radius(_with(value))
    with pytest.raises(ValueError, match="matrix must be a Tensor, got list"):
        spectral_radius([[1.0]])


def test_a_nan_matrix_never_reaches_the_eigenvalue_routine_in_a_fresh_process():
    """The crash the issue saw was in LAPACK itself (a segfault kills the kernel): run it where it cannot hurt."""
    code = ("import torch; from seqlib.init import spectral_radius as s; W = torch.eye(6); W[0, 0] = float('nan')\n"
            "try:\n    s(W)\nexcept ValueError as e:\n    print('refused:', e)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.startswith("refused: matrix holds 1 NaN"), done.stderr


@pytest.mark.parametrize("radius", [float("nan"), float("inf"), -1.0, 0.0, "1", True, None])
def test_set_spectral_radius_refuses_a_radius_that_is_not_a_positive_finite_number(radius):
    weight = _with(0.5)
    before = weight.clone()
    with pytest.raises(ValueError, match=re.escape(f"radius must be a positive number, got {radius!r}")):
        set_spectral_radius_(weight, radius)
    assert torch.equal(weight, before)  # never filled with NaN


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_set_spectral_radius_refuses_a_weight_with_nan_or_inf(value):
    weight = _with(value)
    with pytest.raises(ValueError, match=re.escape("weight holds") + ".*" + re.escape("it cannot be rescaled")):
        set_spectral_radius_(weight, 1.0)
    with pytest.raises(ValueError, match="weight must be a Tensor"):
        set_spectral_radius_(weight.tolist(), 1.0)


@pytest.mark.parametrize(
    "bias,message",
    [(float("nan"), "bias must be a finite number, got nan"), (float("inf"), "bias must be a finite number, got inf"),
     ("1", "bias must be a real number, got str ('1')"), (torch.tensor([float("nan")] * 5), "bias holds 5 NaN"),
     (torch.ones(3), "bias must be a number or a floating (H,) = (5,) tensor"),
     (torch.ones(5, dtype=torch.long), "bias must be a number or a floating (H,) = (5,) tensor")],
)
def test_set_forget_bias_refuses_nan_inf_and_wrong_shapes(bias, message):
    module = R.LSTM(3, 5)
    before = module.bias_ih_l0.detach().clone()
    with pytest.raises(ValueError, match=re.escape(message)):
        set_forget_bias_(module, bias)
    assert torch.equal(module.bias_ih_l0, before)

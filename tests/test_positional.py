"""seqlib.positional: the paper's sinusoidal table, its offset rotation and the PositionalEncoding module."""

from __future__ import annotations

import math

import pytest
import torch

from seqlib.positional import PositionalEncoding, frequencies, offset_rotation, sinusoidal_positional_encoding

F64 = torch.float64


@pytest.mark.parametrize("d_model", [6, 7, 16])
@pytest.mark.parametrize("pos", [0, 1, 5, 49])
def test_table_matches_the_formula_at_spot_positions(d_model: int, pos: int) -> None:
    table = sinusoidal_positional_encoding(50, d_model, dtype=torch.float64)
    assert table.shape == (50, d_model)
    for i in range(d_model):
        angle = pos / 10000 ** (2 * (i // 2) / d_model)
        expected = math.sin(angle) if i % 2 == 0 else math.cos(angle)
        assert table[pos, i].item() == pytest.approx(expected, abs=1e-12), f"PE({pos}, {i})"


def test_position_zero_is_sin0_cos0_and_odd_d_model_ends_with_a_sine() -> None:
    table = sinusoidal_positional_encoding(3, 5)
    assert table[0].tolist() == [0.0, 1.0, 0.0, 1.0, 0.0]
    assert table[2, 4].item() == pytest.approx(math.sin(2 / 10000 ** (4 / 5)), abs=1e-7)


def test_every_pair_shares_a_frequency_so_values_stay_on_the_unit_circle() -> None:
    table = sinusoidal_positional_encoding(30, 8, dtype=torch.float64)
    torch.testing.assert_close(table[:, 0::2] ** 2 + table[:, 1::2] ** 2, torch.ones(30, 4, dtype=torch.float64))


@pytest.mark.parametrize("batch_first", [True, False])
def test_module_adds_the_table_along_time(batch_first: bool) -> None:
    module = PositionalEncoding(6, dropout=0.0, max_len=10, batch_first=batch_first)
    x = torch.zeros((2, 4, 6) if batch_first else (4, 2, 6))
    out = module(x)
    table = sinusoidal_positional_encoding(10, 6)
    for b in range(2):
        torch.testing.assert_close(out[b] if batch_first else out[:, b], table[:4])
    torch.testing.assert_close(module(x, offset=3)[0] if batch_first else module(x, offset=3)[:, 0], table[3:7])
    assert "pe" not in module.state_dict(), "the fixed table is a function of the config"


def test_learned_option_is_a_trained_parameter() -> None:
    module = PositionalEncoding(4, max_len=8, learned=True)
    assert module.table.requires_grad and module.table.shape == (8, 4)
    assert "weight" in module.state_dict()
    module(torch.zeros(1, 5, 4)).sum().backward()
    assert module.weight.grad[:5].eq(1).all() and module.weight.grad[5:].eq(0).all()


def test_dropout_only_in_training() -> None:
    module = PositionalEncoding(4, dropout=0.5, max_len=8).eval()
    x = torch.ones(2, 3, 4)
    torch.testing.assert_close(module(x), x + module.table[:3])
    assert (module.train()(x) == 0).any()


# --- the offset rotation --------------------------------------------------------------------------


def test_frequencies_are_the_tables_pairs() -> None:
    omega = frequencies(16)
    assert omega.shape == (8,) and omega.dtype == F64 and omega[0] == 1.0
    table = sinusoidal_positional_encoding(5, 16, dtype=F64)
    torch.testing.assert_close(table[3, 0::2], torch.sin(3 * omega))
    torch.testing.assert_close(table[3, 1::2], torch.cos(3 * omega))


@pytest.mark.parametrize("d_model", [2, 8, 32])
@pytest.mark.parametrize("offset", [1, 3, -4, 17, 0.5])
def test_rotation_moves_every_position_by_the_offset(d_model: int, offset: float) -> None:
    table = sinusoidal_positional_encoding(80, d_model, dtype=F64)
    R = offset_rotation(offset, d_model)
    assert R.shape == (d_model, d_model) and R.dtype == F64
    if float(offset).is_integer():
        p = torch.arange(max(0, -int(offset)), 80 - max(0, int(offset)))
        torch.testing.assert_close(table[p] @ R.T, table[p + int(offset)], atol=1e-12, rtol=0)
    else:  # a fractional offset: compare with the formula at p + m
        omega = frequencies(d_model)
        angle = (torch.arange(10, dtype=F64)[:, None] + offset) * omega
        shifted = torch.stack([torch.sin(angle), torch.cos(angle)], dim=-1).flatten(1)
        torch.testing.assert_close(table[:10] @ R.T, shifted, atol=1e-12, rtol=0)


def test_rotation_is_block_diagonal_orthogonal_and_composes() -> None:
    R3, R_3, R2, R5 = (offset_rotation(m, 12) for m in (3, -3, 2, 5))
    eye = torch.eye(12, dtype=F64)
    torch.testing.assert_close(R3.T @ R3, eye)
    torch.testing.assert_close(R3.T, R_3)
    torch.testing.assert_close(R2 @ R3, R5)
    torch.testing.assert_close(offset_rotation(0, 12), eye)
    blocks = torch.block_diag(*[torch.ones(2, 2, dtype=F64)] * 6)
    assert (R3[blocks == 0] == 0).all()


def test_rotation_refuses_odd_widths_and_bad_offsets() -> None:
    with pytest.raises(ValueError, match="d_model must be even"):
        offset_rotation(1, 7)
    with pytest.raises(ValueError, match="offset must be a finite number"):
        offset_rotation(math.inf, 8)
    with pytest.raises(ValueError, match="offset must be a finite number"):
        offset_rotation(True, 8)
    with pytest.raises(ValueError, match="d_model must be a positive int"):
        offset_rotation(1, 0)

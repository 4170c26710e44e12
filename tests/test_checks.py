"""seqlib._checks: the generic argument checks, each message and exception type pinned."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from seqlib import _checks


def _raises(error: type[Exception], message: str, check, *args, **kwargs) -> None:
    """``check(*args, **kwargs)`` raises exactly ``error`` (not a subclass) with exactly ``message``."""
    with pytest.raises(error, match=f"^{re.escape(message)}$") as info:
        check(*args, **kwargs)
    assert info.type is error


def test_positive_int_raises_value_error_for_any_bad_argument() -> None:
    for value in (3, np.int64(3)):
        _checks.positive_int("n", value, types=int | np.integer)
    _checks.positive_int("size", 1)
    _raises(ValueError, "size must be a positive int, got 0", _checks.positive_int, "size", 0)
    _raises(ValueError, "size must be a positive int, got True", _checks.positive_int, "size", True)
    _raises(ValueError, "size must be a positive int, got 2.0", _checks.positive_int, "size", 2.0)
    _raises(ValueError, "size must be a positive int, got '3'", _checks.positive_int, "size", "3")
    _raises(ValueError, f"n must be a positive int, got {np.int64(3)!r}", _checks.positive_int, "n", np.int64(3))


def test_positive_int_allow_bool_keeps_the_data_loaders_leniency() -> None:
    _checks.positive_int("tau", True, allow_bool=True)  # True == 1, as the loaders have always accepted
    _raises(ValueError, "tau must be a positive int, got False", _checks.positive_int, "tau", False, allow_bool=True)


def test_positive_int_strict_separates_type_and_value_errors() -> None:
    _checks.positive_int_strict("hidden_size", 4)
    _raises(TypeError, "hidden_size must be an int, got float (4.0)", _checks.positive_int_strict, "hidden_size", 4.0)
    _raises(TypeError, "hidden_size must be an int, got bool (True)", _checks.positive_int_strict, "hidden_size", True)
    _raises(ValueError, "hidden_size must be a positive int, got 0", _checks.positive_int_strict, "hidden_size", 0)
    _raises(ValueError, "hidden_size must be a positive int, got -2", _checks.positive_int_strict, "hidden_size", -2)


def test_non_negative_int_and_int_at_least() -> None:
    _checks.non_negative_int("length", 0)
    _checks.non_negative_int("length", False, allow_bool=True)
    _raises(ValueError, "length must be a non-negative int, got -1", _checks.non_negative_int, "length", -1)
    _raises(ValueError, "length must be a non-negative int, got False", _checks.non_negative_int, "length", False)
    _checks.int_at_least("vocab_size", 2, 2)
    _raises(ValueError, "vocab_size must be an int >= 2, got 1", _checks.int_at_least, "vocab_size", 1, 2)
    _raises(ValueError, "vocab_size must be an int >= 2, got True", _checks.int_at_least, "vocab_size", True, 2)


def test_boolean() -> None:
    _checks.boolean("bias", False)
    _raises(TypeError, "bias must be a bool, got int (1)", _checks.boolean, "bias", 1)
    _raises(TypeError, "bias must be a bool, got NoneType (None)", _checks.boolean, "bias", None)


def test_dropout_rate_is_half_open_and_fraction_is_open() -> None:
    _checks.dropout_rate("dropout", 0.0)
    _raises(ValueError, "dropout must be in [0, 1), got 1.0", _checks.dropout_rate, "dropout", 1.0)
    _raises(ValueError, "dropout_p must be in [0, 1), got -0.1", _checks.dropout_rate, "dropout_p", -0.1)
    _checks.fraction("val_fraction", 0.5)
    for value in (0.0, 1.0):
        message = f"val_fraction must lie strictly between 0 and 1, got {value}"
        _raises(ValueError, message, _checks.fraction, "val_fraction", value)


def test_one_of_lists_the_choices() -> None:
    _checks.one_of("nonlinearity", "relu", ("tanh", "relu"))
    _raises(ValueError, "nonlinearity must be 'tanh' or 'relu', got 'gelu'",
            _checks.one_of, "nonlinearity", "gelu", ("tanh", "relu"))
    _raises(ValueError, "missing must be 'interpolate', 'nan' or 'drop', got None",
            _checks.one_of, "missing", None, ("interpolate", "nan", "drop"))


def test_tensor_checks() -> None:
    _checks.tensor("q", torch.zeros(2))
    _raises(ValueError, "q must be a Tensor, got list", _checks.tensor, "q", [1.0])
    x = torch.zeros(2, 3)
    assert _checks.tensor_matching("input", x, torch.float32, x.device) is x
    _raises(TypeError, "input must be a torch.Tensor, got list", _checks.tensor_matching, "input", [1.0],
            torch.float32, x.device)
    _raises(TypeError, "input must be a floating-point tensor of dtype torch.float32, got dtype torch.int64",
            _checks.tensor_matching, "input", x.long(), torch.float32, x.device)
    _raises(TypeError, "input has dtype torch.float64 but the module's parameters have dtype torch.float32; "
            "convert one of them, e.g. module.to(torch.float64) or input.to(torch.float32)",
            _checks.tensor_matching, "input", x.double(), torch.float32, x.device)
    _raises(ValueError, "input is on device cpu but the module's parameters are on meta",
            _checks.tensor_matching, "input", x, torch.float32, torch.device("meta"))


def test_shape_and_one_dimensional() -> None:
    _checks.shape("hx", torch.zeros(2, 3), (2, 3), "(B, H)")
    _raises(ValueError, "hx must have shape (B, H) = (2, 3), got (3, 2)",
            _checks.shape, "hx", torch.zeros(3, 2), (2, 3), "(B, H)")
    _checks.one_dimensional("seq", torch.zeros(4))
    _raises(ValueError, "seq must be 1-D, got shape (2, 2)", _checks.one_dimensional, "seq", torch.zeros(2, 2))


def test_mask_accepts_none_bool_and_float_of_the_expected_shape() -> None:
    for value in (None, torch.zeros(2, 3, dtype=torch.bool), torch.zeros(2, 3)):
        _checks.mask("attn_mask", value, (2, 3), "(T, S)")
    _checks.mask("attn_mask", torch.zeros(5, 7), None)  # no expected shape: any shape
    _raises(ValueError, "attn_mask must be a Tensor or None, got list", _checks.mask, "attn_mask", [[0.0]], None)
    _raises(ValueError, "attn_mask must be bool (True = may not attend) or floating (added), got torch.int64",
            _checks.mask, "attn_mask", torch.zeros(2, 3, dtype=torch.long), (2, 3), "(T, S)")
    _raises(ValueError, "key_padding_mask must have shape (B, S) = (2, 3), got (2, 4)",
            _checks.mask, "key_padding_mask", torch.zeros(2, 4, dtype=torch.bool), (2, 3), "(B, S)")


# --- the checks added for issue 15 (bad input never passes silently) ------------------------------------


def test_real_number_refuses_nan_inf_bools_strings_and_out_of_range() -> None:
    assert _checks.real_number("lr", 3) == 3.0 and _checks.real_number("lr", np.float32(0.5)) == 0.5
    assert _checks.real_number("t", float("inf"), allow_inf=True) == float("inf")
    _raises(ValueError, "lr must be a finite number, got nan", _checks.real_number, "lr", float("nan"))
    _raises(ValueError, "lr must be a finite number, got inf", _checks.real_number, "lr", float("inf"))
    _raises(ValueError, "lr must be a real number, got bool (True)", _checks.real_number, "lr", True)
    _raises(ValueError, "lr must be a real number, got str ('1')", _checks.real_number, "lr", "1")
    _raises(ValueError, "lr must be a real number, got complex (1j)", _checks.real_number, "lr", 1j)
    _raises(ValueError, "lr must be > 0, got 0", _checks.real_number, "lr", 0, minimum=0.0, exclusive=True)
    _raises(ValueError, "p must be >= 0, got -1", _checks.real_number, "p", -1, minimum=0.0)
    _raises(ValueError, "p must be <= 1, got 2", _checks.real_number, "p", 2, maximum=1.0)
    assert _checks.optional_positive_number("clip", None, "no clipping") is None
    _raises(ValueError, "clip must be > 0, got -1 (clip=None: no clipping)", _checks.optional_positive_number,
            "clip", -1, "no clipping")


def test_whole_number_never_rounds() -> None:
    assert _checks.whole_number("params", 1200.0) == 1200 and _checks.whole_number("params", np.int64(3)) == 3
    _raises(ValueError, "params must be a whole number (a count), got 1.5: it is never rounded",
            _checks.whole_number, "params", 1.5)
    _raises(ValueError, "params must be a whole number, got str ('12')", _checks.whole_number, "params", "12")


def test_callable_or_none_and_finite_tensor() -> None:
    _checks.callable_or_none("progress", None)
    _checks.callable_or_none("progress", print)
    _raises(ValueError, "progress must be a function or None, got int (3)", _checks.callable_or_none, "progress", 3)
    _checks.finite_tensor("w", torch.ones(3))
    _checks.finite_tensor("ids", torch.arange(3))  # integers are always finite
    _raises(ValueError, "w holds 1 NaN and 1 infinite entries of 3: a diverged run?", _checks.finite_tensor, "w",
            torch.tensor([1.0, float("nan"), float("-inf")]), "a diverged run?")


def test_token_tensor_and_token_id_name_the_bad_id() -> None:
    ids = torch.tensor([[1, 2], [3, 0]])
    assert _checks.token_tensor("tokens", ids, 4) is ids
    _raises(TypeError, "tokens must be an int64 tensor of shape (B, T), got torch.float32 of shape (2, 2)",
            _checks.token_tensor, "tokens", ids.float(), 4)
    _raises(ValueError, "corpus must be an int64 tensor of shape (N,), got list", _checks.token_tensor, "corpus",
            [1, 2], 4, dims=1, legend="(N,)", type_error=ValueError)
    _raises(ValueError, "tokens must hold token ids in [0, 3) (the vocabulary has V = 3 tokens), got values in "
            "[0, 3]: 3 is not a token of this vocabulary", _checks.token_tensor, "tokens", ids, 3)
    _raises(ValueError, "ids must hold token ids >= 0, got -1", _checks.token_tensor, "ids", ids - 1, None)
    assert _checks.token_id("bos_id", np.int64(2), 4) == 2
    _raises(ValueError, "bos_id must be a token id in [0, 4) (the vocabulary has V = 4 tokens), got 4",
            _checks.token_id, "bos_id", 4, 4)
    _raises(ValueError, "bos_id must be a token id (an int), got float (1.0)", _checks.token_id, "bos_id", 1.0, 4)


def test_floating_like_mirrors_torch_nn_with_a_named_argument_and_the_fix() -> None:
    x = torch.ones(2, 3)
    assert _checks.floating_like("x", x, torch.float32, "the module's parameters") is x
    _raises(ValueError, "x has dtype torch.float64 but the module's parameters have dtype torch.float32; convert one "
            "of them, e.g. x.to(torch.float32)", _checks.floating_like, "x", x.double(), torch.float32,
            "the module's parameters")
    _raises(ValueError, "x must be a floating-point tensor (torch.float32, as the table), got dtype torch.int64: "
            "token ids go through an embedding first", _checks.floating_like, "x", x.long(), torch.float32, "the table")
    _raises(ValueError, "attn_mask is a floating mask of dtype torch.float64 but the scores it is added to have dtype "
            "torch.float32; use attn_mask.to(torch.float32), or a bool mask (True = may not attend)", _checks.mask,
            "attn_mask", torch.zeros(2, 2).double(), None, "", torch.float32)

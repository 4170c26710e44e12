"""Shared test setup: deterministic torch, float64 where parity tests ask for it."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def _deterministic_torch() -> None:
    torch.manual_seed(0)

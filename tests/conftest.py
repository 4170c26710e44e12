"""Shared test setup: one torch thread (as the notebooks use) and a fixed seed before every test."""

from __future__ import annotations

import pytest
import torch

# One thread, as seed_everything sets for the notebooks: with `pytest -n 2` on two cores, two
# processes with two threads each make torch's threads wait on each other (10x slower tests).
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _deterministic_torch() -> None:
    torch.manual_seed(0)

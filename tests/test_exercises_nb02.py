"""Notebook 02's exercises: each checker accepts its reference and names every mistake it claims to know."""

from __future__ import annotations

import seqlib.exercises.nb02  # noqa: F401  (registers the exercises)
from seqlib import exercises
from seqlib.exercises import EXERCISES

NAMES = sorted(name for name in EXERCISES if name.startswith("02."))


def test_notebook_02_has_at_least_three_exercises() -> None:
    assert NAMES == ["02.perplexity", "02.rnn_step", "02.softmax_temperature"]


# The reference, the stub, every named mistake and the solution are checked for every registered
# exercise in tests/test_exercises_core.py; this file pins what is particular to notebook 02.


def test_rnn_step_transposed_weights_on_non_square_input_reports_the_error() -> None:
    import torch

    # every case must run the reference; a learner's shape error is reported with the hint
    feedback = exercises._diagnose(
        EXERCISES["02.rnn_step"],
        lambda x, h, W_ih, W_hh, b_ih, b_hh: torch.tanh(x @ W_ih[:, :1] + b_ih + h @ W_hh.T + b_hh),
    )
    assert feedback.status == "wrong" and "Hint:" in feedback.message

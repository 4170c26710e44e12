"""Notebook 03's exercises: each checker accepts its reference and names every mistake it claims to know."""

from __future__ import annotations

import seqlib.exercises.nb03  # noqa: F401  (registers the exercises)
from seqlib import exercises
from seqlib.exercises import EXERCISES

NAMES = sorted(name for name in EXERCISES if name.startswith("03."))


def test_notebook_03_has_at_least_three_exercises() -> None:
    assert NAMES == ["03.clip_global_norm", "03.forget_path", "03.rnn_jacobian", "03.spectral_radius"]


# The reference, the stub, every named mistake and the solution are checked for every registered
# exercise in tests/test_exercises_core.py; this file pins what is particular to notebook 03.


def test_clip_accepts_a_list_as_well_as_a_tuple() -> None:
    exercise = EXERCISES["03.clip_global_norm"]
    feedback = exercises._diagnose(exercise, lambda gradients, max_norm: list(exercise.reference(gradients, max_norm)))
    assert feedback.passed, feedback.message


def test_reference_solutions_agree_with_seqlib() -> None:
    import torch

    from seqlib.experiments.gradient_flow import clip_by_global_norm
    from seqlib.long_term import set_spectral_radius_, spectral_radius

    for args in EXERCISES["03.clip_global_norm"].cases():
        reference = EXERCISES["03.clip_global_norm"].reference(*args)
        for mine, library in zip(reference, clip_by_global_norm(*args), strict=True):
            torch.testing.assert_close(mine, library)
    for W, radius in EXERCISES["03.spectral_radius"].cases():
        scaled = EXERCISES["03.spectral_radius"].reference(W, radius)
        assert abs(spectral_radius(scaled) - radius) < 1e-9
        torch.testing.assert_close(scaled, set_spectral_radius_(W.clone(), radius))
    # the Jacobian, by autograd
    h_prev = torch.randn(3, dtype=torch.float64)
    W = torch.randn(3, 3, dtype=torch.float64)
    x_part = torch.randn(3, dtype=torch.float64)
    jac = torch.autograd.functional.jacobian(lambda h: torch.tanh(x_part + W @ h), h_prev)
    torch.testing.assert_close(EXERCISES["03.rnn_jacobian"].reference(torch.tanh(x_part + W @ h_prev), W), jac)

"""Notebook 03's exercises: each checker accepts its reference and names every mistake it claims to know."""

from __future__ import annotations

import pytest
import torch

import seqlib
from seqlib.course import checker
from seqlib.course import nb03_long_term_dependencies as nb03
from seqlib.course.checker import EXERCISES
from seqlib.course.nb03_long_term_dependencies import gradient_flow_explorer

F64 = torch.float64

NAMES = sorted(name for name in EXERCISES if name.startswith("03."))


def test_notebook_03_has_at_least_three_exercises() -> None:
    assert NAMES == ["03.clip_global_norm", "03.forget_path", "03.rnn_jacobian", "03.spectral_radius"]


# The reference, the stub, every named mistake and the solution are checked for every registered
# exercise in tests/course/test_checker.py; this file pins what is particular to notebook 03.


def test_clip_that_scales_the_gradients_in_place_is_told_so() -> None:
    def learner(gradients, max_norm):
        total = sum(float((g**2).sum()) for g in gradients) ** 0.5
        if total > max_norm:
            for g in gradients:
                g *= max_norm / total  # right values, but the caller's gradients are changed
        return gradients

    feedback = checker._diagnose(EXERCISES["03.clip_global_norm"], learner)
    assert feedback.status == "wrong" and "modified its input `gradients[0]` in place" in feedback.message


def test_clip_that_zeroes_its_input_does_not_crash_the_checker() -> None:
    def learner(gradients, max_norm):
        for g in gradients:
            g.zero_()  # the reference divides by the global norm: on these zeroed tensors it would divide by 0
        return gradients

    feedback = checker._diagnose(EXERCISES["03.clip_global_norm"], learner)
    assert feedback.status == "wrong" and "modified its input `gradients[0]` in place" in feedback.message


def test_jacobian_with_an_elementwise_diag_product_is_named() -> None:
    def learner(h_t, W_hh):
        return torch.mul(torch.diag_embed(1 - h_t * h_t), W_hh)

    feedback = checker._diagnose(EXERCISES["03.rnn_jacobian"], learner)
    assert "entry by entry (*)" in feedback.message and "matrix product (@)" in feedback.message


def test_spectral_radius_with_a_complex_result_is_rejected() -> None:
    def learner(W, radius):
        eigenvalues = torch.linalg.eigvals(W)
        return W * radius / eigenvalues[-1]  # some eigenvalue, complex: not the dominant one's size

    feedback = checker._diagnose(EXERCISES["03.spectral_radius"], learner)
    assert feedback.status == "wrong" and "the result is complex" in feedback.message


def test_clip_accepts_a_list_as_well_as_a_tuple() -> None:
    exercise = EXERCISES["03.clip_global_norm"]
    feedback = checker._diagnose(exercise, lambda gradients, max_norm: list(exercise.reference(gradients, max_norm)))
    assert feedback.passed, feedback.message


def test_reference_solutions_agree_with_seqlib() -> None:
    import torch

    from seqlib.init import set_spectral_radius_, spectral_radius
    from seqlib.train import clip_grad_norm_

    for gradients, max_norm in EXERCISES["03.clip_global_norm"].cases():
        reference = EXERCISES["03.clip_global_norm"].reference(gradients, max_norm)
        parameters = [torch.zeros_like(g) for g in gradients]
        for parameter, g in zip(parameters, gradients, strict=True):
            parameter.grad = g.clone()
        clip_grad_norm_(parameters, max_norm)  # the training loop's clipping (torch's small epsilon aside)
        for mine, parameter in zip(reference, parameters, strict=True):
            torch.testing.assert_close(mine, parameter.grad, rtol=1e-5, atol=1e-8)
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


@pytest.fixture(scope="module")
def snippets():
    generator = torch.Generator().manual_seed(0)
    corpus = torch.randint(6, (400,), generator=generator)
    return nb03.text_snippets(corpus, num_snippets=3, length=12, stride=100, offset=10)


def test_text_snippets_shape_and_bounds() -> None:
    corpus = torch.arange(50)
    ids = nb03.text_snippets(corpus, num_snippets=2, length=4, stride=10, offset=3)
    assert ids.tolist() == [[3, 4, 5, 6, 7], [13, 14, 15, 16, 17]]
    with pytest.raises(ValueError, match="corpus has 50 tokens"):
        nb03.text_snippets(corpus, num_snippets=6, length=4, stride=10, offset=3)


def test_rnn_profile_sets_the_radius_and_leaves_the_random_stream(snippets) -> None:
    state = torch.random.get_rng_state()
    small = nb03.rnn_gradient_profile(snippets, 6, radius=0.3, hidden_size=5)
    assert torch.equal(state, torch.random.get_rng_state())
    assert abs(small.radius - 0.3) < 1e-9 and small.norms.shape == (12,) and small.relative[-1] == 1
    assert (small.relative[1:] >= small.relative[:-1]).all() and small.relative[0] < 1e-4
    assert abs(small.per_step - float(small.relative[0]) ** (1 / 11)) < 1e-12
    large = nb03.rnn_gradient_profile(snippets, 6, radius=4.0, hidden_size=5)
    assert large.relative[0] > 1
    assert nb03.rnn_gradient_profile(snippets, 6, radius=None, hidden_size=5).radius < 1  # torch's init
    with pytest.raises(ValueError, match="radius must be a positive number"):
        nb03.rnn_gradient_profile(snippets, 6, radius=0.0)


def test_lstm_profile_forget_path(snippets) -> None:
    from seqlib.course.nb03_long_term_dependencies import forget_path

    closed = nb03.lstm_gradient_profile(snippets, 6, forget_bias=-2.0, hidden_size=5)
    opened = nb03.lstm_gradient_profile(snippets, 6, forget_bias=6.0, hidden_size=5)
    assert closed.forget_path[-1] == 1 and opened.forget_path[-1] == 1
    assert float(opened.forget.mean()) > 0.99 > 0.2 > float(closed.forget.mean())
    assert opened.forget_path[0] > 0.8 and closed.forget_path[0] < 1e-8
    assert opened.c_relative[0] > 1e3 * closed.c_relative[0]
    # the path is the mean over samples and units of ∏_{k>t} f_k (the exercise's reference, per sequence)
    lstm = seqlib.LSTM(6, 5, batch_first=True).double()
    torch.manual_seed(0)
    lstm = seqlib.LSTM(6, 5, batch_first=True).double()
    with torch.no_grad():
        lstm.bias_ih_l0[5:10] = 6.0
        lstm.bias_hh_l0[5:10] = 0.0
    f = lstm(torch.nn.functional.one_hot(snippets[:, :-1], 6).double(), return_trace=True)[2][0][0].f
    expected = torch.stack([forget_path(f[b]) for b in range(len(f))]).mean(dim=(0, 2))
    torch.testing.assert_close(opened.forget_path, expected)


def test_clipping_step(snippets) -> None:
    result = nb03.clipping_step(snippets, 6, radius=5.0, hidden_size=5)
    # the training loop's clipping (torch's): g · max_norm / (‖g‖ + 1e-6), so the step is 0.1 up to that epsilon
    expected = 0.1 * result.grad_norm / (result.grad_norm + 1e-6)
    assert result.grad_norm > 1 and abs(result.step_clipped - expected) < 1e-12
    assert abs(result.step_unclipped - 0.1 * result.grad_norm) < 1e-9 * result.grad_norm
    assert abs(result.cosine_global - 1) < 1e-12 and result.cosine_elementwise <= 1 + 1e-12
    assert 0 <= result.saturated_clipped <= 1 and 0 <= result.saturated_unclipped <= 1


def _fake_results() -> nb03.RecallTaskResults:
    runs = []
    for arm, accuracies in [("rnn", {0.01: [0.3, 0.2], 0.003: [0.9, 0.8]}), ("lstm", {0.01: [1.0, 1.0]})]:
        for lr, values in accuracies.items():
            for seed, accuracy in enumerate(values):
                runs.append({"arm": arm, "lag": 10, "lr": lr, "prefix": 5, "seed": seed, "accuracy": accuracy,
                             "val_accuracy": accuracy, "steps": 600})
    return nb03.RecallTaskResults(settings={"chance": 0.25}, runs=runs)


def test_results_pick_the_best_learning_rate_on_validation(tmp_path) -> None:
    results = _fake_results()
    assert results.arms == ["rnn", "lstm"] and results.lags() == [10] and results.seeds == [0, 1]
    assert results.best_lr("rnn", 10, 5) == 0.003 and results.accuracies("rnn", 10, 5) == [0.9, 0.8]
    assert results.accuracies("rnn", 10, 5, lr=0.01) == [0.3, 0.2]
    with pytest.raises(KeyError, match="no runs"):
        results.accuracies("gru", 10, 5)
    path = tmp_path / "r.json"
    path.write_text(results.to_json())
    assert nb03.load_results(path) == results
    with pytest.raises(FileNotFoundError, match="bench/recall_task.py"):
        nb03.load_results(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(ValueError, match="missing"):
        nb03.load_results(tmp_path / "bad.json")


def test_gradient_flow_sliders_change_the_models_and_zero_radius_is_a_message() -> None:
    ids = torch.randint(5, (2, 9), generator=torch.Generator().manual_seed(0))
    explorer = gradient_flow_explorer(ids, 5, radius=1.0, forget_bias=0.0, hidden_size=4)
    assert abs(explorer.result.rnn.radius - 1.0) < 1e-9 and explorer.result.lstm.forget_bias == 0.0
    explorer.controls["radius"].value = 3.0
    assert abs(explorer.result.rnn.radius - 3.0) < 1e-9 and explorer.result.rnn.relative[0] > 1
    explorer.controls["forget_bias"].value = 6.0
    assert float(explorer.result.lstm.forget.mean()) > 0.99 and "forget bias +6.0" in explorer.summary.value
    explorer.controls["radius"].value = 0.0
    assert explorer.result is None and "radius must be a positive number" in explorer.error
    explorer.controls["radius"].value = 0.05  # tiny but positive: a tiny, still plottable gradient
    assert explorer.error is None and 0 < float(explorer.result.rnn.relative[0]) < 1e-6


def test_gradient_flow_sliders_at_nan_are_messages_not_a_crash() -> None:
    """A float slider lets NaN through; it once reached LAPACK (a crashed kernel) and the LSTM (a NaN view)."""
    ids = torch.randint(5, (2, 9), generator=torch.Generator().manual_seed(0))
    explorer = gradient_flow_explorer(ids, 5, radius=1.0, forget_bias=0.0, hidden_size=4)
    explorer.controls["radius"].value = float("nan")
    assert explorer.result is None and explorer.error == "radius must be a positive number, got nan"
    explorer.controls["radius"].value = 1.0
    explorer.controls["forget_bias"].value = float("nan")
    assert explorer.result is None and explorer.error == "bias must be a finite number, got nan"
    explorer.controls["forget_bias"].value = 1.0
    assert explorer.error is None and explorer.result.lstm.forget_bias == 1.0


def test_profile_reports_the_bound_and_the_tanh_slope(snippets) -> None:
    for radius in (0.5, 3.0):
        profile = nb03.rnn_gradient_profile(snippets, 6, radius=radius, hidden_size=5)
        assert profile.per_step <= profile.sigma_max  # Pascanu et al.'s bound
        assert 0 < profile.slope <= 1 and profile.sigma_max >= profile.radius - 1e-9  # σ_max ≥ ρ always


def test_truncation_keeps_the_full_gradient_at_k_equal_t_and_refuses_bad_windows(snippets) -> None:
    T = snippets.shape[1] - 1
    cut = nb03.truncation_profile(snippets, 6, 0.5, windows=(1, 3, T), hidden_size=5)
    assert cut.windows == (1, 3, T) and cut.relative_error[-1] == 0.0 and abs(cut.cosine[-1] - 1) < 1e-12
    assert cut.relative_error[0] >= cut.relative_error[1] >= 0  # more steps kept, closer to the full gradient
    state = torch.random.get_rng_state()
    nb03.truncation_profile(snippets, 6, None, windows=(2,), hidden_size=5)
    assert torch.equal(state, torch.random.get_rng_state())
    with pytest.raises(ValueError, match="windows"):
        nb03.truncation_profile(snippets, 6, 0.5, windows=(0,), hidden_size=5)
    with pytest.raises(ValueError, match="windows"):
        nb03.truncation_profile(snippets, 6, 0.5, windows=(T + 1,), hidden_size=5)


def test_recall_widget_trains_the_chosen_arm_and_lag_and_lag_zero_is_a_message() -> None:
    explorer = nb03.recall_explorer(arm="lstm-chrono", lag=2, max_steps=60)
    run = explorer.result
    assert run.settings.lag == 2 and (run.settings.kind, run.settings.gate_init) == ("lstm", "chrono")
    assert run.steps <= 60 and "LSTM, chrono init, Δ = 2" in explorer.summary.value
    explorer.controls["arm"].value = "rnn-radius1"
    assert explorer.result.settings.gate_init == "radius1"
    explorer.controls["lag"].value = 0
    assert explorer.result is None and "lag" in explorer.error
    with pytest.raises(ValueError, match="arm"):
        nb03.recall_run("transformer", 5)

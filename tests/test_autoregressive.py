"""Naive, AR(τ) (least squares and MLP), multi-step forecasts, latent AR, and the AR explorer."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from seqlib import autoregressive as ar  # noqa: E402
from seqlib.data import load_sunspots_yearly  # noqa: E402


def _ar2_series(length: int = 200, noise: float = 0.0, seed: int = 0) -> np.ndarray:
    """x_{t+1} = 1.6 x_t - 0.8 x_{t-1} + 3 + noise: a damped oscillation around 15."""
    rng = np.random.default_rng(seed)
    x = [10.0, 12.0]
    for _ in range(length - 2):
        x.append(1.6 * x[-1] - 0.8 * x[-2] + 3.0 + noise * rng.standard_normal())
    return np.array(x)


@pytest.fixture(scope="module")
def sunspots() -> np.ndarray:
    return load_sunspots_yearly().values


# --- split, normalisation, naive model ------------------------------------------------------------


def test_split_point_matches_split_windows_and_rejects_bad_fractions() -> None:
    assert ar.split_point(309, 0.2) == 247
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        ar.split_point(100, 1.0)
    with pytest.raises(ValueError, match="too short"):
        ar.split_point(2, 0.5)


def test_standardizer_uses_training_statistics_only() -> None:
    x = _ar2_series(100, noise=1.0)
    a = ar.fit_linear_ar(x, 2)
    y = x.copy()
    y[a.cut :] += 1000.0  # change only the validation part
    b = ar.fit_linear_ar(y, 2)
    assert a.scaler == b.scaler
    assert np.allclose(a.scaler.inverse(a.scaler(x)), x)


def test_naive_forecast_is_the_expanding_mean_and_reads_the_whole_past() -> None:
    x = np.array([1.0, 3.0, 2.0, 6.0, 4.0])
    naive = ar.naive_forecast(x, val_fraction=0.4)  # cut = 3
    assert np.allclose(naive.predictions, [1.0, 2.0, 2.0, 3.0])  # mean of x[:t] forecasts x[t]
    assert naive.inputs_read.tolist() == [1, 2, 3, 4]
    assert naive.cut == 3 and np.allclose(naive.val_predictions, [2.0, 3.0]) and np.allclose(naive.val_labels, [6, 4])
    assert naive.val_rmse == pytest.approx(np.sqrt((16 + 1) / 2))


def test_series_must_be_finite_and_one_dimensional() -> None:
    with pytest.raises(ValueError, match="1-D"):
        ar.naive_forecast(np.zeros((3, 3)))
    with pytest.raises(ValueError, match="NaN"):
        ar.fit_linear_ar(np.array([1.0, np.nan] * 20), 2)


# --- linear AR by least squares -------------------------------------------------------------------


def test_linear_ar_recovers_the_coefficients_of_an_ar2_process() -> None:
    fit = ar.fit_linear_ar(_ar2_series(300, noise=0.5), 2)
    # normalising shifts and scales x; a linear AR keeps its weights (the bias absorbs the shift)
    assert np.allclose(fit.weights, [-0.8, 1.6], atol=0.05)  # oldest lag first
    assert fit.num_parameters == 3 and fit.kind == "linear" and fit.tau == 2


def test_linear_ar_equals_numpy_least_squares(sunspots: np.ndarray) -> None:
    fit = ar.fit_linear_ar(sunspots, 3)
    z = fit.scaler(sunspots)
    X = np.stack([z[i : len(z) - 3 + i] for i in range(3)], axis=1)
    y = z[3:]
    train = np.arange(3, len(z)) < fit.cut
    design = np.hstack([X[train], np.ones((train.sum(), 1))])
    solution = np.linalg.lstsq(design, y[train], rcond=None)[0]
    assert np.allclose(fit.weights, solution[:3], atol=1e-5)
    predicted = fit.scaler.inverse(np.hstack([X[~train], np.ones(((~train).sum(), 1))]) @ solution)
    assert np.allclose(fit.val_predictions, predicted, atol=1e-3)
    assert fit.val_label_index[0] == fit.cut and len(fit.val_labels) == len(sunspots) - fit.cut


def test_markov_ar1_and_yule_ar2_on_sunspots(sunspots: np.ndarray) -> None:
    markov, yule = ar.fit_linear_ar(sunspots, 1), ar.fit_linear_ar(sunspots, 2)
    assert markov.val_rmse == pytest.approx(32.02, abs=0.01)
    assert yule.val_rmse == pytest.approx(22.83, abs=0.01)
    assert yule.val_rmse < 0.8 * markov.val_rmse


def test_linear_ar_refuses_a_tau_too_large_for_the_series(sunspots: np.ndarray) -> None:
    with pytest.raises(ValueError, match="underdetermined; use tau <= 123"):
        ar.fit_linear_ar(sunspots, 124)
    with pytest.raises(ValueError, match="too large for this series"):
        ar.fit_linear_ar(sunspots, 300)
    with pytest.raises(ValueError, match="positive int"):
        ar.fit_linear_ar(sunspots, 0)
    assert ar.fit_linear_ar(sunspots, 123).train_rmse < 1e-3  # as many unknowns as windows: interpolates


def test_sweep_finds_the_best_validation_tau(sunspots: np.ndarray) -> None:
    sweep = ar.linear_ar_sweep(sunspots, [1, 2, 9, 60])
    assert sweep.best_tau == 9
    assert sweep.train_rmse[-1] < sweep.train_rmse[0] and sweep.val_rmse[-1] > sweep.val_rmse[2]


# --- MLP AR ---------------------------------------------------------------------------------------


def test_fixed_window_ar_shapes_and_checks() -> None:
    model = ar.FixedWindowAR(4, hidden=5)
    assert model(torch.zeros(7, 4)).shape == (7,)
    assert sum(p.numel() for p in model.parameters()) == 4 * 5 + 5 + 5 + 1
    with pytest.raises(ValueError, match=r"shape \(B, tau=4\)"):
        model(torch.zeros(7, 3))
    with pytest.raises(ValueError, match="hidden"):
        ar.FixedWindowAR(4, hidden=0)


def test_fit_window_model_is_deterministic_and_leaves_the_global_rng_alone(sunspots: np.ndarray) -> None:
    torch.manual_seed(123)
    expected = torch.rand(1)
    torch.manual_seed(123)
    a = ar.fit_window_model(sunspots, 3, hidden=8, steps=30, seed=1)
    assert torch.equal(torch.rand(1), expected)
    b = ar.fit_window_model(sunspots, 3, hidden=8, steps=30, seed=1)
    c = ar.fit_window_model(sunspots, 3, hidden=8, steps=30, seed=2)
    assert a.val_rmse == b.val_rmse and a.val_rmse != c.val_rmse
    assert len(a.loss_history) == 30 and a.loss_history[-1] < a.loss_history[0]
    with pytest.raises(ValueError, match="no single weight vector"):
        _ = a.weights


def test_fit_window_model_learns_a_clean_sine() -> None:
    x = np.sin(0.5 * np.arange(200))
    fit = ar.fit_window_model(x, 3, hidden=16, steps=300, seed=0)
    assert fit.val_rmse < 0.05 * x.std()


# --- multi-step forecasts -------------------------------------------------------------------------


def test_multi_step_forecast_feeds_predictions_back() -> None:
    model = ar.LinearAR(2)
    with torch.no_grad():
        model.linear.weight.copy_(torch.tensor([[0.5, 1.0]]))
        model.linear.bias.fill_(1.0)
    history = torch.tensor([[1.0, 2.0], [0.0, 0.0]])
    out = ar.multi_step_forecast(model, history, 3)
    # row 0: 0.5*1 + 2 + 1 = 3.5; 0.5*2 + 3.5 + 1 = 5.5; 0.5*3.5 + 5.5 + 1 = 8.25
    assert torch.allclose(out[0], torch.tensor([3.5, 5.5, 8.25]))
    assert torch.allclose(out[1], torch.tensor([1.0, 2.0, 3.5]))
    assert torch.allclose(ar.multi_step_forecast(model, history[0], 3), out[0])
    with pytest.raises(ValueError, match="steps"):
        ar.multi_step_forecast(model, history, 0)


def test_k_step_ahead_one_step_equals_the_fit_and_error_compounds(sunspots: np.ndarray) -> None:
    fit = ar.fit_linear_ar(sunspots, 9)
    result = ar.k_step_ahead(fit, sunspots, (1, 4, 16))
    assert np.allclose(result.predictions[1], fit.val_predictions, atol=1e-3)
    assert result.rmse[1] == pytest.approx(fit.val_rmse, abs=1e-3)
    assert result.rmse[1] < result.rmse[4] < result.rmse[16]
    with pytest.raises(ValueError, match="before the start"):
        ar.k_step_ahead(ar.fit_linear_ar(sunspots, 120), sunspots, (200,))


def test_k_step_ahead_uses_only_values_up_to_the_origin(sunspots: np.ndarray) -> None:
    fit = ar.fit_linear_ar(sunspots, 3)
    base = ar.k_step_ahead(fit, sunspots, (4,))
    changed = sunspots.copy()
    i = fit.cut + 10
    changed[i - 3 :] += 50.0  # values after origin i - 4 change: the forecast of x_i must not
    after = ar.k_step_ahead(fit, changed, (4,))
    assert after.predictions[4][10] == pytest.approx(base.predictions[4][10])
    assert after.predictions[4][11] != pytest.approx(base.predictions[4][11])


# --- latent AR ------------------------------------------------------------------------------------


def test_latent_ar_takes_any_length_with_a_fixed_size_state() -> None:
    torch.manual_seed(0)
    model = ar.LatentAR(5)
    for T in (1, 7, 300):
        forecasts, states = model(torch.randn(2, T))
        assert forecasts.shape == (2, T) and states.shape == (2, T, 5)
    with pytest.raises(ValueError, match=r"\(B, T\)"):
        model(torch.zeros(3))


def test_latent_ar_step_reproduces_the_forward_states() -> None:
    torch.manual_seed(0)
    model = ar.LatentAR(4)
    x = torch.randn(3, 6)
    _, states = model(x)
    h = torch.zeros(3, 4)
    for t in range(6):
        h = model.step(x[:, t], h)
        assert torch.allclose(h, states[:, t], atol=1e-6)


def test_latent_ar_is_causal() -> None:
    torch.manual_seed(0)
    model = ar.LatentAR(4)
    x = torch.randn(1, 10)
    y = x.clone()
    y[0, 6] += 1.0
    assert torch.allclose(model(x)[0][:, :6], model(y)[0][:, :6])
    assert not torch.allclose(model(x)[0][:, 6:], model(y)[0][:, 6:])


def test_fit_latent_ar_is_deterministic(sunspots: np.ndarray) -> None:
    a = ar.fit_latent_ar(sunspots, hidden_size=4, steps=5, seed=3)
    b = ar.fit_latent_ar(sunspots, hidden_size=4, steps=5, seed=3)
    assert a.val_rmse == b.val_rmse and a.num_parameters == 4 + 16 + 4 + 4 + 4 + 1
    assert len(a.val_predictions) == len(sunspots) - a.cut
    with pytest.raises(ValueError, match="warmup"):
        ar.fit_latent_ar(sunspots, chunk=4, warmup=4)


def test_past_influence_stops_at_the_window_for_ar_but_not_for_the_latent_state() -> None:
    torch.manual_seed(0)
    history = np.sin(0.3 * np.arange(40))
    window = ar.FixedWindowAR(5, hidden=8)
    influence = ar.past_influence(window, history)
    assert influence.shape == (40,) and np.all(influence[5:] == 0) and influence[:5].sum() > 0
    latent = ar.LatentAR(6)
    influence = ar.past_influence(latent, history)
    assert np.all(influence[:20] > 0)
    with pytest.raises(TypeError, match="LinearAR"):
        ar.past_influence(torch.nn.Linear(2, 1), history)


# --- the AR explorer --------------------------------------------------------------------------------




# --- bad input (issue 15): the window and latent models train through seqlib.train, so they stop too ---


def test_a_diverging_window_model_stops_with_a_message() -> None:
    from seqlib.train import TrainingDiverged

    series = np.sin(np.arange(200) / 5.0)
    with pytest.raises(TrainingDiverged, match="training diverged at step 2: the loss is nan"):
        ar.fit_window_model(series, 4, steps=5, lr=1e30)
    for fit in (lambda: ar.fit_window_model(series, 4, steps=5, lr=float("inf")),
                lambda: ar.fit_latent_ar(series, steps=5, lr=float("nan"))):
        with pytest.raises(ValueError, match="lr must be a finite number"):
            fit()

"""Notebook 01's exercises (each checker accepts its reference, says "not done yet" for the stub, and
names every mistake it claims to recognise, also when the mistake is written another way), its widgets,
and the measurements behind its prose (AR(2) roots, the constant baseline, the k-step agreement, the
chain rule)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from seqlib.autoregressive import fit_linear_ar, k_step_ahead, naive_forecast
from seqlib.course import checker
from seqlib.course import nb01_sequence_models as nb01
from seqlib.course.checker import _diagnose
from seqlib.course.leaderboard import standard_split
from seqlib.course.nb01_sequence_models import (
    ar2_explorer,
    ar2_roots,
    ar_tau_explorer,
    ar_view,
    constant_forecast,
    dominant_period,
    forecast_agreement,
    ngram_explorer,
    ngram_view,
    sequence_log_probability,
)
from seqlib.data import TimeSeries, Vocab, load_sunspots_yearly
from seqlib.ngram import NGramLanguageModel

ALL = [nb01.LAG_FEATURES, nb01.BIGRAM_PERPLEXITY, nb01.MULTI_STEP, nb01.LATENT_STEP]


def _stub(*args):
    raise NotImplementedError  # your code here


@pytest.mark.parametrize("exercise", ALL, ids=lambda e: e.name)
def test_reference_is_correct_and_stub_is_not_done(exercise) -> None:
    assert _diagnose(exercise, exercise.reference).passed
    feedback = _diagnose(exercise, _stub)
    assert feedback.status == "todo" and "not done yet" in feedback.message and exercise.hint in feedback.message


@pytest.mark.parametrize(
    "exercise, mistake",
    [(e, m) for e in ALL for m in e.mistakes],
    ids=[f"{e.name}:{i}" for e in ALL for i in range(len(e.mistakes))],
)
def test_every_claimed_mistake_is_named(exercise, mistake) -> None:
    feedback = _diagnose(exercise, mistake.wrong)
    assert feedback.status == "wrong" and mistake.message in feedback.message


def test_exercises_are_registered_and_solutions_can_be_revealed(capsys) -> None:
    checker._load_all()
    for name in ("01.lag_features", "01.bigram_perplexity", "01.multi_step", "01.latent_step"):
        assert name in checker.EXERCISES
    source = checker.solution("01.lag_features")
    assert source.startswith("def lag_features") and "labels = series[tau:]" in capsys.readouterr().out


# --- mistakes written the way a learner might write them ------------------------------------------


def test_lag_features_loop_with_label_inside_the_window() -> None:
    def learner(series, tau):
        rows, labels = [], []
        for j in range(len(series) - tau):
            rows.append(series[j + 1 : j + tau + 1])  # off by one: ends at the label
            labels.append(series[j + tau])
        return torch.stack(rows), torch.stack(labels)

    assert "includes x_t itself" in _diagnose(nb01.LAG_FEATURES, learner).message


def test_lag_features_loop_with_the_window_one_step_early_is_named() -> None:
    def learner(series, tau):
        rows, labels = [], []
        for t in range(tau + 1, len(series)):  # each window ends at x_{t-2}: x_{t-1} is skipped before the label
            rows.append(series[t - tau - 1 : t - 1])
            labels.append(series[t])
        return torch.stack(rows), torch.stack(labels)

    feedback = _diagnose(nb01.LAG_FEATURES, learner)
    assert feedback.status == "wrong" and "your window ends one step early" in feedback.message


def test_lag_features_as_numpy_is_told_to_return_tensors() -> None:
    def learner(series, tau):
        x = series.numpy()
        return np.stack([x[j : j + tau] for j in range(len(x) - tau)]), x[tau:]

    assert "expected a torch.Tensor, got numpy.ndarray" in _diagnose(nb01.LAG_FEATURES, learner).message


def test_lag_features_unfold_is_accepted_and_transposed_is_named() -> None:
    def learner(series, tau):
        return series.unfold(0, tau, 1)[:-1], series[tau:]

    assert _diagnose(nb01.LAG_FEATURES, learner).passed

    def transposed(series, tau):
        return series.unfold(0, tau, 1)[:-1].T, series[tau:]

    assert "(tau, N) where (N, tau)" in _diagnose(nb01.LAG_FEATURES, transposed).message


def test_bigram_perplexity_in_bits_by_another_route_is_named() -> None:
    def learner(train, val, vocab_size, k):
        import math

        counts = [[0.0] * vocab_size for _ in range(vocab_size)]
        for a, b in zip(train.tolist(), train.tolist()[1:], strict=False):
            counts[a][b] += 1
        total = 0.0
        for a, b in zip(val.tolist(), val.tolist()[1:], strict=False):
            total -= math.log2((counts[a][b] + k) / (sum(counts[a]) + k * vocab_size))
        return total / (len(val) - 1)

    assert "in bits" in _diagnose(nb01.BIGRAM_PERPLEXITY, learner).message


def test_multi_step_teacher_forcing_written_as_a_loop_is_named() -> None:
    def learner(predict, series, start, tau, steps):
        out = []
        for i in range(steps):
            out.append(predict(series[start + i - tau : start + i]))  # reads the true values
        return torch.stack(out)

    assert "teacher forcing" in _diagnose(nb01.MULTI_STEP, learner).message


def test_latent_step_bias_outside_the_tanh_is_named() -> None:
    def learner(x_t, h, W_ih, W_hh, b):
        return b + torch.tanh(torch.einsum("bi,hi->bh", x_t, W_ih) + torch.einsum("bj,hj->bh", h, W_hh))

    assert "bias after the tanh" in _diagnose(nb01.LATENT_STEP, learner).message


def test_latent_step_markov_state_is_named() -> None:
    def learner(x_t, h, W_ih, W_hh, b):
        return torch.tanh(torch.einsum("bi,hi->bh", x_t, W_ih) + b)

    assert "forgets the past" in _diagnose(nb01.LATENT_STEP, learner).message


@pytest.fixture(scope="module")
def sunspots() -> np.ndarray:
    return load_sunspots_yearly().values


def test_ar_view_and_explorer(sunspots: np.ndarray) -> None:
    view = ar_view(sunspots, 9, 4)
    assert view.fit.tau == 9 and view.forecast_rmse == pytest.approx(view.forecast.rmse[4])
    explorer = ar_tau_explorer(load_sunspots_yearly(), tau=2, max_tau=130)
    assert explorer.result.fit.tau == 2 and explorer.result.sweep.best_tau == 9
    explorer.controls["tau"].value = 1  # the Markov model
    assert explorer.error is None and explorer.result.fit.val_rmse == pytest.approx(32.02, abs=0.01)
    explorer.controls["steps_ahead"].value = 16
    assert explorer.result.steps_ahead == 16 and "16 step(s) ahead" in explorer.summary.value
    explorer.controls["tau"].value = 130
    assert explorer.result is None and "use tau <= 123" in explorer.error


def test_ar_explorer_on_a_short_series() -> None:
    rng = np.random.default_rng(0)
    x = np.sin(np.arange(40) / 3) * 10 + 15 + 0.3 * rng.standard_normal(40)
    series = TimeSeries("toy", np.arange(2000, 2040).astype("datetime64[Y]"), x, "units", np.zeros(40, bool))
    explorer = ar_tau_explorer(series, tau=3, max_tau=20)
    assert explorer.error is None and explorer.result.fit.tau == 3


def test_ngram_view_and_explorer() -> None:
    split = standard_split()
    view = ngram_view(split.train, split.val, split.vocab, 3)
    assert view.n == 3 and len(view.sample) == 60 and view.next_token.sum().item() == pytest.approx(1.0)
    explorer = ngram_explorer(split.train, split.val, split.vocab, n=2)
    explorer.controls["n"].value = 5
    assert explorer.result.val_perplexity == pytest.approx(4.076, abs=1e-3)
    explorer.controls["smoothing"].value = "none"
    assert explorer.result.val_perplexity == math.inf and "validation inf" in explorer.summary.value


# --- the measurements behind the prose ------------------------------------------------------------


def test_constant_forecast_is_the_training_mean(sunspots: np.ndarray) -> None:
    toy = constant_forecast(np.array([1.0, 3.0, 2.0, 2.0, 6.0]), val_fraction=0.2)  # train 1, 3, 2, 2
    assert toy.level == 2.0 and toy.val_rmse == 4.0
    baseline = constant_forecast(sunspots)
    assert baseline.level == pytest.approx(sunspots[:247].mean())
    assert abs(naive_forecast(sunspots).val_rmse - baseline.val_rmse) < 0.05 * baseline.val_rmse


@pytest.mark.parametrize(
    "phi1, phi2, period, modulus",
    [
        (1.0, -0.5, 8.0, math.sqrt(0.5)),  # roots (1 ± i)/2: an eighth of a turn per step
        (0.0, -0.25, 4.0, 0.5),  # roots ±i/2: a quarter turn
        (-1.0, -0.5, 8 / 3, math.sqrt(0.5)),  # roots (-1 ± i)/2: three eighths of a turn
    ],
)
def test_ar2_complex_roots_give_period_and_damping(phi1, phi2, period, modulus) -> None:
    view = ar2_roots(phi1, phi2)
    assert view.oscillates and view.stationary and view.discriminant == pytest.approx(phi1**2 + 4 * phi2)
    assert view.period == pytest.approx(period) and view.modulus == pytest.approx(modulus)
    for root in view.roots:  # each root solves the characteristic equation λ² = φ1 λ + φ2
        assert abs(root**2 - phi1 * root - phi2) < 1e-12
    assert view.damping_per_cycle == pytest.approx(modulus**period)
    assert f"period {period:.2f}" in view.describe() and "damped" in view.describe()


def test_ar2_impulse_response_follows_the_recursion_and_the_roots() -> None:
    view = ar2_roots(1.0, -0.5, steps=20)
    psi = view.impulse_response
    assert psi[0] == 1.0 and psi[1] == 1.0 and len(psi) == 21
    assert np.allclose(psi[2:], 1.0 * psi[1:-1] - 0.5 * psi[:-2])
    # closed form from the roots: ψ_j = (λ1^{j+1} - λ2^{j+1}) / (λ1 - λ2)
    l1, l2 = view.roots
    closed = [((l1 ** (j + 1) - l2 ** (j + 1)) / (l1 - l2)).real for j in range(21)]
    assert np.allclose(psi, closed)


def test_ar2_real_roots_have_no_period_and_explosive_ones_say_so() -> None:
    real = ar2_roots(0.5, 0.2)
    assert not real.oscillates and real.period is None and real.damping_per_cycle is None and real.stationary
    assert "no period" in real.describe() and "damped" in real.describe()
    flipping = ar2_roots(-0.5, 0.2)
    assert flipping.roots[0].real < 0 and "flips sign" in flipping.describe()
    explosive = ar2_roots(1.2, 0.3)
    assert explosive.modulus > 1 and not explosive.stationary and "explosive" in explosive.describe()
    assert abs(explosive.impulse_response[-1]) > 1e5
    circle = ar2_roots(0.0, -1.0)  # roots ±i: a cycle of 4 that never dies out
    assert circle.on_unit_circle and not circle.stationary and circle.period == pytest.approx(4.0)
    assert "never dies out" in circle.describe() and "explosive" not in circle.describe()
    with pytest.raises(ValueError, match="finite"):
        ar2_roots(float("nan"), 0.0)


def test_ar2_of_the_sunspots_is_a_damped_cycle_near_the_periodogram_peak(sunspots: np.ndarray) -> None:
    for fraction in (0.15, 0.2, 0.25):
        w = fit_linear_ar(sunspots, 2, fraction).weights  # oldest lag first: (φ2, φ1)
        view = ar2_roots(w[1], w[0])
        assert view.oscillates and 0.7 < view.modulus < 0.9 and 10.0 < view.period < 11.5
        assert abs(view.period - dominant_period(sunspots)) < 1.0


def test_ar2_explorer_reports_roots_and_handles_extremes() -> None:
    explorer = ar2_explorer(1.0, -0.5, unit="year")
    assert explorer.result.period == pytest.approx(8.0) and "period 8.00 years" in explorer.summary.value
    explorer.controls["phi1"].value = 0.5
    explorer.controls["phi2"].value = 0.2
    assert explorer.error is None and explorer.result.period is None and "no period" in explorer.summary.value
    explorer.controls["phi1"].value = 1.2
    explorer.controls["phi2"].value = 0.3
    assert explorer.error is None and "explosive" in explorer.summary.value


def test_forecast_agreement_decomposes_the_squared_error(sunspots: np.ndarray) -> None:
    result = k_step_ahead(fit_linear_ar(sunspots, 9), sunspots, (1, 16))
    for k in (1, 16):
        agreement = forecast_agreement(result, k)
        assert agreement.rmse == pytest.approx(result.rmse[k])
        assert agreement.level + agreement.amplitude + agreement.timing == pytest.approx(agreement.rmse**2)
    far = forecast_agreement(result, 16)
    assert far.correlation > 0.6 and far.amplitude_ratio < 0.7
    with pytest.raises(ValueError, match="was not forecast"):
        forecast_agreement(result, 4)


def test_sequence_log_probability_is_the_sum_of_the_conditionals() -> None:
    text = list("abab abba")
    vocab = Vocab(text)
    model = NGramLanguageModel(2, len(vocab), smoothing="none").fit(vocab.encode(text))
    scored = sequence_log_probability(model, vocab, "ba")
    # p(b) = 4/9 (unigram: no context yet), p(a | b) = 2/4 (b is followed by a, _, b, a)
    assert scored.tokens == ("b", "a") and np.allclose(np.exp(scored.conditional), [4 / 9, 2 / 4])
    assert scored.total == pytest.approx(math.log(4 / 9) + math.log(2 / 4))
    unseen = sequence_log_probability(model, vocab, "aa")
    assert unseen.total == -math.inf

"""Classical sequence models on a real series: naive, autoregressive, Markov and latent autoregressive.

Sequential data (순차 데이터) has no fixed length, so a model must cope with any number of inputs.
The four answers of the course's notes, each a function or a module here:

- **naive sequence model** (나이브 시퀀스 모델): predict x_{t+1} from *everything* seen so far,
  x_1 … x_t.  :func:`naive_forecast` is the honest concrete version: the expanding mean, whose input
  grows with t.  A model that learned one weight per past value would need t weights at step t (and
  a single series holds one example of each length), which is why the models below fix the input.
- **autoregressive model** (자기회귀 모델) AR(τ): only the last τ values,
  ``x̂_{t+1} = f(x_{t-τ+1}, …, x_t)``.  :func:`fit_linear_ar` solves the linear one by least
  squares (Yule's 1927 model of the sunspots was AR(2)); :class:`FixedWindowAR` is an MLP on the
  window, trained by :func:`fit_window_model`.
- **Markov model** (마르코프 모델): AR(1), only the step just before (``tau=1``).
- **latent autoregressive model** (잠재 자기회귀 모델): a hidden state (은닉 상태) h_t = f(h_{t-1}, x_t)
  of fixed size summarises the whole past, and x̂_{t+1} = g(h_t).  :class:`LatentAR` is an Elman RNN
  (``seqlib.RNN``) with a linear read-out: the bridge to notebook 02.

Conventions.  The series is split in time (``val_fraction`` at the end validates, as
``seqlib.data.split_windows``: no label is in both parts) and **normalised** with the mean and
standard deviation of the training part only (``z = (x - mean) / std``); models see z, and every
error is reported back in the series' units (RMSE × std).  Windows are oldest first:
``window[:, -1]`` is x_t.  Shapes: B batch (number of windows), τ window length, T time steps,
H hidden size.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor, nn

from seqlib import _checks
from seqlib.data import split_windows
from seqlib.recurrent import RNN
from seqlib.train import train

__all__ = [
    "Standardizer",
    "split_point",
    "NaiveForecast",
    "naive_forecast",
    "LinearAR",
    "FixedWindowAR",
    "ARFit",
    "fit_linear_ar",
    "ARSweep",
    "linear_ar_sweep",
    "fit_window_model",
    "multi_step_forecast",
    "MultiStepResult",
    "k_step_ahead",
    "LatentAR",
    "LatentFit",
    "fit_latent_ar",
    "past_influence",
]


# --- normalisation and the split ---------------------------------------------------------------


def _as_series(series: np.ndarray | Tensor | Sequence[float]) -> np.ndarray:
    values = series.detach().cpu().numpy() if isinstance(series, Tensor) else np.asarray(series)
    values = values.astype(np.float64)
    if values.ndim != 1:
        raise ValueError(f"series must be 1-D, got shape {values.shape}")
    if not np.isfinite(values).all():
        raise ValueError("series contains NaN or infinite values")
    return values


def split_point(length: int, val_fraction: float = 0.2) -> int:
    """Index of the first validation value: ``round(length * (1 - val_fraction))`` (as ``split_windows``)."""
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must lie strictly between 0 and 1, got {val_fraction}")
    cut = int(round(length * (1.0 - val_fraction)))
    if cut < 2 or cut >= length:
        raise ValueError(f"a series of {length} values is too short to split with val_fraction={val_fraction}")
    return cut


@dataclass(frozen=True)
class Standardizer:
    """z = (x - mean) / std with the training part's statistics; ``inverse`` maps back to units."""

    mean: float
    std: float

    @classmethod
    def fit(cls, train_values: np.ndarray) -> Standardizer:
        std = float(np.std(train_values))
        if not std > 0:
            raise ValueError("the training part of the series is constant: it cannot be normalised")
        return cls(float(np.mean(train_values)), std)

    def __call__(self, values: np.ndarray) -> np.ndarray:
        return (np.asarray(values, dtype=np.float64) - self.mean) / self.std

    def inverse(self, z: np.ndarray) -> np.ndarray:
        return np.asarray(z, dtype=np.float64) * self.std + self.mean


def _rmse(predictions: np.ndarray, targets: np.ndarray) -> float:
    return float(np.sqrt(np.mean((np.asarray(predictions) - np.asarray(targets)) ** 2)))


# --- the naive model: everything so far ---------------------------------------------------------


@dataclass(frozen=True)
class NaiveForecast:
    """The expanding mean as a forecaster: ``predictions[t-1] = mean(x_0 … x_{t-1})`` forecasts x_t.

    ``inputs_read[t-1] = t``: the number of values the model reads to make that forecast (it grows).
    ``val_predictions``/``val_labels`` are the forecasts and true values from ``cut`` on (units).
    """

    predictions: np.ndarray
    inputs_read: np.ndarray
    cut: int
    train_rmse: float
    val_rmse: float
    val_predictions: np.ndarray
    val_labels: np.ndarray


def naive_forecast(series: np.ndarray | Tensor, val_fraction: float = 0.2) -> NaiveForecast:
    """The naive sequence model: forecast x_t from *all* of x_0 … x_{t-1} (here: their mean).

    It takes any number of inputs, but its input grows with t (forecasting x_1 … x_{T-1} of a series of T
    values reads 1 + 2 + … + (T − 1) = T(T − 1)/2 values), and it has no way to weigh recent values more.
    """
    values = _as_series(series)
    cut = split_point(len(values), val_fraction)
    inputs_read = np.arange(1, len(values))
    predictions = np.cumsum(values)[:-1] / inputs_read  # mean of x_0 … x_{t-1}, for t = 1 … T-1
    return NaiveForecast(
        predictions,
        inputs_read,
        cut,
        _rmse(predictions[: cut - 1], values[1:cut]),
        _rmse(predictions[cut - 1 :], values[cut:]),
        predictions[cut - 1 :],
        values[cut:],
    )


# --- fixed-window autoregressive models ---------------------------------------------------------


class LinearAR(nn.Module):
    """Linear AR(τ): x̂_{t+1} = w · (x_{t-τ+1}, …, x_t) + b.  ``forward(windows (B, τ)) -> (B,)``."""

    def __init__(self, tau: int) -> None:
        super().__init__()
        _check_tau(tau)
        self.tau = tau
        self.linear = nn.Linear(tau, 1)

    def forward(self, windows: Tensor) -> Tensor:
        _check_windows(windows, self.tau)
        return self.linear(windows).squeeze(-1)  # (B,)


class FixedWindowAR(nn.Module):
    """AR(τ) as an MLP: τ inputs → ``hidden`` ReLU units → 1 output.

    ``forward(windows (B, τ)) -> (B,)``: the next value after each window (oldest value first).
    """

    def __init__(self, tau: int, hidden: int = 16) -> None:
        super().__init__()
        _check_tau(tau)
        _checks.positive_int("hidden", hidden)
        self.tau, self.hidden = tau, hidden
        self.net = nn.Sequential(nn.Linear(tau, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def forward(self, windows: Tensor) -> Tensor:
        _check_windows(windows, self.tau)
        return self.net(windows).squeeze(-1)  # (B,)


def _check_tau(tau: object) -> None:
    _checks.positive_int("tau", tau)


def _check_windows(windows: Tensor, tau: int) -> None:
    if not isinstance(windows, Tensor) or windows.dim() != 2 or windows.shape[1] != tau:
        shape = tuple(windows.shape) if isinstance(windows, Tensor) else type(windows).__name__
        raise ValueError(f"windows must be a tensor of shape (B, tau={tau}), got {shape}")


@dataclass(frozen=True)
class ARFit:
    """A fitted AR(τ) model and its one-step-ahead errors in the series' units.

    ``model`` maps normalised windows (B, τ) to normalised forecasts (B,); ``scaler`` converts.
    ``val_predictions``/``val_labels`` (units) are at series positions ``val_label_index``.
    ``loss_history`` is the training MSE (normalised) per step for the MLP, empty for least squares.
    """

    kind: str
    tau: int
    model: nn.Module
    scaler: Standardizer
    cut: int
    train_rmse: float
    val_rmse: float
    val_predictions: np.ndarray
    val_labels: np.ndarray
    val_label_index: np.ndarray
    num_parameters: int
    loss_history: list[float] = field(default_factory=list, repr=False)

    @property
    def weights(self) -> np.ndarray:
        """The linear model's τ weights, oldest lag first (normalised units); only for ``kind="linear"``."""
        if not isinstance(self.model, LinearAR):
            raise ValueError(f"a {self.kind} AR model has no single weight vector")
        return self.model.linear.weight.detach().double().numpy()[0]


def _windows(series: np.ndarray, tau: int, val_fraction: float):
    """Normalised series, scaler, cut and the split windows (float32), with readable errors."""
    cut = split_point(len(series), val_fraction)
    _check_tau(tau)
    if cut - tau < 1:
        raise ValueError(
            f"tau={tau} is too large for this series: its training part has {cut} values, "
            f"so no window of {tau} values has a training label"
        )
    scaler = Standardizer.fit(series[:cut])
    z = scaler(series)
    return z, scaler, cut, split_windows(z, tau, val_fraction)


def _evaluate(kind, tau, model, scaler, cut, split, history=None) -> ARFit:
    with torch.no_grad():
        train_pred = model(split.train_features).double().numpy()
        val_pred = model(split.val_features).double().numpy()
    units = scaler.std
    return ARFit(
        kind,
        tau,
        model,
        scaler,
        cut,
        _rmse(train_pred, split.train_labels.double().numpy()) * units,
        _rmse(val_pred, split.val_labels.double().numpy()) * units,
        scaler.inverse(val_pred),
        scaler.inverse(split.val_labels.double().numpy()),
        split.val_label_index.numpy(),
        sum(p.numel() for p in model.parameters()),
        list(history or []),
    )


def fit_linear_ar(series: np.ndarray | Tensor, tau: int, val_fraction: float = 0.2) -> ARFit:
    """Linear AR(τ) by least squares on the training windows (closed form, instant).

    Minimises Σ (w · window + b − label)² over the training windows.  Refused when there are fewer
    training windows than unknowns (τ + 1): the least-squares problem would be underdetermined and
    the fit would interpolate the training data exactly.
    """
    values = _as_series(series)
    _, scaler, cut, split = _windows(values, tau, val_fraction)
    n_train = len(split.train_labels)
    if n_train < tau + 1:
        raise ValueError(
            f"tau={tau} is too large for this series: {n_train} training windows for {tau + 1} unknowns "
            f"(tau weights + bias), so least squares is underdetermined; use tau <= {(cut - 1) // 2}"
        )
    X = split.train_features.double()  # (N, τ)
    design = torch.cat([X, torch.ones(n_train, 1, dtype=X.dtype)], dim=1)  # (N, τ+1): last column = bias
    # QR least squares in torch (its thread count is fixed by seed_everything; NumPy's BLAS is not)
    solution = torch.linalg.lstsq(design, split.train_labels.double().unsqueeze(1), driver="gelsy").solution[:, 0]
    model = LinearAR(tau)
    with torch.no_grad():
        model.linear.weight.copy_(solution[:tau].float().unsqueeze(0))
        model.linear.bias.fill_(float(solution[tau]))
    return _evaluate("linear", tau, model, scaler, cut, split)


@dataclass(frozen=True)
class ARSweep:
    """Train and validation RMSE (units) of linear AR(τ) for each τ in ``taus``."""

    taus: np.ndarray
    train_rmse: np.ndarray
    val_rmse: np.ndarray

    @property
    def best_tau(self) -> int:
        return int(self.taus[int(np.argmin(self.val_rmse))])


def linear_ar_sweep(series: np.ndarray | Tensor, taus: Sequence[int], val_fraction: float = 0.2) -> ARSweep:
    """:func:`fit_linear_ar` for every τ in ``taus`` (each must be fittable)."""
    fits = [fit_linear_ar(series, int(tau), val_fraction) for tau in taus]
    return ARSweep(
        np.array([f.tau for f in fits]), np.array([f.train_rmse for f in fits]), np.array([f.val_rmse for f in fits])
    )


def fit_window_model(
    series: np.ndarray | Tensor,
    tau: int,
    hidden: int = 16,
    steps: int = 300,
    lr: float = 0.01,
    seed: int = 0,
    val_fraction: float = 0.2,
) -> ARFit:
    """Train a :class:`FixedWindowAR` (MLP on the last τ values) deterministically.

    Full-batch Adam on the mean squared error of the normalised training windows for exactly
    ``steps`` steps; the initial weights come from ``seed`` (the global RNG is left untouched).
    """
    values = _as_series(series)
    _, scaler, cut, split = _windows(values, tau, val_fraction)
    _checks.positive_int("steps", steps)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = FixedWindowAR(tau, hidden)
    def loss_fn(_) -> Tensor:  # full batch: every step sees all training windows
        return ((model(split.train_features) - split.train_labels) ** 2).mean()

    result = train(model, itertools.repeat(None), loss_fn, lr=lr, max_steps=steps, eval_every=steps)
    return _evaluate("mlp", tau, model.eval(), scaler, cut, split, result.losses)


# --- multi-step forecasts -------------------------------------------------------------------------


def multi_step_forecast(model: Callable[[Tensor], Tensor], history: Tensor, steps: int) -> Tensor:
    """Forecast ``steps`` values by feeding each prediction back in as the newest input.

    Args:
        model: windows (B, τ) → next values (B,), e.g. a :class:`LinearAR` or :class:`FixedWindowAR`.
        history: (B, τ) the last τ known values of each series (oldest first), or (τ,) for one.
        steps: k, how far ahead.

    Returns:
        (B, k) forecasts (or (k,)): column j is the (j+1)-step-ahead forecast.  Only column 0 is
        made from true values; later columns read earlier forecasts, so their errors compound.
    """
    _checks.positive_int("steps", steps)
    single = history.dim() == 1
    window = history.unsqueeze(0) if single else history  # (B, τ)
    forecasts = []
    with torch.no_grad():
        for _ in range(steps):
            next_value = model(window)  # (B,)
            forecasts.append(next_value)
            window = torch.cat([window[:, 1:], next_value.unsqueeze(1)], dim=1)  # slide: drop oldest
    out = torch.stack(forecasts, dim=1)  # (B, k)
    return out[0] if single else out


@dataclass(frozen=True)
class MultiStepResult:
    """k-step-ahead forecasts of every validation value, for each k in ``ks``.

    ``predictions[k]`` (units) is aligned with ``labels``/``label_index``: the forecast of
    x_i made at time i − k from true values up to x_{i-k} only.  ``rmse[k]`` is its RMSE.
    """

    ks: tuple[int, ...]
    label_index: np.ndarray
    labels: np.ndarray
    predictions: dict[int, np.ndarray]
    rmse: dict[int, float]


def k_step_ahead(fit: ARFit, series: np.ndarray | Tensor, ks: Sequence[int] = (1, 4, 16)) -> MultiStepResult:
    """Forecast every validation value k steps ahead with a fitted AR model (predictions fed back)."""
    values = _as_series(series)
    ks = tuple(int(k) for k in ks)
    if not ks or min(ks) < 1:
        raise ValueError(f"ks must be positive ints, got {ks}")
    z = torch.from_numpy(fit.scaler(values)).float()
    targets = np.arange(fit.cut, len(values))  # every validation position i
    deepest = int(targets[0]) - max(ks) - fit.tau + 1
    if deepest < 0:
        raise ValueError(f"k={max(ks)} with tau={fit.tau} reaches before the start of the series")
    predictions, rmse = {}, {}
    for k in ks:
        origins = targets - k  # the last known value
        idx = torch.from_numpy(origins[:, None] - fit.tau + 1 + np.arange(fit.tau))  # (N, τ)
        forecast = multi_step_forecast(fit.model, z[idx], k)[:, -1].double().numpy()  # (N,)
        predictions[k] = fit.scaler.inverse(forecast)
        rmse[k] = _rmse(predictions[k], values[targets])
    return MultiStepResult(ks, targets, values[targets], predictions, rmse)


# --- the latent autoregressive model ------------------------------------------------------------


class LatentAR(nn.Module):
    """Latent autoregressive model: a hidden state of fixed size H summarises the whole past.

    h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)      (``self.rnn``, a ``seqlib.RNN``)
    x̂_{t+1} = w · h_t + b                                  (``self.readout``)

    ``forward(x (B, T)) -> (forecasts (B, T), states (B, T, H))``: ``forecasts[:, t]`` predicts
    x_{t+1} from x_0 … x_t, whatever T is; the state never grows.
    """

    def __init__(self, hidden_size: int = 8) -> None:
        super().__init__()
        self.hidden_size = hidden_size
        self.rnn = RNN(1, hidden_size, batch_first=True)
        self.readout = nn.Linear(hidden_size, 1)

    def forward(self, x: Tensor, h0: Tensor | None = None) -> tuple[Tensor, Tensor]:
        if not isinstance(x, Tensor) or x.dim() != 2:
            raise ValueError(f"x must be a tensor of shape (B, T), got {getattr(x, 'shape', type(x).__name__)}")
        hx = None if h0 is None else h0.unsqueeze(0)  # (1, B, H)
        states, _ = self.rnn(x.unsqueeze(-1), hx)  # (B, T, H)
        return self.readout(states).squeeze(-1), states  # (B, T), (B, T, H)

    def step(self, x_t: Tensor, h: Tensor) -> Tensor:
        """One state update h_t = f(h_{t-1}, x_t): ``x_t`` (B,), ``h`` (B, H) → (B, H)."""
        W_ih, W_hh = self.rnn.weight_ih_l0, self.rnn.weight_hh_l0  # (H, 1), (H, H)
        # h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)
        return torch.tanh(x_t.unsqueeze(-1) @ W_ih.T + self.rnn.bias_ih_l0 + h @ W_hh.T + self.rnn.bias_hh_l0)


@dataclass(frozen=True)
class LatentFit:
    """A trained :class:`LatentAR` and its one-step-ahead errors (units), like :class:`ARFit`."""

    model: LatentAR
    scaler: Standardizer
    cut: int
    train_rmse: float
    val_rmse: float
    val_predictions: np.ndarray
    val_labels: np.ndarray
    val_label_index: np.ndarray
    num_parameters: int
    loss_history: list[float] = field(default_factory=list, repr=False)


def fit_latent_ar(
    series: np.ndarray | Tensor,
    hidden_size: int = 8,
    steps: int = 150,
    lr: float = 0.02,
    seed: int = 0,
    chunk: int = 24,
    warmup: int = 6,
    val_fraction: float = 0.2,
) -> LatentFit:
    """Train a :class:`LatentAR` on the training part, deterministically.

    Every training subsequence of ``chunk + 1`` values is a batch row (full-batch Adam, ``steps``
    steps); the state starts at zero in each row, so the first ``warmup`` forecasts of a row (made
    from a state that has seen little) are not scored.  To evaluate, the state runs once over the
    whole series from the start, so each forecast uses the entire past; the training RMSE skips
    the first ``warmup`` forecasts as well.
    """
    values = _as_series(series)
    cut = split_point(len(values), val_fraction)
    if not 0 <= warmup < chunk or cut <= chunk + 1:
        raise ValueError(f"need 0 <= warmup < chunk < training length - 1, got {warmup}, {chunk}, {cut}")
    scaler = Standardizer.fit(values[:cut])
    z = torch.from_numpy(scaler(values)).float()
    rows = torch.arange(cut - chunk)[:, None] + torch.arange(chunk + 1)  # (B, chunk+1), labels < cut
    inputs, targets = z[rows[:, :-1]], z[rows[:, 1:]]  # (B, chunk) each
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = LatentAR(hidden_size)

    def loss_fn(_) -> Tensor:  # full batch: every chunk, every step
        forecasts, _ = model(inputs)  # (B, chunk)
        return ((forecasts[:, warmup:] - targets[:, warmup:]) ** 2).mean()

    history = train(model, itertools.repeat(None), loss_fn, lr=lr, max_steps=steps, eval_every=steps).losses
    model.eval()
    with torch.no_grad():
        forecasts, _ = model(z[:-1].unsqueeze(0))  # forecasts[0, i-1] predicts x_i
    predicted = scaler.inverse(forecasts[0].double().numpy())
    train_rmse = _rmse(predicted[warmup : cut - 1], values[warmup + 1 : cut])
    val_rmse = _rmse(predicted[cut - 1 :], values[cut:])
    return LatentFit(
        model,
        scaler,
        cut,
        train_rmse,
        val_rmse,
        predicted[cut - 1 :],
        values[cut:],
        np.arange(cut, len(values)),
        sum(p.numel() for p in model.parameters()),
        history,
    )


def past_influence(model: nn.Module, history: np.ndarray | Tensor) -> np.ndarray:
    """|∂ x̂_{t+1} / ∂ x_{t-j}| for lags j = 0 … len(history) − 1 (lag 0 = the newest value).

    ``history`` (normalised, oldest first) is everything known at time t.  For an AR(τ) model
    (:class:`LinearAR`, :class:`FixedWindowAR`) the forecast reads only the last τ values, so the
    influence is exactly 0 beyond lag τ − 1; for a :class:`LatentAR` the state carries every value.
    """
    x = torch.as_tensor(np.asarray(history, dtype=np.float32)).clone().requires_grad_(True)  # (T,)
    if x.dim() != 1:
        raise ValueError(f"history must be 1-D, got shape {tuple(x.shape)}")
    if isinstance(model, LatentAR):
        forecast = model(x.unsqueeze(0))[0][0, -1]
    elif isinstance(model, LinearAR | FixedWindowAR):
        if len(x) < model.tau:
            raise ValueError(f"history has {len(x)} values, fewer than tau={model.tau}")
        forecast = model(x[-model.tau :].unsqueeze(0))[0]
    else:
        raise TypeError(f"model must be a LinearAR, FixedWindowAR or LatentAR, got {type(model).__name__}")
    (grad,) = torch.autograd.grad(forecast, x, allow_unused=True)
    influence = np.zeros(len(x)) if grad is None else grad.abs().double().numpy()
    return influence[::-1].copy()  # lag 0 first

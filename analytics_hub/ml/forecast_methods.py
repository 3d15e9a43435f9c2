"""The individual forecasting methods, each a plain function from a regular series to a path with an 80% interval.

Every method takes ``(y, horizon, season)`` where ``y`` is already regular (see ``series.regular_series``) with
at least two values, and returns a :class:`Path`; :data:`METHODS` is the registry (and whitelist) of them.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analytics_hub.ml.series import future_index

INTERVAL_LEVEL = 0.8  # two-sided coverage of ``lower``..``upper``
_Z = 1.2815515655446004  # standard normal quantile of 0.9, i.e. the half-width of an 80% interval in sigmas
_SIMULATIONS = 400  # sample paths drawn for Holt-Winters intervals
_HW_RECENT_SEASONS = 10  # Holt-Winters fits on the last 10 seasons (at least _HW_MIN_RECENT points)
_HW_MIN_RECENT = 300


@dataclass(frozen=True)
class Path:
    """A forecast as plain arrays of length ``horizon``: point forecast and the 80% interval around it."""

    mean: np.ndarray
    lower: np.ndarray
    upper: np.ndarray

    @classmethod
    def ordered(cls, mean: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> Path:
        """A path whose bounds are forced around the mean (lower <= mean <= upper), NaN-free."""
        mean = np.asarray(mean, float)
        lower = np.where(np.isfinite(lower), lower, mean)
        upper = np.where(np.isfinite(upper), upper, mean)
        return cls(mean, np.minimum(lower, mean), np.maximum(upper, mean))


MethodFunction = Callable[[pd.Series, int, "int | None"], Path]


@contextmanager
def quiet_fitting() -> Iterator[None]:
    """Silence the numerical warnings model fitting emits (convergence, overflow), only around the fit itself."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        yield


def usable_season(season: int | None, n: int) -> int | None:
    """``season`` when the series holds at least two whole seasons of it, else None (no seasonal component)."""
    if season is None or season < 2 or n < 2 * season:
        return None
    return season


# ------------------------------------------------------------------------------------------------ naive family


def naive(y: pd.Series, horizon: int, season: int | None = None) -> Path:
    """Repeat the last value; the interval widens with the square root of the steps ahead (random walk)."""
    values = y.to_numpy(float)
    steps = np.arange(1, horizon + 1)
    sigma = _residual_sigma(np.diff(values))
    mean = np.full(horizon, values[-1])
    return Path.ordered(mean, mean - _Z * sigma * np.sqrt(steps), mean + _Z * sigma * np.sqrt(steps))


def seasonal_naive(y: pd.Series, horizon: int, season: int | None = None) -> Path:
    """Repeat the last observed season; falls back to :func:`naive` without a season one full cycle long."""
    values = y.to_numpy(float)
    if season is None or season < 2 or len(values) < season + 1:
        return naive(y, horizon)
    steps = np.arange(horizon)
    mean = values[len(values) - season + steps % season]
    sigma = _residual_sigma(values[season:] - values[:-season])
    spread = _Z * sigma * np.sqrt(steps // season + 1)
    return Path.ordered(mean, mean - spread, mean + spread)


def _residual_sigma(residuals: np.ndarray) -> float:
    residuals = residuals[np.isfinite(residuals)]
    if len(residuals) < 2:
        return 0.0
    return float(np.sqrt(np.mean(residuals**2)))


# ------------------------------------------------------------------------------------------------ Holt-Winters


@dataclass(frozen=True)
class HoltWintersConfig:
    """The shape of an exponential smoothing model: trend (None/add), damping, seasonality (None/add/mul)."""

    trend: str | None
    damped: bool
    seasonal: str | None


@dataclass(frozen=True)
class HoltWintersModel:
    """A chosen shape and its fitted parameters, reused as the optimiser's start when refitting on less data."""

    config: HoltWintersConfig
    params: np.ndarray | None


def holt_winters(y: pd.Series, horizon: int, season: int | None = None) -> Path:
    """Holt-Winters exponential smoothing whose trend and seasonality are chosen by AICc (see ``choose_model``)."""
    values = recent(y.to_numpy(float), season)
    return holt_winters_path(values, horizon, season, choose_model(values, season))


def recent(values: np.ndarray, season: int | None) -> np.ndarray:
    """The tail of a long series that exponential smoothing effectively uses; keeps fits fast on long inputs."""
    return values[-max(_HW_MIN_RECENT, _HW_RECENT_SEASONS * (season or 1)) :]


def choose_model(values: np.ndarray, season: int | None) -> HoltWintersModel:
    """Seasonality first (none/additive/multiplicative under a damped trend), then the trend, each by lowest AICc."""
    n = len(values)
    season = usable_season(season, n)
    if n < 4:
        return HoltWintersModel(HoltWintersConfig(None, False, None), None)
    seasonals: list[str | None] = [None]
    if season is not None:
        seasonals += ["add", "mul"] if np.all(values > 0) else ["add"]
    trend_ok = n >= 10 + (season or 0)
    base_trend = ("add", True) if trend_ok else (None, False)
    fits = {config: _fit(values, season, config) for config in (HoltWintersConfig(*base_trend, s) for s in seasonals)}
    seasonal = min(fits, key=lambda config: _aicc(fits[config])).seasonal
    if trend_ok:
        for trend, damped in ((None, False), ("add", False)):
            config = HoltWintersConfig(trend, damped, seasonal)
            fits[config] = _fit(values, season, config)
    best = min(fits, key=lambda config: _aicc(fits[config]))
    result = fits[best]
    return HoltWintersModel(best, None if result is None else np.asarray(result.params_formatted["param"], float))


def holt_winters_path(values: np.ndarray, horizon: int, season: int | None, model: HoltWintersModel) -> Path:
    """Fit one Holt-Winters shape and simulate its future for the interval (fixed seed, so reproducible)."""
    season = usable_season(season, len(values))
    config, start = model.config, model.params
    if config.seasonal is not None and season is None:
        config, start = HoltWintersConfig(config.trend, config.damped, None), None
    if len(values) < 4:
        return naive(pd.Series(values), horizon)
    result = _fit(values, season, config, start)
    if result is None:
        return naive(pd.Series(values), horizon)
    with quiet_fitting():
        mean = np.asarray(result.forecast(horizon), float)
        paths = np.asarray(
            result.simulate(horizon, repetitions=_SIMULATIONS, error="add", anchor="end", random_state=0), float
        ).reshape(horizon, -1)
        lower, upper = np.nanquantile(paths, [0.1, 0.9], axis=1)
    if not np.all(np.isfinite(mean)):
        return naive(pd.Series(values), horizon)
    return Path.ordered(mean, lower, upper)


def _fit(values: np.ndarray, season: int | None, config: HoltWintersConfig, start: np.ndarray | None = None):
    """statsmodels' ExponentialSmoothing fit (None when it cannot be fitted); ``start`` skips the brute-force search."""
    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    with quiet_fitting():
        try:
            model = ExponentialSmoothing(
                values,
                trend=config.trend,
                damped_trend=config.damped,
                seasonal=config.seasonal,
                seasonal_periods=season if config.seasonal else None,
                initialization_method="estimated",
            )
            if start is not None:
                try:
                    return model.fit(start_params=start, use_brute=False)
                except ValueError:  # the start does not suit this data (e.g. a multiplicative start below zero)
                    pass
            return model.fit()
        except (ValueError, np.linalg.LinAlgError, ZeroDivisionError):
            return None


def _aicc(result) -> float:
    score = np.inf if result is None else float(result.aicc)
    return score if np.isfinite(score) else np.inf


# ------------------------------------------------------------------------------------------------ Theta


def theta(y: pd.Series, horizon: int, season: int | None = None, *, interval: bool = True) -> Path:
    """The Theta method (SES with drift on the deseasonalised series), strong on trending yearly/quarterly data."""
    from statsmodels.tsa.forecasting.theta import ThetaModel

    values = y.to_numpy(float)
    if len(values) < 4:
        return naive(y, horizon)
    season = usable_season(season, len(values))
    with quiet_fitting():
        try:
            result = ThetaModel(values, period=season or 1, deseasonalize=season is not None).fit()
            mean = np.asarray(result.forecast(horizon), float)
            if not np.all(np.isfinite(mean)):
                return naive(y, horizon)
            if not interval:  # the interval needs an extra ARIMA fit; backtests only score the mean
                return Path.ordered(mean, mean, mean)
            bounds = np.asarray(result.prediction_intervals(horizon, alpha=1 - INTERVAL_LEVEL), float)
        except (ValueError, np.linalg.LinAlgError, ZeroDivisionError):
            return naive(y, horizon)
    return Path.ordered(mean, bounds[:, 0], bounds[:, 1])


# ------------------------------------------------------------------------------------------------ Prophet


def prophet(y: pd.Series, horizon: int, season: int | None = None) -> Path:
    """Facebook Prophet with its default calendar seasonalities (or ``season`` on an integer index), logs muted."""
    if len(y) < 3:
        return naive(y, horizon)
    _mute_prophet_logs()
    from prophet import Prophet

    dated = isinstance(y.index, pd.DatetimeIndex)
    if dated:
        dates = y.index.tz_localize(None) if y.index.tz is not None else y.index
        future = future_index(y.index, horizon)
        future = future.tz_localize(None) if getattr(future, "tz", None) is not None else future
    else:
        dates = pd.date_range("2000-01-01", periods=len(y), freq="D")
        future = pd.date_range(dates[-1], periods=horizon + 1, freq="D")[1:]
    model = Prophet(
        interval_width=INTERVAL_LEVEL,
        uncertainty_samples=300,
        weekly_seasonality="auto" if dated else False,
        yearly_seasonality="auto" if dated else False,
    )
    if not dated and season is not None and season >= 2 and len(y) >= 2 * season:
        model.add_seasonality(name="season", period=season, fourier_order=max(1, min(5, season // 2)))
    history = pd.DataFrame({"ds": np.asarray(dates), "y": y.to_numpy(float)})
    with quiet_fitting():
        model.fit(history)
        frame = model.predict(pd.DataFrame({"ds": np.asarray(future)}))
    return Path.ordered(frame["yhat"].to_numpy(), frame["yhat_lower"].to_numpy(), frame["yhat_upper"].to_numpy())


def _mute_prophet_logs() -> None:
    """Keep cmdstanpy's per-fit INFO chatter (and prophet's notices) off the console.

    A handler of our own stops cmdstanpy from attaching its console handler when it first logs.
    """
    for name in ("cmdstanpy", "prophet", "prophet.plot"):
        logger = logging.getLogger(name)
        logger.setLevel(logging.ERROR)
        logger.propagate = False
        if not any(isinstance(handler, logging.NullHandler) for handler in logger.handlers):
            logger.addHandler(logging.NullHandler())


METHODS: dict[str, MethodFunction] = {
    "holt_winters": holt_winters,
    "naive": naive,
    "prophet": prophet,
    "seasonal_naive": seasonal_naive,
    "theta": theta,
}

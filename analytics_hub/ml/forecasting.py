"""Forecast a time series ``horizon`` periods ahead with a chosen or automatically selected method.

``forecast(y, horizon)`` returns a :class:`Forecast` on the future index (y's frequency; integers continue an
integer index) with an 80% prediction interval. Methods are registered in ``forecast_methods.METHODS``; ``auto`` is
``forecast_selection.choose``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analytics_hub.ml.errors import AnalyticsError
from analytics_hub.ml.forecast_methods import INTERVAL_LEVEL, METHODS, Path, naive
from analytics_hub.ml.forecast_selection import choose
from analytics_hub.ml.series import future_index, infer_season_length, regular_series, time_index

AUTO = "auto"
_MINIMUM_POINTS = {"holt_winters": 4, "theta": 4, "prophet": 3, "seasonal_naive": 2, "naive": 2}
# Calendar frequencies tried, coarsest first, when a datetime index has gaps and pandas cannot infer its frequency.
_CALENDAR_FREQUENCIES = ("YS", "YE", "QS", "QE", "MS", "ME", "SMS", "SME", "B")
_MAX_GAP_SHARE = 0.5  # a grid is accepted for a gappy index when at most half of its slots are missing


class ForecastError(AnalyticsError):
    """A forecast that cannot be made from the given input (bad arguments or too little data)."""


@dataclass(frozen=True)
class Forecast:
    """Point forecast and 80% interval (``lower`` <= ``mean`` <= ``upper``) on the future index, and the method used."""

    mean: pd.Series
    lower: pd.Series
    upper: pd.Series
    method: str
    season_length: int | None
    interval_level: float = INTERVAL_LEVEL
    backtest_errors: dict[str, float] | None = None


def valid_methods() -> tuple[str, ...]:
    """Every name ``forecast(method=...)`` accepts."""
    return (AUTO, *sorted(METHODS))


def forecast(y: pd.Series, horizon: int, *, season_length: int | None = None, method: str = AUTO) -> Forecast:
    """Forecast ``y`` for the ``horizon`` periods after its last label; ``season_length`` None infers it."""
    _check_arguments(horizon, season_length, method)
    original = y.index if isinstance(y, pd.Series) else None
    series = prepare_series(y.set_axis(time_index(y.index)) if original is not None else y)
    season = season_length if season_length is not None else infer_season_length(series.index)
    season = season if season is not None and season >= 2 else None
    scores = None
    if method == AUTO:
        choice = choose(series, horizon, season)
        used, path, scores = choice.method, choice.path, choice.scores
    else:
        used, path = _run(method, series, horizon, season)
    index = future_index(series.index, horizon)
    if isinstance(original, pd.PeriodIndex) and isinstance(index, pd.DatetimeIndex):
        index = index.to_period(original.freq)  # periods in, periods out
    return Forecast(
        mean=pd.Series(path.mean, index=index, name="mean"),
        lower=pd.Series(path.lower, index=index, name="lower"),
        upper=pd.Series(path.upper, index=index, name="upper"),
        method=used,
        season_length=season,
        backtest_errors=scores,
    )


def prepare_series(y: pd.Series) -> pd.Series:
    """``y`` as sorted floats on a regular grid with gaps and NaNs interpolated; at least two real values required."""
    if not isinstance(y, pd.Series):
        raise ForecastError("Expected a pandas Series of values to forecast.", detail=f"got {type(y).__name__}")
    numeric = pd.to_numeric(y, errors="coerce").astype(float).replace([np.inf, -np.inf], np.nan)
    present = int(numeric.notna().sum())
    if present < 2:
        raise ForecastError(
            f"At least 2 values are needed to forecast; this series has {present}.",
            detail=f"length {len(y)}, non-missing numeric values {present}",
        )
    if isinstance(numeric.index, pd.DatetimeIndex):
        numeric = _on_calendar_grid(numeric)
    return regular_series(numeric)


def _check_arguments(horizon: int, season_length: int | None, method: str) -> None:
    if method != AUTO and method not in METHODS:
        raise ForecastError(
            f"Unknown forecasting method {method!r}. Choose one of: {', '.join(valid_methods())}.",
            detail=f"method={method!r}",
        )
    if isinstance(horizon, bool) or not isinstance(horizon, int | np.integer) or horizon < 1:
        raise ForecastError("The horizon must be a whole number of periods, 1 or more.", detail=f"horizon={horizon!r}")
    if season_length is not None and (not isinstance(season_length, int | np.integer) or season_length < 1):
        raise ForecastError(
            "The season length must be a whole number of periods, 1 or more.", detail=f"season_length={season_length!r}"
        )


def _run(method: str, series: pd.Series, horizon: int, season: int | None) -> tuple[str, Path]:
    """Run a named method, falling back to the naive forecast when the series is too short for it."""
    if len(series) < _MINIMUM_POINTS[method] or np.ptp(series.to_numpy()) == 0:
        return "naive", naive(series, horizon)
    return method, METHODS[method](series, horizon, season)


def _on_calendar_grid(values: pd.Series) -> pd.Series:
    """Reindex a gappy datetime series onto the calendar grid its labels sit on (monthly, quarterly, hourly, ...)."""
    index = values.index[~values.index.isna()].sort_values().unique()
    if len(index) < 3 or index.freq is not None or pd.infer_freq(index) is not None:
        return values
    for freq in (*_CALENDAR_FREQUENCIES, _fixed_step(index)):
        if freq is None:
            continue
        grid = pd.date_range(index[0], index[-1], freq=freq)
        if len(grid) and grid[0] == index[0] and index.isin(grid).all() and len(index) >= _MAX_GAP_SHARE * len(grid):
            kept = values[~values.index.isna()].sort_index()
            return kept[~kept.index.duplicated(keep="last")].reindex(grid)
    return values


def _fixed_step(index: pd.DatetimeIndex) -> pd.Timedelta | None:
    """The largest step every gap is a whole multiple of (days, hours, minutes ...), or None."""
    nanoseconds = np.diff(index.as_unit("ns").asi8)
    step = math.gcd(*(int(s) for s in nanoseconds if s > 0))
    return pd.Timedelta(step, unit="ns") if step else None

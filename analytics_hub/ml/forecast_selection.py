"""How ``method="auto"`` picks a forecast: a rolling-origin backtest of cheap methods (and their averages) on the tail.

Candidates are the seasonal naive method, Holt-Winters (its shape chosen once by AICc on the whole series), Theta and
the averages of those. The average of all three is the default, since combinations are the robust choice; another
candidate replaces it only when its mean absolute error over the last few held-out windows is clearly lower.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import numpy as np
import pandas as pd

from analytics_hub.ml.forecast_methods import (
    Path,
    choose_model,
    holt_winters_path,
    naive,
    recent,
    seasonal_naive,
    theta,
)

_ORIGINS = 5  # held-out windows in the backtest
_SWITCH_MARGIN = 0.1  # another candidate replaces the all-method average only when its error is 10% lower
_MIN_TRAIN = 8  # no backtest window leaves fewer training points than this


@dataclass(frozen=True)
class Choice:
    """The method ``auto`` settled on, its forecast, and the backtest error of every candidate (for display)."""

    method: str
    path: Path
    scores: dict[str, float]


def choose(y: pd.Series, horizon: int, season: int | None) -> Choice:
    """Backtest the candidates on the tail of ``y`` and forecast with the one whose held-out error is lowest."""
    values = y.to_numpy(float)
    n = len(values)
    season = season if season and season >= 2 else None
    if n < 4 or np.ptp(values) == 0:
        return Choice("naive", naive(y, horizon), {})
    keep = len(recent(values, season))  # the models fit the most recent ``keep`` points (fewer in early windows)
    model = choose_model(values[-keep:], season)
    candidates = {
        "seasonal_naive" if season else "naive": lambda v, h: seasonal_naive(pd.Series(v), h, season),
        "holt_winters": lambda v, h: holt_winters_path(v[-keep:], h, season, model),
        "theta": lambda v, h: theta(pd.Series(v[-keep:]), h, season),
    }
    windows = _windows(n, horizon, season)
    if not windows:
        return Choice("holt_winters", candidates["holt_winters"](values, horizon), {})
    scoring = {**candidates, "theta": lambda v, h: theta(pd.Series(v[-keep:]), h, season, interval=False)}
    errors = _backtest(values, windows, scoring)
    combined = f"ensemble({'+'.join(candidates)})"
    best = min(errors, key=errors.get)
    if errors[best] > (1 - _SWITCH_MARGIN) * errors[combined]:
        best = combined
    members = best.removeprefix("ensemble(").removesuffix(")").split("+")
    paths = [candidates[name](values, horizon) for name in members]
    return Choice(best, _average(paths), errors)


def _windows(n: int, horizon: int, season: int | None) -> list[tuple[int, int]]:
    """(train end, test end) of up to ``_ORIGINS`` back-to-back held-out windows ending at the series' end."""
    length = min(horizon, max(1, n // 5))
    least = max(_MIN_TRAIN, season + 1 if season else 0)
    return [(n - length * k, n - length * (k - 1)) for k in range(1, _ORIGINS + 1) if n - length * k >= least]


def _backtest(values: np.ndarray, windows: list[tuple[int, int]], candidates: dict) -> dict[str, float]:
    """Mean absolute error per candidate and per average of two or three of them, over the held-out windows."""
    forecasts: dict[str, list[np.ndarray]] = {name: [] for name in candidates}
    for train_end, test_end in windows:
        for name, run in candidates.items():
            forecasts[name].append(run(values[:train_end], test_end - train_end).mean)
    names = list(candidates)
    for size in (2, 3):
        for group in combinations(names, size):
            label = f"ensemble({'+'.join(group)})"
            forecasts[label] = [np.mean([forecasts[g][i] for g in group], axis=0) for i in range(len(windows))]
    actual = [values[start:end] for start, end in windows]
    return {
        name: float(np.mean(np.concatenate([np.abs(f - a) for f, a in zip(paths, actual, strict=True)])))
        for name, paths in forecasts.items()
    }


def _average(paths: list[Path]) -> Path:
    """The equal-weight combination of forecasts; its interval is the average of theirs."""
    if len(paths) == 1:
        return paths[0]
    return Path.ordered(
        np.mean([p.mean for p in paths], axis=0),
        np.mean([p.lower for p in paths], axis=0),
        np.mean([p.upper for p in paths], axis=0),
    )

"""Benchmark: ``detect_anomalies`` (default method) against IsolationForest on raw values, on labelled real series.

Takes the series shipped inside installed packages (statsmodels datasets; pmdarima's when it is installed) and, per
seed, injects anomalies at random positions whose neighbours hold no other anomaly: in the main scenario single-point
spikes and dips (70% of events) and 2-point bursts (30%), each 4-8 robust standard deviations of the series' own first
differences, about one event per 67 points (at least 3). Each detector's point-wise F1 against the labels is averaged
over series and seeds. The baseline is what a naive user would do:
``IsolationForest(random_state=seed).fit_predict(values.reshape(-1, 1))``. The target: the default detector's mean F1
is at least ``TARGET_RATIO`` (5) times the baseline's. A second scenario, reported separately and not part of the
target, replaces the bursts by level shifts of 3-5 points and draws all magnitudes from 3-6 robust standard
deviations. The last line printed is one JSON object.

    .venv/bin/python bench/anomaly_eval.py [--seeds 0 1 2 3 4]
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.ensemble import IsolationForest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from analytics_hub.ml.anomalies import detect_anomalies  # noqa: E402

TARGET_RATIO = 5.0
DEFAULT_SEED_COUNT = 5
EVENTS_PER_POINT = 0.015  # about one injected event per 67 points
MIN_EVENTS = 3
SINGLE_POINT_SHARE = 0.7
_NORMAL_MAD = 1.4826


@dataclass(frozen=True)
class Scenario:
    """What is injected: multi-point event lengths and magnitudes in robust standard deviations of first differences."""

    name: str
    event_lengths: tuple[int, ...]
    magnitude_range: tuple[float, float]


SPIKES_AND_BURSTS = Scenario("spikes_and_bursts", event_lengths=(2,), magnitude_range=(4.0, 8.0))
LEVEL_SHIFTS = Scenario("level_shift", event_lengths=(3, 4, 5), magnitude_range=(3.0, 6.0))


@dataclass(frozen=True)
class LabelledSeries:
    """A real series with injected anomalies and the mask of the points they changed."""

    name: str
    values: pd.Series
    labels: np.ndarray


def packaged_series() -> Iterator[tuple[str, pd.Series]]:
    """Real series shipped with statsmodels (and pmdarima when installed), indexed by their dates when known."""
    yield from _statsmodels_series()
    yield from _pmdarima_series()


def _statsmodels_series() -> Iterator[tuple[str, pd.Series]]:
    from statsmodels import datasets

    co2 = datasets.co2.load_pandas().data["co2"]
    yield "statsmodels.co2", co2
    macro = datasets.macrodata.load_pandas().data
    quarters = pd.period_range("1959Q1", periods=len(macro), freq="Q").to_timestamp()
    for column in ("realgdp", "realcons", "realinv", "cpi", "m1", "tbilrate", "unemp", "infl"):
        yield f"statsmodels.macrodata.{column}", pd.Series(macro[column].to_numpy(), index=quarters)
    sunspots = datasets.sunspots.load_pandas().data
    yield "statsmodels.sunspots", pd.Series(sunspots["SUNACTIVITY"].to_numpy(), index=sunspots["YEAR"].astype(int))
    nile = datasets.nile.load_pandas().data
    yield "statsmodels.nile", pd.Series(nile["volume"].to_numpy(), index=nile["year"].astype(int))
    elnino = datasets.elnino.load_pandas().data
    monthly = elnino.drop(columns="YEAR").to_numpy().ravel()
    months = pd.date_range(f"{int(elnino['YEAR'].iloc[0])}-01-01", periods=len(monthly), freq="MS")
    yield "statsmodels.elnino", pd.Series(monthly, index=months)


def _pmdarima_series() -> Iterator[tuple[str, pd.Series]]:
    try:
        from pmdarima import datasets
    except ImportError:
        return
    starts = {
        "airpassengers": ("1949-01-01", "MS"),
        "wineind": ("1980-01-01", "MS"),
        "woolyrnq": ("1965-01-01", "QS"),
        "austres": ("1971-04-01", "QS"),
        "ausbeer": ("1956-01-01", "QS"),
        "sunspots": ("1749-01-01", "MS"),
        "taylor": ("2000-06-05", "30min"),
        "lynx": None,
        "heartrate": None,
    }
    for name, start in starts.items():
        values = np.asarray(getattr(datasets, f"load_{name}")(as_series=False), dtype=float)
        if start is None:
            yield f"pmdarima.{name}", pd.Series(values)
        else:
            index = pd.date_range(start[0], periods=len(values), freq=start[1])
            yield f"pmdarima.{name}", pd.Series(values, index=index)


def inject_anomalies(
    name: str, y: pd.Series, rng: np.random.Generator, scenario: Scenario = SPIKES_AND_BURSTS
) -> LabelledSeries:
    """Single-point spikes and dips, and the scenario's multi-point events, sized by the series' own robust scale of
    first differences."""
    values = y.to_numpy(dtype=float).copy()
    labels = np.zeros(len(values), dtype=bool)
    scale = _robust_scale(np.diff(values[~np.isnan(values)]))
    taken = np.isnan(values).copy()
    events = max(MIN_EVENTS, int(round(EVENTS_PER_POINT * len(values))))
    for _ in range(events):
        length = 1 if rng.random() < SINGLE_POINT_SHARE else int(rng.choice(scenario.event_lengths))
        start = _free_start(taken, length, rng)
        if start is None:
            continue
        magnitude = rng.uniform(*scenario.magnitude_range) * scale * rng.choice((-1.0, 1.0))
        values[start : start + length] += magnitude
        labels[start : start + length] = True
        taken[max(0, start - 2) : start + length + 2] = True
    return LabelledSeries(name, pd.Series(values, index=y.index), labels)


def _free_start(taken: np.ndarray, length: int, rng: np.random.Generator) -> int | None:
    """A random start whose ``length`` points, and their neighbours, hold no other anomaly or missing value."""
    window = np.lib.stride_tricks.sliding_window_view(taken, length).any(axis=1)
    starts = np.flatnonzero(~window)
    return int(rng.choice(starts)) if len(starts) else None


def _robust_scale(values: np.ndarray) -> float:
    mad = float(np.median(np.abs(values - np.median(values))))
    return _NORMAL_MAD * mad if mad > 0 else float(np.std(values)) or 1.0


def f1_score(labels: np.ndarray, predicted: np.ndarray) -> float:
    """Point-wise F1 of predicted anomalies against the injected ones (0 when either side is empty)."""
    true_positive = int(np.sum(labels & predicted))
    if true_positive == 0:
        return 0.0
    precision = true_positive / int(np.sum(predicted))
    recall = true_positive / int(np.sum(labels))
    return 2 * precision * recall / (precision + recall)


def _predict_default(series: LabelledSeries, seed: int) -> np.ndarray:
    return detect_anomalies(series.values)["is_anomaly"].to_numpy(dtype=bool)


def _predict_isolation_forest_raw(series: LabelledSeries, seed: int) -> np.ndarray:
    values = series.values.to_numpy(dtype=float)
    usable = ~np.isnan(values)
    predicted = np.zeros(len(values), dtype=bool)
    flags = IsolationForest(random_state=seed).fit_predict(values[usable].reshape(-1, 1))
    predicted[usable] = flags == -1
    return predicted


DETECTORS: dict[str, Callable[[LabelledSeries, int], np.ndarray]] = {
    "default": _predict_default,
    "isolation_forest_raw": _predict_isolation_forest_raw,
}


def scenario_f1(scenario: Scenario, seeds: Sequence[int]) -> dict[str, dict[str, list[float]]]:
    """F1 per series and detector, one entry per seed, with the scenario's anomalies injected."""
    scores: dict[str, dict[str, list[float]]] = {}
    series_list = list(packaged_series())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for seed in seeds:
            for position, (name, y) in enumerate(series_list):
                series = inject_anomalies(name, y, np.random.default_rng([seed, position]), scenario)
                per_detector = scores.setdefault(name, {detector: [] for detector in DETECTORS})
                for detector, predict in DETECTORS.items():
                    per_detector[detector].append(f1_score(series.labels, predict(series, seed)))
    return scores


def _mean_f1(scores: dict[str, dict[str, list[float]]], detector: str, seed_at: int | None = None) -> float:
    """Mean F1 over series (and over seeds unless ``seed_at`` picks one seed's position)."""
    if seed_at is None:
        return float(np.mean([value for per in scores.values() for value in per[detector]]))
    return float(np.mean([per[detector][seed_at] for per in scores.values()]))


def _ratio(default: float, baseline: float) -> float:
    return default / baseline if baseline > 0 else float("inf")


def evaluate(seed: int = 0, seeds: Sequence[int] | None = None) -> dict:
    """Mean F1 of the default detector and of IsolationForest on raw values over series and seeds, with the ratio.

    ``seeds`` defaults to ``DEFAULT_SEED_COUNT`` consecutive seeds starting at ``seed``.
    """
    seeds = list(range(seed, seed + DEFAULT_SEED_COUNT)) if seeds is None else [int(s) for s in seeds]
    main = scenario_f1(SPIKES_AND_BURSTS, seeds)
    shifts = scenario_f1(LEVEL_SHIFTS, seeds)
    default, baseline = _mean_f1(main, "default"), _mean_f1(main, "isolation_forest_raw")
    ratio = _ratio(default, baseline)
    per_seed = [
        _ratio(_mean_f1(main, "default", at), _mean_f1(main, "isolation_forest_raw", at)) for at in range(len(seeds))
    ]
    return {
        "anomaly_series": len(main),
        "anomaly_seeds": seeds,
        "anomaly_f1_default": round(default, 4),
        "anomaly_f1_isolation_forest_raw": round(baseline, 4),
        "anomaly_f1_ratio": round(ratio, 2),
        "anomaly_target_met": bool(ratio >= TARGET_RATIO),
        "anomaly_f1_ratio_per_seed": [round(value, 2) for value in per_seed],
        "anomaly_f1_level_shift_default": round(_mean_f1(shifts, "default"), 4),
        "anomaly_f1_level_shift_isolation_forest_raw": round(_mean_f1(shifts, "isolation_forest_raw"), 4),
        "anomaly_f1_per_series": {
            name: {detector: round(float(np.mean(values)), 4) for detector, values in per.items()}
            for name, per in main.items()
        },
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=list(range(DEFAULT_SEED_COUNT)))
    args = parser.parse_args(argv)
    figures = evaluate(seeds=args.seeds)
    for name, scores in figures["anomaly_f1_per_series"].items():
        print(f"{name:34s} default F1 {scores['default']:.3f}   isolation forest (raw) F1 "
              f"{scores['isolation_forest_raw']:.3f}")  # fmt: skip
    print(json.dumps(figures))


if __name__ == "__main__":
    main()

"""Benchmark: forecast accuracy and speed of ``forecast(method="auto")`` against single methods, plus anomaly figures.

On real series shipped inside installed packages (statsmodels and pmdarima datasets: monthly, quarterly, weekly,
hourly, business-daily, yearly and integer-indexed; each given its datetime index where the data has one), each
method forecasts from several rolling origins at the end of each series; accuracy is MASE (mean absolute error over
the held-out window divided by the in-sample MAE of the seasonal naive forecast, season = the inferred one or 1),
averaged over origins, then over series. Compared in the same run: ``auto``, ``seasonal_naive``, ``holt_winters``
and ``prophet``. Targets: ``auto`` has the lowest mean MASE of them, at <= 2 s per fit on average.

Then ``bench/anomaly_eval.py``'s ``evaluate()`` (when present) adds the anomaly-detection figures. The last line
printed is one JSON object.

    .venv/bin/python bench/analytics_bench.py [--origins 4] [--quick] [--methods auto,holt_winters,...]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from analytics_hub.ml.forecasting import forecast  # noqa: E402
from analytics_hub.ml.series import infer_season_length  # noqa: E402

METHODS = ("auto", "seasonal_naive", "holt_winters", "prophet")
TARGETS = {"auto_lowest_mase": True, "auto_seconds_per_fit": 2.0}


@dataclass(frozen=True)
class Case:
    """One benchmark series, the horizon it is forecast for, and how it was dated."""

    name: str
    frequency: str
    y: pd.Series
    horizon: int


def _pmdarima(name: str) -> pd.Series:
    import pmdarima.datasets as datasets

    return getattr(datasets, f"load_{name}")(as_series=True).astype(float)


def _dated(values: pd.Series | np.ndarray, start: str, freq: str) -> pd.Series:
    values = np.asarray(values, float)
    return pd.Series(values, index=pd.date_range(start, periods=len(values), freq=freq))


def _elnino() -> pd.Series:
    import statsmodels.api as sm

    wide = sm.datasets.elnino.load_pandas().data
    return _dated(wide.drop(columns="YEAR").to_numpy().ravel(), f"{int(wide['YEAR'].iloc[0])}-01-01", "MS")


def _macro_gdp() -> pd.Series:
    import statsmodels.api as sm

    return _dated(sm.datasets.macrodata.load_pandas().data["realgdp"], "1959-01-01", "QS")


def _co2() -> pd.Series:
    import statsmodels.api as sm

    co2 = sm.datasets.co2.load_pandas().data["co2"]  # weekly (Saturdays) with missing weeks left as NaN
    return co2.loc["1990":]


def _sunspots() -> pd.Series:
    import statsmodels.api as sm

    data = sm.datasets.sunspots.load_pandas().data
    return _dated(data["SUNACTIVITY"], f"{int(data['YEAR'].iloc[0])}-01-01", "YS")


def _nile() -> pd.Series:
    import statsmodels.api as sm

    data = sm.datasets.nile.load_pandas().data
    return _dated(data["volume"], f"{int(data['year'].iloc[0])}-01-01", "YS")


def _taylor_hourly() -> pd.Series:
    """Half-hourly British electricity demand from Monday 5 June 2000, summed to hours (season 24)."""
    half_hours = _pmdarima("taylor").to_numpy()
    return _dated(half_hours.reshape(-1, 2).sum(axis=1), "2000-06-05", "h")


def _prophet_stock() -> pd.Series:
    """Daily closing prices on trading days (prophet's test data); market holidays become gaps in a business index."""
    import prophet

    frame = pd.read_csv(Path(prophet.__file__).parent / "tests" / "data.csv", parse_dates=["ds"])
    series = frame.set_index("ds")["y"].astype(float)
    return series.reindex(pd.bdate_range(series.index[0], series.index[-1]))


CASES: tuple[tuple[str, str, int, Callable[[], pd.Series]], ...] = (
    ("airpassengers", "monthly", 12, lambda: _dated(_pmdarima("airpassengers"), "1949-01-01", "MS")),
    ("wineind", "monthly", 12, lambda: _dated(_pmdarima("wineind"), "1980-01-01", "MS")),
    ("elnino", "monthly", 12, _elnino),
    ("woolyrnq", "quarterly", 8, lambda: _dated(_pmdarima("woolyrnq"), "1965-01-01", "QS")),
    ("ausbeer", "quarterly", 8, lambda: _dated(_pmdarima("ausbeer"), "1956-01-01", "QS")),
    ("austres", "quarterly", 8, lambda: _dated(_pmdarima("austres"), "1971-04-01", "QS")),
    ("macro_realgdp", "quarterly", 8, _macro_gdp),
    ("co2_since_1990", "weekly", 13, _co2),
    ("taylor_hourly", "hourly", 24, _taylor_hourly),
    ("prophet_stock", "business daily", 10, _prophet_stock),
    ("sunspots", "yearly", 6, _sunspots),
    ("nile", "yearly", 6, _nile),
    ("lynx", "yearly, integer index", 6, lambda: _pmdarima("lynx")),
    ("heartrate", "integer index", 10, lambda: _pmdarima("heartrate").reset_index(drop=True)),
)


def load_cases() -> list[Case]:
    return [Case(name, frequency, loader(), horizon) for name, frequency, horizon, loader in CASES]


def mase(train: np.ndarray, actual: np.ndarray, predicted: np.ndarray, season: int) -> float:
    """Mean absolute error scaled by the in-sample MAE of the seasonal naive forecast (Hyndman & Koehler 2006)."""
    season = season if len(train) > season else 1
    scale = np.nanmean(np.abs(train[season:] - train[:-season]))
    return float(np.mean(np.abs(actual - predicted)) / scale)


def evaluate_case(case: Case, methods: tuple[str, ...], origins: int) -> dict[str, dict[str, float]]:
    """Per method: mean MASE over ``origins`` rolling origins spaced half a horizon apart, and seconds per fit."""
    season = infer_season_length(case.y.index) or 1
    step = max(1, case.horizon // 2)
    results: dict[str, dict[str, float]] = {}
    for method in methods:
        scores, seconds, chosen = [], [], []
        for k in range(origins):
            end = len(case.y) - case.horizon - step * (origins - 1 - k)
            train, test = case.y.iloc[:end], case.y.iloc[end : end + case.horizon]
            clock = time.perf_counter()
            result = forecast(train, case.horizon, method=method)
            seconds.append(time.perf_counter() - clock)
            filled = train.interpolate(limit_direction="both").to_numpy(float)
            mask = test.notna().to_numpy()
            predicted = result.mean.to_numpy()[: len(test)]
            scores.append(mase(filled, test.to_numpy(float)[mask], predicted[mask], season))
            chosen.append(result.method)
        results[method] = {"mase": float(np.mean(scores)), "seconds": float(np.mean(seconds)), "chosen": chosen}
    return results


def anomaly_figures() -> dict:
    """``anomaly_eval.evaluate()`` when that module exists (bench/ is on sys.path when run as a script)."""
    try:
        import anomaly_eval
    except ImportError:
        print("anomaly figures: bench/anomaly_eval.py is not there yet; its keys are left out", flush=True)
        return {}
    print("anomaly figures: running anomaly_eval.evaluate() ...", flush=True)
    return dict(anomaly_eval.evaluate())


def _args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--origins", type=int, default=4, help="rolling origins per series (default 4)")
    ap.add_argument("--quick", action="store_true", help="smoke test: 2 origins")
    ap.add_argument("--methods", default=",".join(METHODS), help="comma-separated methods to compare")
    ap.add_argument("--no-anomalies", action="store_true", help="skip the anomaly-detection figures")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    origins = 2 if args.quick else args.origins
    methods = tuple(m.strip() for m in args.methods.split(",") if m.strip())
    cases = load_cases()
    print(f"forecasting {len(cases)} series x {origins} origins with {', '.join(methods)}", flush=True)
    warm = pd.Series(np.arange(40.0) % 4 + np.arange(40.0), index=pd.date_range("2000-01-01", periods=40, freq="QS"))
    for method in methods:  # imports and first-call set-up are not part of a fit's time
        forecast(warm, 4, method=method)
    per_case = {}
    for case in cases:
        result = evaluate_case(case, methods, origins)
        per_case[case.name] = result
        cells = "  ".join(f"{m} {r['mase']:.3f} ({r['seconds']:.2f}s)" for m, r in result.items())
        picks = f"  auto chose {sorted(set(result['auto']['chosen']))}" if "auto" in result else ""
        print(
            f"  {case.name:<16} {case.frequency:<22} n={len(case.y):<5} h={case.horizon:<3} {cells}{picks}", flush=True
        )
    mean_mase = {m: round(float(np.mean([per_case[c][m]["mase"] for c in per_case])), 4) for m in methods}
    seconds = {m: round(float(np.mean([per_case[c][m]["seconds"] for c in per_case])), 3) for m in methods}
    winner = min(mean_mase, key=mean_mase.get)
    figures = {
        "series": len(cases),
        "origins": origins,
        "frequencies": sorted({c.frequency for c in cases}),
        **{f"mase_{m}": v for m, v in mean_mase.items()},
        **{f"seconds_per_fit_{m}": v for m, v in seconds.items()},
        "best_method": winner,
        "targets_met": {
            "auto_lowest_mase": winner == "auto",
            "auto_seconds_per_fit": seconds.get("auto", float("inf")) <= TARGETS["auto_seconds_per_fit"],
        },
    }
    if not args.no_anomalies:
        figures.update(anomaly_figures())
    print()
    print(f"Forecast benchmark: {len(cases)} series, {origins} origins each; mean MASE (lower is better):")
    for m in methods:
        print(f"  {m:<16} MASE {mean_mase[m]:.4f}  {seconds[m]:.3f} s/fit")
    print(f"  best: {winner}; targets: auto lowest MASE, <= {TARGETS['auto_seconds_per_fit']} s per fit")
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

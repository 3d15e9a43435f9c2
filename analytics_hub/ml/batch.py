"""The daily analytics batch for one series: read it aggregated in SQL, forecast it or scan it for anomalies."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import psycopg

from analytics_hub.ml.table_queries import frame_to_series, series_sql

MAX_SOURCE_ROWS = 50_000
FORECAST, ANOMALY_DETECTION = "forecast", "anomaly_detection"


@dataclass(frozen=True)
class SeriesJob:
    """What to analyse: ``value_column`` summed per ``date_column`` value in ``table`` (schema.table)."""

    table: str
    date_column: str
    value_column: str
    model_type: str
    horizon: int = 30


@dataclass(frozen=True)
class PeriodResult:
    period: pd.Timestamp
    predicted_value: float | None = None
    lower_bound: float | None = None
    upper_bound: float | None = None
    actual_value: float | None = None
    is_anomaly: bool = False
    anomaly_score: float | None = None


@dataclass(frozen=True)
class BatchResult:
    job: SeriesJob
    points_read: int
    method: str
    periods: tuple[PeriodResult, ...]

    @property
    def anomalies(self) -> tuple[PeriodResult, ...]:
        return tuple(p for p in self.periods if p.is_anomaly)


def read_series(conn: psycopg.Connection, job: SeriesJob, *, max_rows: int = MAX_SOURCE_ROWS) -> pd.Series:
    """The series of ``job`` over the ``max_rows`` most recent source rows, summed per period in SQL."""
    query = series_sql(job.table, job.date_column, job.value_column, max_rows=max_rows)
    with conn.cursor() as cur:
        cur.execute(query)
        frame = pd.DataFrame(cur.fetchall(), columns=["period", "value"])
    return frame_to_series(frame, job.value_column)


def analyse(conn: psycopg.Connection, job: SeriesJob, *, max_rows: int = MAX_SOURCE_ROWS) -> BatchResult:
    """Forecast ``job.horizon`` periods ahead, or score every period read for anomalies."""
    # Imported here: the model libraries take seconds to import, and the code location loads this module.
    from analytics_hub.ml.anomalies import detect_anomalies
    from analytics_hub.ml.forecasting import forecast

    series = read_series(conn, job, max_rows=max_rows)
    if job.model_type == FORECAST:
        result = forecast(series, job.horizon)
        periods = tuple(
            PeriodResult(period=p, predicted_value=_num(m), lower_bound=_num(lo), upper_bound=_num(hi))
            for p, m, lo, hi in zip(result.mean.index, result.mean, result.lower, result.upper, strict=True)
        )
        return BatchResult(job, len(series), result.method, periods)
    flags = detect_anomalies(series)
    periods = tuple(
        PeriodResult(
            period=p,
            actual_value=_num(series.loc[p]),
            is_anomaly=bool(flags.loc[p, "is_anomaly"]),
            anomaly_score=_num(flags.loc[p, "score"]),
        )
        for p in series.index
    )
    return BatchResult(job, len(series), "anomaly detection", periods)


def _num(value: object) -> float | None:
    number = float(value)
    return None if pd.isna(number) else number

"""Root-cause analysis of a metric's change between two periods: which segments (one or two dimensions) explain it.

Segments are every value of each dimension and every value pair of each two dimensions; the metric is summed per
segment in each period. A segment that does not fix a dimension shows ``ALL`` in that dimension's column.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pandas as pd

from analytics_hub.ml.errors import AnalyticsError

ALL = "(all)"  # the dimension column's value in segments that do not fix that dimension
MISSING = "(missing)"  # the value shown for an empty (NaN) dimension value
DOMINANT_SHARE = 0.95  # a two-dimension segment carrying this share of its parent's change is ranked before it


class RootCauseInputError(AnalyticsError):
    """The data, columns or periods given to the root-cause analysis cannot be used."""


def explain_change(
    df: pd.DataFrame,
    *,
    metric: str,
    dimensions: list[str],
    date_column: str,
    baseline: tuple,
    current: tuple,
) -> pd.DataFrame:
    """Segments ranked by how much of the change of SUM(``metric``) from ``baseline`` to ``current`` they explain.

    Periods are (start, end) inclusive; an end without a time of day covers that whole day. Columns: the dimensions,
    ``segment``, ``dimension_count``, ``baseline``, ``current``, ``change``, ``contribution`` (change / total change,
    NaN when the total does not change). Ranking: largest |change| first, except that a two-dimension segment
    carrying at least ``DOMINANT_SHARE`` of a one-dimension segment's change goes just before it (it is the more
    precise explanation); ties go to fewer dimensions, then to the label.
    """
    dimensions = _validate_columns(df, metric=metric, dimensions=dimensions, date_column=date_column)
    periods = _period_frame(df, metric=metric, dimensions=dimensions, date_column=date_column,
                            baseline=baseline, current=current)  # fmt: skip
    total_change = float(periods["current"].sum() - periods["baseline"].sum())
    groups = [[dimension] for dimension in dimensions] + [list(pair) for pair in combinations(dimensions, 2)]
    segments = pd.concat([_segment_totals(periods, group, dimensions) for group in groups], ignore_index=True)
    segments["change"] = segments["current"] - segments["baseline"]
    segments["contribution"] = segments["change"] / total_change if total_change != 0 else np.nan
    return _rank(segments, dimensions)


def _validate_columns(df: pd.DataFrame, *, metric: str, dimensions: list[str], date_column: str) -> list[str]:
    if not isinstance(df, pd.DataFrame):
        raise RootCauseInputError("Expected a table (pandas DataFrame).", detail=f"got {type(df).__name__}")
    if isinstance(dimensions, str) or not list(dimensions):
        raise RootCauseInputError("Choose at least one dimension to break the change down by.")
    dimensions = list(dict.fromkeys(dimensions))
    for column in [metric, date_column, *dimensions]:
        if column not in df.columns:
            raise RootCauseInputError(
                f"Column '{column}' is not in the data.",
                detail=f"available columns: {', '.join(map(str, df.columns))}",
            )
    overlap = {metric, date_column} & set(dimensions)
    if overlap:
        raise RootCauseInputError(
            f"Column '{sorted(overlap)[0]}' cannot be both a dimension and the metric or the date column."
        )
    return dimensions


def _period_frame(
    df: pd.DataFrame, *, metric: str, dimensions: list[str], date_column: str, baseline: tuple, current: tuple
) -> pd.DataFrame:
    """Metric summed per combination of all dimensions, one column per period (0 where a period has no rows)."""
    values = pd.to_numeric(df[metric], errors="coerce")
    if values.notna().sum() == 0 and len(df):
        raise RootCauseInputError(
            f"Column '{metric}' has no numeric values to sum.", detail=f"dtype={df[metric].dtype}"
        )
    dates = pd.to_datetime(df[date_column], errors="coerce")
    frame = pd.DataFrame({dimension: _labels(df[dimension]) for dimension in dimensions})
    frame["value"] = values.fillna(0.0).astype(float).to_numpy()
    sums = {}
    for name, bounds in (("baseline", baseline), ("current", current)):
        in_period = _in_period(dates, bounds, name)
        if not in_period.any():
            start, end = _bounds(bounds, name, dates)
            raise RootCauseInputError(
                f"No rows fall in the {name} period ({start:%Y-%m-%d} to {end:%Y-%m-%d}).",
                detail=f"{date_column} spans {dates.min()} to {dates.max()}",
            )
        sums[name] = frame[in_period.to_numpy()].groupby(dimensions, sort=False, dropna=False)["value"].sum()
    return pd.concat(sums, axis=1).fillna(0.0).reset_index()


def _labels(column: pd.Series) -> pd.Series:
    """Dimension values as plain objects, with NaN shown as ``MISSING``."""
    labels = column.astype(object)
    return labels.where(column.notna(), MISSING).reset_index(drop=True)


def _bounds(bounds: tuple, name: str, dates: pd.Series) -> tuple[pd.Timestamp, pd.Timestamp]:
    try:
        start, end = (pd.Timestamp(bound) for bound in bounds)
    except (TypeError, ValueError) as error:
        raise RootCauseInputError(
            f"The {name} period must be a (start, end) pair of dates.", detail=f"{name}={bounds!r}: {error}"
        ) from error
    if pd.isna(start) or pd.isna(end):
        raise RootCauseInputError(
            f"The {name} period must be a (start, end) pair of dates.", detail=f"{name}={bounds!r}"
        )
    if start > end:
        raise RootCauseInputError(f"The {name} period starts after it ends.", detail=f"{name}={bounds!r}")
    timezone = getattr(dates.dt, "tz", None)
    if timezone is not None:
        start, end = (bound.tz_localize(timezone) if bound.tzinfo is None else bound for bound in (start, end))
    return start, end


def _in_period(dates: pd.Series, bounds: tuple, name: str) -> pd.Series:
    start, end = _bounds(bounds, name, dates)
    if end == end.normalize():
        return (dates >= start) & (dates < end + pd.Timedelta(days=1))
    return (dates >= start) & (dates <= end)


def _segment_totals(periods: pd.DataFrame, group: list[str], dimensions: list[str]) -> pd.DataFrame:
    """Both periods' sums per value (pair) of ``group``, other dimensions set to ``ALL``, with a readable label."""
    totals = periods.groupby(group, sort=False, dropna=False)[["baseline", "current"]].sum().reset_index()
    for dimension in dimensions:
        if dimension not in group:
            totals[dimension] = ALL
    parts = [dimension + " = " + totals[dimension].astype(str) for dimension in group]
    totals["segment"] = parts[0] if len(parts) == 1 else parts[0] + ", " + parts[1]
    totals["dimension_count"] = len(group)
    return totals[[*dimensions, "segment", "dimension_count", "baseline", "current"]]


def _rank(segments: pd.DataFrame, dimensions: list[str]) -> pd.DataFrame:
    """Order by |change|, a dominant two-dimension segment just before its one-dimension parent (see docstring)."""
    key = segments["change"].abs().to_numpy(copy=True)
    dominant = np.zeros(len(segments), dtype=bool)
    singles = segments[segments["dimension_count"] == 1]
    pairs = segments["dimension_count"] == 2
    for dimension in dimensions:
        parent = singles[singles[dimension] != ALL].set_index(dimension)["change"]
        fixed = pairs & (segments[dimension] != ALL)
        parent_change = segments.loc[fixed, dimension].map(parent).astype(float).to_numpy()
        child_change = segments.loc[fixed, "change"].to_numpy(dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            carries = (parent_change != 0) & (child_change / parent_change >= DOMINANT_SHARE)
        rows = np.flatnonzero(fixed.to_numpy())[carries]
        key[rows] = np.maximum(key[rows], np.abs(parent_change[carries]))
        dominant[rows] = True
    ranked = segments.assign(_key=key, _dominant=dominant).sort_values(
        ["_key", "_dominant", "dimension_count", "segment"], ascending=[False, False, True, True], kind="stable"
    )
    return ranked.drop(columns=["_key", "_dominant"]).reset_index(drop=True)

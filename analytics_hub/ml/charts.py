"""Pick a sensible chart for a table from its column types: time + measure -> line, category + measure -> bar,
two measures -> scatter; a single measure -> histogram; categories only -> counts."""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import pandas as pd

CHART_KINDS = ("line", "bar", "scatter", "histogram", "count")
# Integer columns with names like these identify rows; they make poor measures.
_ID_SUFFIXES = ("id", "_id", "_key", "_no", "_number", "_code")
MAX_CATEGORIES = 50


@dataclass(frozen=True)
class ColumnRoles:
    """Columns of a frame sorted by what they can be on a chart."""

    times: tuple[str, ...]
    measures: tuple[str, ...]
    categories: tuple[str, ...]


@dataclass(frozen=True)
class ChartSpec:
    """What to draw: ``kind`` with ``x`` (and ``y`` unless a histogram or count); ``reason`` says why, for the page."""

    kind: str
    x: str
    y: str | None
    reason: str


def with_numbers(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with columns of Python numbers (PostgreSQL ``numeric`` arrives as ``Decimal``) as floats."""
    converted = {}
    for name in frame.columns:
        column = frame[name]
        if column.dtype == object:
            values = column.dropna()
            if len(values) and all(isinstance(v, numbers.Number) and not isinstance(v, bool) for v in values):
                converted[name] = pd.to_numeric(column, errors="coerce").astype(float)
    return frame.assign(**converted) if converted else frame


def column_roles(frame: pd.DataFrame) -> ColumnRoles:
    """Times (datetime-like columns), measures (numbers that are not row ids) and categories (few distinct values)."""
    frame = with_numbers(frame)
    times, measures, categories = [], [], []
    for name in frame.columns:
        column = frame[name]
        label = str(name)
        if pd.api.types.is_bool_dtype(column):
            categories.append(label)
        elif pd.api.types.is_datetime64_any_dtype(column) or _looks_like_dates(column):
            times.append(label)
        elif pd.api.types.is_numeric_dtype(column):
            if not _looks_like_id(label, column):
                measures.append(label)
        elif column.nunique(dropna=True) <= max(MAX_CATEGORIES, 1):
            categories.append(label)
    return ColumnRoles(tuple(times), tuple(measures), tuple(categories))


def suggest_chart(frame: pd.DataFrame) -> ChartSpec | None:
    """The chart that best shows ``frame``, or None when it has nothing to draw (no rows, or only free text/ids)."""
    if frame.empty:
        return None
    frame = with_numbers(frame)
    roles = column_roles(frame)
    if roles.times and roles.measures:
        return ChartSpec("line", roles.times[0], roles.measures[0], f"{roles.measures[0]} over {roles.times[0]}")
    if roles.categories and roles.measures:
        category = min(roles.categories, key=lambda c: frame[c].nunique(dropna=True))
        return ChartSpec("bar", category, roles.measures[0], f"{roles.measures[0]} by {category}")
    if len(roles.measures) >= 2:
        x, y = roles.measures[:2]
        return ChartSpec("scatter", x, y, f"{y} against {x}")
    if roles.measures:
        return ChartSpec("histogram", roles.measures[0], None, f"distribution of {roles.measures[0]}")
    if roles.categories:
        return ChartSpec("count", roles.categories[0], None, f"rows per {roles.categories[0]}")
    if roles.times:
        return ChartSpec("count", roles.times[0], None, f"rows per {roles.times[0]}")
    return None


def chart_data(frame: pd.DataFrame, spec: ChartSpec) -> pd.DataFrame:
    """The frame to plot for ``spec``: line and bar charts aggregate the measure (sum) per x value, in x order."""
    if spec.kind not in CHART_KINDS:
        raise ValueError(f"Unknown chart kind {spec.kind!r}; choose one of {', '.join(CHART_KINDS)}.")
    frame = with_numbers(frame)
    if spec.kind in ("line", "bar") and spec.y is not None:
        data = frame[[spec.x, spec.y]].copy()
        if spec.kind == "line" and not pd.api.types.is_datetime64_any_dtype(data[spec.x]):
            converted = pd.to_datetime(data[spec.x], errors="coerce")
            if converted.notna().all():
                data[spec.x] = converted
        data[spec.y] = pd.to_numeric(data[spec.y], errors="coerce")
        grouped = data.groupby(spec.x, dropna=False, sort=True)[spec.y].sum(min_count=1).reset_index()
        if spec.kind == "bar":
            grouped = grouped.sort_values(spec.y, ascending=False, kind="stable").head(MAX_CATEGORIES)
        return grouped
    if spec.kind == "count":
        counts = frame[spec.x].value_counts(dropna=False).head(MAX_CATEGORIES)
        return counts.rename_axis(spec.x).reset_index(name="rows")
    columns = [spec.x] if spec.y is None else [spec.x, spec.y]
    return frame[columns].dropna()


def _looks_like_id(name: str, column: pd.Series) -> bool:
    lowered = name.lower()
    if not pd.api.types.is_integer_dtype(column) or not lowered.endswith(_ID_SUFFIXES):
        return False
    return column.nunique(dropna=True) == column.notna().sum()


def _looks_like_dates(column: pd.Series) -> bool:
    """Object columns holding dates (PostgreSQL ``date`` arrives as Python dates)."""
    if column.dtype != object:
        return False
    sample = column.dropna().head(20)
    if sample.empty:
        return False
    import datetime as dt

    return all(isinstance(value, dt.date) for value in sample)

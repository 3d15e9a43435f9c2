"""Read-only queries the hub composes itself over one table: its columns, a sample, a series aggregated in SQL.

They return SQL text (identifiers quoted with ``psycopg.sql``, numbers as literals) so the caller runs it
through the same two gates as any user query (``sql_safety.run_safe_query``).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import psycopg
from psycopg import sql

from analytics_hub.ml.errors import AnalyticsError

GRAINS = ("day", "week", "month", "quarter", "year", "hour")
_NUMERIC_TYPES = {"smallint", "integer", "bigint", "numeric", "real", "double precision", "money"}
_TIME_TYPES = {"date", "timestamp without time zone", "timestamp with time zone"}


@dataclass(frozen=True)
class Column:
    name: str
    data_type: str

    @property
    def is_numeric(self) -> bool:
        return self.data_type in _NUMERIC_TYPES

    @property
    def is_time(self) -> bool:
        return self.data_type in _TIME_TYPES


def split_table(table: str) -> tuple[str, str]:
    """``schema.table`` -> (schema, table); the table part may itself contain dots."""
    schema, dot, name = table.partition(".")
    if not dot or not schema or not name:
        raise AnalyticsError(f"Table {table!r} must be written as schema.table.")
    return schema, name


def table_columns(conn: psycopg.Connection, table: str) -> list[Column]:
    """The columns of ``table`` in order; a plain error when the table does not exist or cannot be seen."""
    schema, name = split_table(table)
    rows = conn.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position",
        (schema, name),
    ).fetchall()
    if not rows:
        raise AnalyticsError(f"Table {table} does not exist or you may not read it.")
    return [Column(column, data_type) for column, data_type in rows]


def sample_sql(table: str, *, limit: int) -> sql.Composed:
    """Up to ``limit`` rows of ``table``."""
    return sql.SQL("SELECT * FROM {} LIMIT {}").format(sql.Identifier(*split_table(table)), sql.Literal(int(limit)))


def series_sql(
    table: str, date_column: str, value_column: str, *, grain: str | None = None, max_rows: int = 50_000
) -> sql.Composed:
    """``period, value``: the sum of ``value_column`` per period over the ``max_rows`` most recent rows.

    ``grain`` truncates timestamps to day, week, ... (None keeps the column's own values, right for dates).
    """
    if grain is not None and grain not in GRAINS:
        raise AnalyticsError(f"Unknown period {grain!r}; choose one of {', '.join(GRAINS)}.")
    date, value = sql.Identifier(date_column), sql.Identifier(value_column)
    period = date if grain is None else sql.SQL("date_trunc({}, {})").format(sql.Literal(grain), date)
    return sql.SQL(
        "SELECT {period} AS period, sum({value})::double precision AS value FROM ("
        "SELECT {date}, {value} FROM {table} WHERE {date} IS NOT NULL ORDER BY {date} DESC LIMIT {limit}"
        ") AS recent GROUP BY 1 ORDER BY 1"
    ).format(
        period=period, value=value, date=date, table=sql.Identifier(*split_table(table)), limit=sql.Literal(max_rows)
    )


def frame_to_series(frame: pd.DataFrame, name: str) -> pd.Series:
    """The ``period, value`` frame of :func:`series_sql` as a float Series on a datetime index."""
    if frame.empty:
        raise AnalyticsError("The table has no rows with a date to build a series from.")
    index = pd.DatetimeIndex(pd.to_datetime(frame["period"], utc=False))
    if index.tz is not None:
        index = index.tz_convert(None)
    return pd.Series(pd.to_numeric(frame["value"], errors="coerce").to_numpy(dtype=float), index=index, name=name)


def date_bounds_sql(table: str, date_column: str) -> sql.Composed:
    """The first and last date of ``date_column``."""
    date = sql.Identifier(date_column)
    return sql.SQL("SELECT min({date})::date AS first, max({date})::date AS last FROM {table}").format(
        date=date, table=sql.Identifier(*split_table(table))
    )


def segments_sql(
    table: str, *, date_column: str, metric: str, dimensions: list[str], start: object, end: object
) -> sql.Composed:
    """``date_column`` (as a date), the dimensions and the summed metric per day and segment between two dates."""
    if not dimensions:
        raise AnalyticsError("Choose at least one dimension to break the change down by.")
    date = sql.Identifier(date_column)
    dims = sql.SQL(", ").join(sql.Identifier(d) for d in dimensions)
    return sql.SQL(
        "SELECT {date}::date AS {date_alias}, {dims}, sum({metric})::double precision AS {metric_alias} "
        "FROM {table} WHERE {date}::date BETWEEN {start}::date AND {end}::date "
        "GROUP BY 1, {positions}"
    ).format(
        date=date,
        date_alias=sql.Identifier(date_column),
        dims=dims,
        metric=sql.Identifier(metric),
        metric_alias=sql.Identifier(metric),
        table=sql.Identifier(*split_table(table)),
        start=sql.Literal(str(start)),
        end=sql.Literal(str(end)),
        positions=sql.SQL(", ").join(sql.Literal(i + 2) for i in range(len(dimensions))),
    )

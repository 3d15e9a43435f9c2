"""Choose a series to analyse (a saved analytics setting, or any table's date and number columns) and load it."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import streamlit as st

from analytics_hub import access, hub
from analytics_hub.access import HubUser
from analytics_hub.ml.table_queries import GRAINS, frame_to_series, series_sql

CUSTOM = "Choose columns myself"
MAX_SOURCE_ROWS = 50_000


@dataclass(frozen=True)
class SeriesChoice:
    table: str
    date_column: str
    value_column: str
    grain: str | None
    horizon: int | None = None

    @property
    def label(self) -> str:
        per = f" per {self.grain}" if self.grain else ""
        return f"{self.value_column} by {self.date_column}{per} in {self.table}"


def pick_series(user: HubUser, *, key: str, model_type: str) -> SeriesChoice | None:
    """Widgets for the series; None (after a hint or an error) when nothing can be chosen yet."""
    saved = access.analytics_settings(user, model_type=model_type)
    options = [s.label for s in saved] + [CUSTOM]
    picked = st.selectbox("Series", options, key=f"{key}_series")
    if picked != CUSTOM:
        setting = saved[options.index(picked)]
        return SeriesChoice(setting.target_table, setting.date_column, setting.value_column, None, setting.horizon)
    table = hub.pick_table(user, key=f"{key}_table")
    if table is None:
        return None
    columns = hub.columns_of(table)
    if columns is None:
        return None
    times = [c for c in columns if c.is_time]
    numbers = [c.name for c in columns if c.is_numeric]
    if not times or not numbers:
        st.info(f"{table} needs a date or timestamp column and a number column to make a series.")
        return None
    date_col, value_col, grain_col = st.columns(3)
    date_column = date_col.selectbox("Date column", [c.name for c in times], key=f"{key}_date")
    value_column = value_col.selectbox("Value column (summed per period)", numbers, key=f"{key}_value")
    is_date = next(c for c in times if c.name == date_column).data_type == "date"
    grains = ["as stored", *GRAINS] if is_date else list(GRAINS)
    grain = grain_col.selectbox("Period", grains, key=f"{key}_grain")
    return SeriesChoice(table, date_column, value_column, None if grain == "as stored" else grain)


def load_series(user: HubUser, choice: SeriesChoice) -> pd.Series:
    """The chosen series, aggregated in SQL over the most recent rows, through the hub's two query gates."""
    query = series_sql(
        choice.table, choice.date_column, choice.value_column, grain=choice.grain, max_rows=MAX_SOURCE_ROWS
    )
    _, frame = hub.run_query(user, query.as_string(None), max_rows=MAX_SOURCE_ROWS)
    return frame_to_series(frame, choice.value_column)

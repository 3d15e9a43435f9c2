"""Overview: an automatic dashboard, one chart per table, chosen from its columns (time + measure -> line,
category + measure -> bar, two measures -> scatter); each chart can be changed in place."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from analytics_hub import hub
from analytics_hub.access import HubUser
from analytics_hub.ml.charts import CHART_KINDS, ChartSpec, column_roles, suggest_chart
from analytics_hub.ml.table_queries import sample_sql
from analytics_hub.plots import chart_figure

SAMPLE_ROWS = 5000
DEFAULT_TABLES = 6  # charts shown before the user picks others


def _sample(user: HubUser, table: str) -> pd.DataFrame | None:
    try:
        _, frame = hub.run_query(user, sample_sql(table, limit=SAMPLE_ROWS).as_string(None), max_rows=SAMPLE_ROWS)
    except hub.PAGE_ERRORS as exc:
        hub.show_error(exc)
        return None
    return frame


def _chosen_spec(frame: pd.DataFrame, suggested: ChartSpec, key: str) -> ChartSpec:
    """The suggested chart, or what the user picked instead in the card's settings."""
    roles = column_roles(frame)
    columns = [str(c) for c in frame.columns]
    with st.expander("Change this chart"):
        kind = st.selectbox("Chart", CHART_KINDS, index=CHART_KINDS.index(suggested.kind), key=f"{key}_kind")
        x = st.selectbox("X axis", columns, index=columns.index(suggested.x), key=f"{key}_x")
        y = None
        if kind in ("line", "bar", "scatter"):
            measures = list(roles.measures) or columns
            default_y = suggested.y if suggested.y in measures else measures[0]
            y = st.selectbox("Y axis", measures, index=measures.index(default_y), key=f"{key}_y")
    if (kind, x, y) == (suggested.kind, suggested.x, suggested.y):
        return suggested
    return ChartSpec(kind, x, y, f"{y} by {x}" if y else x)


def _card(user: HubUser, table: str, key: str) -> None:
    st.subheader(table)
    frame = _sample(user, table)
    if frame is None:
        return
    st.caption(f"{len(frame):,} rows read" + (" (the first ones)" if frame.attrs.get("truncated") else ""))
    suggested = suggest_chart(frame)
    if suggested is None:
        st.info("No rows yet, or no columns a chart can show (only ids or free text).")
        return
    spec = _chosen_spec(frame, suggested, key)
    try:
        st.plotly_chart(chart_figure(frame, spec), key=f"{key}_chart")
    except (TypeError, ValueError) as exc:
        st.warning(f"That combination cannot be drawn ({exc}). Pick other columns.")


user = hub.require()
st.title("Overview")
st.caption("One chart per table, chosen from its columns. Open “Change this chart” under a chart to redraw it.")

try:
    tables = hub.queryable_tables(user)
except hub.PAGE_ERRORS as exc:
    hub.show_error(exc)
    st.stop()
if not tables:
    st.info(
        "No tables to show yet: you have no pipelines granted, or their tables hold no data.", icon=":material/info:"
    )
    st.stop()

shown = st.multiselect("Tables", tables, default=tables[:DEFAULT_TABLES], key="overview_tables")
columns = st.columns(2)
for position, table in enumerate(shown):
    with columns[position % 2], st.container(border=True):
        _card(user, table, f"overview_{table}")

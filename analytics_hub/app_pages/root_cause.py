"""Root cause: which segments (one or two dimensions) explain most of a metric's change between two periods."""

from __future__ import annotations

import datetime as dt

import plotly.express as px
import streamlit as st

from analytics_hub import hub
from analytics_hub.ml.root_cause import explain_change
from analytics_hub.ml.table_queries import date_bounds_sql, segments_sql

MAX_ROWS = 200_000

user = hub.require()
st.title("Root cause")
st.caption("Compare two periods and see which segments moved the total most.")


def _period(label: str, default: tuple[dt.date, dt.date], key: str) -> tuple[dt.date, dt.date] | None:
    chosen = st.date_input(label, value=default, key=key)
    if isinstance(chosen, tuple | list) and len(chosen) == 2:
        return chosen[0], chosen[1]
    st.info(f"Pick the first and last day of the {label.lower()}.")
    return None


table = hub.pick_table(user, key="root_table")
if table:
    columns = hub.columns_of(table)
    if columns is None:
        st.stop()
    times = [c.name for c in columns if c.is_time]
    numbers = [c.name for c in columns if c.is_numeric]
    others = [c.name for c in columns if not c.is_time and not c.is_numeric]
    if not times or not numbers or not others:
        st.info(f"{table} needs a date column, a number column and at least one column to segment by.")
        st.stop()
    date_col, metric_col = st.columns(2)
    date_column = date_col.selectbox("Date column", times, key="root_date")
    metric = metric_col.selectbox("Metric (summed)", numbers, key="root_metric")
    dimensions = st.multiselect("Segment by", others, default=others[:2], key="root_dimensions")
    try:
        _, bounds = hub.run_query(user, date_bounds_sql(table, date_column).as_string(None))
    except hub.PAGE_ERRORS as exc:
        hub.show_error(exc)
        st.stop()
    first, last = bounds.iloc[0]["first"], bounds.iloc[0]["last"]
    if first is None or last is None:
        st.info(f"{table} has no dated rows yet.")
        st.stop()
    span = max((last - first).days // 2, 0)
    mid = first + dt.timedelta(days=span)
    base_col, current_col = st.columns(2)
    with base_col:
        baseline = _period("Baseline period", (first, mid), "root_baseline")
    with current_col:
        current = _period("Current period", (min(mid + dt.timedelta(days=1), last), last), "root_current")
    if baseline and current and dimensions and st.button("Explain the change", type="primary", key="root_run"):
        start, end = min(baseline[0], current[0]), max(baseline[1], current[1])
        query = segments_sql(table, date_column=date_column, metric=metric, dimensions=dimensions, start=start, end=end)
        try:
            with st.spinner("Comparing segments…"):
                _, frame = hub.run_query(user, query.as_string(None), max_rows=MAX_ROWS)
                if frame.attrs.get("truncated"):
                    st.warning("The periods hold too many segments to compare them all; narrow the dates.")
                    st.stop()
                ranked = explain_change(
                    frame,
                    metric=metric,
                    dimensions=dimensions,
                    date_column=date_column,
                    baseline=baseline,
                    current=current,
                )
        except hub.PAGE_ERRORS as exc:
            hub.show_error(exc)
        else:
            st.session_state["root_result"] = ranked
    ranked = st.session_state.get("root_result")
    if ranked is not None and not ranked.empty:
        total = ranked.attrs.get("total_change")
        if total is not None:
            st.metric("Total change", f"{total:,.2f}")
        top = ranked.head(15)
        st.plotly_chart(
            px.bar(top.iloc[::-1], x="change", y="segment", orientation="h", title="Biggest contributors"),
            key="root_chart",
        )
        st.dataframe(ranked, hide_index=True, key="root_table_out")

"""Overview: pick a table and see the chart its columns call for (time + measure -> line, category + measure
-> bar, two measures -> scatter), then change it at will."""

from __future__ import annotations

import streamlit as st

from analytics_hub import hub
from analytics_hub.ml.charts import CHART_KINDS, ChartSpec, column_roles, suggest_chart
from analytics_hub.ml.table_queries import sample_sql
from analytics_hub.plots import chart_figure

SAMPLE_ROWS = 5000

user = hub.require()
st.title("Overview")
st.caption("A chart chosen from each table's columns. Change the chart type or columns below it.")

table = hub.pick_table(user, key="overview_table")
if table:
    try:
        _, frame = hub.run_query(user, sample_sql(table, limit=SAMPLE_ROWS).as_string(None), max_rows=SAMPLE_ROWS)
    except hub.PAGE_ERRORS as exc:
        hub.show_error(exc)
        st.stop()
    st.caption(f"{len(frame):,} rows read" + (" (the first ones only)" if frame.attrs.get("truncated") else ""))
    suggested = suggest_chart(frame)
    if suggested is None:
        st.info("This table has no rows, or no columns a chart can show (only ids or free text).")
    else:
        roles = column_roles(frame)
        columns = [str(c) for c in frame.columns]
        kind_col, x_col, y_col = st.columns(3)
        kind = kind_col.selectbox("Chart", CHART_KINDS, index=CHART_KINDS.index(suggested.kind), key="overview_kind")
        x = x_col.selectbox("X axis", columns, index=columns.index(suggested.x), key="overview_x")
        y = None
        if kind in ("line", "bar", "scatter"):
            measures = list(roles.measures) or columns
            default_y = suggested.y if suggested.y in measures else measures[0]
            y = y_col.selectbox("Y axis", measures, index=measures.index(default_y), key="overview_y")
        chosen = suggested if (kind, x, y) == (suggested.kind, suggested.x, suggested.y) else None
        spec = chosen or ChartSpec(kind, x, y, f"{y} by {x}" if y else f"{x}")
        try:
            st.plotly_chart(chart_figure(frame, spec), key="overview_chart")
        except (TypeError, ValueError) as exc:
            st.warning(f"That combination cannot be drawn ({exc}). Pick other columns.")
    with st.expander("Rows"):
        st.dataframe(frame, hide_index=True)

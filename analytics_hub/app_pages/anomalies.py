"""Anomalies: the points of a series that break its usual pattern, highest score first."""

from __future__ import annotations

import streamlit as st

from analytics_hub import hub
from analytics_hub.ml.anomalies import detect_anomalies
from analytics_hub.plots import anomaly_figure
from analytics_hub.series_picker import load_series, pick_series

METHODS = {"Seasonal residuals (recommended)": "auto", "Isolation forest": "isolation_forest"}

user = hub.require()
st.title("Anomalies")
st.caption("Pick a series; the hub flags the periods that stand out from its trend and season.")

choice = pick_series(user, key="anomalies", model_type="anomaly_detection")
if choice is not None:
    method_label = st.selectbox("Method", list(METHODS), key="anomalies_method")
    if st.button("Find anomalies", type="primary", key="anomalies_run", icon=":material/crisis_alert:"):
        try:
            with st.spinner("Reading the series and scoring every period…"):
                series = load_series(user, choice)
                flags = detect_anomalies(series, method=METHODS[method_label])
        except hub.PAGE_ERRORS as exc:
            hub.show_error(exc)
        else:
            st.session_state["anomalies_result"] = (choice, series, flags)
    shown = st.session_state.get("anomalies_result")
    if shown is not None and shown[0] == choice:
        _, series, flags = shown
        found = flags[flags["is_anomaly"]]
        st.metric("Anomalies", f"{len(found):,}", help=f"out of {len(flags):,} periods")
        st.plotly_chart(anomaly_figure(series, flags), key="anomalies_chart")
        table = found.assign(value=series.reindex(found.index)).sort_values("score", ascending=False)
        st.dataframe(table.rename_axis("period").reset_index(), hide_index=True, key="anomalies_table")

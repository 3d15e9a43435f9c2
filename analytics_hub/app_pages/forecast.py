"""Forecast: the future of a series with its uncertainty band, by the method that suits it best."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from analytics_hub import hub
from analytics_hub.ml.forecasting import forecast
from analytics_hub.plots import forecast_figure
from analytics_hub.series_picker import load_series, pick_series

METHODS = {"Best for this series (auto)": "auto", "Holt-Winters": "holt_winters", "Prophet": "prophet"}
METHODS["Same as last season"] = "seasonal_naive"

user = hub.require()
st.title("Forecast")
st.caption("Pick a series; the hub fits it and shows the expected values with their likely range.")

choice = pick_series(user, key="forecast", model_type="forecast")
if choice is not None:
    method_col, horizon_col = st.columns(2)
    method_label = method_col.selectbox("Method", list(METHODS), key="forecast_method")
    horizon = horizon_col.number_input(
        "Periods ahead", min_value=1, max_value=730, value=choice.horizon or 30, step=1, key="forecast_horizon"
    )
    if st.button("Forecast", type="primary", key="forecast_run", icon=":material/trending_up:"):
        try:
            with st.spinner("Reading the series and fitting the model…"):
                history = load_series(user, choice)
                result = forecast(history, int(horizon), method=METHODS[method_label])
        except hub.PAGE_ERRORS as exc:
            hub.show_error(exc)
        else:
            st.session_state["forecast_result"] = (choice, history, result)
    shown = st.session_state.get("forecast_result")
    if shown is not None and shown[0] == choice:
        _, history, result = shown
        st.success(f"{choice.label}: {len(result.mean)} periods ahead, method **{result.method}**.")
        st.plotly_chart(forecast_figure(history, result.mean, result.lower, result.upper), key="forecast_chart")
        st.dataframe(
            pd.DataFrame(
                {
                    "period": result.mean.index,
                    "forecast": result.mean.values,
                    "lower": result.lower.values,
                    "upper": result.upper.values,
                }
            ),
            hide_index=True,
            key="forecast_table",
        )

"""Plotly figures for the hub's pages: a chart for a ChartSpec, a forecast with its band, a series with anomalies."""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

from analytics_hub.ml.charts import ChartSpec, chart_data


def chart_figure(frame: pd.DataFrame, spec: ChartSpec) -> go.Figure:
    data = chart_data(frame, spec)
    if spec.kind == "line":
        figure = px.line(data, x=spec.x, y=spec.y, markers=len(data) <= 60)
    elif spec.kind == "bar":
        figure = px.bar(data, x=spec.x, y=spec.y)
    elif spec.kind == "scatter":
        figure = px.scatter(data, x=spec.x, y=spec.y)
    elif spec.kind == "histogram":
        figure = px.histogram(data, x=spec.x)
    else:
        figure = px.bar(data, x=spec.x, y="rows")
    figure.update_layout(margin={"l": 10, "r": 10, "t": 30, "b": 10}, title=spec.reason)
    return figure


def forecast_figure(history: pd.Series, mean: pd.Series, lower: pd.Series, upper: pd.Series) -> go.Figure:
    figure = go.Figure()
    figure.add_trace(go.Scatter(x=history.index, y=history.values, name="history", mode="lines"))
    figure.add_trace(
        go.Scatter(
            x=list(upper.index) + list(lower.index[::-1]),
            y=list(upper.values) + list(lower.values[::-1]),
            fill="toself",
            line={"width": 0},
            name="interval",
            opacity=0.25,
        )
    )
    figure.add_trace(go.Scatter(x=mean.index, y=mean.values, name="forecast", mode="lines"))
    figure.update_layout(margin={"l": 10, "r": 10, "t": 30, "b": 10})
    return figure


def anomaly_figure(series: pd.Series, flags: pd.DataFrame) -> go.Figure:
    figure = go.Figure()
    figure.add_trace(go.Scatter(x=series.index, y=series.values, name="value", mode="lines"))
    found = series[flags["is_anomaly"].reindex(series.index, fill_value=False).astype(bool)]
    figure.add_trace(
        go.Scatter(x=found.index, y=found.values, name="anomaly", mode="markers", marker={"size": 10, "color": "red"})
    )
    figure.update_layout(margin={"l": 10, "r": 10, "t": 30, "b": 10})
    return figure

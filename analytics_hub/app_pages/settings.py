"""Analytics settings (Admins): which series the daily batch forecasts or watches for anomalies, and where alerts go."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from analytics_hub import access, hub
from analytics_hub.access import ADMIN, SettingRejected

NEW = "Add a new setting"
MODEL_TYPES = {"forecast": "Forecast", "anomaly_detection": "Anomaly detection"}

user = hub.require(ADMIN)
st.title("Analytics settings")
st.caption("The daily analytics run forecasts and scans every active setting; anomalies are posted to its webhook.")
if flash := st.session_state.pop("settings_flash", None):
    st.success(flash, icon=":material/check:")

settings = access.analytics_settings(user, active_only=False)
if settings:
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "Table": s.target_table,
                    "Date column": s.date_column,
                    "Value column": s.value_column,
                    "Model": MODEL_TYPES.get(s.model_type, s.model_type),
                    "Horizon": s.horizon,
                    "Alerts": "webhook set" if s.has_alert else "",
                    "Active": s.is_active,
                }
                for s in settings
            ]
        ),
        hide_index=True,
        key="settings_table",
    )
else:
    st.info("No analytics settings yet: add one below.")

labels = [f"{s.label} ({MODEL_TYPES.get(s.model_type, s.model_type)})" for s in settings]
picked = st.selectbox("Edit", [NEW, *labels], key="settings_pick")
current = None if picked == NEW else settings[labels.index(picked)]

table = hub.pick_table(
    user,
    key=f"settings_target_{current.pk if current else 'new'}",
    label="Table",
    default=current.target_table if current else None,
)
if table:
    columns = hub.columns_of(table)
    if columns is None:
        st.stop()
    times = [c.name for c in columns if c.is_time]
    numbers = [c.name for c in columns if c.is_numeric]

    def _index(options: list[str], value: str | None) -> int:
        return options.index(value) if value in options else 0

    with st.form("settings_form"):
        date_column = st.selectbox(
            "Date column", times, index=_index(times, current and current.date_column), key="settings_date"
        )
        value_column = st.selectbox(
            "Value column", numbers, index=_index(numbers, current and current.value_column), key="settings_value"
        )
        kinds = list(MODEL_TYPES)
        model_type = st.selectbox(
            "Model",
            kinds,
            index=_index(kinds, current and current.model_type),
            format_func=MODEL_TYPES.get,
            key="settings_model",
        )
        horizon = st.number_input(
            "Horizon (periods ahead)",
            min_value=1,
            max_value=730,
            value=current.horizon if current else 30,
            key="settings_horizon",
        )
        webhook = st.text_input(
            "Alert webhook URL",
            key="settings_webhook",
            help="Write-only: a stored address is never shown. Leave empty to keep it.",
            placeholder="(set)" if current and current.has_alert else "https://…",
        )
        clear = (
            st.checkbox("Remove the stored webhook", key="settings_clear") if current and current.has_alert else False
        )
        active = st.checkbox("Active", value=current.is_active if current else True, key="settings_active")
        saved = st.form_submit_button("Save", type="primary")
    if saved:
        values = {
            "target_table": table,
            "date_column": date_column,
            "value_column": value_column,
            "model_type": model_type,
            "horizon": int(horizon),
            "alert_webhook_url": webhook.strip(),
            "is_active": active,
            "clear_alert": clear,
        }
        try:
            setting = access.save_analytics_setting(user, values, pk=current.pk if current else None)
        except SettingRejected as exc:
            st.error(f"Not saved: {exc.message}", icon=":material/error:")
        else:
            st.session_state["settings_flash"] = f"Saved: {setting.label}."
            st.rerun()

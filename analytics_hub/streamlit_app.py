"""Entry point of the analytics hub: ``streamlit run analytics_hub/streamlit_app.py``.

Signed-out visitors see only the sign-in page; signed-in users see the pages their role allows
(Viewers read, Stewards also edit data, Admins also change analytics settings).
"""

from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

# Streamlit puts only this folder on sys.path; pages import ``analytics_hub.*`` from the repository root.
_REPO_ROOT = str(Path(__file__).resolve().parent.parent)
if _REPO_ROOT not in sys.path:
    sys.path.insert(0, _REPO_ROOT)

from analytics_hub import hub  # noqa: E402
from analytics_hub.access import ADMIN, ROLE_LABELS, STEWARD  # noqa: E402

st.set_page_config(page_title="Launchpad analytics hub", page_icon=":material/insights:", layout="wide")

user = hub.current_user()
if user is None:
    st.navigation([st.Page(hub.sign_in_page, title="Sign in", icon=":material/login:")]).run()
else:
    explore = [
        st.Page("app_pages/overview.py", title="Overview", icon=":material/dashboard:", default=True),
        st.Page("app_pages/warehouse_tables.py", title="Warehouse tables", icon=":material/table_view:"),
        st.Page("app_pages/ask.py", title="Ask your data", icon=":material/chat:"),
        st.Page("app_pages/search.py", title="Semantic search", icon=":material/search:"),
    ]
    analyse = [
        st.Page("app_pages/forecast.py", title="Forecast", icon=":material/trending_up:"),
        st.Page("app_pages/anomalies.py", title="Anomalies", icon=":material/crisis_alert:"),
        st.Page("app_pages/root_cause.py", title="Root cause", icon=":material/account_tree:"),
    ]
    manage = []
    if user.at_least(STEWARD):
        manage.append(st.Page("app_pages/steward.py", title="Data steward", icon=":material/edit_note:"))
    if user.at_least(ADMIN):
        manage.append(st.Page("app_pages/settings.py", title="Analytics settings", icon=":material/tune:"))
    sections = {"Explore": explore, "Analyse": analyse}
    if manage:
        sections["Manage"] = manage
    page = st.navigation(sections)
    with st.sidebar:
        st.caption(f"Signed in as **{user.username}** ({ROLE_LABELS[user.role]})")
        if st.button("Sign out", key="hub_sign_out", icon=":material/logout:"):
            hub.sign_out()
            st.rerun()
    page.run()

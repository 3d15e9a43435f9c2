"""Entry point of the analytics hub: ``streamlit run analytics_hub/streamlit_app.py``."""

from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

# Streamlit puts only this folder on sys.path; pages import ``analytics_hub.*`` from the repository root.
_REPO_ROOT = str(Path(__file__).resolve().parent.parent)
if _REPO_ROOT not in sys.path:
    sys.path.insert(0, _REPO_ROOT)

st.set_page_config(page_title="Launchpad analytics hub", page_icon=":material/insights:", layout="wide")

st.navigation(
    [
        st.Page(
            "app_pages/warehouse_tables.py",
            title="Warehouse tables",
            icon=":material/table_view:",
            default=True,
        ),
    ]
).run()

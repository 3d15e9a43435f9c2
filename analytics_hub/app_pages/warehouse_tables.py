"""The warehouse tables the signed-in user may query, with their exact row counts."""

from __future__ import annotations

import logging

import pandas as pd
import psycopg
import streamlit as st

from analytics_hub import hub
from analytics_hub.warehouse import TableInfo, WarehouseUnavailable, connect, list_tables, warehouse_url

ALL_SCHEMAS = "All schemas"
log = logging.getLogger("launchpad.analytics_hub")


@st.cache_data(ttl=30, show_spinner="Counting rows…")
def load_tables(url: str) -> list[TableInfo]:
    """Cached per URL; a short-lived connection per call, since psycopg connections are not thread-safe."""
    with connect(url) as conn:
        return list_tables(conn)


def read_tables() -> list[TableInfo] | None:
    """The table list, or None after telling the user in plain words why the warehouse cannot be read."""
    try:
        return load_tables(warehouse_url())
    except WarehouseUnavailable as exc:
        log.warning("warehouse unavailable: %s", exc.detail)
        st.error(exc.message, icon=":material/cloud_off:")
    except psycopg.Error as exc:
        log.warning("warehouse read failed: %s", exc)
        st.error(
            "The warehouse stopped answering while its tables were being counted. Reload the page to try again.",
            icon=":material/cloud_off:",
        )
    return None


user = hub.require()
st.title("Warehouse tables")
st.caption("The warehouse tables you may query and exactly how many rows each holds (refreshed every 30 seconds).")

if st.button("Refresh counts", key="tables_refresh", icon=":material/refresh:"):
    load_tables.clear()

tables = read_tables()
if tables is not None:
    tables = [t for t in tables if user.may_query(f"{t.schema}.{t.name}")]
if tables is not None and not tables:
    st.info(
        "No tables to show: the warehouse has none yet (run seed_demo or load a file), "
        "or no pipeline is granted to you.",
        icon=":material/info:",
    )
elif tables:
    schemas = sorted({t.schema for t in tables})
    chosen = st.selectbox("Schema", [ALL_SCHEMAS, *schemas], key="tables_schema")
    shown = [t for t in tables if chosen in (ALL_SCHEMAS, t.schema)]

    tables_col, rows_col = st.columns(2)
    tables_col.metric("Tables", f"{len(shown):,}")
    rows_col.metric("Total rows", f"{sum(t.row_count for t in shown):,}")
    st.dataframe(
        pd.DataFrame(
            {
                "Schema": [t.schema for t in shown],
                "Table": [t.name for t in shown],
                "Rows": [t.row_count for t in shown],
            }
        ),
        hide_index=True,
    )

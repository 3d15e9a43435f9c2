"""Semantic search: find rows by meaning (or by words, with the built-in TF-IDF) in a table's text columns."""

from __future__ import annotations

import streamlit as st

from analytics_hub import hub
from analytics_hub.ml.semantic import build_index, embedding_backend, search

user = hub.require()
st.title("Semantic search")
backend = embedding_backend()
st.caption(f"Rows are matched with {backend.description}.")

table = hub.pick_table(user, key="search_table")
if table:
    if st.button("Update the index", key="search_index", icon=":material/database:"):
        bar = st.progress(0.0, text="Reading rows…")

        def _progress(done: int, total: int) -> None:
            bar.progress(min(done / total, 1.0) if total else 1.0, text=f"{done:,} of {total:,} rows")

        try:
            with hub.writer_connection() as conn:
                stats = build_index(conn, table, progress=_progress)
        except hub.PAGE_ERRORS as exc:
            hub.show_error(exc)
        else:
            st.success(
                f"Index up to date: {stats.embedded:,} rows embedded, {stats.reused:,} reused, "
                f"{stats.removed:,} removed."
            )
    query = st.text_input("Search for", key="search_query", placeholder="e.g. late delivery complaints")
    if query.strip():
        try:
            with hub.writer_connection() as conn:
                found = search(conn, table, query.strip(), k=20)
        except hub.PAGE_ERRORS as exc:
            hub.show_error(exc)
        else:
            if found.empty:
                st.info("No rows match. If the table changed recently, update the index first.")
            else:
                st.dataframe(found, hide_index=True, key="search_results")

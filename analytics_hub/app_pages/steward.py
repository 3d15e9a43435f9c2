"""Data steward: edit rows of a table with a primary key; saves are atomic, refused if someone else changed the
row meanwhile, and audited (who, when, before and after)."""

from __future__ import annotations

import streamlit as st

from analytics_hub import hub
from analytics_hub.access import STEWARD
from analytics_hub.ml.editing import EditConflict, apply_edits, edit_history, editable_tables, read_for_edit

ROWS = 1000

user = hub.require(STEWARD)
st.title("Data steward")
st.caption("Correct values in place. Key columns are locked; a save applies every change at once, or none of them.")

try:
    with hub.writer_connection() as conn:
        tables = [t for t in editable_tables(conn, schemas=sorted(user.schemas)) if user.may_query(t)]
except hub.PAGE_ERRORS as exc:
    hub.show_error(exc)
    st.stop()
if not tables:
    st.info("None of the tables you may use has a primary key, so none can be edited safely.")
    st.stop()

table = st.selectbox("Table", tables, key="steward_table")
snapshot = st.session_state.get("steward_snapshot")
if snapshot is None or snapshot.table != table or st.button("Reload", key="steward_reload", icon=":material/refresh:"):
    try:
        with hub.writer_connection() as conn:
            snapshot = read_for_edit(conn, table, limit=ROWS)
    except hub.PAGE_ERRORS as exc:
        hub.show_error(exc)
        st.stop()
    st.session_state["steward_snapshot"] = snapshot
    st.session_state["steward_editor_version"] = st.session_state.get("steward_editor_version", 0) + 1

editor_key = f"steward_editor_{st.session_state['steward_editor_version']}"
if snapshot.truncated:
    st.caption(f"Showing the first {len(snapshot.rows):,} rows by key.")
edited = st.data_editor(
    snapshot.rows, disabled=snapshot.disabled_columns, hide_index=True, num_rows="fixed", key=editor_key
)
if st.button("Save changes", type="primary", key="steward_save", icon=":material/save:"):
    try:
        with hub.writer_connection() as conn:
            result = apply_edits(conn, snapshot, edited, user=user.username)
    except EditConflict as exc:
        st.error(exc.message, icon=":material/sync_problem:")
    except hub.PAGE_ERRORS as exc:
        hub.show_error(exc)
    else:
        if result.updated:
            st.success(f"Saved: {result.updated} row(s) changed.", icon=":material/check:")
            st.session_state.pop("steward_snapshot", None)
        else:
            st.info("Nothing to save: no value was changed.")

with st.expander("Recent changes to this table"):
    try:
        with hub.writer_connection() as conn:
            st.dataframe(edit_history(conn, table, limit=50), hide_index=True, key="steward_history")
    except hub.PAGE_ERRORS as exc:
        hub.show_error(exc)

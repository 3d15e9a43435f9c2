"""Ask your data: a question in plain words becomes one read-only SQL query, shown, checked, run and charted."""

from __future__ import annotations

import streamlit as st

from analytics_hub import hub
from analytics_hub.ml.charts import suggest_chart
from analytics_hub.ml.nl2sql import NotConfigured, client_from_env, describe_schema, generate_sql
from analytics_hub.ml.sql_safety import UnsafeSQL
from analytics_hub.plots import chart_figure

HOW_TO_CONFIGURE = """
This page turns questions into SQL with a language model reached over an OpenAI-compatible API.
Ask your administrator to set, in the environment of the hub (or the `.env` file):

- `OPENAI_API_KEY`: the API key (or store it in the OS keyring under the service `launchpad`);
- `OPENAI_BASE_URL` (optional): the address of a compatible server, e.g. a local model;
- `OPENAI_MODEL` (optional): the model name.

Then reload this page.
"""

user = hub.require()
st.title("Ask your data")
st.caption("Ask a question about the tables you may query. The generated SQL is checked, then run read-only.")

try:
    client = client_from_env()
except NotConfigured:
    st.info("Asking in plain words needs a language model, and none is configured yet.", icon=":material/key_off:")
    st.markdown(HOW_TO_CONFIGURE)
    st.stop()

question = st.text_area("Your question", key="ask_question", placeholder="Total sales per region last month")
if st.button("Ask", type="primary", key="ask_run", icon=":material/send:") and question.strip():
    st.session_state.pop("ask_result", None)
    try:
        with st.spinner("Writing the query…"):
            with hub.reader_connection() as conn:
                schema = describe_schema(conn, schemas=sorted(user.schemas), tables=user.allowed_tables)
            generated = generate_sql(question.strip(), schema=schema, client=client)
        with st.spinner("Running it read-only…"):
            sql_text, frame = hub.run_query(user, generated)
    except UnsafeSQL as exc:
        st.error(f"The generated query was refused: {exc.message}", icon=":material/gpp_bad:")
        if getattr(exc, "sql", None):
            st.code(exc.sql, language="sql")
    except hub.PAGE_ERRORS as exc:
        hub.show_error(exc)
    else:
        st.session_state["ask_result"] = (question.strip(), sql_text, frame)

result = st.session_state.get("ask_result")
if result is not None:
    asked, sql_text, frame = result
    st.subheader(asked)
    st.code(sql_text, language="sql")
    note = " (only the first rows are shown)" if frame.attrs.get("truncated") else ""
    st.caption(f"{len(frame):,} rows{note}")
    st.dataframe(frame, hide_index=True, key="ask_table")
    spec = suggest_chart(frame)
    if spec is not None:
        st.plotly_chart(chart_figure(frame, spec), key="ask_chart")

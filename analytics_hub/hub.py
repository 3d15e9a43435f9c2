"""What every hub page shares: the signed-in user, warehouse connections, gated queries, plain errors."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import pandas as pd
import psycopg
import streamlit as st
from django.conf import settings

from analytics_hub import access
from analytics_hub.access import HubUser
from analytics_hub.ml.errors import AnalyticsError
from analytics_hub.ml.reader_role import ensure_reader_role, reader_conninfo
from analytics_hub.ml.secrets import resolve_secret
from analytics_hub.ml.sql_safety import run_safe_query
from analytics_hub.ml.table_queries import Column, table_columns
from analytics_hub.warehouse import WarehouseUnavailable, connect, warehouse_url

log = logging.getLogger("launchpad.analytics_hub")
PAGE_ERRORS = (AnalyticsError, WarehouseUnavailable, psycopg.Error)
USER_KEY = "hub_user"
READER_PASSWORD_NAME = "LAUNCHPAD_HUB_READER_PASSWORD"


def current_user() -> HubUser | None:
    """The signed-in user with their rights read afresh (a revoked grant applies on the next click)."""
    user = st.session_state.get(USER_KEY)
    if user is None:
        return None
    fresh = access.refresh(user.username)
    if fresh is None:
        st.session_state.pop(USER_KEY, None)
    else:
        st.session_state[USER_KEY] = fresh
    return fresh


def sign_in_page() -> None:
    st.title("Launchpad analytics hub")
    st.caption("Sign in with your Launchpad account.")
    with st.form("sign_in"):
        username = st.text_input("Username", key="sign_in_username")
        password = st.text_input("Password", type="password", key="sign_in_password")
        submitted = st.form_submit_button("Sign in", type="primary")
    if submitted:
        user = access.sign_in(username.strip(), password)
        if user is None:
            st.error("That username and password do not match an active account.", icon=":material/lock:")
        else:
            st.session_state[USER_KEY] = user
            st.rerun()


def sign_out() -> None:
    for key in list(st.session_state):
        del st.session_state[key]


def require(role: str = access.VIEWER) -> HubUser:
    """The signed-in user, or stop the page with a plain message when they lack ``role``."""
    user = current_user()
    if user is None:
        st.warning("Your session has ended. Sign in again.", icon=":material/lock:")
        st.stop()
    if not user.at_least(role):
        st.error(f"This page is for {access.ROLE_LABELS[role]}s and above.", icon=":material/block:")
        st.stop()
    return user


def show_error(exc: Exception) -> None:
    """A plain message on the page; the technical detail goes to the log only."""
    if isinstance(exc, AnalyticsError | WarehouseUnavailable):
        log.warning("%s (%s)", exc.message, exc.detail)
        st.error(exc.message, icon=":material/error:")
    elif isinstance(exc, psycopg.Error):
        log.warning("warehouse error: %s", exc)
        st.error("The warehouse could not answer that request. Reload the page to try again.", icon=":material/error:")
    else:
        raise exc


@st.cache_resource(show_spinner=False)
def _reader_ready(url: str, role: str, schemas: tuple[str, ...]) -> bool:
    """Create or update the read-only role once per set of schemas (cached for the server's life)."""
    with connect(url) as conn:
        ensure_reader_role(conn, role=role, schemas=schemas, password=resolve_secret(READER_PASSWORD_NAME))
    return True


@contextmanager
def reader_connection() -> Iterator[psycopg.Connection]:
    """A connection logged in as the hub's read-only role, which may only read the hub's schemas."""
    url = warehouse_url()
    role = settings.LAUNCHPAD_HUB_READER_ROLE
    _reader_ready(url, role, tuple(access.hub_schemas()))
    conninfo = reader_conninfo(url, role=role, password=resolve_secret(READER_PASSWORD_NAME))
    with connect(conninfo) as conn:
        yield conn


@contextmanager
def writer_connection() -> Iterator[psycopg.Connection]:
    """The warehouse owner's connection: only for the steward's audited edits and the search index."""
    with connect(warehouse_url()) as conn:
        yield conn


def run_query(user: HubUser, text: str, *, max_rows: int | None = None) -> tuple[str, pd.DataFrame]:
    """``text`` through both gates (parser, then the read-only role in a read-only transaction) for ``user``."""
    with reader_connection() as conn:
        return run_safe_query(
            conn,
            text,
            allowed_schemas=sorted(user.schemas),
            allowed_tables=None if user.allowed_tables is None else sorted(user.allowed_tables),
            max_rows=max_rows or settings.LAUNCHPAD_HUB_MAX_ROWS,
            timeout_s=settings.LAUNCHPAD_HUB_TIMEOUT_S,
        )


def columns_of(table: str) -> list[Column] | None:
    """The columns of ``table`` as the read-only role sees them, or None after a plain error on the page."""
    try:
        with reader_connection() as conn:
            return table_columns(conn, table)
    except PAGE_ERRORS as exc:
        show_error(exc)
        return None


def queryable_tables(user: HubUser) -> list[str]:
    """The tables ``user`` may query that exist and the read-only role can see, sorted."""
    with reader_connection() as conn:
        rows = conn.execute(
            "SELECT table_schema || '.' || table_name FROM information_schema.tables "
            "WHERE table_schema = ANY(%s) ORDER BY 1",
            (sorted(user.schemas),),
        ).fetchall()
    return [name for (name,) in rows if user.may_query(name)]


def pick_table(
    user: HubUser, *, key: str, label: str = "Table", candidates: list[str] | None = None, default: str | None = None
) -> str | None:
    """A table picker over what ``user`` may query; None (with a hint) when there is nothing to pick."""
    try:
        tables = candidates if candidates is not None else queryable_tables(user)
    except PAGE_ERRORS as exc:
        show_error(exc)
        return None
    if not tables:
        st.info(
            "No tables to show yet: you have no pipelines granted, or their tables hold no data.",
            icon=":material/info:",
        )
        return None
    return st.selectbox(label, tables, index=tables.index(default) if default in tables else 0, key=key)

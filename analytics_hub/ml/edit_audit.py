"""The audit trail of data edits: one row per changed row, with the key and the before/after of the changed columns."""

from __future__ import annotations

import pandas as pd
import psycopg
from psycopg import sql

AUDIT_SCHEMA = "analytics_audit"
AUDIT_TABLE = "data_edits"
HISTORY_COLUMNS = ["id", "row_key", "changed_columns", "before", "after", "edited_by", "edited_at"]

# Serialises the first creation of the audit table between concurrent editors (CREATE ... IF NOT EXISTS races).
_CREATE_LOCK = 0x4C50_4155_4449_54  # "LPAUDIT"

AUDIT_IDENTIFIER = _AUDIT = sql.Identifier(AUDIT_SCHEMA, AUDIT_TABLE)
_CREATE = [
    sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(AUDIT_SCHEMA)),
    sql.SQL(
        """
        CREATE TABLE IF NOT EXISTS {} (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            table_name text NOT NULL,
            row_key jsonb NOT NULL,
            before jsonb NOT NULL,
            after jsonb NOT NULL,
            changed_columns text[] NOT NULL,
            edited_by text NOT NULL,
            edited_at timestamptz NOT NULL DEFAULT now()
        )
        """
    ).format(_AUDIT),
    sql.SQL("CREATE INDEX IF NOT EXISTS data_edits_table_name_id ON {} (table_name, id DESC)").format(_AUDIT),
]


def audit_table_exists(conn: psycopg.Connection) -> bool:
    qualified = f"{AUDIT_SCHEMA}.{AUDIT_TABLE}"  # both names are plain lower-case constants
    return conn.execute("SELECT to_regclass(%s) IS NOT NULL", (qualified,)).fetchone()[0]


def ensure_audit_table(conn: psycopg.Connection) -> None:
    """Create ``analytics_audit.data_edits`` when missing; safe to call from concurrent sessions."""
    if audit_table_exists(conn):
        return
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_CREATE_LOCK,))
        for statement in _CREATE:
            conn.execute(statement)


def pick_keys(document: sql.Composable, keys: sql.Composable) -> sql.Composed:
    """SQL for the jsonb object ``document`` keeping only the keys in the text array ``keys``."""
    return sql.SQL("(SELECT jsonb_object_agg(e.key, e.value) FROM jsonb_each({}) AS e WHERE e.key = ANY({}))").format(
        document, keys
    )


def edit_history(conn: psycopg.Connection, table: str, *, limit: int = 100) -> pd.DataFrame:
    """The latest ``limit`` audited edits of ``table`` (``schema.table``), newest first; empty when none."""
    if not audit_table_exists(conn):
        return pd.DataFrame(columns=HISTORY_COLUMNS)
    query = sql.SQL(
        "SELECT id, row_key, changed_columns, before, after, edited_by, edited_at FROM {} "
        "WHERE table_name = %s ORDER BY id DESC LIMIT %s"
    ).format(_AUDIT)
    rows = conn.execute(query, (table, int(limit))).fetchall()
    return pd.DataFrame(rows, columns=HISTORY_COLUMNS)

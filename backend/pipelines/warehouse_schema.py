"""What the warehouse holds, for save-time checks: the columns of a table, when it can be seen.

Checks here are best effort: a table that does not exist yet (created after the rule) or a
warehouse that does not answer is no reason to refuse a save; `lint_configs` and the run
itself report those. A table that exists and lacks a named column is.
"""

from __future__ import annotations

import logging

import psycopg
from django.conf import settings
from psycopg import sql

log = logging.getLogger(__name__)


def table_columns(table: str) -> frozenset[str] | None:
    """Column names of ``schema.table`` in the warehouse; None when it is not there or cannot be read."""
    url = getattr(settings, "WAREHOUSE_URL", "")
    if not url or not table:
        return None
    try:
        with psycopg.connect(url, connect_timeout=3, application_name="launchpad-validation") as conn:
            qualified = sql.Identifier(*table.split(".")).as_string(conn)
            oid = conn.execute("SELECT to_regclass(%s)::oid", (qualified,)).fetchone()[0]
            if oid is None:
                return None
            rows = conn.execute(
                "SELECT attname FROM pg_attribute WHERE attrelid = %s AND attnum > 0 AND NOT attisdropped", (oid,)
            ).fetchall()
    except psycopg.Error as exc:
        log.info("warehouse not readable for validation of %s: %s", table, exc)
        return None
    return frozenset(r[0] for r in rows)


def missing_columns(table: str, columns: list[str]) -> list[str]:
    """The named columns ``table`` does not have (empty when it has them all or cannot be checked)."""
    known = table_columns(table)
    if known is None:
        return []
    return [c for c in columns if c and c not in known]

"""Planner statistics of a staging table, refreshed when they miss the run's rows.

A freshly loaded staging table is planned from statistics taken before the load, or by an
autovacuum ANALYZE that ran while the load was still open and so counted none of its rows. The
planner then expects a handful of the run's rows and may choose a nested loop that reads the
other side of a join once per staging row: a million-row run joined with its destination or a
lookup table would not finish. Before such a join, :func:`refresh_if_stale` compares the estimate
with the rows really there (reading no more than a bounded number of them) and runs ANALYZE when
the estimate is far too low. ANALYZE counts the rows of the caller's own open transaction too.
"""

from __future__ import annotations

from collections.abc import Sequence

import psycopg
from psycopg import sql

from dagster_code.engine.identifiers import column_identifier, table_identifier
from dagster_code.engine.mapping import RUN_ID_COLUMN
from dagster_code.engine.session import local_settings

TRUSTED_ESTIMATE = 10_000  # the planner avoids per-row rescans of a join's other side once it expects this many
_SLACK = 10  # an estimate is stale when the run has more than this many times the rows expected
# ANALYZE samples 300 rows per unit of target: 3,000 rows give the run's share and the keys' distinctness
# well enough to plan joins, and read a fifth of the blocks the default target would on a million rows.
_SAMPLE_TARGET = "10"


def run_rows_estimate(conn: psycopg.Connection, table: str, run_id: str) -> float:
    """The planner's estimate of the rows of ``table`` tagged ``run_id``."""
    (plan,) = conn.execute(sql.SQL("EXPLAIN (FORMAT JSON) ") + _run_rows(table), (run_id,)).fetchone()
    return float(plan[0]["Plan"]["Plan Rows"])


def refresh_if_stale(conn: psycopg.Connection, table: str, run_id: str, columns: Sequence[str] = ()) -> bool:
    """ANALYZE ``table`` (the run id column and ``columns``) when the planner underestimates the run's rows.

        Returns True when it ran. Costs one EXPLAIN when the estimate is already large, plus a count
        stopped after a bounded number of rows when it is small. A table the role may not analyze is
        left as it is (PostgreSQL warns and skips it). The sample is small (:data:`_SAMPLE_TARGET`): these
    statistics replace ones that missed the run entirely, and the next autovacuum takes a full sample.
    """
    estimate = run_rows_estimate(conn, table, run_id)
    if estimate >= TRUSTED_ESTIMATE:
        return False
    bound = int(max(estimate, 100) * _SLACK)
    (rows,) = conn.execute(
        sql.SQL("SELECT count(*) FROM ({} LIMIT %s) AS r").format(_run_rows(table)), (run_id, bound + 1)
    ).fetchone()
    if rows <= bound:
        return False
    names = dict.fromkeys([RUN_ID_COLUMN, *columns])
    with conn.transaction(), local_settings(conn, {"default_statistics_target": _SAMPLE_TARGET}):
        conn.execute(
            sql.SQL("ANALYZE {} ({})").format(
                table_identifier(table), sql.SQL(", ").join(column_identifier(c) for c in names)
            )
        )
    return True


def _run_rows(table: str) -> sql.Composable:
    return sql.SQL("SELECT 1 FROM {} WHERE {} = %s").format(table_identifier(table), sql.Identifier(RUN_ID_COLUMN))

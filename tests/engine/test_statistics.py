"""Statistics that missed a run's rows: found and refreshed before staging is joined with anything.

The stale state is made the way it happens in production: an ANALYZE (autovacuum's) runs on another
connection while the load is still open, sees none of its rows and records an empty table.
"""

from __future__ import annotations

import psycopg
import pytest
from psycopg import sql

from dagster_code.engine.enrichment import EnrichmentRule, apply_enrichment
from dagster_code.engine.quality import QualityRule, evaluate_rules
from dagster_code.engine.statistics import TRUSTED_ESTIMATE, refresh_if_stale, run_rows_estimate
from dagster_code.engine.transform import TransformStep, run_transform

ROWS = 20_000


def ident(name: str) -> sql.Identifier:
    return sql.Identifier(*name.split("."))


@pytest.fixture
def tables(warehouse: psycopg.Connection, warehouse_schema: str) -> dict[str, str]:
    names = {key: f"{warehouse_schema}.{key}" for key in ("stg", "sales", "codes")}
    warehouse.execute(
        sql.SQL("CREATE TABLE {} (id integer, code text, label text, dagster_run_id text)").format(ident(names["stg"]))
    )
    warehouse.execute(sql.SQL("CREATE TABLE {} (id integer, code text, label text)").format(ident(names["sales"])))
    warehouse.execute(sql.SQL("CREATE TABLE {} (code text, label text)").format(ident(names["codes"])))
    warehouse.execute(
        sql.SQL("INSERT INTO {} SELECT 'C' || n, 'label ' || n FROM generate_series(0, 99) AS n").format(
            ident(names["codes"])
        )
    )
    warehouse.execute(sql.SQL("INSERT INTO {} VALUES (1, 'C1', 'old'), (2, 'C2', 'old')").format(ident(names["sales"])))
    return names


def stage(conn: psycopg.Connection, table: str, run_id: str, rows: int) -> None:
    """``rows`` rows tagged ``run_id``: ids 1..rows, codes C0..C99 repeating, no labels."""
    conn.execute(
        sql.SQL("INSERT INTO {} SELECT n, 'C' || (n %% 100), NULL, %s FROM generate_series(1, %s) AS n").format(
            ident(table)
        ),
        (run_id, rows),
    )


def analyze_elsewhere(warehouse_url: str, table: str) -> None:
    """ANALYZE from another session, as autovacuum would: it cannot see rows of a load still open."""
    with psycopg.connect(warehouse_url, autocommit=True) as other:
        other.execute(sql.SQL("ANALYZE {}").format(ident(table)))


def stale_load(warehouse_url: str, table: str, run_id: str, rows: int = ROWS) -> psycopg.Connection:
    """A connection inside a transaction that staged ``rows`` rows, after an ANALYZE that saw none of them."""
    conn = psycopg.connect(warehouse_url)
    stage(conn, table, run_id, rows)
    analyze_elsewhere(warehouse_url, table)
    assert run_rows_estimate(conn, table, run_id) < 10  # the planner now expects (almost) nothing
    return conn


def test_an_estimate_that_missed_the_runs_rows_is_refreshed_inside_the_open_load(warehouse_url, tables):
    with stale_load(warehouse_url, tables["stg"], "run-1") as conn:
        assert refresh_if_stale(conn, tables["stg"], "run-1", ["code"]) is True
        assert run_rows_estimate(conn, tables["stg"], "run-1") > ROWS / 2
        conn.rollback()


def test_a_small_run_or_a_trusted_estimate_is_left_alone(warehouse, warehouse_url, tables):
    with stale_load(warehouse_url, tables["stg"], "small-run", rows=50) as conn:
        assert refresh_if_stale(conn, tables["stg"], "small-run") is False
        conn.rollback()

    stage(warehouse, tables["stg"], "run-1", ROWS)
    warehouse.execute(sql.SQL("ANALYZE {}").format(ident(tables["stg"])))
    assert run_rows_estimate(warehouse, tables["stg"], "run-1") >= TRUSTED_ESTIMATE
    assert refresh_if_stale(warehouse, tables["stg"], "run-1") is False


def test_rules_on_a_run_the_statistics_missed_never_plan_a_nested_loop(warehouse_url, tables):
    plans: list[str] = []

    class ExplainingCursor(psycopg.Cursor):
        def execute(self, query, params=None, **kwargs):
            text = query.as_string(self.connection) if isinstance(query, sql.Composable) else str(query)
            if " UNION ALL " in text:  # the rules' statement
                rows = super().execute(sql.SQL("EXPLAIN ") + query, params).fetchall()
                plans.append("\n".join(r[0] for r in rows))
            return super().execute(query, params, **kwargs)

    with stale_load(warehouse_url, tables["stg"], "run-1") as conn:
        conn.cursor_factory = ExplainingCursor
        rules = [
            QualityRule("code_unique", tables["stg"], "code", "UNIQUE"),  # text: hashed, then a join
            QualityRule("id_new", tables["stg"], "id", "UNIQUE", '{"against_destination": true}'),
            QualityRule("id_present", tables["stg"], "id", "NOT_NULL"),
        ]
        results = evaluate_rules(conn, table=tables["stg"], run_id="run-1", rules=rules, destination=tables["sales"])
        conn.rollback()

    assert [r.rows_failing for r in results] == [ROWS, 2, 0]
    [plan] = plans
    assert "Hash Join" in plan
    assert "Nested Loop" not in plan


def test_the_transform_refreshes_statistics_the_load_left_stale(warehouse, warehouse_url, tables):
    with stale_load(warehouse_url, tables["stg"], "run-1") as conn:
        conn.commit()
    step = TransformStep("sales_import", tables["stg"], tables["sales"], "append", dedup_key=("id",))

    (result,) = run_transform(warehouse, [step], "run-1")

    assert (result.staging_rows, result.duplicates_removed, result.destination_rows) == (ROWS, 2, ROWS)
    assert run_rows_estimate(warehouse, tables["stg"], "run-1") > ROWS / 2


def test_enrichment_after_the_copy_refreshes_statistics_first(warehouse_url, tables):
    rule = EnrichmentRule("label_from_codes", tables["stg"], "label", tables["codes"], "code", "code", "label")
    with stale_load(warehouse_url, tables["stg"], "run-1") as conn:
        [filled] = apply_enrichment(conn, table=tables["stg"], run_id="run-1", rules=[rule])
        assert run_rows_estimate(conn, tables["stg"], "run-1") > ROWS / 2
        conn.rollback()

    assert (filled.filled, filled.still_missing) == (ROWS, 0)

"""Both SQL gates against hostile statements, and the queries they must still let through."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import psycopg
import pytest
from psycopg import sql

from analytics_hub.ml.sql_safety import (
    QueryFailed,
    QueryNotPermitted,
    QueryTimeout,
    UnsafeSQL,
    run_readonly,
    run_safe_query,
    validate_sql,
)

TIMEOUT_S = 1.0
SAFETY_BOUND_S = TIMEOUT_S + 2.0
HARMLESS = None  # the database may run it: the transaction is read-only and rolled back, so nothing changes


@dataclass(frozen=True)
class Hostile:
    id: str
    sql: str
    parser_says: str | None  # exact refusal of the parser gate; None when it passes and only the database can stop it
    database: type[QueryFailed] | None  # exact error of the database gate alone, or HARMLESS


HOSTILE = [
    Hostile(
        "multi",
        "SELECT 1; DELETE FROM {s}.orders",
        "Only one statement is allowed; this text holds 2.",
        QueryNotPermitted,
    ),
    Hostile(
        "delete_in_cte",
        "WITH d AS (DELETE FROM {s}.orders RETURNING *) SELECT * FROM d",
        "Data-changing statements are not allowed (DELETE).",
        QueryNotPermitted,
    ),
    Hostile(
        "update_in_cte",
        "WITH u AS (UPDATE {s}.orders SET amount = 0 RETURNING id) SELECT count(*) FROM u",
        "Data-changing statements are not allowed (UPDATE).",
        QueryNotPermitted,
    ),
    Hostile(
        "select_into",
        "SELECT * INTO {s}.stolen FROM {s}.orders",
        "SELECT ... INTO is not allowed: it creates a new table.",
        QueryFailed,
    ),
    Hostile(
        "for_update",
        "SELECT * FROM {s}.orders FOR UPDATE",
        "Locking clauses such as FOR UPDATE or FOR SHARE are not allowed.",
        QueryNotPermitted,
    ),
    Hostile(
        "for_share_skip_locked",
        "SELECT id FROM {s}.orders FOR NO KEY UPDATE SKIP LOCKED",
        "Locking clauses such as FOR UPDATE or FOR SHARE are not allowed.",
        QueryNotPermitted,
    ),
    Hostile(
        "copy_to_program",
        "COPY {s}.orders TO PROGRAM 'touch /tmp/launchpad_pwned'",
        "COPY is not allowed: it reads and writes files and programs on the database server.",
        QueryFailed,
    ),
    Hostile(
        "copy_from_file",
        "COPY {s}.orders FROM '/etc/passwd'",
        "COPY is not allowed: it reads and writes files and programs on the database server.",
        QueryFailed,
    ),
    Hostile(
        "pg_read_file",
        "SELECT pg_read_file('/etc/passwd')",
        "The function pg_read_file is not allowed.",
        QueryNotPermitted,
    ),
    Hostile("pg_sleep", "SELECT pg_sleep(10)", "The function pg_sleep is not allowed.", QueryTimeout),
    Hostile(
        "qualified_quoted_sleep",
        "SELECT pg_catalog.\"pg_sleep_for\"('10 seconds')",
        "The function pg_sleep_for is not allowed.",
        QueryTimeout,
    ),
    Hostile(
        "set_config",
        "SELECT set_config('statement_timeout', '0', false)",
        "The function set_config is not allowed.",
        HARMLESS,
    ),
    Hostile("call", "CALL {s}.purge()", "Only SELECT queries are allowed, not CALL.", QueryFailed),
    Hostile("grant", "GRANT ALL ON {s}.orders TO PUBLIC", "Changing permissions is not allowed (GRANT).", QueryFailed),
    Hostile("vacuum", "VACUUM {s}.orders", "Only SELECT queries are allowed, not VACUUM.", QueryFailed),
    Hostile(
        "set_read_write_then_delete",
        "SET TRANSACTION READ WRITE; DELETE FROM {s}.orders",
        "Only one statement is allowed; this text holds 2.",
        QueryFailed,
    ),
    Hostile(
        "do_block", "DO $$BEGIN DELETE FROM {s}.orders; END$$", "Only SELECT queries are allowed, not DO.", QueryFailed
    ),
    Hostile(
        "create_table_as",
        "CREATE TABLE {s}.stolen AS SELECT * FROM {s}.orders",
        "Changing the database structure is not allowed (CREATE).",
        QueryFailed,
    ),
    Hostile(
        "create_role",
        "CREATE ROLE {evil} SUPERUSER LOGIN",
        "Only SELECT queries are allowed, not CREATE.",
        QueryFailed,
    ),
    Hostile(
        "lo_import", "SELECT lo_import('/etc/passwd')", "The function lo_import is not allowed.", QueryNotPermitted
    ),
    Hostile(
        "dblink",
        "SELECT * FROM dblink('dbname=postgres', 'DELETE FROM x') AS t(a int)",
        "The function dblink is not allowed.",
        QueryFailed,
    ),
    Hostile(
        "terminate_backend",
        "SELECT pg_terminate_backend({admin_pid})",
        "The function pg_terminate_backend is not allowed.",
        QueryNotPermitted,
    ),
    Hostile("truncate", "TRUNCATE {s}.orders", "Data-changing statements are not allowed (TRUNCATE).", QueryFailed),
    Hostile(
        "alter",
        "ALTER TABLE {s}.orders ADD COLUMN hacked int",
        "Changing the database structure is not allowed (ALTER).",
        QueryFailed,
    ),
    Hostile("drop", "DROP TABLE {s}.orders", "Changing the database structure is not allowed (DROP).", QueryFailed),
    Hostile(
        "insert",
        "INSERT INTO {s}.orders VALUES (99, 1, 1, '2024-01-01')",
        "Data-changing statements are not allowed (INSERT).",
        QueryFailed,
    ),
    Hostile(
        "update", "UPDATE {s}.orders SET amount = 0", "Data-changing statements are not allowed (UPDATE).", QueryFailed
    ),
    Hostile(
        "merge",
        "MERGE INTO {s}.orders o USING {s}.customers c ON o.id = c.id WHEN MATCHED THEN DELETE",
        "Data-changing statements are not allowed (MERGE).",
        QueryFailed,
    ),
    Hostile(
        "explain_analyze_delete",
        "EXPLAIN ANALYZE DELETE FROM {s}.orders",
        "Only SELECT queries are allowed, not EXPLAIN.",
        QueryFailed,
    ),
    Hostile(
        "lock_table",
        "LOCK TABLE {s}.orders IN ACCESS EXCLUSIVE MODE",
        "Only SELECT queries are allowed, not LOCK.",
        QueryFailed,
    ),
    Hostile("listen", "LISTEN launchpad", "Only SELECT queries are allowed, not LISTEN.", QueryFailed),
    Hostile(
        "notify",
        "NOTIFY launchpad, 'hello'",
        "The query could not be read as SQL: Invalid expression / Unexpected token at line 1, column 17.",
        QueryFailed,
    ),
    Hostile("pg_notify", "SELECT pg_notify('launchpad', 'hello')", "The function pg_notify is not allowed.", HARMLESS),
    Hostile("set_role", "SET ROLE postgres", "Only SELECT queries are allowed, not SET.", QueryFailed),
    Hostile("commit", "COMMIT", "Only SELECT queries are allowed, not COMMIT.", QueryFailed),
    Hostile(
        "prepare",
        "PREPARE wipe AS DELETE FROM {s}.orders",
        "Only SELECT queries are allowed, not PREPARE.",
        QueryFailed,
    ),
    Hostile(
        "comment_hides_separator",
        "SELECT 1 /* harmless */ ; DELETE FROM {s}.orders -- bye",
        "Only one statement is allowed; this text holds 2.",
        QueryNotPermitted,
    ),
    Hostile(
        "comment_hides_select",
        "/* SELECT */ DELETE FROM {s}.orders -- SELECT",
        "Data-changing statements are not allowed (DELETE).",
        QueryFailed,
    ),
    Hostile(
        "dollar_quote_hides_separator",
        "SELECT $x$ ; $x$ ; DELETE FROM {s}.orders",
        "Only one statement is allowed; this text holds 2.",
        QueryNotPermitted,
    ),
    Hostile(
        "quoted_catalog",
        'SELECT rolname, rolpassword FROM "pg_catalog"."pg_authid"',
        "Table pg_catalog.pg_authid is outside the schemas you may query (allowed: {s}).",
        QueryNotPermitted,
    ),
    Hostile(
        "unicode_escaped_catalog",
        'SELECT * FROM U&"pg_c\\0061talog".pg_shadow',
        "The query could not be read as SQL: Invalid expression / Unexpected token at line 1, column 16.",
        QueryNotPermitted,
    ),
    Hostile(
        "unqualified_catalog",
        "SELECT rolname, rolpassword FROM pg_authid",
        "Table pg_authid must be written with its schema, for example {s}.pg_authid.",
        QueryNotPermitted,
    ),
    Hostile(
        "pg_shadow",
        "SELECT usename, passwd FROM pg_catalog.pg_shadow",
        "Table pg_catalog.pg_shadow is outside the schemas you may query (allowed: {s}).",
        QueryNotPermitted,
    ),
    Hostile(
        "cte_shadows_catalog",
        "WITH pg_authid AS (SELECT * FROM pg_authid) SELECT * FROM pg_authid",
        "Table pg_authid must be written with its schema, for example {s}.pg_authid.",
        QueryNotPermitted,
    ),
    Hostile(
        "table_form_catalog",
        "TABLE pg_catalog.pg_authid",
        "Table pg_catalog.pg_authid is outside the schemas you may query (allowed: {s}).",
        QueryNotPermitted,
    ),
    Hostile(
        "ungranted_schema",
        "SELECT o.id FROM {s}.orders o UNION SELECT secret FROM {other}.vault",
        "Table {other}.vault is outside the schemas you may query (allowed: {s}).",
        QueryNotPermitted,
    ),
    Hostile(
        "other_database",
        "SELECT * FROM postgres.{s}.orders",
        "Table postgres.{s}.orders names another database; only this one can be queried.",
        QueryFailed,
    ),
    Hostile("nextval", "SELECT nextval('{s}.order_ids')", "The function nextval is not allowed.", QueryNotPermitted),
    Hostile(
        "query_to_xml",
        "SELECT query_to_xml('DELETE FROM {s}.orders RETURNING *', true, true, '')",
        "The function query_to_xml is not allowed.",
        QueryFailed,
    ),
    Hostile(
        "advisory_lock", "SELECT pg_advisory_lock(4242)", "The function pg_advisory_lock is not allowed.", HARMLESS
    ),
    Hostile("writing_function_of_the_owner", "SELECT {s}.wipe()", None, QueryNotPermitted),
    Hostile(
        "cartesian_bomb",
        "SELECT count(*) FROM generate_series(1, 1e6) a, generate_series(1, 1e6) b",
        None,
        QueryTimeout,
    ),
    Hostile(
        "endless_recursion",
        "WITH RECURSIVE r AS (SELECT 1 AS n UNION ALL SELECT n + 1 FROM r) SELECT count(*) FROM r",
        None,
        QueryTimeout,
    ),
]


@pytest.fixture
def shop(warehouse: psycopg.Connection, warehouse_schema: str, other_schema: str) -> dict[str, str]:
    """customers and orders in the test schema (created before the reader role), a sequence, a procedure and a
    SECURITY DEFINER function that deletes every order: user functions are invisible to the parser gate."""
    s = sql.Identifier(warehouse_schema)
    for statement in (
        "CREATE TABLE {s}.customers (id int PRIMARY KEY, name text NOT NULL)",
        "CREATE TABLE {s}.orders (id int PRIMARY KEY, customer_id int, amount numeric(10, 2), placed date)",
        "CREATE SEQUENCE {s}.order_ids",
        "CREATE PROCEDURE {s}.purge() LANGUAGE sql AS 'DELETE FROM {s}.orders'",
        "CREATE FUNCTION {s}.wipe() RETURNS bigint LANGUAGE sql VOLATILE SECURITY DEFINER"
        " AS 'WITH d AS (DELETE FROM {s}.orders RETURNING 1) SELECT count(*) FROM d'",
        "INSERT INTO {s}.customers VALUES (1, 'Ada'), (2, 'Grace'), (3, 'Linus')",
        "INSERT INTO {s}.orders VALUES (1, 1, 10.50, '2024-01-05'), (2, 1, 20.00, '2024-02-01'),"
        " (3, 2, 7.25, '2024-02-03'), (4, 3, 100.00, '2024-03-10')",
    ):
        warehouse.execute(sql.SQL(statement).format(s=s))
    return {
        "s": warehouse_schema,
        "other": other_schema,
        "admin_pid": str(warehouse.info.backend_pid),
        "evil": f"lp_evil_{uuid.uuid4().hex[:8]}",
    }


@pytest.fixture
def reader_conn(shop, reader) -> psycopg.Connection:
    """The reader connection, created after the shop tables so the role's grants cover them."""
    return reader


def _snapshot(conn: psycopg.Connection, names: dict[str, str], reader_pid: int) -> dict[str, object]:
    """Everything a hostile statement could have changed, as plain values."""
    s = names["s"]
    checksum = sql.SQL("SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM {} AS t")
    return {
        "customers": conn.execute(checksum.format(sql.Identifier(s, "customers"))).fetchone()[0],
        "orders": conn.execute(checksum.format(sql.Identifier(s, "orders"))).fetchone()[0],
        "orders_columns": conn.execute(
            "SELECT array_agg(column_name::text ORDER BY ordinal_position) FROM information_schema.columns"
            " WHERE table_schema = %s AND table_name = 'orders'",
            [s],
        ).fetchone()[0],
        "relations": conn.execute(
            "SELECT array_agg(n.nspname || '.' || c.relname ORDER BY 1) FROM pg_class c"
            " JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'"
        ).fetchone()[0],
        "sequence": conn.execute(
            sql.SQL("SELECT last_value, is_called FROM {}").format(sql.Identifier(s, "order_ids"))
        ).fetchone(),
        "evil_role": conn.execute("SELECT count(*) FROM pg_roles WHERE rolname = %s", [names["evil"]]).fetchone()[0],
        "advisory_locks": conn.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = %s", [reader_pid]
        ).fetchone()[0],
        "large_objects": conn.execute("SELECT count(*) FROM pg_largeobject_metadata").fetchone()[0],
        "admin_alive": conn.execute("SELECT 1").fetchone()[0],
    }


def _run_database_gate(reader: psycopg.Connection, statement: str) -> tuple[object, float]:
    """The raw statement through the database gate alone: its outcome (frame or error) and how long it took."""
    started = time.monotonic()
    try:
        outcome: object = run_readonly(reader, statement, max_rows=10, timeout_s=TIMEOUT_S)
    except QueryFailed as exc:
        outcome = exc
    return outcome, time.monotonic() - started


@pytest.mark.parametrize("case", HOSTILE, ids=[case.id for case in HOSTILE])
def test_hostile_statement_is_refused_by_both_gates_and_changes_nothing(warehouse, shop, reader_conn, case):
    statement = case.sql.format(**shop)
    before = _snapshot(warehouse, shop, reader_conn.info.backend_pid)

    if case.parser_says is None:  # well-formed and read-only: only the database gate's timeout can stop it
        assert validate_sql(statement, allowed_schemas=[shop["s"]]).startswith(("SELECT", "WITH"))
    else:
        with pytest.raises(UnsafeSQL) as refused:
            validate_sql(statement, allowed_schemas=[shop["s"]])
        assert refused.value.message == case.parser_says.format(**shop)
        assert refused.value.sql == statement

    outcome, elapsed = _run_database_gate(reader_conn, statement)

    if case.database is not HARMLESS:
        assert type(outcome) is case.database, f"{case.id}: {outcome!r}"
        assert "Traceback" not in outcome.message and "\n" not in outcome.message
    assert elapsed < SAFETY_BOUND_S
    assert _snapshot(warehouse, shop, reader_conn.info.backend_pid) == before
    assert reader_conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE


def test_all_hostile_statements_in_a_row_on_one_connection_leave_no_trace(warehouse, shop, reader_conn):
    before = _snapshot(warehouse, shop, reader_conn.info.backend_pid)

    for case in HOSTILE:
        _, elapsed = _run_database_gate(reader_conn, case.sql.format(**shop))
        assert elapsed < SAFETY_BOUND_S, case.id

    assert _snapshot(warehouse, shop, reader_conn.info.backend_pid) == before
    settings = reader_conn.execute(
        "SELECT current_setting('statement_timeout'), current_setting('default_transaction_read_only'), current_user"
    ).fetchone()
    assert settings == ("30s", "on", reader_conn.info.user)
    frame = run_readonly(reader_conn, f"SELECT count(*) AS n FROM {shop['s']}.orders", max_rows=10, timeout_s=TIMEOUT_S)
    assert frame["n"].tolist() == [4]


def test_unreadable_text_is_refused_with_the_parser_reason(shop):
    with pytest.raises(UnsafeSQL) as refused:
        validate_sql("SELEC amount FROM", allowed_schemas=[shop["s"]])

    assert refused.value.message.startswith("The query could not be read as SQL: ")
    assert refused.value.detail


@pytest.mark.parametrize("text", ["", "   ", "-- just a comment", ";"])
def test_empty_query_is_refused(text):
    with pytest.raises(UnsafeSQL) as refused:
        validate_sql(text, allowed_schemas=["public"])

    assert refused.value.message == "The query is empty."


# ------------------------------------------------------------------------------------------- what must pass


POSITIVE = [
    (
        "join_and_aggregate",
        "SELECT c.name, sum(o.amount) AS total FROM {s}.orders AS o JOIN {s}.customers AS c ON c.id = o.customer_id"
        " GROUP BY c.name ORDER BY total DESC",
        [("Linus", Decimal("100.00")), ("Ada", Decimal("30.50")), ("Grace", Decimal("7.25"))],
    ),
    (
        "cte",
        "WITH big AS (SELECT * FROM {s}.orders WHERE amount >= 20) SELECT id FROM big ORDER BY id",
        [(2,), (4,)],
    ),
    (
        "window_function",
        "SELECT id, rank() OVER (PARTITION BY customer_id ORDER BY amount DESC) AS r FROM {s}.orders ORDER BY id",
        [(1, 2), (2, 1), (3, 1), (4, 1)],
    ),
    (
        "union_and_quoted_identifiers",
        'SELECT "id" FROM "{s}"."customers" WHERE id = 1 UNION ALL SELECT id FROM {s}.orders WHERE id = 4 ORDER BY 1',
        [(1,), (4,)],
    ),
    (
        "dates_casts_and_literals",
        "SELECT placed::text, date_trunc('month', placed)::date AS month, '100%' AS pct FROM {s}.orders"
        " WHERE placed < DATE '2024-02-02' ORDER BY placed",
        [("2024-01-05", date(2024, 1, 1), "100%"), ("2024-02-01", date(2024, 2, 1), "100%")],
    ),
    (
        "table_function_and_subquery",
        "SELECT g.n, (SELECT count(*) FROM {s}.orders WHERE customer_id = g.n) AS orders"
        " FROM generate_series(1, 3) AS g(n) ORDER BY g.n",
        [(1, 2), (2, 1), (3, 1)],
    ),
    ("trailing_semicolon_and_comment", "SELECT count(*) FROM {s}.orders; -- all of them", [(4,)]),
]


@pytest.mark.parametrize("query,expected", [(q, e) for _, q, e in POSITIVE], ids=[i for i, _, _ in POSITIVE])
def test_ordinary_queries_pass_both_gates_with_correct_rows(shop, reader_conn, query, expected):
    normalised, frame = run_safe_query(
        reader_conn, query.format(**shop), allowed_schemas=[shop["s"]], max_rows=100, timeout_s=5
    )

    assert [tuple(row) for row in frame.itertuples(index=False)] == expected
    assert frame.attrs["truncated"] is False
    assert validate_sql(normalised, allowed_schemas=[shop["s"]]) == normalised


def test_row_cap_truncates_and_says_so(shop, reader_conn):
    query = f"SELECT id FROM {shop['s']}.orders ORDER BY id"

    capped = run_readonly(reader_conn, query, max_rows=3, timeout_s=5)
    exact = run_readonly(reader_conn, query, max_rows=4, timeout_s=5)

    assert capped["id"].tolist() == [1, 2, 3]
    assert (capped.attrs["truncated"], capped.attrs["max_rows"]) == (True, 3)
    assert exact["id"].tolist() == [1, 2, 3, 4]
    assert exact.attrs["truncated"] is False


def test_empty_result_keeps_its_columns(shop, reader_conn):
    frame = run_readonly(reader_conn, f"SELECT id, amount FROM {shop['s']}.orders WHERE false", max_rows=5, timeout_s=5)

    assert list(frame.columns) == ["id", "amount"]
    assert len(frame) == 0


def test_allowed_tables_limit_the_query_to_those_tables(shop):
    only_orders = [f"{shop['s']}.orders"]
    query = f"SELECT * FROM {shop['s']}.orders o JOIN {shop['s']}.customers c ON c.id = o.customer_id"

    assert validate_sql(f"SELECT id FROM {shop['s']}.orders", allowed_schemas=[shop["s"]], allowed_tables=only_orders)
    with pytest.raises(UnsafeSQL) as refused:
        validate_sql(query, allowed_schemas=[shop["s"]], allowed_tables=only_orders)
    assert refused.value.message == f"Table {shop['s']}.customers is not one of the tables you may query."


def test_unqualified_table_is_refused_with_a_hint_but_cte_names_are_fine(shop):
    with pytest.raises(UnsafeSQL) as refused:
        validate_sql("SELECT * FROM orders", allowed_schemas=[shop["s"]])
    assert refused.value.message == f"Table orders must be written with its schema, for example {shop['s']}.orders."

    recursive = "WITH RECURSIVE r AS (SELECT 1 AS n UNION ALL SELECT n + 1 FROM r WHERE n < 3) SELECT n FROM r"
    assert validate_sql(recursive, allowed_schemas=[shop["s"]]) == recursive


def test_non_ascii_unquoted_names_fold_like_postgresql(shop):
    """PostgreSQL lowers only ASCII letters of unquoted names: ÄRGER is not the schema ärger."""
    with pytest.raises(UnsafeSQL) as refused:
        validate_sql("SELECT * FROM ÄRGER.t", allowed_schemas=["ärger"])

    assert refused.value.message == "Table Ärger.t is outside the schemas you may query (allowed: ärger)."


def test_permission_denied_outside_granted_schemas_is_a_plain_message(shop, reader_conn):
    with pytest.raises(QueryNotPermitted) as denied:
        run_readonly(reader_conn, f"SELECT * FROM {shop['other']}.vault", max_rows=5, timeout_s=5)

    assert (
        denied.value.message
        == f"The reader account is not allowed to do this: permission denied for schema {shop['other']}."
    )
    assert "InsufficientPrivilege" in denied.value.detail


def test_timeout_message_names_the_limit(reader_conn):
    started = time.monotonic()
    with pytest.raises(QueryTimeout) as stopped:
        run_readonly(reader_conn, "SELECT pg_sleep(5)", max_rows=1, timeout_s=0.5)

    assert stopped.value.message == "The query ran longer than 0.5 seconds and was stopped."
    assert time.monotonic() - started < 0.5 + 2


def test_other_database_errors_keep_only_the_one_line_reason(shop, reader_conn):
    with pytest.raises(QueryFailed) as failed:
        run_readonly(reader_conn, f"SELECT 1 / (id - id) FROM {shop['s']}.orders", max_rows=5, timeout_s=5)

    assert type(failed.value) is QueryFailed
    assert failed.value.message == "The database could not run the query: division by zero."


def test_works_on_a_non_autocommit_connection_and_leaves_it_idle(shop, reader_conn, warehouse_url, reader_role_name):
    from analytics_hub.ml.reader_role import reader_conninfo

    with psycopg.connect(reader_conninfo(warehouse_url, role=reader_role_name, password=None)) as conn:
        frame = run_readonly(conn, f"SELECT count(*) AS n FROM {shop['s']}.orders", max_rows=5, timeout_s=5)
        assert frame["n"].tolist() == [4]
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE


def test_busy_connection_is_refused_without_running_anything(warehouse, shop):
    with psycopg.connect(warehouse.info.dsn) as conn:
        conn.execute("SELECT 1")  # opens a transaction on a non-autocommit connection
        with pytest.raises(QueryFailed) as refused:
            run_readonly(conn, f"DELETE FROM {shop['s']}.orders", max_rows=5, timeout_s=5)
        assert refused.value.message == "The database connection is busy or closed, so the query was not run."
        conn.rollback()

    assert warehouse.execute(f"SELECT count(*) FROM {shop['s']}.orders").fetchone() == (4,)


@pytest.mark.parametrize("max_rows,timeout_s", [(0, 5), (5, 0), (5, -1)])
def test_nonsense_limits_are_programming_errors(reader_conn, max_rows, timeout_s):
    with pytest.raises(ValueError):
        run_readonly(reader_conn, "SELECT 1", max_rows=max_rows, timeout_s=timeout_s)


def test_read_only_transaction_holds_even_on_a_superuser_connection(warehouse, shop):
    with pytest.raises(QueryNotPermitted) as refused:
        run_readonly(warehouse, f"SELECT {shop['s']}.wipe()", max_rows=5, timeout_s=5)

    assert refused.value.message == "Queries here can only read data: cannot execute SELECT in a read-only transaction."
    assert warehouse.execute(f"SELECT count(*) FROM {shop['s']}.orders").fetchone() == (4,)
    assert warehouse.info.transaction_status == psycopg.pq.TransactionStatus.IDLE

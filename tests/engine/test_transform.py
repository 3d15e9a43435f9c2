"""Staging -> destination: procedures and the built-in insert strategy, in one all-or-nothing transaction."""

from __future__ import annotations

import threading
from dataclasses import replace

import psycopg
import pytest
from psycopg import sql

from dagster_code.engine import transform
from dagster_code.engine.errors import ConfigError, TransformError
from dagster_code.engine.transform import LOCK_NAMESPACE, TransformResult, TransformStep, run_transform


def ident(name: str) -> sql.Identifier:
    return sql.Identifier(*name.split("."))


def create_table(conn: psycopg.Connection, table: str, columns: str) -> None:
    conn.execute(sql.SQL("CREATE TABLE {} ({})").format(ident(table), sql.SQL(columns)))


def insert(conn: psycopg.Connection, table: str, columns: list[str], rows: list[tuple]) -> None:
    statement = sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
        ident(table),
        sql.SQL(", ").join(map(sql.Identifier, columns)),
        sql.SQL(", ").join(sql.Placeholder() * len(columns)),
    )
    with conn.cursor() as cursor:
        cursor.executemany(statement, rows)


def table_rows(conn: psycopg.Connection, table: str) -> list[tuple]:
    rows = conn.execute(sql.SQL("SELECT * FROM {}").format(ident(table))).fetchall()
    return sorted(rows, key=lambda row: [(value is None, value) for value in row])


def create_procedure(conn: psycopg.Connection, name: str, body: str) -> None:
    """A plpgsql procedure ``name(run_id text, tables_to_truncate text[])``; ``body`` may use {schema}."""
    conn.execute(
        sql.SQL("CREATE PROCEDURE {}(run_id text, tables_to_truncate text[]) LANGUAGE plpgsql AS {}").format(
            ident(name), sql.Literal(f"BEGIN {body} END")
        )
    )


@pytest.fixture
def tables(warehouse: psycopg.Connection, warehouse_schema: str) -> dict[str, str]:
    """Staging ``stg`` with rows of run-1 and run-0; destinations ``sales`` and ``archive`` with one old row each."""
    names = {key: f"{warehouse_schema}.{key}" for key in ("stg", "sales", "archive", "calls")}
    create_table(warehouse, names["stg"], "id integer, amount numeric, note text, dagster_run_id text")
    insert(
        warehouse,
        names["stg"],
        ["id", "amount", "note", "dagster_run_id"],
        [(1, 10, "new", "run-1"), (2, 20, "new", "run-1"), (9, 90, "older run", "run-0")],
    )
    for key in ("sales", "archive"):
        create_table(warehouse, names[key], "id integer, amount numeric, loaded_at text DEFAULT 'now'")
        insert(warehouse, names[key], ["id", "amount", "loaded_at"], [(0, 0, "yesterday")])
    create_table(warehouse, names["calls"], "run_id text, tables_to_truncate text[]")
    return names


def step(tables: dict[str, str], destination: str, load_method: str, **kwargs) -> TransformStep:
    return TransformStep(
        import_name=f"{destination}_import",
        staging_table=tables["stg"],
        destination_table=tables[destination],
        load_method=load_method,
        **kwargs,
    )


OLD = [(0, 0, "yesterday")]
NEW = [(1, 10, "now"), (2, 20, "now")]


# ------------------------------------------------------------------------------ procedures


def test_procedure_receives_the_run_id_and_its_replace_tables(
    warehouse: psycopg.Connection, warehouse_schema: str, tables: dict[str, str]
) -> None:
    proc = f"{warehouse_schema}.load_sales"
    create_procedure(
        warehouse,
        proc,
        f"INSERT INTO {warehouse_schema}.calls VALUES (run_id, tables_to_truncate);"
        f"DELETE FROM {warehouse_schema}.sales;"
        f"INSERT INTO {warehouse_schema}.sales (id, amount) "
        f"SELECT id, amount * 2 FROM {warehouse_schema}.stg WHERE dagster_run_id = run_id;",
    )

    results = run_transform(warehouse, [step(tables, "sales", "replace", procedure=proc)], "run-1")

    assert table_rows(warehouse, tables["calls"]) == [("run-1", [tables["sales"]])]
    assert table_rows(warehouse, tables["sales"]) == [(1, 20, "now"), (2, 40, "now")]
    assert results == [
        TransformResult("sales_import", tables["sales"], staging_rows=2, destination_rows=2, truncated=True)
    ]


def test_procedure_for_an_append_destination_gets_no_table_to_truncate(
    warehouse: psycopg.Connection, warehouse_schema: str, tables: dict[str, str]
) -> None:
    proc = f"{warehouse_schema}.log_call"
    create_procedure(warehouse, proc, f"INSERT INTO {warehouse_schema}.calls VALUES (run_id, tables_to_truncate);")

    run_transform(warehouse, [step(tables, "sales", "append", procedure=proc)], "run-7")

    assert table_rows(warehouse, tables["calls"]) == [("run-7", [])]
    assert table_rows(warehouse, tables["sales"]) == OLD


def test_procedure_shared_by_two_imports_is_called_once_with_both_replace_tables(
    warehouse: psycopg.Connection, warehouse_schema: str, tables: dict[str, str]
) -> None:
    proc = f"{warehouse_schema}.log_call"
    create_procedure(warehouse, proc, f"INSERT INTO {warehouse_schema}.calls VALUES (run_id, tables_to_truncate);")

    run_transform(
        warehouse,
        [step(tables, "sales", "replace", procedure=proc), step(tables, "archive", "replace", procedure=proc)],
        "run-1",
    )

    assert table_rows(warehouse, tables["calls"]) == [("run-1", sorted([tables["archive"], tables["sales"]]))]


def test_failing_procedure_is_a_transform_error_and_changes_nothing(
    warehouse: psycopg.Connection, warehouse_schema: str, tables: dict[str, str]
) -> None:
    proc = f"{warehouse_schema}.broken"
    create_procedure(
        warehouse,
        proc,
        f"INSERT INTO {warehouse_schema}.archive (id, amount) VALUES (99, 99);"
        "RAISE EXCEPTION 'amount column is missing for %', run_id;",
    )

    with pytest.raises(TransformError) as caught:
        run_transform(
            warehouse,
            [step(tables, "sales", "replace"), step(tables, "archive", "append", procedure=proc)],
            "run-1",
        )

    assert caught.value.message == (
        "The transform for sales_import, archive_import failed: amount column is missing for run-1. "
        "The destination was left unchanged."
    )
    assert table_rows(warehouse, tables["sales"]) == OLD
    assert table_rows(warehouse, tables["archive"]) == OLD
    assert len(table_rows(warehouse, tables["stg"])) == 3


# ------------------------------------------------------------------------- insert strategy


def test_replace_truncates_only_replace_destinations(warehouse: psycopg.Connection, tables: dict[str, str]) -> None:
    results = run_transform(warehouse, [step(tables, "sales", "replace"), step(tables, "archive", "append")], "run-1")

    assert table_rows(warehouse, tables["sales"]) == NEW
    assert table_rows(warehouse, tables["archive"]) == OLD + NEW
    assert [(r.import_name, r.staging_rows, r.destination_rows, r.truncated) for r in results] == [
        ("sales_import", 2, 2, True),
        ("archive_import", 2, 3, False),
    ]


def test_destination_rows_are_what_each_destination_holds_after_the_whole_transform(
    warehouse: psycopg.Connection, tables: dict[str, str]
) -> None:
    twice = [
        step(tables, "archive", "append"),
        TransformStep("archive_again", tables["stg"], tables["archive"], "append", dedup_key=("id",)),
        step(tables, "sales", "replace"),
    ]

    results = run_transform(warehouse, twice, "run-1")

    archive, sales = len(table_rows(warehouse, tables["archive"])), len(table_rows(warehouse, tables["sales"]))
    assert (archive, sales) == (3, 2)  # the second import into archive found both keys already there
    assert [(r.import_name, r.destination_rows, r.duplicates_removed) for r in results] == [
        ("archive_import", archive, 0),
        ("archive_again", archive, 2),
        ("sales_import", sales, 0),
    ]


def test_append_keeps_existing_rows_across_runs(warehouse: psycopg.Connection, tables: dict[str, str]) -> None:
    run_transform(warehouse, [step(tables, "sales", "append")], "run-0")
    run_transform(warehouse, [step(tables, "sales", "append")], "run-1")

    assert table_rows(warehouse, tables["sales"]) == OLD + NEW + [(9, 90, "now")]


def test_insert_strategy_copies_shared_columns_of_this_run_only(
    warehouse: psycopg.Connection, tables: dict[str, str]
) -> None:
    results = run_transform(warehouse, [step(tables, "sales", "append", strategy="insert")], "run-0")

    assert table_rows(warehouse, tables["sales"]) == OLD + [(9, 90, "now")]
    assert results[0].staging_rows == 1


def test_insert_strategy_refuses_tables_without_a_shared_column(
    warehouse: psycopg.Connection, warehouse_schema: str, tables: dict[str, str]
) -> None:
    tables["other"] = f"{warehouse_schema}.other"
    create_table(warehouse, tables["other"], "label text")
    insert(warehouse, tables["other"], ["label"], [("keep me",)])

    with pytest.raises(ConfigError) as caught:
        run_transform(warehouse, [step(tables, "sales", "replace"), step(tables, "other", "replace")], "run-1")

    assert caught.value.message == f"{tables['stg']} and {tables['other']} have no column in common."
    assert table_rows(warehouse, tables["sales"]) == OLD
    assert table_rows(warehouse, tables["other"]) == [("keep me",)]


def test_unknown_strategy_is_a_config_error_and_changes_nothing(
    warehouse: psycopg.Connection, tables: dict[str, str]
) -> None:
    with pytest.raises(ConfigError) as caught:
        run_transform(warehouse, [step(tables, "sales", "replace", strategy="no_such_strategy")], "run-1")

    assert caught.value.message == "Unknown transform strategy 'no_such_strategy'."
    assert table_rows(warehouse, tables["sales"]) == OLD


def test_missing_destination_is_a_config_error_naming_it(
    warehouse: psycopg.Connection, warehouse_schema: str, tables: dict[str, str]
) -> None:
    tables["gone"] = f"{warehouse_schema}.gone"

    with pytest.raises(ConfigError) as caught:
        run_transform(warehouse, [step(tables, "gone", "append")], "run-1")

    assert caught.value.message == f"The table {warehouse_schema}.gone does not exist in the warehouse."


def test_no_steps_do_nothing(warehouse: psycopg.Connection) -> None:
    assert run_transform(warehouse, [], "run-1") == []


# ---------------------------------------------------------------------------------- locking


def test_destination_locked_by_another_run_blocks_the_transform(
    warehouse: psycopg.Connection, warehouse_url: str, tables: dict[str, str]
) -> None:
    with psycopg.connect(warehouse_url, autocommit=True) as other_run:
        other_run.execute("SELECT pg_advisory_lock(hashtext(%s))", (LOCK_NAMESPACE + tables["sales"],))
        warehouse.execute("SET lock_timeout = '200ms'")

        with pytest.raises(TransformError) as caught:
            run_transform(warehouse, [step(tables, "sales", "replace")], "run-1")

    assert "lock timeout" in caught.value.message
    assert table_rows(warehouse, tables["sales"]) == OLD


def test_two_concurrent_runs_into_one_table_never_interleave(
    warehouse: psycopg.Connection, warehouse_url: str, tables: dict[str, str], warehouse_schema: str
) -> None:
    """Each run's procedure logs its start and end around a pause; the lock makes the spans disjoint."""
    audit = f"{warehouse_schema}.audit"
    create_table(warehouse, audit, "run_id text, at timestamptz, what text")
    insert(warehouse, tables["stg"], ["id", "amount", "note", "dagster_run_id"], [(5, 50, "other", "run-2")])
    procedure = f"{warehouse_schema}.slow_proc"
    create_procedure(
        warehouse,
        procedure,
        f"INSERT INTO {audit} VALUES (run_id, clock_timestamp(), 'start'); "
        f"TRUNCATE {tables['sales']}; PERFORM pg_sleep(0.4); "
        f"INSERT INTO {tables['sales']} (id, amount) SELECT id, amount FROM {tables['stg']} "
        "WHERE dagster_run_id = run_id; "
        f"INSERT INTO {audit} VALUES (run_id, clock_timestamp(), 'end');",
    )
    errors: list[BaseException] = []

    def run(run_id: str) -> None:
        try:
            with psycopg.connect(warehouse_url) as conn:
                run_transform(conn, [step(tables, "sales", "replace", procedure=procedure)], run_id)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(run_id,)) for run_id in ("run-1", "run-2")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    spans = warehouse.execute(
        f"SELECT run_id, min(at) FILTER (WHERE what = 'start'), min(at) FILTER (WHERE what = 'end') "
        f"FROM {audit} GROUP BY run_id ORDER BY 2"
    ).fetchall()
    assert len(spans) == 2
    (first, _, first_end), (second, second_start, _) = spans
    assert first_end <= second_start
    expected = {"run-1": [(1, 10), (2, 20)], "run-2": [(5, 50)]}[second]
    assert [(i, a) for i, a, _ in table_rows(warehouse, tables["sales"])] == expected


@pytest.mark.parametrize("procedure", [None, "truncating_proc"])
def test_a_replace_run_that_staged_no_rows_never_empties_the_destination(
    warehouse: psycopg.Connection, tables: dict[str, str], warehouse_schema: str, procedure: str | None
) -> None:
    if procedure:
        procedure = f"{warehouse_schema}.{procedure}"
        create_procedure(warehouse, procedure, f"TRUNCATE {tables['sales']};")

    with pytest.raises(TransformError) as caught:
        run_transform(warehouse, [step(tables, "sales", "replace", procedure=procedure)], "run-without-rows")

    assert caught.value.message == (
        f"This run staged no rows for sales_import ({tables['sales']}); a replace load would have emptied the "
        "destination, so it was stopped and the destination left as it was."
    )
    assert table_rows(warehouse, tables["sales"]) == OLD


def test_append_with_a_key_skips_rows_the_destination_already_has(
    warehouse: psycopg.Connection, tables: dict[str, str]
) -> None:
    insert(warehouse, tables["sales"], ["id", "amount", "loaded_at"], [(1, 99, "earlier")])

    (result,) = run_transform(warehouse, [step(tables, "sales", "append", dedup_key=("id",))], "run-1")

    assert table_rows(warehouse, tables["sales"]) == [(0, 0, "yesterday"), (1, 99, "earlier"), (2, 20, "now")]
    assert (result.staging_rows, result.duplicates_removed) == (2, 1)


def test_the_loads_row_count_spares_counting_staging_unless_it_no_longer_holds(
    warehouse_url: str, tables: dict[str, str]
) -> None:
    counts: list[str] = []

    class RecordingCursor(psycopg.Cursor):
        def execute(self, query, params=None, **kwargs):
            text = query.as_string(self.connection) if isinstance(query, sql.Composable) else str(query)
            if text.startswith('SELECT count(*) FROM "') and tables["stg"].split(".")[1] in text:  # not the guard's
                counts.append(text)
            return super().execute(query, params, **kwargs)

    with psycopg.connect(warehouse_url, autocommit=True, cursor_factory=RecordingCursor) as conn:
        insert(conn, tables["sales"], ["id", "amount", "loaded_at"], [(1, 99, "earlier")])
        keyed = step(tables, "sales", "append", dedup_key=("id",))

        (told,) = run_transform(conn, [replace(keyed, staged_rows=2)], "run-1")
        assert (told.staging_rows, told.duplicates_removed, counts) == (2, 1, [])

        conn.execute(sql.SQL("TRUNCATE {}").format(ident(tables["sales"])))
        (stale,) = run_transform(conn, [replace(keyed, staged_rows=1)], "run-1")  # fewer than it inserts
        assert (stale.staging_rows, stale.duplicates_removed, len(counts)) == (2, 0, 1)


@pytest.mark.parametrize("hashed", [True, False], ids=["hashed", "joined"])
def test_append_with_a_key_matches_null_key_parts_to_null(
    warehouse: psycopg.Connection, tables: dict[str, str], hashed: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both ways of finding known keys: a hash table of the destination's, or a join when too many to hash."""
    fill = [
        sql.SQL("INSERT INTO {} (id, amount, dagster_run_id) SELECT n, n, 'run-1' FROM generate_series(1000, 5999) n")
    ]
    if not hashed:  # more destination keys than the hash memory holds, none of them the run's
        fill.append(sql.SQL("INSERT INTO {} (id, amount) SELECT -n, n FROM generate_series(1, 20000) n"))
        warehouse.execute("SET work_mem = '64kB'")
        warehouse.execute("SET hash_mem_multiplier = 1")
    for statement, table in zip(fill, ("stg", "sales"), strict=False):
        warehouse.execute(statement.format(ident(tables[table])))
        warehouse.execute(sql.SQL("ANALYZE {}").format(ident(tables[table])))
    planned: list[bool] = []  # whether PostgreSQL hashed the keys of the statement with IN
    hashes_keys = transform._hashes_keys
    monkeypatch.setattr(transform, "_hashes_keys", lambda *args: planned.append(hashes_keys(*args)) or planned[-1])
    insert(warehouse, tables["sales"], ["id", "amount", "loaded_at"], [(None, 20, "earlier"), (2, 20, "earlier")])
    insert(
        warehouse,
        tables["stg"],
        ["id", "amount", "note", "dagster_run_id"],
        [(None, 20, "known", "run-1"), (None, 30, "new", "run-1"), (2, None, "new", "run-1")],
    )

    executed: list[str] = []

    class Logged(psycopg.Cursor):
        def execute(self, query, params=None, **kwargs):
            executed.append(query.as_string(self.connection) if isinstance(query, sql.Composable) else str(query))
            return super().execute(query, params, **kwargs)

    warehouse.cursor_factory = Logged

    (result,) = run_transform(warehouse, [step(tables, "sales", "append", dedup_key=("id", "amount"))], "run-1")

    assert planned == [hashed]
    (inserted,) = [text for text in executed if text.startswith("INSERT INTO")]
    assert (' IN (SELECT "d"."id", "d"."amount" FROM ' in inserted) == hashed
    assert ("EXISTS (SELECT 1 FROM " in inserted.split(" AND NOT ")[1]) != hashed  # the anti-join otherwise
    assert result.duplicates_removed == 2  # (2, 20) by equality, (NULL, 20) NULL-safely
    assert [row for row in table_rows(warehouse, tables["sales"]) if row[0] is None or 0 <= row[0] < 1000] == [
        (0, 0, "yesterday"),
        (1, 10, "now"),
        (2, 20, "earlier"),
        (2, None, "now"),
        (None, 20, "earlier"),
        (None, 30, "now"),
    ]


def test_a_procedure_appending_with_a_key_reads_only_rows_the_destination_lacks(
    warehouse: psycopg.Connection, tables: dict[str, str]
) -> None:
    insert(warehouse, tables["sales"], ["id", "amount", "loaded_at"], [(1, 99, "earlier")])
    procedure = f"{tables['sales'].split('.')[0]}.move_sales"
    create_procedure(
        warehouse,
        procedure,
        f"INSERT INTO {tables['sales']} (id, amount) SELECT id, amount FROM {tables['stg']} "
        "WHERE dagster_run_id = run_id;",
    )

    (result,) = run_transform(
        warehouse, [step(tables, "sales", "append", procedure=procedure, dedup_key=("id",))], "run-1"
    )

    assert table_rows(warehouse, tables["sales"]) == [(0, 0, "yesterday"), (1, 99, "earlier"), (2, 20, "now")]
    assert (result.staging_rows, result.duplicates_removed) == (2, 1)


def test_upsert_updates_known_keys_and_inserts_new_ones(warehouse: psycopg.Connection, tables: dict[str, str]) -> None:
    insert(warehouse, tables["sales"], ["id", "amount", "loaded_at"], [(1, 99, "earlier")])
    insert(warehouse, tables["stg"], ["id", "amount", "note", "dagster_run_id"], [(2, 25, "again", "run-1")])

    run_transform(warehouse, [step(tables, "sales", "append", strategy="upsert", dedup_key=("id",))], "run-1")

    assert table_rows(warehouse, tables["sales"]) == [(0, 0, "yesterday"), (1, 10, "earlier"), (2, 25, "now")]


def test_upsert_without_a_key_is_refused_and_changes_nothing(
    warehouse: psycopg.Connection, tables: dict[str, str]
) -> None:
    with pytest.raises(ConfigError) as caught:
        run_transform(warehouse, [step(tables, "sales", "append", strategy="upsert")], "run-1")
    assert caught.value.message == "sales_import: the upsert strategy needs a deduplication key."
    assert table_rows(warehouse, tables["sales"]) == OLD

"""The data steward engine on a real PostgreSQL: edits applied and audited, or refused with nothing changed."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import psycopg
import pytest
from psycopg import sql

from analytics_hub.ml.edit_audit import ensure_audit_table
from analytics_hub.ml.editing import (
    EditConflict,
    EditError,
    EditRefused,
    EditResult,
    InvalidEditValue,
    TableNotEditable,
    apply_edits,
    edit_history,
    editable_tables,
    read_for_edit,
)

AUDIT = sql.Identifier("analytics_audit", "data_edits")


def run(conn: psycopg.Connection, statement: str, *parts: sql.Composable) -> None:
    conn.execute(sql.SQL(statement).format(*parts))


@pytest.fixture
def products(warehouse: psycopg.Connection, warehouse_schema: str) -> str:
    """``<schema>.products``: id primary key, name, price, qty NOT NULL, active, added (date)."""
    table = sql.Identifier(warehouse_schema, "products")
    run(
        warehouse,
        "CREATE TABLE {} (id integer PRIMARY KEY, name text, price numeric(10,2), qty integer NOT NULL, "
        "active boolean, added date)",
        table,
    )
    warehouse.execute(
        sql.SQL(
            "INSERT INTO {} VALUES (1, 'apple', 1.50, 10, true, '2024-01-01'), "
            "(2, 'pear', 2.25, 5, false, NULL), (3, 'plum', NULL, 0, NULL, '2024-03-03')"
        ).format(table)
    )
    return f"{warehouse_schema}.products"


def edited(snapshot, changes: dict[tuple[int, str], object]) -> pd.DataFrame:
    """A copy of the snapshot's rows with ``{(row position, column): new value}`` applied."""
    frame = snapshot.rows.copy()
    for (position, column), value in changes.items():
        frame.loc[frame.index[position], column] = value
    return frame


def contents(conn: psycopg.Connection, table: sql.Identifier) -> list[tuple]:
    """Every row version as stored: its physical place, its creating transaction and its text."""
    query = sql.SQL("SELECT ctid::text, xmin::text, t::text FROM {} AS t ORDER BY ctid").format(table)
    return conn.execute(query).fetchall()


def audit_rows(conn: psycopg.Connection, table: str) -> list[tuple]:
    ensure_audit_table(conn)
    query = sql.SQL(
        "SELECT row_key, before, after, changed_columns, edited_by FROM {} WHERE table_name = %s ORDER BY id"
    ).format(AUDIT)
    return conn.execute(query, (table,)).fetchall()


def test_editable_tables_lists_keyed_tables_of_the_asked_schemas_only(warehouse, warehouse_schema, products):
    run(warehouse, "CREATE TABLE {} (a int)", sql.Identifier(warehouse_schema, "no_key"))
    run(warehouse, 'CREATE TABLE {} ("Id" int PRIMARY KEY)', sql.Identifier(warehouse_schema, 'My "odd" Table'))
    run(warehouse, "CREATE TABLE IF NOT EXISTS public.elsewhere (id int PRIMARY KEY)")
    ensure_audit_table(warehouse)

    found = editable_tables(warehouse, schemas=[warehouse_schema, "analytics_audit"])

    assert found == [f'{warehouse_schema}.My "odd" Table', f"{warehouse_schema}.products"]


def test_read_for_edit_types_rows_for_editing_and_disables_the_key(warehouse, products):
    snapshot = read_for_edit(warehouse, products)

    assert snapshot.table == products
    assert snapshot.primary_key == ("id",)
    assert snapshot.disabled_columns == ["id"]
    assert snapshot.column_types == {
        "id": "integer",
        "name": "text",
        "price": "numeric(10,2)",
        "qty": "integer",
        "active": "boolean",
        "added": "date",
    }
    assert {c: str(t) for c, t in snapshot.rows.dtypes.items()} == {
        "id": "Int64",
        "name": "string",
        "price": "float64",
        "qty": "Int64",
        "active": "boolean",
        "added": "object",
    }
    assert snapshot.rows["name"].tolist() == ["apple", "pear", "plum"]
    assert snapshot.rows["added"].tolist()[0] == dt.date(2024, 1, 1)
    assert len(snapshot.versions) == 3 and len(set(snapshot.versions)) == 3
    assert snapshot.truncated is False
    assert read_for_edit(warehouse, products, limit=2).truncated is True


def test_edit_is_applied_and_audited_with_only_the_changed_columns(warehouse, warehouse_schema, products):
    snapshot = read_for_edit(warehouse, products)

    result = apply_edits(warehouse, snapshot, edited(snapshot, {(1, "price"): 2.5, (1, "name"): "Pear"}), user="ann")

    assert result.updated == 1 and len(result.audit_ids) == 1
    rows = warehouse.execute(
        sql.SQL("SELECT id, name, price::text, qty, active FROM {} ORDER BY id").format(
            sql.Identifier(warehouse_schema, "products")
        )
    ).fetchall()
    assert rows == [(1, "apple", "1.50", 10, True), (2, "Pear", "2.50", 5, False), (3, "plum", None, 0, None)]
    assert audit_rows(warehouse, products) == [
        ({"id": 2}, {"name": "pear", "price": 2.25}, {"name": "Pear", "price": 2.50}, ["name", "price"], "ann")
    ]
    history = edit_history(warehouse, products)
    assert history["id"].tolist() == list(result.audit_ids)
    assert history["edited_by"].tolist() == ["ann"]


def test_no_changes_runs_nothing(warehouse, warehouse_schema, products):
    snapshot = read_for_edit(warehouse, products)
    table = sql.Identifier(warehouse_schema, "products")
    before = contents(warehouse, table)

    assert apply_edits(warehouse, snapshot, snapshot.rows.copy(), user="ann") == EditResult(updated=0, audit_ids=())
    assert contents(warehouse, table) == before
    assert edit_history(warehouse, products).empty


def test_second_editor_of_the_same_row_is_refused_and_the_first_value_stays(warehouse_url, warehouse, products):
    with psycopg.connect(warehouse_url, autocommit=True) as other:
        mine = read_for_edit(warehouse, products)
        theirs = read_for_edit(other, products)

        apply_edits(other, theirs, edited(theirs, {(0, "name"): "green apple"}), user="bob")
        with pytest.raises(EditConflict) as refused:
            apply_edits(warehouse, mine, edited(mine, {(0, "name"): "red apple", (2, "qty"): 7}), user="ann")

    assert refused.value.message == (
        "Row id=1 was changed by someone else since you opened the table; reload and redo your edit. "
        f"Nothing was saved to {products}."
    )
    current = read_for_edit(warehouse, products).rows
    assert current["name"].tolist() == ["green apple", "pear", "plum"]
    assert current["qty"].tolist() == [10, 5, 0]  # the other, unconflicted row of the refused save is not saved
    assert [r[4] for r in audit_rows(warehouse, products)] == ["bob"]


def test_a_row_deleted_by_someone_else_refuses_the_save(warehouse, warehouse_schema, products):
    snapshot = read_for_edit(warehouse, products)
    run(warehouse, "DELETE FROM {} WHERE id = 3", sql.Identifier(warehouse_schema, "products"))

    with pytest.raises(EditConflict, match="^Row id=3 was deleted by someone else since you opened the table"):
        apply_edits(warehouse, snapshot, edited(snapshot, {(2, "qty"): 1, (0, "qty"): 11}), user="ann")

    assert read_for_edit(warehouse, products).rows["qty"].tolist() == [10, 5]
    assert audit_rows(warehouse, products) == []


def test_a_failure_after_the_update_leaves_table_and_audit_byte_for_byte_unchanged(
    warehouse, warehouse_schema, products
):
    table = sql.Identifier(warehouse_schema, "products")
    ensure_audit_table(warehouse)
    run(
        warehouse,
        "CREATE FUNCTION {}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'audit disk full'; END $$",
        sql.Identifier(warehouse_schema, "fail_audit"),
    )
    run(
        warehouse,
        "CREATE TRIGGER fail_audit_test BEFORE INSERT ON {} FOR EACH ROW "
        "WHEN (NEW.table_name = {}) EXECUTE FUNCTION {}()",
        AUDIT,
        sql.Literal(products),
        sql.Identifier(warehouse_schema, "fail_audit"),
    )
    try:
        snapshot = read_for_edit(warehouse, products)
        stored, audited = contents(warehouse, table), contents(warehouse, AUDIT)

        with pytest.raises(EditError) as refused:
            apply_edits(warehouse, snapshot, edited(snapshot, {(0, "qty"): 99}), user="ann")

        assert refused.value.message == (
            f"The database refused your edits to {products}: audit disk full. Nothing was changed."
        )
        assert contents(warehouse, table) == stored
        assert contents(warehouse, AUDIT) == audited
    finally:
        run(warehouse, "DROP TRIGGER fail_audit_test ON {}", AUDIT)


def test_a_backend_killed_mid_save_leaves_table_and_audit_unchanged(
    warehouse_url, warehouse, warehouse_schema, products
):
    table = sql.Identifier(warehouse_schema, "products")
    ensure_audit_table(warehouse)
    run(
        warehouse,
        "CREATE FUNCTION {}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "PERFORM pg_terminate_backend(pg_backend_pid()); RETURN NEW; END $$",
        sql.Identifier(warehouse_schema, "kill_me"),
    )
    run(
        warehouse,
        "CREATE TRIGGER kill_me_test BEFORE INSERT ON {} FOR EACH ROW WHEN (NEW.table_name = {}) EXECUTE FUNCTION {}()",
        AUDIT,
        sql.Literal(products),
        sql.Identifier(warehouse_schema, "kill_me"),
    )
    try:
        stored, audited = contents(warehouse, table), contents(warehouse, AUDIT)
        with psycopg.connect(warehouse_url, autocommit=True) as doomed:
            snapshot = read_for_edit(doomed, products)
            with pytest.raises(EditError, match="^The connection to the warehouse broke while saving your edits"):
                apply_edits(doomed, snapshot, edited(snapshot, {(0, "qty"): 99, (1, "name"): "x"}), user="ann")

        assert contents(warehouse, table) == stored
        assert contents(warehouse, AUDIT) == audited
    finally:
        run(warehouse, "DROP TRIGGER kill_me_test ON {}", AUDIT)


def test_a_value_the_column_refuses_names_row_and_column_and_changes_nothing(warehouse, warehouse_schema, products):
    table = sql.Identifier(warehouse_schema, "products")
    snapshot = read_for_edit(warehouse, products)
    stored = contents(warehouse, table)
    frame = edited(snapshot, {(0, "name"): "fine"}).astype({"qty": object})
    frame.loc[frame.index[2], "qty"] = "abc"

    with pytest.raises(InvalidEditValue) as refused:
        apply_edits(warehouse, snapshot, frame, user="ann")

    assert refused.value.message == (
        'Row id=3, column qty: the value is not accepted (invalid input syntax for type integer: "abc"). '
        "Nothing was changed."
    )
    assert contents(warehouse, table) == stored
    assert audit_rows(warehouse, products) == []


def test_an_empty_value_in_a_required_column_names_row_and_column(warehouse, warehouse_schema, products):
    table = sql.Identifier(warehouse_schema, "products")
    snapshot = read_for_edit(warehouse, products)
    stored = contents(warehouse, table)

    with pytest.raises(InvalidEditValue) as refused:
        apply_edits(warehouse, snapshot, edited(snapshot, {(0, "name"): "x", (1, "qty"): None}), user="ann")

    assert refused.value.message == "Row id=2, column qty must have a value: it cannot be empty. Nothing was changed."
    assert contents(warehouse, table) == stored


def test_a_constraint_the_database_enforces_refuses_the_whole_save(warehouse, warehouse_schema, products):
    table = sql.Identifier(warehouse_schema, "products")
    run(warehouse, "ALTER TABLE {} ADD CONSTRAINT qty_not_negative CHECK (qty >= 0)", table)
    snapshot = read_for_edit(warehouse, products)
    stored = contents(warehouse, table)

    with pytest.raises(EditError, match='violates check constraint "qty_not_negative"') as refused:
        apply_edits(warehouse, snapshot, edited(snapshot, {(0, "qty"): 3, (1, "qty"): -1}), user="ann")

    assert refused.value.message.endswith("Nothing was changed.")
    assert contents(warehouse, table) == stored


def test_deleting_adding_rows_or_changing_the_key_is_refused(warehouse, warehouse_schema, products):
    table = sql.Identifier(warehouse_schema, "products")
    snapshot = read_for_edit(warehouse, products)
    stored = contents(warehouse, table)

    with pytest.raises(EditRefused, match="^Deleting rows is not supported here: row id=2 of .* is missing"):
        apply_edits(warehouse, snapshot, snapshot.rows.drop(index=snapshot.rows.index[1]), user="ann")
    added = pd.concat([snapshot.rows, snapshot.rows.iloc[[0]].set_axis([99])])
    with pytest.raises(EditRefused, match="^Adding rows is not supported here: your edits of .* hold 1 new row"):
        apply_edits(warehouse, snapshot, added, user="ann")
    with pytest.raises(EditRefused) as key_change:
        apply_edits(warehouse, snapshot, edited(snapshot, {(0, "id"): 42}), user="ann")

    assert key_change.value.message == (
        "Row id=1, column id cannot be changed: it is part of the primary key. Nothing was changed."
    )
    assert contents(warehouse, table) == stored


def test_composite_primary_keys(warehouse, warehouse_schema):
    table = sql.Identifier(warehouse_schema, "stock")
    run(warehouse, "CREATE TABLE {} (region text, sku int, level int, PRIMARY KEY (region, sku))", table)
    run(warehouse, "INSERT INTO {} VALUES ('EU', 1, 5), ('EU', 2, 6), ('US', 1, 7)", table)
    qualified = f"{warehouse_schema}.stock"
    snapshot = read_for_edit(warehouse, qualified)
    assert snapshot.primary_key == ("region", "sku")

    result = apply_edits(warehouse, snapshot, edited(snapshot, {(2, "level"): 70}), user="ann")

    assert result.updated == 1
    assert warehouse.execute(sql.SQL("SELECT * FROM {} ORDER BY 1, 2").format(table)).fetchall() == [
        ("EU", 1, 5),
        ("EU", 2, 6),
        ("US", 1, 70),
    ]
    assert audit_rows(warehouse, qualified) == [
        ({"region": "US", "sku": 1}, {"level": 7}, {"level": 70}, ["level"], "ann")
    ]
    stale = snapshot
    with pytest.raises(EditConflict, match="^Row region=US, sku=1 was changed by someone else"):
        apply_edits(warehouse, stale, edited(stale, {(2, "level"): 71}), user="bob")


def test_quoted_names_with_spaces_capitals_and_quotes(warehouse, warehouse_schema):
    name = 'Sales "2024" Q1'
    table = sql.Identifier(warehouse_schema, name)
    run(warehouse, 'CREATE TABLE {} ("Order ID" int PRIMARY KEY, "Amount ""€""" numeric, "edited_row" text)', table)
    run(warehouse, "INSERT INTO {} VALUES (1, 10, 'a'), (2, 20, 'b')", table)
    qualified = f"{warehouse_schema}.{name}"
    snapshot = read_for_edit(warehouse, qualified)

    result = apply_edits(
        warehouse, snapshot, edited(snapshot, {(1, 'Amount "€"'): 25.5, (1, "edited_row"): "B"}), user="ann"
    )

    assert result.updated == 1
    assert warehouse.execute(sql.SQL("SELECT * FROM {} ORDER BY 1").format(table)).fetchall()[1][1:] == (
        pytest.approx(25.5),
        "B",
    )
    assert audit_rows(warehouse, qualified)[0][3] == ['Amount "€"', "edited_row"]


def test_a_table_without_primary_key_is_refused(warehouse, warehouse_schema):
    run(warehouse, "CREATE TABLE {} (a int)", sql.Identifier(warehouse_schema, "loose"))

    with pytest.raises(TableNotEditable) as refused:
        read_for_edit(warehouse, f"{warehouse_schema}.loose")

    assert refused.value.message == (
        f"Table {warehouse_schema}.loose has no primary key, so its rows cannot be told apart safely and it "
        "cannot be edited here. Add a primary key to the table to make it editable."
    )
    with pytest.raises(TableNotEditable, match="^Table .*missing does not exist or you may not see it"):
        read_for_edit(warehouse, f"{warehouse_schema}.missing")


def test_saving_never_deletes_or_inserts_rows(warehouse, warehouse_schema, products):
    table = sql.Identifier(warehouse_schema, "products")
    log = sql.Identifier(warehouse_schema, "statement_log")
    run(warehouse, "CREATE TABLE {} (op text)", log)
    run(
        warehouse,
        "CREATE FUNCTION {}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "INSERT INTO statement_log VALUES (TG_OP); RETURN NULL; END $$",  # found on the search path
        sql.Identifier(warehouse_schema, "log_op"),
    )
    for op in ("INSERT", "UPDATE", "DELETE", "TRUNCATE"):
        run(
            warehouse,
            f"CREATE TRIGGER log_{op.lower()} AFTER {op} ON {{}} FOR EACH STATEMENT EXECUTE FUNCTION {{}}()",
            table,
            sql.Identifier(warehouse_schema, "log_op"),
        )
    snapshot = read_for_edit(warehouse, products)

    apply_edits(warehouse, snapshot, edited(snapshot, {(0, "qty"): 1, (1, "qty"): 2, (2, "active"): True}), user="a")

    assert warehouse.execute(sql.SQL("SELECT op FROM {}").format(log)).fetchall() == [("UPDATE",)]
    assert read_for_edit(warehouse, products).rows["qty"].tolist() == [1, 2, 0]


def test_timestamps_json_and_uuid_round_trip_and_only_edited_cells_change(warehouse, warehouse_schema):
    table = sql.Identifier(warehouse_schema, "events")
    run(
        warehouse,
        "CREATE TABLE {} (id uuid PRIMARY KEY, at timestamptz, payload jsonb, note varchar(5), "
        "total int GENERATED ALWAYS AS (length(note)) STORED)",
        table,
    )
    run(
        warehouse,
        "INSERT INTO {} (id, at, payload, note) VALUES "
        "('00000000-0000-0000-0000-000000000001', '2024-05-01 10:00:00.123456+00', '{{\"a\": 1}}', 'one'), "
        "('00000000-0000-0000-0000-000000000002', '2024-05-02 11:00:00+00', NULL, 'two')",
        table,
    )
    qualified = f"{warehouse_schema}.events"
    snapshot = read_for_edit(warehouse, qualified)
    assert snapshot.disabled_columns == ["id", "total"]
    assert str(snapshot.rows["at"].dtype).startswith("datetime64") and snapshot.rows["payload"].iloc[0] == '{"a": 1}'
    untouched = warehouse.execute(sql.SQL("SELECT at::text FROM {} ORDER BY id").format(table)).fetchall()

    result = apply_edits(
        warehouse, snapshot, edited(snapshot, {(0, "payload"): '{"a": 2, "b": [1]}', (1, "note"): "deux"}), user="ann"
    )

    assert result.updated == 2
    assert warehouse.execute(sql.SQL("SELECT at::text FROM {} ORDER BY id").format(table)).fetchall() == untouched
    assert warehouse.execute(sql.SQL("SELECT payload, note, total FROM {} ORDER BY id").format(table)).fetchall() == [
        ({"a": 2, "b": [1]}, "one", 3),
        (None, "deux", 4),
    ]
    assert [r[3] for r in audit_rows(warehouse, qualified)] == [["payload"], ["note"]]
    too_long = read_for_edit(warehouse, qualified)
    with pytest.raises(InvalidEditValue, match="^Row id=00000000-0000-0000-0000-000000000002, column note: .*too long"):
        apply_edits(warehouse, too_long, edited(too_long, {(1, "note"): "sixsix"}), user="ann")


def test_several_conflicting_rows_are_all_named(warehouse, warehouse_schema, products):
    snapshot = read_for_edit(warehouse, products)
    run(warehouse, "UPDATE {} SET qty = qty + 1 WHERE id IN (1, 3)", sql.Identifier(warehouse_schema, "products"))

    with pytest.raises(EditConflict) as refused:
        apply_edits(warehouse, snapshot, edited(snapshot, {(0, "qty"): 0, (1, "qty"): 0, (2, "qty"): 9}), user="ann")

    assert refused.value.message.startswith(
        "Rows id=1, id=3 were changed by someone else since you opened the table; reload and redo your edits."
    )
    assert read_for_edit(warehouse, products).rows["qty"].tolist() == [11, 5, 1]

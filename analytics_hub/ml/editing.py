"""The data steward engine: read a keyed table for editing and save the edits safely, audited, or not at all.

A save is one transaction: the changed rows are COPYed into a temporary table, the target rows are locked and
their version tokens (``md5`` of the row's text, taken when the rows were read) compared with the current ones
(optimistic check: a row changed or deleted by someone else refuses the whole save), one ``MERGE`` updates only
the changed cells, and one audit row per changed row is written. Rows are never deleted and re-inserted.
Adding and deleting rows is not supported: new rows come through import pipelines.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass, replace

import pandas as pd
import psycopg
from psycopg import sql

from analytics_hub.ml.edit_audit import AUDIT_IDENTIFIER, edit_history, ensure_audit_table, pick_keys
from analytics_hub.ml.edit_changes import (
    EditConflict,
    EditError,
    EditRefused,
    EditSnapshot,
    InvalidEditValue,
    RowChange,
    TableNotEditable,
    find_changes,
    name_rows,
)
from analytics_hub.ml.table_catalog import (
    INTERNAL_SCHEMAS,
    ColumnInfo,
    TableInfo,
    TableNotFound,
    describe_table,
    free_name,
    keyed_tables,
    split_table,
)

__all__ = [
    "EditConflict",
    "EditError",
    "EditRefused",
    "EditResult",
    "EditSnapshot",
    "InvalidEditValue",
    "TableNotEditable",
    "apply_edits",
    "edit_history",
    "editable_tables",
    "read_for_edit",
]

_STAGE = "launchpad_edits"
_COPY_LINE = re.compile(r"COPY \S+, line (\d+)(?:, column (.*?))?(?::|$)", re.M)


@dataclass(frozen=True)
class EditResult:
    updated: int
    audit_ids: tuple[int, ...]


@dataclass(frozen=True)
class _Names:
    """Helper column names of the staging table and the target's alias, chosen not to collide with its columns."""

    ord: str
    version: str
    changed: str
    before: str
    row: str

    @classmethod
    def avoiding(cls, columns: Collection[str]) -> _Names:
        taken = set(columns)
        picked = {}
        for field, base in [
            ("ord", "edit_ord"),
            ("version", "edit_version"),
            ("changed", "edit_changed"),
            ("before", "edit_before"),
            ("row", "edited_row"),
        ]:
            picked[field] = free_name(base, taken)
            taken.add(picked[field])
        return cls(**picked)


def editable_tables(conn: psycopg.Connection, *, schemas: Collection[str]) -> list[str]:
    """``schema.table`` names of the tables in ``schemas`` that have a primary key and that this role may update."""
    return keyed_tables(conn, list(schemas), privilege="UPDATE")


def _editable(conn: psycopg.Connection, table: str) -> TableInfo:
    try:
        info = describe_table(conn, table)
    except TableNotFound as exc:
        raise TableNotEditable(exc.message, detail=exc.detail) from exc
    if info.schema in INTERNAL_SCHEMAS:
        raise TableNotEditable(f"Table {table} belongs to the hub's own records and cannot be edited.")
    if not info.primary_key:
        raise TableNotEditable(
            f"Table {table} has no primary key, so its rows cannot be told apart safely and it cannot be edited "
            "here. Add a primary key to the table to make it editable."
        )
    return info


def _read_column(column: ColumnInfo, key: tuple[str, ...]) -> ColumnInfo:
    # A numeric key read as a float could no longer find its row: keys of such types are edited as text.
    return replace(column, kind="other") if column.name in key and column.kind == "float" else column


def _frame(columns: tuple[ColumnInfo, ...], rows: list[tuple]) -> pd.DataFrame:
    data = {}
    for i, column in enumerate(columns):
        values = [row[i] for row in rows]
        if column.kind == "integer":
            data[column.name] = pd.Series(values, dtype="Int64")
        elif column.kind == "float":
            data[column.name] = pd.Series([None if v is None else float(v) for v in values], dtype="float64")
        elif column.kind == "boolean":
            data[column.name] = pd.Series(values, dtype="boolean")
        elif column.kind == "datetime":
            data[column.name] = pd.Series(pd.to_datetime(pd.Series(values, dtype=object)))
        elif column.kind == "date":
            data[column.name] = pd.Series(values, dtype=object)
        else:
            data[column.name] = pd.Series(values, dtype="string")
    return pd.DataFrame(data, columns=[c.name for c in columns])


def read_for_edit(
    conn: psycopg.Connection, table: str, *, limit: int = 1000, order_by_key: bool = True
) -> EditSnapshot:
    """Up to ``limit`` rows of ``table`` typed for editing, with each row's version token.

    Integers are ``Int64``, numbers ``float64``, booleans ``boolean``, timestamps ``datetime64``, dates
    ``datetime.date``, text ``string``; any other type (json, uuid, arrays...) is edited as its PostgreSQL text.
    """
    info = _editable(conn, table)
    columns = tuple(_read_column(c, info.primary_key) for c in info.columns)
    names = _Names.avoiding(c.name for c in columns)
    row = sql.Identifier(names.row)
    selected = [sql.SQL("md5({}::text)").format(row)]
    for column in columns:
        cell = sql.Identifier(names.row, column.name)
        selected.append(sql.SQL("{}::text").format(cell) if column.kind == "other" else cell)
    query = sql.SQL("SELECT {} FROM {} AS {}").format(sql.SQL(", ").join(selected), info.identifier, row)
    if order_by_key:
        query += sql.SQL(" ORDER BY {}").format(
            sql.SQL(", ").join(sql.Identifier(names.row, k) for k in info.primary_key)
        )
    query += sql.SQL(" LIMIT %s")
    fetched = conn.execute(query, (int(limit) + 1,)).fetchall()
    rows = fetched[:limit]
    return EditSnapshot(
        table=info.qualified,
        primary_key=info.primary_key,
        columns=columns,
        rows=_frame(columns, [r[1:] for r in rows]),
        versions=tuple(r[0] for r in rows),
        truncated=len(fetched) > limit,
    )


def _key_match(info: TableInfo, left: str, right: str) -> sql.Composed:
    return sql.SQL(" AND ").join(
        sql.SQL("{} = {}").format(sql.Identifier(left, k), sql.Identifier(right, k)) for k in info.primary_key
    )


def _copy_error(exc: psycopg.Error, info: TableInfo, changes: list[RowChange]) -> EditError:
    primary = exc.diag.message_primary or str(exc).splitlines()[0]
    match = _COPY_LINE.search(exc.diag.context or "")
    if not match or not 1 <= int(match.group(1)) <= len(changes):
        return EditError(
            f"The changes to {info.qualified} could not be staged: {primary}. Nothing was changed.",
            detail=f"{type(exc).__name__}: {exc}",
        )
    change = changes[int(match.group(1)) - 1]
    named = (match.group(2) or "").strip()
    column = next((c for c in change.values if named == c or named.startswith(c + ":")), named)
    where = f"Row {change.label}, column {column}" if column else f"Row {change.label}"
    return InvalidEditValue(
        f"{where}: the value is not accepted ({primary}). Nothing was changed.", detail=f"{type(exc).__name__}: {exc}"
    )


def _stage(conn: psycopg.Connection, info: TableInfo, names: _Names, changes: list[RowChange]) -> list[str]:
    """COPY the changes into a temporary table typed like the target; returns the changed columns in table order."""
    changed = [c.name for c in info.columns if any(c.name in ch.values for ch in changes)]
    staged = [*info.primary_key, *changed]
    stage = sql.Identifier(_STAGE)
    conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier("pg_temp", _STAGE)))
    conn.execute(
        sql.SQL("CREATE TEMPORARY TABLE {} ON COMMIT DROP AS SELECT {} FROM {} WITH NO DATA").format(
            stage, sql.SQL(", ").join(map(sql.Identifier, staged)), info.identifier
        )
    )
    conn.execute(
        sql.SQL(
            "ALTER TABLE {} ADD COLUMN {} integer, ADD COLUMN {} text, ADD COLUMN {} text[], ADD COLUMN {} jsonb"
        ).format(stage, *(sql.Identifier(n) for n in (names.ord, names.version, names.changed, names.before)))
    )
    copy_columns = sql.SQL(", ").join(map(sql.Identifier, [*staged, names.ord, names.version, names.changed]))
    try:
        with conn.cursor() as cur, cur.copy(sql.SQL("COPY {} ({}) FROM STDIN").format(stage, copy_columns)) as copy:
            for position, change in enumerate(changes):
                values = [change.values.get(c) for c in changed]
                copy.write_row([*change.key, *values, position, change.version, list(change.values)])
    except psycopg.Error as exc:
        raise _copy_error(exc, info, changes) from exc
    return changed


def _lock_and_check(conn: psycopg.Connection, info: TableInfo, names: _Names, changes: list[RowChange]) -> None:
    """Lock the target rows and refuse the save when any of them changed or vanished since it was read."""
    row = sql.Identifier(names.row)
    query = sql.SQL("SELECT s.{}, md5({}::text) FROM {} AS s JOIN {} AS {} ON {} ORDER BY {} FOR UPDATE OF {}").format(
        sql.Identifier(names.ord),
        row,
        sql.Identifier(_STAGE),
        info.identifier,
        row,
        _key_match(info, names.row, "s"),
        sql.SQL(", ").join(sql.Identifier(names.row, k) for k in info.primary_key),
        row,
    )
    current = dict(conn.execute(query).fetchall())
    deleted = [ch.label for i, ch in enumerate(changes) if i not in current]
    changed = [ch.label for i, ch in enumerate(changes) if i in current and current[i] != ch.version]
    problems = []
    if changed:
        problems.append(
            f"{name_rows(changed)} {'was' if len(changed) == 1 else 'were'} changed by someone else since you "
            f"opened the table; reload and redo your edit{'' if len(changed) == 1 else 's'}."
        )
    if deleted:
        problems.append(
            f"{name_rows(deleted)} {'was' if len(deleted) == 1 else 'were'} deleted by someone else since you "
            "opened the table; reload to see the current rows."
        )
    if problems:
        raise EditConflict(" ".join(problems) + f" Nothing was saved to {info.qualified}.")


def _merge(conn: psycopg.Connection, info: TableInfo, names: _Names, changed: list[str]) -> int:
    """One MERGE setting each changed cell; cells a row did not change keep their current value."""
    row = sql.Identifier(names.row)
    assignments = sql.SQL(", ").join(
        sql.SQL("{col} = CASE WHEN %s = ANY(s.{changed}) THEN s.{col} ELSE {row}.{col} END").format(
            col=sql.Identifier(c), changed=sql.Identifier(names.changed), row=row
        )
        for c in changed
    )
    query = sql.SQL("MERGE INTO {} AS {} USING {} AS s ON {} WHEN MATCHED THEN UPDATE SET {}").format(
        info.identifier, row, sql.Identifier(_STAGE), _key_match(info, names.row, "s"), assignments
    )
    return conn.execute(query, changed).rowcount


def _capture_before(conn: psycopg.Connection, info: TableInfo, names: _Names) -> None:
    """Keep each locked row's current content (jsonb) in the staging table for the audit trail."""
    row = sql.Identifier(names.row)
    conn.execute(
        sql.SQL("UPDATE {} AS s SET {} = to_jsonb({}) FROM {} AS {} WHERE {}").format(
            sql.Identifier(_STAGE),
            sql.Identifier(names.before),
            row,
            info.identifier,
            row,
            _key_match(info, names.row, "s"),
        )
    )


def _audit(conn: psycopg.Connection, info: TableInfo, names: _Names, user: str) -> tuple[int, ...]:
    """One audit row per changed row: its key, and the before/after of only the columns it changed."""
    row = sql.Identifier(names.row)
    changed = sql.SQL("s.{}").format(sql.Identifier(names.changed))
    after = sql.SQL("to_jsonb({})").format(row)
    query = sql.SQL(
        """
        INSERT INTO {audit} (table_name, row_key, before, after, changed_columns, edited_by)
        SELECT %s, {key}, {before}, {after}, {changed}, %s
        FROM {stage} AS s JOIN {target} AS {row} ON {match}
        ORDER BY s.{ord}
        RETURNING id
        """
    ).format(
        audit=AUDIT_IDENTIFIER,
        key=pick_keys(after, sql.SQL("%s::text[]")),
        before=pick_keys(sql.SQL("s.{}").format(sql.Identifier(names.before)), changed),
        after=pick_keys(after, changed),
        changed=changed,
        stage=sql.Identifier(_STAGE),
        target=info.identifier,
        row=row,
        match=_key_match(info, names.row, "s"),
        ord=sql.Identifier(names.ord),
    )
    with conn.cursor() as cur:
        cur.execute(query, (info.qualified, list(info.primary_key), user))
        return tuple(sorted(r[0] for r in cur.fetchall()))


def _save(conn: psycopg.Connection, info: TableInfo, changes: list[RowChange], user: str) -> EditResult:
    names = _Names.avoiding(c.name for c in info.columns)
    with conn.transaction():
        ensure_audit_table(conn)
        changed = _stage(conn, info, names, changes)
        _lock_and_check(conn, info, names, changes)
        _capture_before(conn, info, names)
        updated = _merge(conn, info, names, changed)
        if updated != len(changes):  # cannot happen while the rows are locked; refuse rather than half-save
            raise EditConflict(
                f"Only {updated} of the {len(changes)} edited rows of {info.qualified} could be updated. "
                "Reload the table and redo your edits. Nothing was saved."
            )
        audit_ids = _audit(conn, info, names, user)
    return EditResult(updated=updated, audit_ids=audit_ids)


def apply_edits(conn: psycopg.Connection, snapshot: EditSnapshot, edited: pd.DataFrame, *, user: str) -> EditResult:
    """Save the cells of ``edited`` that differ from ``snapshot`` in one transaction, audited; all or nothing.

    No changes: nothing is run and the result counts zero. ``user`` is recorded as the editor in the audit trail.
    """
    changes = find_changes(snapshot, edited)
    if not changes:
        return EditResult(updated=0, audit_ids=())
    schema, name = split_table(snapshot.table)
    info = TableInfo(schema=schema, name=name, columns=snapshot.columns, primary_key=snapshot.primary_key)
    try:
        return _save(conn, info, changes, user)
    except EditError:
        raise
    except (psycopg.errors.UndefinedTable, psycopg.errors.UndefinedColumn) as exc:
        raise EditRefused(
            f"Table {info.qualified} or one of its columns no longer exists as it did when you opened it; "
            "reload the table and redo your edits. Nothing was changed.",
            detail=f"{type(exc).__name__}: {exc}",
        ) from exc
    except psycopg.OperationalError as exc:
        raise EditError(
            f"The connection to the warehouse broke while saving your edits to {info.qualified}. The database "
            "keeps all of them or none; reload the table to see which before editing again.",
            detail=f"{type(exc).__name__}: {exc}",
        ) from exc
    except psycopg.Error as exc:
        primary = exc.diag.message_primary or str(exc).splitlines()[0]
        more = f" ({exc.diag.message_detail})" if exc.diag.message_detail else ""
        raise EditError(
            f"The database refused your edits to {info.qualified}: {primary}{more}. Nothing was changed.",
            detail=f"{type(exc).__name__}: {exc}",
        ) from exc

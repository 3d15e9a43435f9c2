"""What a data steward changed: the snapshot they edited, the rows and cells that differ, and the errors of editing.

Cells are compared by the text PostgreSQL would receive for them, so a value that only changed its Python type
(``42`` read as ``Int64``, handed back as ``42.0``) is not a change.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd

from analytics_hub.ml.errors import AnalyticsError
from analytics_hub.ml.table_catalog import ColumnInfo

_SHOWN_KEYS = 5  # row keys named in one message before "and N more"


class EditError(AnalyticsError):
    """Base of the errors of saving edited rows; nothing was changed when one is raised."""


class TableNotEditable(EditError):
    """The table cannot be edited here (no primary key, an internal table, not a table)."""


class EditRefused(EditError):
    """The edited data asks for something this editor does not do (delete or add rows, change a key)."""


class InvalidEditValue(EditError):
    """A value the column does not accept (wrong type, empty where a value is required, too long...)."""


class EditConflict(EditError):
    """Someone else changed or deleted an edited row since it was read."""


@dataclass(frozen=True, eq=False)
class EditSnapshot:
    """Rows as read for editing, with one version token per row (``md5`` of the row's text at read time)."""

    table: str
    primary_key: tuple[str, ...]
    columns: tuple[ColumnInfo, ...]
    rows: pd.DataFrame
    versions: tuple[str, ...]
    truncated: bool  # the table holds more rows than were read

    @property
    def disabled_columns(self) -> list[str]:
        """Columns the editor must not let users change: the primary key and database-computed columns."""
        return [c.name for c in self.columns if c.name in self.primary_key or c.generated]

    @property
    def column_types(self) -> dict[str, str]:
        return {c.name: c.type_name for c in self.columns}


@dataclass(frozen=True)
class RowChange:
    position: int  # row position in the snapshot
    label: str  # the row's key for people, e.g. "id=42" or "region=EU, id=7"
    key: tuple[str, ...]  # primary key values as PostgreSQL text
    version: str  # the row's version token at read time
    values: dict[str, str | None]  # changed column -> new value as PostgreSQL text (None is NULL)


def cell_text(value: Any, column: ColumnInfo) -> str | None:
    """The PostgreSQL text input for one edited cell; None is NULL (so is an empty cell of a non-text column)."""
    if isinstance(value, dict | list | tuple):
        return json.dumps(value, default=str)
    if value is None or (not isinstance(value, str | bytes) and pd.isna(value)):
        return None
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, numbers.Real):
        number = float(value)
        if math.isinf(number):
            return "Infinity" if number > 0 else "-Infinity"
        return str(int(number)) if number.is_integer() and abs(number) < 1e15 else repr(number)
    if isinstance(value, np.datetime64):
        value = pd.Timestamp(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, bytes):
        return "\\x" + value.hex()
    text = str(value)
    if column.kind != "text" and not text.strip():
        return None
    return text


def row_label(primary_key: Sequence[str], values: Sequence[str | None]) -> str:
    return ", ".join(f"{name}={value}" for name, value in zip(primary_key, values, strict=True))


def name_rows(labels: Sequence[str], *, capital: bool = True) -> str:
    """'Row id=1', 'Rows id=1, id=2 and 3 more' (keys of composite rows split by ';') for messages."""
    shown = (
        "; ".join(labels[:_SHOWN_KEYS]) if any("," in label for label in labels) else ", ".join(labels[:_SHOWN_KEYS])
    )
    more = f" and {len(labels) - _SHOWN_KEYS} more" if len(labels) > _SHOWN_KEYS else ""
    noun = "Row" if len(labels) == 1 else "Rows"
    return f"{noun if capital else noun.lower()} {shown}{more}"


def _check_shape(snapshot: EditSnapshot, edited: pd.DataFrame) -> None:
    original = snapshot.rows
    missing_columns = [c.name for c in snapshot.columns if c.name not in edited.columns]
    if missing_columns:
        raise EditRefused(
            f"The edited data of {snapshot.table} has no column {', '.join(missing_columns)}; "
            "reload the table and edit it again. Nothing was changed."
        )
    if edited.index.has_duplicates:
        raise EditRefused(f"The edited data of {snapshot.table} repeats rows; reload the table. Nothing was changed.")
    gone = original.index.difference(edited.index)
    if len(gone):
        keys = snapshot.primary_key
        key_columns = [next(c for c in snapshot.columns if c.name == k) for k in keys]
        labels = [row_label(keys, [cell_text(original.at[i, c.name], c) for c in key_columns]) for i in gone]
        one = len(labels) == 1
        raise EditRefused(
            f"Deleting rows is not supported here: {name_rows(labels, capital=False)} of {snapshot.table} "
            f"{'is' if one else 'are'} missing from your edits. Reload the table to get {'it' if one else 'them'} "
            "back. Nothing was changed."
        )
    added = edited.index.difference(original.index)
    if len(added):
        raise EditRefused(
            f"Adding rows is not supported here: your edits of {snapshot.table} hold {len(added)} new "
            f"row{'' if len(added) == 1 else 's'}. Remove {'it' if len(added) == 1 else 'them'}, and load new rows "
            "through an import pipeline instead. Nothing was changed."
        )


def find_changes(snapshot: EditSnapshot, edited: pd.DataFrame) -> list[RowChange]:
    """The rows of ``edited`` that differ from the snapshot, with only their changed cells.

    Refuses deleted or added rows and changes to the key or to database-computed columns, and an empty value
    in a column that requires one, naming the row and column.
    """
    _check_shape(snapshot, edited)
    columns = snapshot.columns
    names = [c.name for c in columns]
    locked = set(snapshot.disabled_columns)
    key_positions = [names.index(k) for k in snapshot.primary_key]
    before = snapshot.rows[names].astype(object).to_numpy()
    after = edited.loc[snapshot.rows.index, names].astype(object).to_numpy()
    changes = []
    for position, (old_row, new_row) in enumerate(zip(before, after, strict=True)):
        key = tuple(cell_text(old_row[i], columns[i]) or "" for i in key_positions)
        label = row_label(snapshot.primary_key, key)
        values: dict[str, str | None] = {}
        for column, old, new in zip(columns, old_row, new_row, strict=True):
            new_text = cell_text(new, column)
            if cell_text(old, column) == new_text:
                continue
            if column.name in locked:
                what = "part of the primary key" if column.name in snapshot.primary_key else "computed by the database"
                raise EditRefused(
                    f"Row {label}, column {column.name} cannot be changed: it is {what}. Nothing was changed."
                )
            if new_text is None and not column.nullable:
                raise InvalidEditValue(
                    f"Row {label}, column {column.name} must have a value: it cannot be empty. Nothing was changed."
                )
            values[column.name] = new_text
        if values:
            changes.append(RowChange(position, label, key, snapshot.versions[position], values))
    return changes

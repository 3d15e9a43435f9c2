"""Load parsed files into a staging table with PostgreSQL COPY, in one transaction.

Rows are streamed batch by batch (bounded memory). Every row gets the run's id in
``dagster_run_id``; a retry of the same run first deletes its own earlier rows. Any
error rolls the whole load back, so the staging table is left exactly as before.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from psycopg import sql
from psycopg.copy import QueuedLibpqWriter

from dagster_code.engine.errors import EngineError, LoadError, SchemaMismatchError
from dagster_code.engine.identifiers import column_identifier, identifier_parts, table_identifier
from dagster_code.engine.mapping import RUN_ID_COLUMN, ColumnMapping, describe_table, map_columns
from dagster_code.engine.parsers import ParsedFile, Parser

_COPY_CONTEXT = re.compile(r"COPY [^,]+, line (\d+)(?:, column ([^:]+))?(?:: \"?(.*?)\"?)?$", re.M)
_WRITE_OPTIONS = pacsv.WriteOptions(include_header=False, quoting_style="all_valid")

Progress = Callable[[str, int], None]


@dataclass(frozen=True)
class FileLoad:
    path: str
    rows: int


@dataclass(frozen=True)
class LoadResult:
    table: str
    run_id: str
    files: tuple[FileLoad, ...]
    replaced_rows: int

    @property
    def rows_loaded(self) -> int:
        return sum(f.rows for f in self.files)


def _data_row(line: int, batches: Iterable[pa.RecordBatch]) -> int:
    """The data row holding COPY's ``line``: COPY counts the header line and newlines inside quoted values."""
    row, start = 0, 2
    for batch in batches:
        newlines = pa.repeat(0, batch.num_rows)
        for column in batch.columns:
            newlines = pc.add(newlines, pc.fill_null(pc.count_substring(column, "\n"), 0))
        for extra in newlines.to_pylist():
            row += 1
            if line <= start + extra:
                return row
            start += extra + 1
    return row + line - start + 1


def _copy_error(file_name: str, table: str, exc: psycopg.Error, reparse: Callable[[], ParsedFile]) -> LoadError:
    diag = exc.diag
    primary = diag.message_primary or str(exc).splitlines()[0]
    where = ""
    match = _COPY_CONTEXT.search(diag.context or "")
    if match:
        line = int(match.group(1))
        try:  # only on this error path is the file read again, to count rows rather than lines
            row = _data_row(line, reparse().batches)
        except (EngineError, OSError):
            row = line - 1
        where = f" in data row {row}"
        if match.group(2):
            where += f", column {match.group(2)}"
    return LoadError(
        f"{file_name}: {primary}{where}. Nothing was loaded into {table}.",
        detail=f"{type(exc).__name__}: {exc}",
    )


def _copy_file(
    cursor: psycopg.Cursor,
    table: str,
    parsed: ParsedFile,
    targets: list[str],
    run_id: str,
    file_name: str,
    progress: Progress | None,
) -> int:
    """COPY the file's batches after a header line (PostgreSQL's line count is only exact past the first line end)."""
    statement = sql.SQL("COPY {} ({}) FROM STDIN WITH (FORMAT csv, HEADER true)").format(
        table_identifier(table), sql.SQL(", ").join(column_identifier(c) for c in [*targets, RUN_ID_COLUMN])
    )
    rows = 0
    with cursor.copy(statement, writer=QueuedLibpqWriter(cursor)) as copy:
        copy.write(",".join([*targets, RUN_ID_COLUMN]).encode() + b"\n")
        for batch in parsed.batches:
            if batch.num_rows == 0:
                continue
            run_ids = pa.array([run_id] * batch.num_rows, type=pa.string())
            batch = pa.RecordBatch.from_arrays([*batch.columns, run_ids], names=[*targets, RUN_ID_COLUMN])
            buffer = io.BytesIO()
            pacsv.write_csv(batch, buffer, _WRITE_OPTIONS)
            copy.write(buffer.getbuffer())
            rows += batch.num_rows
            if progress:
                progress(file_name, rows)
    return rows


def load_files(
    conn: psycopg.Connection,
    *,
    table: str,
    files: Sequence[Path],
    parser: Parser,
    options: Mapping[str, Any],
    column_mapping: ColumnMapping,
    run_id: str,
    progress: Progress | None = None,
) -> LoadResult:
    """Load every file into ``table`` tagged with ``run_id``: all of them, or nothing."""
    identifier_parts(table)
    loads: list[FileLoad] = []
    with conn.transaction():
        staging = describe_table(conn, table)
        if RUN_ID_COLUMN not in staging.columns:
            raise SchemaMismatchError(
                f"The staging table {table} has no {RUN_ID_COLUMN} column.",
                hint=f"Add it: ALTER TABLE {table} ADD COLUMN {RUN_ID_COLUMN} text;",
            )
        with conn.cursor() as cursor:
            cursor.execute(
                sql.SQL("DELETE FROM {} WHERE {} = %s").format(table_identifier(table), sql.Identifier(RUN_ID_COLUMN)),
                (run_id,),
            )
            replaced = cursor.rowcount
            for path in files:
                parsed = parser(Path(path), options)
                targets = map_columns(Path(path).name, parsed.columns, column_mapping, staging)
                try:
                    rows = _copy_file(cursor, table, parsed, targets, run_id, Path(path).name, progress)
                except psycopg.Error as exc:
                    raise _copy_error(Path(path).name, table, exc, partial(parser, Path(path), options)) from exc
                loads.append(FileLoad(path=str(path), rows=rows))
    return LoadResult(table=table, run_id=run_id, files=tuple(loads), replaced_rows=max(replaced, 0))

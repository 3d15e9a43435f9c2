"""Load parsed files into a staging table with PostgreSQL COPY, in one transaction.

Rows are streamed batch by batch (bounded memory). Every row gets the run's id in
``dagster_run_id``; a retry of the same run first deletes its own earlier rows. Enrichment
rules fill their columns in the stream where they can, else after the COPY (see
:mod:`dagster_code.engine.enrichment`). Any error rolls the whole load back, so the staging
table is left exactly as before.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import partial
from itertools import groupby
from operator import attrgetter
from pathlib import Path
from typing import Any

import psycopg
import pyarrow as pa
import pyarrow.compute as pc
from psycopg import sql

from dagster_code.engine.copy_stream import (
    QueuedWriter,
    RowEncoder,
    column_type_oids,
    copy_closing,
    copy_opening,
    copy_statement,
)
from dagster_code.engine.enrichment import EnrichmentResult, EnrichmentRule, apply_enrichment, stream_enricher
from dagster_code.engine.errors import EngineError, LoadError, SchemaMismatchError
from dagster_code.engine.identifiers import identifier_parts, table_identifier
from dagster_code.engine.mapping import RUN_ID_COLUMN, ColumnMapping, describe_table, map_columns
from dagster_code.engine.parsers import ParsedFile, Parser

_COPY_CONTEXT = re.compile(r"COPY [^,]+, line (\d+)(?:, column ([^:]+))?(?:: \"?(.*?)\"?)?$", re.M)
PROGRESS_EVERY = 100_000  # rows between progress reports

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
    parse_seconds: float = 0.0  # time spent reading and parsing files, the rest of the load is COPY
    enrichment: tuple[EnrichmentResult, ...] = ()
    enriched_in_stream: bool = False

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


def _rows_after(batches: Iterable[pa.RecordBatch], skip: int) -> Iterator[pa.RecordBatch]:
    for batch in batches:
        if skip < batch.num_rows:
            yield batch.slice(skip)
        skip = max(skip - batch.num_rows, 0)


def _row_locator(first_row: int, binary: bool, reparse: Callable[[], ParsedFile]) -> Callable[[int], int]:
    """Data row of the file from the line of a COPY that began after ``first_row`` rows.

    Binary COPY counts rows; CSV COPY counts lines, so only then is the file read again.
    """

    def locate(line: int) -> int:
        if binary:
            return first_row + line
        try:
            return first_row + _data_row(line, _rows_after(reparse().batches, first_row))
        except (EngineError, OSError):
            return first_row + line - 1

    return locate


def _copy_error(file_name: str, table: str, exc: psycopg.Error, locate: Callable[[int], int]) -> LoadError:
    diag = exc.diag
    primary = diag.message_primary or str(exc).splitlines()[0]
    where = ""
    match = _COPY_CONTEXT.search(diag.context or "")
    if match:
        where = f" in data row {locate(int(match.group(1)))}"
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
    encoder: RowEncoder,
    *,
    file_name: str,
    reparse: Callable[[], ParsedFile],
    progress: Progress | None,
    progress_every: int,
) -> int:
    """COPY the file's rows: one COPY statement per run of chunks in the same format (binary or CSV)."""
    rows = 0
    for binary, chunks in groupby(encoder.chunks(parsed.batches), key=attrgetter("binary")):
        first_row = rows
        try:
            with cursor.copy(copy_statement(table, encoder.columns, binary), writer=QueuedWriter(cursor)) as copy:
                copy.write(copy_opening(encoder.columns, binary))
                for chunk in chunks:
                    copy.write(chunk.data)
                    rows += chunk.rows
                    if progress and rows // progress_every > (rows - chunk.rows) // progress_every:
                        progress(file_name, rows)
                copy.write(copy_closing(binary))
        except psycopg.Error as exc:
            raise _copy_error(file_name, table, exc, _row_locator(first_row, binary, reparse)) from exc
    return rows


def _timed(batches: Iterator[pa.RecordBatch], clock: list[float]) -> Iterator[pa.RecordBatch]:
    """``batches``, adding the time spent producing each one (the parse) to ``clock[0]``."""
    while True:
        started = time.perf_counter()
        batch = next(batches, None)
        clock[0] += time.perf_counter() - started
        if batch is None:
            return
        yield batch


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
    progress_every: int = PROGRESS_EVERY,
    enrichment: Sequence[EnrichmentRule] = (),
) -> LoadResult:
    """Load every file into ``table`` tagged with ``run_id``, ``enrichment`` applied: all of it, or nothing.

    ``progress(file name, rows so far)`` is called each time a file passes another ``progress_every`` rows.
    """
    if progress_every < 1:
        raise ValueError(f"progress_every must be at least 1, got {progress_every}")
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
            enricher = stream_enricher(conn, table=table, rules=enrichment)
            types = column_type_oids(conn, table)
            clock = [0.0]
            for path in files:
                started = time.perf_counter()
                parsed = parser(Path(path), options)
                clock[0] += time.perf_counter() - started
                parsed = replace(parsed, batches=_timed(iter(parsed.batches), clock))
                targets = map_columns(Path(path).name, parsed.columns, column_mapping, staging)
                if enricher is not None:
                    parsed = replace(parsed, batches=enricher.batches(parsed.batches, targets))
                columns = [*targets, RUN_ID_COLUMN]
                encoder = RowEncoder(columns, [types[c] for c in columns], run_id, binary=conn.info.encoding == "utf-8")
                rows = _copy_file(
                    cursor,
                    table,
                    parsed,
                    encoder,
                    file_name=Path(path).name,
                    reparse=partial(parser, Path(path), options),
                    progress=progress,
                    progress_every=progress_every,
                )
                loads.append(FileLoad(path=str(path), rows=rows))
        if enricher is not None:
            enriched = enricher.results()
        else:
            enriched = apply_enrichment(conn, table=table, run_id=run_id, rules=enrichment)
    return LoadResult(
        table=table,
        run_id=run_id,
        files=tuple(loads),
        replaced_rows=max(replaced, 0),
        parse_seconds=clock[0],
        enrichment=tuple(enriched),
        enriched_in_stream=enricher is not None,
    )

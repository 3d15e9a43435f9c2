"""Rows for ``COPY ... FROM STDIN`` from a file's Arrow string batches, each tagged with the run id.

PostgreSQL reads its binary COPY format about a third cheaper than CSV, so a chunk goes binary when
``copy_binary`` can encode every value in it exactly; any other chunk (or a file with a column of a
type it does not encode) goes as CSV text, for PostgreSQL to type, or refuse, as it would the file.
Consecutive chunks in one format share a COPY statement. A worker thread sends while the next chunk
is encoded, with a short queue, so memory stays bounded whatever the file size.
"""

from __future__ import annotations

import io
import queue
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv
from psycopg import sql
from psycopg.copy import LibpqWriter

from dagster_code.engine.copy_binary import BINARY_HEADER, BINARY_TRAILER, BinaryRows, is_text_type
from dagster_code.engine.identifiers import column_identifier, table_identifier

CHUNK_ROWS = 65_536  # rows encoded at once; with CHUNK_TEXT_BYTES this bounds the encoder's memory
CHUNK_TEXT_BYTES = 32 << 20
QUEUE_DEPTH = 4  # encoded chunks waiting for the sending thread

_CSV_OPTIONS = pacsv.WriteOptions(include_header=False, quoting_style="all_valid")


@dataclass(frozen=True)
class Chunk:
    """Encoded rows ready for COPY; ``binary`` says which COPY format they are in."""

    data: Any  # a bytes-like buffer
    rows: int
    binary: bool


def column_type_oids(conn: psycopg.Connection, table: str) -> dict[str, int]:
    """Type OID of each column of ``table`` (an existing table)."""
    rows = conn.execute(
        "SELECT attname, atttypid FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped",
        (table_identifier(table).as_string(conn),),
    ).fetchall()
    return {name: int(oid) for name, oid in rows}


def copy_statement(table: str, columns: Sequence[str], binary: bool) -> sql.Composed:
    options = sql.SQL("FORMAT binary" if binary else "FORMAT csv, HEADER true, ENCODING 'UTF8'")
    return sql.SQL("COPY {} ({}) FROM STDIN WITH ({})").format(
        table_identifier(table), sql.SQL(", ").join(column_identifier(c) for c in columns), options
    )


def copy_opening(columns: Sequence[str], binary: bool) -> bytes:
    """What a COPY stream starts with: the binary signature, or a CSV header line.

    The header line makes PostgreSQL's CSV line numbers exact (it counts from the first line end).
    """
    return BINARY_HEADER if binary else ",".join(columns).encode() + b"\n"


def copy_closing(binary: bool) -> bytes:
    return BINARY_TRAILER if binary else b""


class RowEncoder:
    """Encodes a file's batches for COPY into its columns, the run id (the same in every row) appended.

    ``columns`` is the COPY column list: the batches' columns with the fixed-width types first and
    text last (fewer pieces to join per row), then the run id.
    """

    def __init__(self, targets: Sequence[str], type_oids: Sequence[int], run_id: str, *, binary: bool = True):
        """``targets``: the table column of each batch column, the run id's last; ``type_oids``: their types.

        ``binary=False`` sends everything as CSV.
        """
        self._order = sorted(range(len(targets) - 1), key=lambda i: is_text_type(type_oids[i]))
        self.columns = (*(targets[i] for i in self._order), targets[-1])
        self._run_id = run_id
        oids = [type_oids[i] for i in self._order]
        supported = binary and is_text_type(type_oids[-1]) and BinaryRows.supports(oids)
        self._binary = BinaryRows(oids, run_id) if supported else None

    def chunks(self, batches: Iterable[pa.RecordBatch]) -> Iterator[Chunk]:
        """The batches' rows, encoded a slice at a time (binary where every value allows it, else CSV)."""
        for batch in batches:
            if batch.num_columns != len(self._order):
                raise ValueError(f"expected {len(self._order)} columns, the batch has {batch.num_columns}")
            for part in _slices(batch.select(self._order)):
                data = self._binary.encode(part) if self._binary else None
                if data is not None:
                    yield Chunk(data, part.num_rows, True)
                else:
                    yield Chunk(self._csv_rows(part), part.num_rows, False)

    def _csv_rows(self, batch: pa.RecordBatch) -> memoryview:
        run_ids = pa.repeat(pa.scalar(self._run_id, pa.string()), batch.num_rows)
        table = pa.RecordBatch.from_arrays([*batch.columns, run_ids], names=list(self.columns))
        buffer = io.BytesIO()
        pacsv.write_csv(table, buffer, _CSV_OPTIONS)
        return buffer.getbuffer()


class QueuedWriter(LibpqWriter):
    """Sends COPY data from a worker thread, so encoding the next chunk overlaps sending this one.

    At most ``depth`` chunks wait, which bounds memory when the server is slower than the encoder
    (psycopg's own queued writer holds up to 1024 pieces).
    """

    def __init__(self, cursor: psycopg.Cursor, *, depth: int = QUEUE_DEPTH) -> None:
        super().__init__(cursor)
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=depth)
        self._worker: threading.Thread | None = None
        self._error: BaseException | None = None

    def _send(self) -> None:
        try:
            while (data := self._queue.get()) is not None:
                super().write(data)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread, raised there
            self._error = exc
            while self._queue.get() is not None:  # keep write() from blocking on a full queue
                pass

    def write(self, data: Any) -> None:
        if self._error is not None:
            raise self._error
        if self._worker is None:
            self._worker = threading.Thread(target=self._send, name="copy-writer", daemon=True)
            self._worker.start()
        self._queue.put(data)

    def finish(self, exc: BaseException | None = None) -> None:
        if self._worker is not None:
            self._queue.put(None)
            self._worker.join()
            self._worker = None
        if self._error is not None:
            raise self._error
        super().finish(exc)


def _slices(batch: pa.RecordBatch) -> Iterator[pa.RecordBatch]:
    """The batch in slices of at most CHUNK_ROWS rows and about CHUNK_TEXT_BYTES of text."""
    for start in range(0, batch.num_rows, CHUNK_ROWS):
        part = batch.slice(start, CHUNK_ROWS)
        if part.num_rows > 1 and part.nbytes > CHUNK_TEXT_BYTES:
            half = part.num_rows // 2
            yield from _slices(part.slice(0, half))
            yield from _slices(part.slice(half))
        elif part.num_rows:
            yield part

"""Text-file plumbing the parsers share: what a file holds, its encoding, its decoded text.

``sniff_kind`` judges a file by its first bytes so a parser can refuse another kind plainly;
byte-order marks pick the encoding; gzip is read transparently; ``text_chunks`` and
``EncodedChunks`` stream decoded text in bounded memory for parsers that filter or slice lines.
The record parsers (JSON, Parquet, Excel) also share their batches of text rows from here.
This module imports no parser module, so every parser module can import it without a cycle.
"""

from __future__ import annotations

import codecs
import gzip
import io
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

import pyarrow as pa

from dagster_code.engine.errors import FileFormatError

_MAGIC = (
    (b"PK\x03\x04", "zip"),
    (b"PAR1", "parquet"),
    (b"\x1f\x8b", "gzip"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "xls"),
)
# UTF-32 LE first: its mark starts with UTF-16 LE's.
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
# How each kind is named in messages, and what to do about it.
_KINDS = {
    "excel": ("an Excel workbook", "set the import's file type to excel (or save the sheet as CSV)"),
    "xls": ("an old Excel workbook (.xls)", "save it as .xlsx and set the import's file type to excel"),
    "parquet": ("a Parquet file", "set the import's file type to parquet"),
    "json": ("a JSON file", "set the import's file type to json (or jsonl for one object per line)"),
    "gzip": ("a gzip-compressed file", "decompress it first"),
    "zip": ("a zip archive", "unzip it and import the files inside"),
    "text": ("a text (CSV) file", "set the import's file type to csv, tsv or psv"),
}
ENCODING_HINT = 'Set the file\'s encoding in the import options, e.g. {"encoding": "latin-1"}.'


def bom_encoding(head: bytes) -> str | None:
    """The encoding a byte-order mark at the start of ``head`` announces, if any."""
    return next((encoding for bom, encoding in _BOMS if head.startswith(bom)), None)


def sniff_kind(path: Path) -> str:
    """What a file holds, judged by its first bytes: excel, xls, zip, parquet, gzip, json, text or empty."""
    with open(path, "rb") as handle:
        head = handle.read(4096)
    if not head:
        return "empty"
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return _zip_kind(path) if kind == "zip" else kind
    text = head.decode(bom_encoding(head) or "utf-8", errors="ignore").lstrip("\ufeff \t\r\n")
    after = text[1:].lstrip()[:1]
    if (text[:1] == "{" and after in ('"', "}")) or (text[:1] == "[" and after in ("{", "[", "]", '"')):
        return "json"
    return "text"


def _zip_kind(path: Path) -> str:
    try:
        with zipfile.ZipFile(path) as archive:
            return "excel" if any(name.startswith("xl/") for name in archive.namelist()) else "zip"
    except zipfile.BadZipFile:
        return "zip"


def wrong_kind_error(path: Path, kind: str, expected: str) -> FileFormatError:
    """The plain refusal of a file whose bytes say it is something else (``expected``: 'a CSV file')."""
    described, advice = _KINDS[kind]
    return FileFormatError(
        f"{path.name} looks like {described}, not {expected}; {advice}.",
        detail=f"sniffed kind: {kind}",
        hint="Check the import's file type against the files that arrive.",
    )


def check_file_kind(path: Path, expected: str, described: str, accepted: tuple[str, ...]) -> str:
    """Refuse an empty file, or one whose first bytes say it is not one of the ``accepted`` kinds."""
    if path.stat().st_size == 0:
        raise FileFormatError(f"{path.name} is empty: expected {expected}.")
    kind = sniff_kind(path)
    if kind not in accepted:
        raise wrong_kind_error(path, kind, described)
    return kind


def check_text_file(path: Path, expected: str) -> str | None:
    """Refuse a file that is not text; the compression to read it with ('gzip' or None)."""
    kind = sniff_kind(path)
    if kind in ("text", "empty"):
        return None
    if kind == "gzip":
        return "gzip"
    raise wrong_kind_error(path, kind, expected)


def open_binary(path: Path, compression: str | None) -> IO[bytes]:
    return gzip.open(path, "rb") if compression == "gzip" else open(path, "rb")


def python_codec(encoding: str) -> str:
    """The codec to decode with in Python: UTF-8 skips a byte-order mark."""
    return "utf-8-sig" if codecs.lookup(encoding).name == "utf-8" else encoding


def detect_encoding(path: Path, compression: str | None) -> str:
    """The encoding a byte-order mark announces, else UTF-8."""
    with open_binary(path, compression) as raw:
        return bom_encoding(raw.read(4)) or "utf-8"


def text_chunks(raw: IO[bytes], encoding: str, block_size: int) -> Iterator[str]:
    """The decoded text of ``raw`` in chunks of about ``block_size`` bytes, each ending at a line end (but the last)."""
    decoder = codecs.getincrementaldecoder(python_codec(encoding))()
    pending = ""
    while True:
        data = raw.read(block_size)
        text = pending + decoder.decode(data, final=not data)
        if not data:
            if text:
                yield text
            return
        cut = text.rfind("\n") + 1 or text.rfind("\r") + 1
        pending = text[cut:]
        if cut:
            yield text[:cut]


def encoding_error(path: Path, encoding: str, detail: str, hint: str = ENCODING_HINT) -> FileFormatError:
    return FileFormatError(f"{path.name}: the file is not valid {encoding} text.", detail=detail, hint=hint)


def gzip_error(path: Path, detail: str) -> FileFormatError:
    return FileFormatError(
        f"{path.name} is gzip-compressed but cannot be decompressed (it may be cut short).",
        detail=detail,
        hint="Send the file again, or decompress it and import the plain file.",
    )


class EncodedChunks(io.RawIOBase):
    """A byte stream of text chunks encoded as UTF-8, closing ``owner`` when closed."""

    def __init__(self, chunks: Iterator[str], owner: IO[bytes]) -> None:
        self._chunks = chunks
        self._owner = owner
        self._buffer = b""
        self._offset = 0

    def readable(self) -> bool:
        return True

    def readinto(self, target: Any) -> int:
        view = memoryview(target).cast("B")
        filled = 0
        while filled < len(view):
            if self._offset == len(self._buffer):
                chunk = next(self._chunks, None)
                if chunk is None:
                    break
                self._buffer, self._offset = chunk.encode("utf-8"), 0
                continue
            count = min(len(view) - filled, len(self._buffer) - self._offset)
            view[filled : filled + count] = self._buffer[self._offset : self._offset + count]
            filled += count
            self._offset += count
        return filled

    def close(self) -> None:
        if not self.closed:
            self._owner.close()
        super().close()


# --------------------------------------------------------------------------------- rows as text

# Rows per record batch of the record parsers; JSON Lines batches are also cut at BLOCK_SIZE bytes of input.
ROWS_PER_BATCH = 10_000


def string_batch(columns: Sequence[str], rows: Sequence[Sequence[str | None]]) -> pa.RecordBatch:
    """Rows of texts (or None) as a record batch of string columns."""
    arrays = [pa.array([row[i] for row in rows], type=pa.string()) for i in range(len(columns))]
    return pa.RecordBatch.from_arrays(arrays, names=list(columns))


def check_column_names(path: Path, names: Sequence[str], where: str) -> None:
    """Refuse blank or repeated column names (``where``: 'the schema', 'the header (row 3)')."""
    blanks = [str(i + 1) for i, name in enumerate(names) if not name]
    if blanks:
        raise FileFormatError(f"{path.name}: {where} column(s) {', '.join(blanks)} have no name.")
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise FileFormatError(f"{path.name}: {where} repeats column(s) {', '.join(duplicates)}.")

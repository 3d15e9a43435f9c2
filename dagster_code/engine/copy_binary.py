"""PostgreSQL's binary COPY rows built from Arrow string columns, a chunk at a time, without a Python loop.

A column is encoded only when every value in the chunk is in a canonical text form whose binary value
is provably what the column's own input function would store: an optional minus and digits for
integers, ``YYYY-MM-DD`` dates, plain decimals, ISO timestamps (with an explicit offset for
timestamptz), the usual boolean words, any text for text columns. Otherwise the encoder answers None
and the caller sends the chunk as text, for PostgreSQL to type. Range, precision, length and NOT NULL
checks stay PostgreSQL's: it runs them on binary values too.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

BINARY_HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)  # signature, no flags, no header extension
BINARY_TRAILER = b"\xff\xff"

_PG_EPOCH_DAYS = 10_957  # 2000-01-01, PostgreSQL's epoch, in days since 1970-01-01
_PG_EPOCH_MICROS = _PG_EPOCH_DAYS * 86_400_000_000
_FIRST_DAY = -719_162  # 0001-01-01: PostgreSQL refuses year 0, which ISO calendars allow
_NO_SEPARATOR = pa.scalar(b"", pa.binary())
_NUMERIC_NEG = 0x4000
_NUMERIC_DIGITS = 5  # base-10000 digits: enough for any int64 magnitude
_POWERS_OF_TEN = 10 ** np.arange(4, dtype=np.uint64)
_MAGNITUDE_LIMITS = np.iinfo(np.int64).max // _POWERS_OF_TEN


def is_text_type(type_oid: int) -> bool:
    """text, varchar or char: values go as their bytes, of varying width."""
    return _ENCODERS.get(type_oid) is _text


class BinaryRows:
    """Encodes chunks of string columns as binary COPY rows, ``run_id`` (text) appended to every row."""

    def __init__(self, type_oids: Sequence[int], run_id: str) -> None:
        encoders = [_ENCODERS.get(oid) for oid in type_oids]
        if any(e is None for e in encoders):
            unsupported = sorted({oid for oid, e in zip(type_oids, encoders, strict=True) if e is None})
            raise ValueError(f"no binary encoding for type OID(s) {unsupported}")
        self._encoders = [e for e in encoders if e is not None]
        run_id_bytes = run_id.encode()
        self._row_start = _Fixed(((">i2", len(type_oids) + 1),))
        self._row_end = pa.scalar(len(run_id_bytes).to_bytes(4, "big") + run_id_bytes, pa.binary())

    @staticmethod
    def supports(type_oids: Sequence[int]) -> bool:
        return all(oid in _ENCODERS for oid in type_oids)

    def encode(self, batch: pa.RecordBatch) -> memoryview | None:
        """The batch's rows in binary COPY format, or None when a value is not in a form encoded here."""
        pieces: list[_Fixed | pa.Array | pa.Scalar] = [self._row_start]
        for values, encode in zip(batch.columns, self._encoders, strict=True):
            if pa.types.is_large_string(values.type):
                values = values.cast(pa.string())
            if not pa.types.is_string(values.type):
                return None
            encoded = encode(values, _valid(values))
            if encoded is None:
                return None
            pieces.extend(encoded)
        pieces.append(self._row_end)
        return _concatenate_rows(batch.num_rows, pieces)


# ------------------------------------------------------------------------------ row assembly


@dataclass(frozen=True)
class _Fixed:
    """Fixed-width values per row, each ``(numpy dtype, scalar | (n,) | (n, k) | (1, k))``, written in order.

    Where ``valid`` is False only the first 4 bytes (a field length of -1, NULL) are sent.
    """

    fields: tuple[tuple[str, Any], ...]
    valid: np.ndarray | None = None

    def width(self, n: int) -> int:
        return sum(np.dtype(dtype).itemsize * _per_row(value, n).shape[1] for dtype, value in self.fields)


def _per_row(value: Any, n: int) -> np.ndarray:
    """A field's values as 2-D: a scalar or a (1, k) array repeats in every row; an (n,) array is one per row."""
    value = np.asarray(value)
    if value.ndim == 0:
        return value.reshape(1, 1)
    return value.reshape(n, 1) if value.ndim == 1 else value


def _field(valid: np.ndarray, *payload: tuple[str, Any]) -> list[_Fixed | pa.Array]:
    """One field per row: its length then ``payload``; length -1 (and no payload) for NULL."""
    width = _Fixed(payload).width(len(valid))
    if valid.all():
        return [_Fixed(((">i4", width), *payload))]
    return [_Fixed(((">i4", np.where(valid, width, -1)), *payload), valid)]


def _concatenate_rows(n: int, pieces: Sequence[_Fixed | pa.Array | pa.Scalar]) -> memoryview:
    """Row i of the result is row i of every piece (a scalar: the same bytes in every row), in order."""
    arrays: list[pa.Array | pa.Scalar] = []
    run: list[_Fixed] = []
    for piece in pieces:
        if isinstance(piece, _Fixed):
            run.append(piece)
            continue
        if run:
            arrays.append(_fill(n, run))
            run = []
        arrays.append(piece)
    if run:
        arrays.append(_fill(n, run))
    rows = arrays[0] if len(arrays) == 1 else pc.binary_join_element_wise(*arrays, _NO_SEPARATOR, null_handling="skip")
    offsets = np.frombuffer(rows.buffers()[1], np.int32, len(rows) + 1, rows.offset * 4)
    return memoryview(rows.buffers()[2])[offsets[0] : offsets[-1]]


def _fill(n: int, run: Sequence[_Fixed]) -> pa.Array:
    """Neighbouring fixed-width fields as one Arrow binary array, NULL fields cut to their length.

    Rows are written full width; only the (usually few) rows holding a NULL are compacted and put back.
    """
    widths = [piece.width(n) for piece in run]
    matrix = np.empty((n, sum(widths)), np.uint8)
    column = 0
    for piece in run:
        for dtype, value in piece.fields:
            values = _per_row(value, n)
            size = np.dtype(dtype).itemsize * values.shape[1]
            matrix[:, column : column + size].view(dtype)[...] = values
            column += size
    offsets = np.arange(0, matrix.size + 1, matrix.shape[1], dtype=np.int32)
    rows = pa.Array.from_buffers(pa.binary(), n, [None, pa.py_buffer(offsets), pa.py_buffer(matrix.reshape(-1))])
    nullable = [
        (piece, start) for piece, start in zip(run, np.cumsum([0, *widths]), strict=False) if piece.valid is not None
    ]
    if not nullable:
        return rows
    with_null = np.zeros(n, bool)
    for piece, _ in nullable:
        with_null |= ~piece.valid
    keep = np.ones((int(with_null.sum()), matrix.shape[1]), bool)
    for piece, start in nullable:
        keep[~piece.valid[with_null], start + 4 : start + piece.width(n)] = False
    compacted = matrix[with_null][keep]
    offsets = np.zeros(len(keep) + 1, np.int32)
    np.cumsum(keep.sum(axis=1), out=offsets[1:])
    replacements = pa.Array.from_buffers(pa.binary(), len(keep), [None, pa.py_buffer(offsets), pa.py_buffer(compacted)])
    return pc.replace_with_mask(rows, pa.array(with_null), replacements)


# ------------------------------------------------------------------------------ values


def _valid(values: pa.Array) -> np.ndarray:
    if values.null_count == 0:
        return np.ones(len(values), bool)
    bits = np.frombuffer(values.buffers()[0], np.uint8)
    return np.unpackbits(bits, count=values.offset + len(values), bitorder="little")[values.offset :].astype(bool)


def _offsets_and_text(values: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """The string array's offsets, and the bytes they point into."""
    offsets = np.frombuffer(values.buffers()[1], np.int32, len(values) + 1, values.offset * 4)
    data = values.buffers()[2]
    return offsets, (np.frombuffer(data, np.uint8) if data is not None else np.zeros(0, np.uint8))


def _only_digits(values: pa.Array, *others: bytes) -> bool:
    """Every byte of every value is a digit or one of ``others``."""
    offsets, data = _offsets_and_text(values)
    text = data[offsets[0] : offsets[-1]]
    allowed = (text - np.uint8(48)) < 10
    for other in others:
        allowed |= text == ord(other)
    return bool(allowed.all())


def _lengths(values: pa.Array) -> np.ndarray:
    return np.diff(_offsets_and_text(values)[0])


def _numbers(values: pa.Array, arrow_type: pa.DataType, dtype: Any) -> np.ndarray | None:
    """``values`` cast by Arrow, as numpy (undefined under NULLs); None when Arrow refuses a value."""
    try:
        cast = pc.cast(values, arrow_type)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    return np.frombuffer(cast.buffers()[1], dtype, len(cast), cast.offset)


Encoder = Callable[[pa.Array, np.ndarray], "list[_Fixed | pa.Array] | None"]


def _text(values: pa.Array, valid: np.ndarray) -> list[_Fixed | pa.Array]:
    """text, varchar, char: the UTF-8 bytes as they are (PostgreSQL still checks length and encoding)."""
    return [_Fixed(((">i4", np.where(valid, _lengths(values), -1)),)), values.view(pa.binary())]


def _integer(arrow_type: pa.DataType, dtype: str) -> Encoder:
    def encode(values: pa.Array, valid: np.ndarray) -> list[_Fixed | pa.Array] | None:
        if not _only_digits(values, b"-"):
            return None
        numbers = _numbers(values, arrow_type, np.dtype(dtype).newbyteorder("="))
        return None if numbers is None else _field(valid, (dtype, numbers))

    return encode


def _date(values: pa.Array, valid: np.ndarray) -> list[_Fixed | pa.Array] | None:
    """``YYYY-MM-DD`` only (other spellings depend on DateStyle)."""
    if not _only_digits(values, b"-") or (_lengths(values)[valid] != 10).any():
        return None
    days = _numbers(values, pa.date32(), np.int32)
    if days is None or (days[valid] < _FIRST_DAY).any():
        return None
    return _field(valid, (">i4", days - np.int32(_PG_EPOCH_DAYS)))


_TIMESTAMP = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[ T]([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,6})?"
_OFFSET = r"(Z|[+-](0[0-9]|1[0-5])(:?[0-5][0-9])?)"


def _timestamp(with_zone: bool) -> Encoder:
    """ISO timestamps to the second or microsecond; with time zone only when the text gives its offset."""
    pattern = _TIMESTAMP + (_OFFSET if with_zone else "") + "$"
    arrow_type = pa.timestamp("us", "UTC" if with_zone else None)

    def encode(values: pa.Array, valid: np.ndarray) -> list[_Fixed | pa.Array] | None:
        if with_zone:
            if not pc.all(pc.match_substring_regex(values, pattern), min_count=0).as_py():
                return None
        elif not _iso_timestamps(values, valid):
            return None
        micros = _numbers(values, arrow_type, np.int64)
        if micros is None or (micros[valid] < _FIRST_DAY * 86_400_000_000).any():
            return None
        return _field(valid, (">i8", micros - _PG_EPOCH_MICROS))

    return encode


def _iso_timestamps(values: pa.Array, valid: np.ndarray) -> bool:
    """Every value reads ``YYYY-MM-DD HH:MM:SS`` (or ``T`` for the space), with 0 or 1-6 fraction digits.

    The same test as the ``_TIMESTAMP`` pattern bar the field ranges, which Arrow's cast checks, at a
    fraction of a regular expression's cost: separators where they belong and no other non-digit.
    """
    offsets, data = _offsets_and_text(values)
    starts, lengths = offsets[:-1][valid], np.diff(offsets)[valid]
    if ((lengths < 19) | (lengths > 26) | (lengths == 20)).any():
        return False
    fractions = starts[lengths > 19]
    separators = 5 * len(starts) + len(fractions)
    text = data[offsets[0] : offsets[-1]]
    if len(text) - np.count_nonzero((text - np.uint8(48)) < 10) != separators:
        return False
    for position, allowed in ((4, b"-"), (7, b"-"), (10, b" T"), (13, b":"), (16, b":")):
        found = data[starts + position]
        if not np.isin(found, np.frombuffer(allowed, np.uint8)).all():
            return False
    return bool((data[fractions + 19] == ord(".")).all())


_TRUE_WORDS = ("t", "true", "y", "yes", "on", "1")
_BOOLEAN_WORDS = pa.array([*_TRUE_WORDS, "f", "false", "n", "no", "off", "0"])


def _boolean(values: pa.Array, valid: np.ndarray) -> list[_Fixed | pa.Array] | None:
    found = pc.index_in(pc.ascii_lower(values), value_set=_BOOLEAN_WORDS)
    if found.null_count != values.null_count:
        return None
    index = np.frombuffer(found.buffers()[1], np.int32, len(found), found.offset)
    return _field(valid, ("u1", index < len(_TRUE_WORDS)))


def _numeric(values: pa.Array, valid: np.ndarray) -> list[_Fixed | pa.Array] | None:
    """Plain decimals (``-12.50``, ``.5``, ``7.``) as five base-10000 digits with the text's own scale.

    PostgreSQL strips zero digits, rounds to the column's scale and checks its precision on receipt,
    as numeric_in does.
    """
    if not _only_digits(values, b"-", b"."):
        return None
    offsets, data = _offsets_and_text(values)
    start = offsets[0]
    text = data[start : offsets[-1]]
    is_point = text == ord(".")
    points = np.flatnonzero(is_point) + start
    point_rows = np.searchsorted(offsets, points, side="right") - 1
    if (np.diff(point_rows) == 0).any():  # two points in one value
        return None
    n = len(values)
    scale = np.zeros(n, np.int64)
    scale[point_rows] = offsets[point_rows + 1] - points - 1
    removed = np.zeros(n + 1, np.int32)  # points before each value
    removed[point_rows + 1] = 1
    np.cumsum(removed, out=removed)
    validity = None if values.null_count == 0 else pa.py_buffer(np.packbits(valid, bitorder="little"))
    digits = pa.Array.from_buffers(
        pa.string(), n, [validity, pa.py_buffer(offsets - start - removed), pa.py_buffer(text[~is_point])]
    )
    scaled = _numbers(digits, pa.int64(), np.int64)  # the value without its point
    if scaled is None:
        return None
    pad = -scale % 4  # base-10000 digits need a scale that is a multiple of 4
    magnitude = np.abs(np.where(valid, scaled, 0)).view(np.uint64)  # int64's minimum stays 2**63: refused below
    if (magnitude > _MAGNITUDE_LIMITS[pad]).any():
        return None
    magnitude *= _POWERS_OF_TEN[pad]
    groups = np.empty((n, _NUMERIC_DIGITS), np.uint64)  # most significant first
    for column in range(_NUMERIC_DIGITS - 1, -1, -1):
        quotient = magnitude // np.uint64(10_000)
        groups[:, column] = magnitude - quotient * np.uint64(10_000)
        magnitude = quotient
    weight = _NUMERIC_DIGITS - 1 - (scale + pad) // 4
    sign = np.where(scaled < 0, _NUMERIC_NEG, 0)
    return _field(valid, (">i2", _NUMERIC_DIGITS), (">i2", weight), (">u2", sign), (">i2", scale), (">i2", groups))


# Built-in type OIDs are fixed in PostgreSQL's catalog.
_ENCODERS: dict[int, Encoder] = {
    25: _text,  # text
    1043: _text,  # varchar
    1042: _text,  # char(n)
    21: _integer(pa.int16(), ">i2"),
    23: _integer(pa.int32(), ">i4"),
    20: _integer(pa.int64(), ">i8"),
    1700: _numeric,
    1082: _date,
    1114: _timestamp(with_zone=False),
    1184: _timestamp(with_zone=True),
    16: _boolean,
}

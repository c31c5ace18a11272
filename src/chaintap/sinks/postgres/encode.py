"""Arrow record batches to COPY payloads, column at a time (no Python loop per row).

Two encodings of the same rows, both exact:
- `binary_rows`: PostgreSQL's binary COPY format. Each column becomes an Arrow binary
  array of ready-made fields (4-byte length + value) and Arrow's
  `binary_join_element_wise` glues the fields of each row together, so every row is
  assembled in C++. u256 values are sent as binary NUMERIC: 20 base-10000 digits
  computed by long division over 32-bit limbs (numpy), never through a float.
- `csv_rows`: COPY's CSV format written by Arrow's CSV writer, u256 as base-10
  strings produced from the same digits.

The caller wraps binary output in `BINARY_HEADER` ... `BINARY_TRAILER`. Both
functions take the target type of every column (`schema.pg_type`), which must be the
type of the table COPY writes into; binary COPY does not convert between types.

Only `jsonb` columns (lists, structs) are converted value by value, through `json`.
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from chaintap.sinks.jsonrows import dumps
from chaintap.sinks.postgres.schema import U256_SQL, UINT64_SQL

BINARY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
BINARY_TRAILER = struct.pack(">h", -1)
_NULL_FIELD = struct.pack(">i", -1)
_FIELD = pa.large_binary()
# PostgreSQL counts dates and timestamps from 2000-01-01, Arrow from 1970-01-01.
_PG_EPOCH_DAYS = 10_957
_PG_EPOCH_US = _PG_EPOCH_DAYS * 86_400 * 1_000_000
# NUMERIC digits are base 10000; a u256 needs 20 of them (80 >= 78 decimal digits).
_NBASE = 10_000
_FIXED_WIDTH = {"smallint": ">i2", "integer": ">i4", "bigint": ">i8"}


def binary_rows(batch: pa.RecordBatch, types: list[str]) -> pa.Buffer:
    """The binary COPY tuples of `batch` (no header or trailer)."""
    if batch.num_rows == 0:
        return pa.py_buffer(b"")
    parts: list[pa.Array | pa.Scalar] = [
        pa.scalar(struct.pack(">h", batch.num_columns), _FIELD)
    ]
    for column, pg in zip(batch.columns, types, strict=True):
        parts.extend(_binary_fields(_plain(column), pg))

    rows = pc.binary_join_element_wise(*parts, pa.scalar(b"", _FIELD))
    offsets = np.frombuffer(rows.buffers()[1], dtype=np.int64)
    start, end = offsets[rows.offset], offsets[rows.offset + len(rows)]
    return rows.buffers()[2].slice(int(start), int(end - start))


def csv_rows(batch: pa.RecordBatch, types: list[str]) -> pa.Buffer:
    """The rows of `batch` in COPY's CSV format (no header line)."""
    columns = [
        _csv_column(_plain(column), pg)
        for column, pg in zip(batch.columns, types, strict=True)
    ]
    table = pa.Table.from_arrays(columns, names=[f"c{i}" for i in range(len(columns))])
    sink = pa.BufferOutputStream()
    pacsv.write_csv(table, sink, pacsv.WriteOptions(include_header=False))
    return sink.getvalue()


def _plain(column: pa.Array) -> pa.Array:
    if pa.types.is_dictionary(column.type):
        return column.dictionary_decode()
    return column


def _binary_fields(column: pa.Array, pg: str) -> list[pa.Array]:
    """One or two binary arrays whose concatenation per row is the column's field."""
    if pa.types.is_null(column.type):
        return [
            _matrix(np.tile(np.frombuffer(_NULL_FIELD, np.uint8), (len(column), 1)))
        ]
    if pg in (U256_SQL, UINT64_SQL):
        return [_with_nulls(_matrix(_numeric_fields(_limbs(column))), column)]
    if pg in _FIXED_WIDTH:
        values = _numbers(column, pa.int64()).astype(_FIXED_WIDTH[pg])
        return [_fixed(values, column)]
    if pg == "double precision":
        return [_fixed(_numbers(column, pa.float64()).astype(">f8"), column)]
    if pg == "boolean":
        return [_fixed(_numbers(column, pa.bool_()).astype(np.uint8), column)]
    if pg == "timestamp with time zone":
        micros = pc.cast(column, pa.timestamp("us", column.type.tz), safe=False)
        return [_fixed(_numbers(micros, pa.int64()) - _PG_EPOCH_US, column)]
    if pg == "date":
        days = _numbers(pc.cast(column, pa.date32()), pa.int32()) - _PG_EPOCH_DAYS
        return [_fixed(days.astype(">i4"), column)]
    if pg == "jsonb":
        # NOTE: a u256 nested in a list or struct arrives as 32 raw bytes and is
        # written as 0x-hex, not as a decimal number.
        encoded = [
            None if v is None else b"\x01" + _json(v) for v in column.to_pylist()
        ]
        return _variable(pa.array(encoded, _FIELD))
    return _variable(column.cast(_FIELD))


def _numbers(column: pa.Array, as_type: pa.DataType) -> np.ndarray:
    """Values as a numpy array, nulls as zero (their fields are replaced later)."""
    zero = pa.scalar(False if as_type == pa.bool_() else 0, as_type)
    filled = pc.fill_null(column.cast(as_type), zero)
    return np.asarray(filled.to_numpy(zero_copy_only=False))


def _fixed(values: np.ndarray, column: pa.Array) -> pa.Array:
    """Fields of a fixed-width big-endian value: the length, then the bytes."""
    raw = np.ascontiguousarray(values.astype(values.dtype.newbyteorder(">")))
    width = raw.dtype.itemsize
    matrix = np.empty((len(raw), 4 + width), np.uint8)
    matrix[:, :4] = np.frombuffer(struct.pack(">i", width), np.uint8)
    matrix[:, 4:] = raw.view(np.uint8).reshape(len(raw), width)
    return _with_nulls(_matrix(matrix), column)


def _variable(values: pa.Array) -> list[pa.Array]:
    """Fields of variable-length values: a length array and the bytes themselves."""
    lengths = pc.fill_null(pc.binary_length(values), 0).to_numpy()
    valid = values.is_valid().to_numpy(zero_copy_only=False)
    lengths = np.where(valid, lengths, -1).astype(">i4")
    prefix = _matrix(lengths.view(np.uint8).reshape(len(values), 4))
    return [prefix, pc.fill_null(values, pa.scalar(b"", _FIELD))]


def _matrix(matrix: np.ndarray) -> pa.Array:
    """A binary array whose element i is row i of a (rows, width) uint8 matrix."""
    rows, width = matrix.shape
    offsets = np.arange(0, (rows + 1) * width, width, dtype=np.int64)
    data = np.ascontiguousarray(matrix)
    return pa.Array.from_buffers(
        _FIELD, rows, [None, pa.py_buffer(offsets), pa.py_buffer(data)]
    )


def _with_nulls(fields: pa.Array, column: pa.Array) -> pa.Array:
    if column.null_count == 0:
        return fields
    return pc.if_else(column.is_valid(), fields, pa.scalar(_NULL_FIELD, _FIELD))


def _limbs(column: pa.Array) -> np.ndarray:
    """Big-endian 32-bit limbs (rows, k) of unsigned integers, as uint64."""
    if pa.types.is_fixed_size_binary(column.type):
        width = column.type.byte_width
        raw = np.frombuffer(
            column.buffers()[1],
            np.uint8,
            count=len(column) * width,
            offset=column.offset * width,
        )
        return raw.view(">u4").reshape(len(column), width // 4).astype(np.uint64)

    values = _numbers(column, pa.uint64()).astype(np.uint64)
    return np.stack([values >> np.uint64(32), values & np.uint64(0xFFFFFFFF)], 1)


def _decimal_digits(limbs: np.ndarray) -> np.ndarray:
    """Base-10000 digits (rows, 20), most significant first, of 32-bit limbs.

    Long division by 10^8 per pass (a remainder below 10^8 shifted left by 32 bits
    stays below 2^59), two base-10000 digits per pass. Limbs that are zero in every
    row are skipped, and the loop stops once every row is exhausted.
    """
    work = limbs.copy()
    digits = np.zeros((len(work), 20), np.uint64)
    first = 0
    for position in range(19, 0, -2):
        while first < work.shape[1] and not work[:, first].any():
            first += 1
        if first == work.shape[1]:
            break
        remainder = np.zeros(len(work), np.uint64)
        for k in range(first, work.shape[1]):
            current = (remainder << np.uint64(32)) | work[:, k]
            work[:, k] = current // np.uint64(100_000_000)
            remainder = current - work[:, k] * np.uint64(100_000_000)
        digits[:, position] = remainder % np.uint64(_NBASE)
        digits[:, position - 1] = remainder // np.uint64(_NBASE)
    return digits


def _numeric_fields(limbs: np.ndarray) -> np.ndarray:
    """Binary NUMERIC fields (rows, 52): length, header, 20 base-10000 digits.

    The digits are not normalised (leading and trailing zeros stay); the server
    strips them on input, so every value has the same width.
    """
    digits = _decimal_digits(limbs).astype(">u2")
    header = struct.pack(">ihhhh", 48, 20, 19, 0, 0)
    matrix = np.empty((len(digits), 52), np.uint8)
    matrix[:, :12] = np.frombuffer(header, np.uint8)
    matrix[:, 12:] = digits.view(np.uint8).reshape(len(digits), 40)
    return matrix


def decimal_strings(column: pa.Array) -> pa.Array:
    """Base-10 strings of u256 or uint64 values, computed column at a time."""
    digits = _decimal_digits(_limbs(column))
    places = np.stack(
        [digits // 1000, digits // 100 % 10, digits // 10 % 10, digits % 10], 2
    )
    chars = (places.reshape(len(column), 80) + ord("0")).astype(np.uint8)
    offsets = np.arange(0, (len(column) + 1) * 80, 80, dtype=np.int32)
    padded = pa.Array.from_buffers(
        pa.string(), len(column), [None, pa.py_buffer(offsets), pa.py_buffer(chars)]
    )

    trimmed = pc.utf8_ltrim(padded, characters="0")
    text = pc.if_else(pc.equal(pc.binary_length(trimmed), 0), "0", trimmed)
    return pc.if_else(column.is_valid(), text, pa.scalar(None, pa.string()))


def _csv_column(column: pa.Array, pg: str) -> pa.Array:
    if pg in (U256_SQL, UINT64_SQL):
        return decimal_strings(column)
    if pg == "jsonb":
        return pa.array(
            [None if v is None else _json(v).decode() for v in column.to_pylist()],
            pa.string(),
        )
    if pg == "timestamp with time zone":
        # Truncate below microseconds, as the binary encoding does.
        return pc.cast(column, pa.timestamp("us", column.type.tz), safe=False)
    if pg == "bytea":
        return pa.array(
            [None if v is None else "\\x" + v.hex() for v in column.to_pylist()],
            pa.string(),
        )
    return column


def _json(value: Any) -> bytes:
    """jsonb text for a nested value, encoded as the other sinks encode JSON."""
    return dumps(value).encode()

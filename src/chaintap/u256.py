"""Exact unsigned 256-bit integers in Arrow.

A u256 column is `fixed_size_binary(32)`, big-endian. That layout keeps every value
exact (no float, no 76-digit decimal limit), and byte order equals numeric order, so
SQL comparisons and ORDER BY on the raw column are correct. Sinks recognise the type:
Postgres stores it as NUMERIC(78,0), text formats write base-10 strings.

No value ever passes through a float here: conversions go through Python `int`, or
through exact integer limb arithmetic in `chaintap.u256_vector` for whole columns.
"""

from __future__ import annotations

from collections.abc import Iterable

import pyarrow as pa

U256_BYTES = 32
U256_TYPE = pa.binary(U256_BYTES)
U256_MAX = (1 << 256) - 1


def is_u256(dtype: pa.DataType) -> bool:
    """True when `dtype` is the u256 representation."""
    return bool(dtype == U256_TYPE)


def to_bytes(value: int) -> bytes:
    """Encode a Python int in 0..2^256-1; larger or negative values raise ValueError."""
    if value < 0 or value > U256_MAX:
        raise ValueError(f"{value} is outside the uint256 range 0..2^256-1")
    return value.to_bytes(U256_BYTES, "big")


def from_bytes(raw: bytes) -> int:
    """Decode a 32-byte big-endian value."""
    return int.from_bytes(raw, "big")


def parse(text: str) -> int:
    """Parse a base-10 or 0x-prefixed hex string into an int, checking the range."""
    stripped = text.strip()
    value = int(stripped, 16) if stripped[:2].lower() == "0x" else int(stripped, 10)
    if value < 0 or value > U256_MAX:
        raise ValueError(f"{text!r} is outside the uint256 range 0..2^256-1")
    return value


def array(values: Iterable[int | None]) -> pa.FixedSizeBinaryArray:
    """A u256 Arrow array from Python ints (None stays null)."""
    return pa.array(
        [None if v is None else to_bytes(v) for v in values], type=U256_TYPE
    )


def array_from_hex(values: Iterable[str | None]) -> pa.FixedSizeBinaryArray:
    """A u256 Arrow array from JSON-RPC quantities such as '0x1bc16d674ec80000'."""
    return array(None if v is None else int(v, 16) for v in values)


def to_ints(arr: pa.Array | pa.ChunkedArray) -> list[int | None]:
    """Python ints from a u256 array."""
    return [None if v is None else from_bytes(v) for v in arr.to_pylist()]


def to_decimal_strings(arr: pa.Array | pa.ChunkedArray) -> pa.StringArray:
    """Base-10 strings from a u256 array, for text sinks and display."""
    # Imported here: chaintap.u256_vector imports this module.
    from chaintap.u256_vector import u256_to_decimal

    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    return u256_to_decimal(arr)


def stringify_table(table: pa.Table) -> pa.Table:
    """The same table with every u256 column replaced by base-10 strings."""
    for index, field in enumerate(table.schema):
        if is_u256(field.type):
            table = table.set_column(
                index, field.name, to_decimal_strings(table.column(index))
            )
    return table

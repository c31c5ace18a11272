"""Exact uint256 SQL functions over the u256 type (`fixed_size_binary(32)`, big-endian).

Every function is NULL-in, NULL-out and never raises on a value: a result that is
not a uint256 (overflow, underflow, division by zero, text that is not a number) is
NULL, so one odd row cannot stop a pipeline. No value passes through a float.
`to_u256` and `u256_to_string` convert whole columns (`chaintap.u256_vector`); only
text that is not plain digits, or longer than 38 digits, is parsed row by row. The
arithmetic goes through Python ints, about a microsecond per row.

- `to_u256(x)`: base-10 text (`'1000'`), `0x` hex text, or an integer column (SQL
  casts it to text first). Negative, fractional, exponent or out-of-range → NULL.
  A column that already is u256 is rejected at planning: drop the call.
- `u256_to_string(u)`: base-10 text.
- `u256_add`, `u256_sub`, `u256_mul`, `u256_div` (floor), `u256_mod`.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pyarrow as pa

from chaintap import u256, u256_vector

_NUMBER = re.compile(r"\s*(?:0[xX][0-9a-fA-F]{1,64}|[0-9]{1,78})\s*")


def _parse(text: str) -> int | None:
    """The value of one `to_u256` text, None when it is not a uint256."""
    if _NUMBER.fullmatch(text) is None:
        return None
    try:
        return u256.parse(text)
    except ValueError:
        return None


# Not done: to_u256(u256) as the identity. A Python UDF has one exact signature
# (text here), so a u256 argument fails planning (with a hint to drop the call)
# instead of passing through; SQL written for Turbo that wraps a u256 must change.
def to_u256(values: pa.StringArray) -> pa.FixedSizeBinaryArray:
    """UDF body of `to_u256`: at most 78 decimal or 64 hex digits, else NULL.

    Plain digit strings (up to 38 digits) convert column at a time; every other
    row through `_parse`, so both paths accept and reject the same text.
    """
    return u256_vector.decimal_to_u256(values, _parse)


def u256_to_string(values: pa.FixedSizeBinaryArray) -> pa.StringArray:
    """UDF body of `u256_to_string`."""
    return u256_vector.u256_to_decimal(values)


def _checked(value: int) -> int | None:
    return value if 0 <= value <= u256.U256_MAX else None


def _add(a: int, b: int) -> int | None:
    return _checked(a + b)


def _sub(a: int, b: int) -> int | None:
    return _checked(a - b)


def _mul(a: int, b: int) -> int | None:
    return _checked(a * b)


def _div(a: int, b: int) -> int | None:
    return None if b == 0 else a // b


def _mod(a: int, b: int) -> int | None:
    return None if b == 0 else a % b


BinaryBody = Callable[[pa.FixedSizeBinaryArray, pa.FixedSizeBinaryArray], pa.Array]


def _binary(op: Callable[[int, int], int | None]) -> BinaryBody:
    """A UDF body applying `op` row by row; NULL operands give NULL."""

    def body(
        left: pa.FixedSizeBinaryArray, right: pa.FixedSizeBinaryArray
    ) -> pa.FixedSizeBinaryArray:
        out: list[int | None] = []
        for a, b in zip(left.to_pylist(), right.to_pylist(), strict=True):
            if a is None or b is None:
                out.append(None)
            else:
                out.append(op(u256.from_bytes(a), u256.from_bytes(b)))
        return u256.array(out)

    return body


BINARY_OPERATIONS: dict[str, BinaryBody] = {
    "u256_add": _binary(_add),
    "u256_sub": _binary(_sub),
    "u256_mul": _binary(_mul),
    "u256_div": _binary(_div),
    "u256_mod": _binary(_mod),
}

"""Whole-array conversions of 32-byte words to base-10 text, without a Python loop.

The trick: Arrow's decimal256 is a 32-byte little-endian two's-complement integer
whose cast to string prints every digit exactly. Reversing the bytes of a buffer of
big-endian words yields little-endian words (in reverse row order), so one reverse,
one zero-copy reinterpretation and one cast turn N words into N decimal strings.
Words of 2^255 or more read as negative; those few rows are redone with Python
ints. No value passes through a float.
"""

from __future__ import annotations

import binascii

import pyarrow as pa
import pyarrow.compute as pc

WORD_BYTES = 32
# Wide enough to print every 256-bit value; the cast does not check precision.
_DECIMAL_WORD = pa.decimal256(76, 0)


def arange(count: int) -> pa.Int64Array:
    """0, 1, ..., count-1 as an int64 array."""
    if count == 0:
        return pa.array([], type=pa.int64())
    ones = pa.repeat(pa.scalar(1, type=pa.int64()), count)
    return pc.subtract(pc.cumulative_sum(ones), 1)


def hex_words_to_decimal(words: pa.StringArray, *, signed: bool) -> pa.StringArray:
    """Base-10 text of `words`: non-null strings of exactly 64 hex digits each.

    `signed` reads each word as a two's-complement int256, else as a uint256. The
    caller guarantees the shape (a regex check); other input gives garbage text.
    """
    count = len(words)
    if count == 0:
        return pa.array([], type=pa.string())
    offsets = memoryview(words.buffers()[1]).cast("i")
    start = offsets[words.offset]
    chars = memoryview(words.buffers()[2])[start : start + 2 * WORD_BYTES * count]
    return _big_endian_to_decimal(binascii.unhexlify(chars), count, signed=signed)


def u256_to_decimal(values: pa.FixedSizeBinaryArray) -> pa.StringArray:
    """Base-10 text of a u256 (`fixed_size_binary(32)`) array; nulls stay null."""
    count = len(values)
    if count == 0:
        return pa.array([], type=pa.string())
    start = values.offset * WORD_BYTES
    raw = memoryview(values.buffers()[1])[start : start + WORD_BYTES * count]
    text = _big_endian_to_decimal(bytes(raw), count, signed=False)
    if values.null_count:
        text = pc.if_else(pc.is_valid(values), text, pa.scalar(None, pa.string()))
    return text


def _big_endian_to_decimal(raw: bytes, count: int, *, signed: bool) -> pa.StringArray:
    """`raw` holds `count` big-endian 32-byte words back to back."""
    little = pa.py_buffer(raw[::-1])
    decimals = pa.Array.from_buffers(_DECIMAL_WORD, count, [None, little])
    reverse_rows = pc.subtract(pa.scalar(count - 1, type=pa.int64()), arange(count))
    text = decimals.cast(pa.string()).take(reverse_rows)
    if signed:
        return text

    high = pc.starts_with(text, "-")
    if not pc.any(high).as_py():
        return text
    exact = [
        str(int.from_bytes(raw[i * WORD_BYTES : (i + 1) * WORD_BYTES], "big"))
        for i in pc.indices_nonzero(high).to_pylist()
    ]
    return pc.replace_with_mask(text, high, pa.array(exact, type=pa.string()))

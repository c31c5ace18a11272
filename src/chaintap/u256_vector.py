"""Column-at-a-time conversions between base-10 text and u256, exact, with numpy.

Both directions work on blocks of rows (`tuning.U256_VECTOR_BLOCK_ROWS`) held as
32-bit limbs in uint64 arrays, so every product and sum has headroom and no value
ever passes through a float. The bounds that make each step exact are stated next
to it.

- `decimal_to_u256`: rows of 1 to 38 ASCII digits (every value below 10^38, which
  covers ERC-20 amounts) are parsed here. Every other non-null row goes to the
  caller's per-row parser, which decides what is valid.
- `u256_to_decimal`: every value, all 256 bits, without a per-row path.

Byte order is spelled out (`<u4`, `<u8`, `>u4`), so results do not depend on the
machine's endianness.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from chaintap.tuning import U256_VECTOR_BLOCK_ROWS
from chaintap.u256 import U256_BYTES, U256_TYPE

# Rows with at most this many digits are parsed column at a time: below 10^38 a value
# fits four 32-bit limbs (10^38 < 2^127). Longer rows take the per-row path.
# Not done: 39-78 digit text (such as 2^256-1, the usual "unlimited" ERC-20
# approval) and 0x-hex text are parsed per row, about a microsecond each, so a
# column made mostly of them converts at roughly the old per-row speed.
MAX_FAST_DIGITS = 38
# Digits are padded to five 8-digit groups; the first two digits are always zero.
_PADDED_DIGITS = 40
_GROUP = 10**8
_LIMB_MASK = np.uint64(0xFFFF_FFFF)
_SHIFT_32 = np.uint64(32)

# "0000" .. "9999" as little-endian uint32 words: byte k of entry i is the k-th
# character of i written with four digits.
_FOUR_CHARS = np.frombuffer(
    "".join(f"{i:04d}" for i in range(10_000)).encode("ascii"), "<u4"
)


def _base_1e8_digits(value: int) -> list[int]:
    """Base-10^8 digits of `value`, least significant first."""
    digits = []
    while value:
        value, digit = divmod(value, _GROUP)
        digits.append(digit)
    return digits


# Row k: the base-10^8 digits of 2^(32k), the weight of limb k. A u256 has at most
# 10 such digits (2^256 < 10^80).
_LIMB_WEIGHTS = [_base_1e8_digits(1 << (32 * k)) for k in range(8)]


# 1. Text to u256.


def decimal_to_u256(
    texts: pa.Array, parse_other: Callable[[str], int | None]
) -> pa.FixedSizeBinaryArray:
    """u256 values (`fixed_size_binary(32)`, big-endian) of base-10 text.

    Rows of 1 to `MAX_FAST_DIGITS` ASCII digits (leading zeros allowed, nothing
    else) convert column at a time. Every other non-null row is passed to
    `parse_other`, whose int (0..2^256-1) or None (a NULL result) is taken as is,
    so the caller alone defines signs, hex, whitespace and what is invalid. Null
    rows stay null. `texts` is any Arrow string type.
    """
    if not (pa.types.is_string(texts.type) or pa.types.is_large_string(texts.type)):
        texts = texts.cast(pa.large_string())
    valid = _as_bools(texts.is_valid())
    fast = valid & _as_bools(pc.ascii_is_decimal(texts))
    fast &= _lengths(texts) <= MAX_FAST_DIGITS

    words = np.zeros((len(texts), U256_BYTES), np.uint8)
    digits = _padded_digit_bytes(pc.if_else(pa.array(fast), texts, "0"))
    for start in range(0, len(texts), U256_VECTOR_BLOCK_ROWS):
        block = slice(start, start + U256_VECTOR_BLOCK_ROWS)
        limbs = _parse_block(digits[block])
        words[block, 16:] = limbs.astype(">u4").view(np.uint8)

    others = np.flatnonzero(valid & ~fast)
    parsed = _parse_rows(texts, others, parse_other, words)
    return _words_array(words, fast | parsed)


def _parse_rows(
    texts: pa.Array,
    rows: np.ndarray,
    parse: Callable[[str], int | None],
    words: np.ndarray,
) -> np.ndarray:
    """Parse `rows` of `texts` one by one into `words`; True where a value came."""
    parsed = np.zeros(len(words), bool)
    if len(rows) == 0:
        return parsed
    for row, text in zip(rows, texts.take(pa.array(rows)).to_pylist(), strict=True):
        value = parse(text)
        if value is not None:
            words[row] = np.frombuffer(value.to_bytes(U256_BYTES, "big"), np.uint8)
            parsed[row] = True
    return parsed


def _padded_digit_bytes(texts: pa.Array) -> np.ndarray:
    """(rows, 40) uint8: each text left-padded with '0' to 40 bytes.

    Every row of `texts` must be ASCII and at most 40 bytes long, so each padded
    row is exactly 40 bytes and the padded data buffer is one matrix.
    """
    padded = pc.ascii_lpad(texts, _PADDED_DIGITS, padding="0")
    offset_type = np.int64 if pa.types.is_large_string(padded.type) else np.int32
    offsets = np.frombuffer(padded.buffers()[1], offset_type)
    start = int(offsets[padded.offset])
    data = np.frombuffer(
        padded.buffers()[2], np.uint8, count=_PADDED_DIGITS * len(padded), offset=start
    )
    return data.reshape(len(padded), _PADDED_DIGITS)


def _parse_block(digits: np.ndarray) -> np.ndarray:
    """(rows, 4) uint64 32-bit limbs, most significant first, of 40-digit rows.

    Horner's rule in base 10^8: value = value * 10^8 + group, limb by limb with the
    carry. A limb times 10^8 plus a carry stays below 2^32 * 10^8 + 2^32 < 2^59, and
    the rows are below 10^38 < 2^128, so four limbs hold every value and the last
    carry is zero. Leading groups that are zero in every row are skipped.
    """
    groups = _eight_digit_groups(digits)
    first = 0
    while first < groups.shape[1] - 1 and not groups[:, first].any():
        first += 1

    limbs = [groups[:, first].copy()]
    limbs += [np.zeros(len(groups), np.uint64) for _ in range(3)]
    for column in range(first + 1, groups.shape[1]):
        carry = groups[:, column]
        for k in range(4):
            product = limbs[k] * np.uint64(_GROUP) + carry
            limbs[k] = product & _LIMB_MASK
            carry = product >> _SHIFT_32
    return np.stack(limbs[::-1], axis=1)


def _eight_digit_groups(digits: np.ndarray) -> np.ndarray:
    """(rows, 5) uint64 values of the five 8-digit groups of 40-digit rows.

    Eight ASCII digits read as one little-endian uint64 hold the first digit in
    the lowest byte. After subtracting '0' from every byte, neighbours merge three
    times, each step keeping every other lane: bytes into 2-digit 16-bit lanes
    (10*a + b <= 99), those into 4-digit 32-bit lanes (100*a + b <= 9999), those
    into the 8-digit value. No lane overflows into the next.
    """
    words = digits.view("<u8") - np.uint64(0x3030_3030_3030_3030)
    words = words * np.uint64(10) + (words >> np.uint64(8))
    words &= np.uint64(0x00FF_00FF_00FF_00FF)
    words = words * np.uint64(100) + (words >> np.uint64(16))
    words &= np.uint64(0x0000_FFFF_0000_FFFF)
    words = words * np.uint64(10_000) + (words >> _SHIFT_32)
    return words & _LIMB_MASK


# 2. u256 to text.


def u256_to_decimal(values: pa.Array) -> pa.StringArray:
    """Base-10 text of every value of a u256 array; nulls stay null."""
    count = len(values)
    if count == 0:
        return pa.array([], type=pa.string())
    start = values.offset * U256_BYTES
    words = np.frombuffer(
        values.buffers()[1], np.uint8, count=U256_BYTES * count, offset=start
    ).reshape(count, U256_BYTES)

    blocks = [
        _format_block(words[start : start + U256_VECTOR_BLOCK_ROWS])
        for start in range(0, count, U256_VECTOR_BLOCK_ROWS)
    ]
    text = blocks[0] if len(blocks) == 1 else pa.concat_arrays(blocks)
    if values.null_count:
        text = pc.if_else(values.is_valid(), text, pa.scalar(None, pa.string()))
    return text


def _format_block(words: np.ndarray) -> pa.StringArray:
    """Base-10 text of (rows, 32) big-endian words.

    1. Limbs: the 32-bit limbs below the highest one that is non-zero in any row.
    2. Digits: limb k contributes limb * w for each base-10^8 digit w of 2^(32k);
       the sum per digit position is below 8 * 2^32 * 10^8 < 2^62. One carry pass
       brings every position below 10^8.
    3. Text: each digit becomes 8 characters through the "0000".."9999" table,
       and leading zeros are trimmed (a zero keeps one "0").
    """
    be_limbs = words.view(">u4")
    used = 8
    while used > 1 and not be_limbs[:, 8 - used].any():
        used -= 1
    limbs = [be_limbs[:, 7 - k].astype(np.uint64) for k in range(used)]

    positions = len(_base_1e8_digits((1 << (32 * used)) - 1))
    sums = [np.zeros(len(words), np.uint64) for _ in range(positions)]
    for limb, weights in zip(limbs, _LIMB_WEIGHTS, strict=False):
        for position, weight in enumerate(weights):
            sums[position] += limb * np.uint64(weight)

    chars = np.empty((len(words), positions), "<u8")
    carry = np.zeros(len(words), np.uint64)
    for position, total in enumerate(sums):
        total += carry
        carry = total // np.uint64(_GROUP)
        digit = total - carry * np.uint64(_GROUP)
        high, low = digit // np.uint64(10_000), digit % np.uint64(10_000)
        low_chars = np.take(_FOUR_CHARS, low).astype(np.uint64) << _SHIFT_32
        chars[:, positions - 1 - position] = np.take(_FOUR_CHARS, high) | low_chars
    return _trimmed_text(chars)


def _trimmed_text(chars: np.ndarray) -> pa.StringArray:
    """Strings of the rows of a (rows, n) matrix of 8-character words, no leading 0s."""
    rows, width = len(chars), 8 * chars.shape[1]
    offsets = np.arange(0, (rows + 1) * width, width, dtype=np.int32)
    padded = pa.Array.from_buffers(
        pa.string(), rows, [None, pa.py_buffer(offsets), pa.py_buffer(chars)]
    )
    trimmed = pc.utf8_ltrim(padded, characters="0")
    empty = pc.equal(pc.binary_length(trimmed), 0)
    if not pc.any(empty).as_py():
        return trimmed
    return pc.if_else(empty, "0", trimmed)


# 3. Arrow glue.


def _as_bools(mask: pa.Array) -> np.ndarray:
    """A numpy bool array of an Arrow boolean array, null as False."""
    return np.asarray(pc.fill_null(mask, False).to_numpy(zero_copy_only=False))


def _lengths(texts: pa.Array) -> np.ndarray:
    """Byte lengths of a string array as numpy int64, null as 0."""
    lengths = pc.fill_null(pc.binary_length(texts), 0)
    return np.asarray(lengths.to_numpy(zero_copy_only=False), np.int64)


def _words_array(words: np.ndarray, valid: np.ndarray) -> pa.FixedSizeBinaryArray:
    """A u256 array of (rows, 32) bytes; rows where `valid` is False are null."""
    bitmap = None
    if not valid.all():
        bitmap = pa.py_buffer(np.packbits(valid, bitorder="little"))
    return pa.Array.from_buffers(
        U256_TYPE, len(words), [bitmap, pa.py_buffer(np.ascontiguousarray(words))]
    )

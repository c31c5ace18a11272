"""Column-at-a-time u256 conversions against Python's own int <-> str conversion.

Every expectation is `int(text)` or `str(value)` of the same value; the values cover
every decimal length (10^k - 1, 10^k, 10^k + 1 for k up to 77), the limb and word
edges (2^32k +- 1), and seeded random values of every bit length. Arrays larger than
a block check that blocks with different magnitudes are each converted right.
"""

from __future__ import annotations

import random

import pyarrow as pa
import pytest

from chaintap import u256
from chaintap.tuning import U256_VECTOR_BLOCK_ROWS
from chaintap.u256_vector import MAX_FAST_DIGITS, decimal_to_u256, u256_to_decimal

MAX = (1 << 256) - 1


def magnitudes() -> list[int]:
    """Edges of every decimal length and every 32-bit limb, then random values."""
    edges = {0, 1, 2, 9, MAX - 1, MAX}
    for k in range(1, 79):
        edges |= {10**k - 1, 10**k, 10**k + 1}
    for bits in range(32, 257, 32):
        edges |= {(1 << bits) - 1, 1 << bits, (1 << bits) + 1, 1 << (bits - 1)}
    rng = random.Random(20240611)
    randoms = [rng.getrandbits(rng.randint(1, 256)) for _ in range(20_000)]
    return sorted(v for v in edges if v <= MAX) + randoms


def never_called(text: str) -> int | None:
    raise AssertionError(f"{text!r} should have been converted column at a time")


def plain_parse(text: str) -> int | None:
    """Per-row parser for these tests: base-10 digits only, else None."""
    value = int(text) if text.isascii() and text.isdigit() else None
    return value if value is not None and value <= MAX else None


def ints(arr: pa.Array) -> list[int | None]:
    return u256.to_ints(arr)


def test_text_of_every_magnitude_parses_to_the_same_int() -> None:
    values = magnitudes()
    texts = pa.array([str(v) for v in values], pa.string())
    assert ints(decimal_to_u256(texts, plain_parse)) == values


def test_short_digit_text_never_reaches_the_per_row_parser() -> None:
    values = [v for v in magnitudes() if v < 10**MAX_FAST_DIGITS]
    texts = [str(v) for v in values] + ["0" * (MAX_FAST_DIGITS - 1) + "7"]
    result = decimal_to_u256(pa.array(texts, pa.string()), never_called)
    assert ints(result) == [*values, 7]


def test_every_other_text_goes_to_the_per_row_parser_as_it_is() -> None:
    others = [
        "1" * (MAX_FAST_DIGITS + 1),
        "0" * MAX_FAST_DIGITS + "5",
        str(MAX),
        " 5",
        "5\n",
        "+5",
        "-0",
        "0x1f",
        "",
        "1.5",
        "\u0663",  # ARABIC-INDIC DIGIT THREE: a digit to Python, not to to_u256
        "\uff11",  # FULLWIDTH DIGIT ONE
    ]
    seen: list[str] = []

    def record(text: str) -> int | None:
        seen.append(text)
        return len(text)

    texts = pa.array(["12", *others, None, "34"], pa.string())
    result = decimal_to_u256(texts, record)
    assert seen == others
    assert ints(result) == [12, *[len(t) for t in others], None, 34]


def test_per_row_none_and_input_nulls_are_null() -> None:
    texts = pa.array([None, "abc", "42", None, "9" * 80, "-1"], pa.string())
    assert ints(decimal_to_u256(texts, plain_parse)) == [
        None,
        None,
        42,
        None,
        None,
        None,
    ]
    assert decimal_to_u256(
        pa.array([None, None], pa.string()), never_called
    ).to_pylist() == [
        None,
        None,
    ]
    assert len(decimal_to_u256(pa.array([], pa.string()), never_called)) == 0


@pytest.mark.parametrize("kind", [pa.string(), pa.large_string(), pa.string_view()])
def test_text_parses_from_every_string_type_and_slice(kind: pa.DataType) -> None:
    values = magnitudes()[:3000]
    texts = pa.array(["x", *[str(v) for v in values], None], kind)
    sliced = texts.slice(1, len(values))
    assert ints(decimal_to_u256(sliced, plain_parse)) == values


def test_blocks_of_different_magnitudes_parse_independently() -> None:
    rng = random.Random(7)
    block = U256_VECTOR_BLOCK_ROWS
    values = (
        [0] * block
        + [rng.randrange(10) for _ in range(block)]
        + [rng.randrange(10**37, 10**38) for _ in range(block)]
        + [rng.randrange(10**15, 10**24) for _ in range(block - 1)]
        + [MAX]
        + [rng.randrange(1 << 64) for _ in range(block // 2)]
    )
    texts = pa.array([str(v) for v in values], pa.string())
    assert ints(decimal_to_u256(texts, plain_parse)) == values


def test_every_magnitude_prints_as_python_does() -> None:
    values = magnitudes()
    assert u256_to_decimal(u256.array(values)).to_pylist() == [str(v) for v in values]


def test_nulls_and_slices_print_as_python_does() -> None:
    rng = random.Random(11)
    values = [None if rng.random() < 0.1 else v for v in magnitudes()]
    arr = u256.array(values)
    want = [None if v is None else str(v) for v in values]
    assert u256_to_decimal(arr).to_pylist() == want
    assert u256_to_decimal(arr.slice(13, 5000)).to_pylist() == want[13:5013]
    assert u256_to_decimal(u256.array([])).to_pylist() == []
    assert u256_to_decimal(u256.array([None, None])).to_pylist() == [None, None]


def test_blocks_of_different_magnitudes_print_independently() -> None:
    rng = random.Random(13)
    block = U256_VECTOR_BLOCK_ROWS
    values = (
        [0] * block
        + [rng.randrange(1 << 32) for _ in range(block)]
        + [MAX if i % 1000 == 0 else rng.randrange(100) for i in range(block)]
        + [rng.getrandbits(256) for _ in range(block // 2)]
    )
    assert u256_to_decimal(u256.array(values)).to_pylist() == [str(v) for v in values]


def test_text_round_trips_through_both_directions() -> None:
    values = magnitudes()
    texts = u256_to_decimal(u256.array(values))
    assert ints(decimal_to_u256(texts, plain_parse)) == values

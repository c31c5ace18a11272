"""Column conversions of archive files, checked against Python's own formatting."""

from __future__ import annotations

import pyarrow as pa
import pytest

from chaintap import u256
from chaintap.sources.archive.convert import conversion, hex_strings

VALUES = [b"\x00\xff", None, b"", bytes(range(256)), b"\xde\xad\xbe\xef"]


@pytest.mark.parametrize("kind", [pa.binary(), pa.large_binary()])
def test_hex_strings_match_bytes_hex_with_nulls_and_slices(kind: pa.DataType) -> None:
    array = pa.array(VALUES, type=kind)

    for start in range(len(VALUES)):
        part = array.slice(start)
        expected = [None if v is None else "0x" + v.hex() for v in VALUES[start:]]
        assert hex_strings(part).to_pylist() == expected


def test_hex_strings_of_fixed_size_values() -> None:
    values = [bytes([i]) * 20 for i in range(5)]
    array = pa.array([*values[:2], None, *values[2:]], type=pa.binary(20)).slice(1)

    assert hex_strings(array).to_pylist() == [
        "0x" + values[1].hex(),
        None,
        *("0x" + v.hex() for v in values[2:]),
    ]


@pytest.mark.parametrize(
    ("stored", "values"),
    [
        (pa.string(), ["0", str(u256.U256_MAX), None, "0x1bc16d674ec80000"]),
        (pa.uint64(), [0, 2**64 - 1, None, 12345]),
        (pa.binary(), [b"", b"\x01" * 32, None, b"\x12\x34"]),
        (pa.decimal128(38, 0), [0, 10**37, None, 42]),
    ],
)
def test_u256_conversions_are_exact(stored: pa.DataType, values: list[object]) -> None:
    def as_int(value: object) -> int | None:
        if value is None:
            return None
        if isinstance(value, bytes):
            return int.from_bytes(value, "big")
        return u256.parse(value) if isinstance(value, str) else int(str(value))

    convert = conversion(stored, u256.U256_TYPE)
    assert convert is not None

    result = convert(pa.array(values, type=stored))

    assert u256.to_ints(result) == [as_int(v) for v in values]


def test_floats_and_lossy_casts_are_refused() -> None:
    assert conversion(pa.float64(), u256.U256_TYPE) is None
    assert conversion(pa.int64(), pa.string()) is None
    assert (
        conversion(pa.struct([("a", pa.string())]), pa.struct([("a", u256.U256_TYPE)]))
        is None
    )

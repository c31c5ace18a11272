"""Arrow → PostgreSQL type rules and the exact u256 encoders (no server needed).

Expected digits come from Python's own int → str, not from the code under test.
"""

from __future__ import annotations

import random
import struct

import pyarrow as pa
import pytest

from chaintap import u256
from chaintap.sinks.postgres import encode
from chaintap.sinks.postgres.schema import (
    ExistingColumn,
    check_table,
    compatible,
    pg_type,
)

EDGES = [0, 1, 9, 10, 9999, 10_000, 99_999_999, 10**8, 2**32, 2**64 - 1, 2**64]
EDGES += [10**76, 10**77, 2**255, u256.U256_MAX - 1, u256.U256_MAX]


@pytest.mark.parametrize(
    ("dtype", "expected"),
    [
        (pa.string(), "text"),
        (pa.large_string(), "text"),
        (pa.int64(), "bigint"),
        (pa.int32(), "integer"),
        (pa.int16(), "smallint"),
        (pa.uint32(), "bigint"),
        (pa.uint64(), "numeric(20,0)"),
        (pa.bool_(), "boolean"),
        (pa.float32(), "double precision"),
        (pa.float64(), "double precision"),
        (u256.U256_TYPE, "numeric(78,0)"),
        (pa.binary(20), "bytea"),
        (pa.binary(), "bytea"),
        (pa.timestamp("ms"), "timestamp with time zone"),
        (pa.timestamp("us", "UTC"), "timestamp with time zone"),
        (pa.date32(), "date"),
        (pa.list_(pa.int64()), "jsonb"),
        (pa.struct([("a", pa.string())]), "jsonb"),
        (pa.dictionary(pa.int32(), pa.string()), "text"),
        (pa.duration("s"), None),
        (pa.decimal128(10, 2), None),
    ],
)
def test_pg_type(dtype: pa.DataType, expected: str | None) -> None:
    assert pg_type(dtype) == expected


@pytest.mark.parametrize(
    ("wanted", "existing", "ok"),
    [
        ("numeric(78,0)", "numeric", True),
        ("numeric(78,0)", "numeric(80,0)", True),
        ("numeric(78,0)", "numeric(80,2)", True),
        ("numeric(78,0)", "numeric(77,0)", False),
        ("numeric(78,0)", "bigint", False),
        ("numeric(78,0)", "text", False),
        ("bigint", "numeric(19,0)", True),
        ("bigint", "numeric(18,0)", False),
        ("bigint", "integer", False),
        ("integer", "bigint", True),
        ("text", "character varying(42)", True),
        ("text", "bytea", False),
        ("jsonb", "json", True),
        ("double precision", "real", False),
        ("timestamp with time zone", "timestamp without time zone", False),
    ],
)
def test_compatible(wanted: str, existing: str, ok: bool) -> None:
    assert compatible(wanted, existing) is ok


def test_check_table_lists_every_problem_at_once() -> None:
    existing = {
        "id": ExistingColumn("id", "text", True, False),
        "amount": ExistingColumn("amount", "double precision", False, False),
        "made_at": ExistingColumn("made_at", "timestamp with time zone", True, True),
        "owner": ExistingColumn("owner", "text", True, False),
    }
    columns = {"id": "text", "amount": "numeric(78,0)", "log_index": "bigint"}

    problems = check_table(columns, existing, ("id", "log_index"), [("id",)])

    assert problems == [
        "column 'amount' is double precision but the rows carry numeric(78,0) values",
        "column 'log_index' (bigint) is missing",
        "column 'owner' is NOT NULL without a default, and the rows do not carry it",
        "no unique constraint or index on exactly (id, log_index), which upserts on "
        "primary_key need",
    ]
    assert check_table(columns, existing, (), []) == problems[:3]


def random_values(count: int) -> list[int]:
    rng = random.Random(1)
    return [rng.getrandbits(rng.randrange(1, 257)) for _ in range(count)]


def test_decimal_strings_match_python() -> None:
    values = [*EDGES, *random_values(2000)]
    column = u256.array([*values, None])

    assert encode.decimal_strings(column).to_pylist() == [*map(str, values), None]


def test_decimal_strings_of_uint64() -> None:
    values = [0, 1, 2**63, 2**64 - 1, 12345678901234567890]
    column = pa.array([*values, None], pa.uint64())

    assert encode.decimal_strings(column).to_pylist() == [*map(str, values), None]


def _numeric_value(field: bytes) -> int:
    """Decode one binary NUMERIC field as PostgreSQL's numeric_recv reads it."""
    length, ndigits, weight, sign, dscale = struct.unpack(">ihhhh", field[:12])
    assert (length, sign, dscale) == (len(field) - 4, 0, 0)
    digits = struct.unpack(f">{ndigits}H", field[12:])
    assert all(d < 10_000 for d in digits)
    return sum(d * 10_000 ** (weight - i) for i, d in enumerate(digits))


def test_binary_numeric_fields_decode_to_the_same_ints() -> None:
    values = [*EDGES, *random_values(500)]
    batch = pa.record_batch([u256.array(values)], names=["v"])

    payload = encode.binary_rows(batch, ["numeric(78,0)"]).to_pybytes()

    decoded, offset = [], 0
    for _ in values:
        assert struct.unpack(">h", payload[offset : offset + 2]) == (1,)
        decoded.append(_numeric_value(payload[offset + 2 : offset + 2 + 52]))
        offset += 2 + 52
    assert offset == len(payload)
    assert decoded == values


def test_binary_rows_mark_nulls_and_lengths() -> None:
    batch = pa.record_batch(
        [pa.array(["ab", None, ""]), pa.array([None, 2**40, -1], pa.int64())],
        names=["s", "n"],
    )

    payload = encode.binary_rows(batch, ["text", "bigint"]).to_pybytes()

    field_count = struct.pack(">h", 2)
    assert payload == (
        field_count + struct.pack(">i", 2) + b"ab" + struct.pack(">i", -1)
        + field_count + struct.pack(">i", -1) + struct.pack(">iq", 8, 2**40)
        + field_count + struct.pack(">i", 0) + struct.pack(">iq", 8, -1)
    )  # fmt: skip

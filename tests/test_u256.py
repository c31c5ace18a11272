"""Base-10 text of u256 columns for text sinks, against Python's `str(int)`."""

from __future__ import annotations

import random

import pyarrow as pa

from chaintap import u256

MAX = (1 << 256) - 1


def sample(seed: int, count: int) -> list[int | None]:
    """Values of every bit length with some nulls, plus 0 and the extremes."""
    rng = random.Random(seed)
    values: list[int | None] = [0, 1, MAX, 1 << 255, (1 << 128) - 1, 10**38]
    for _ in range(count):
        values.append(
            None if rng.random() < 0.05 else rng.getrandbits(rng.randint(1, 256))
        )
    return values


def text(values: list[int | None]) -> list[str | None]:
    return [None if v is None else str(v) for v in values]


def test_to_decimal_strings_of_an_array_and_of_chunks() -> None:
    values = sample(1, 5000)
    assert u256.to_decimal_strings(u256.array(values)).to_pylist() == text(values)

    chunks = [u256.array(values[:7]), u256.array(values[7:]).slice(3)]
    chunked = pa.chunked_array(chunks, u256.U256_TYPE)
    assert u256.to_decimal_strings(chunked).to_pylist() == text(
        values[:7] + values[10:]
    )
    empty = pa.chunked_array([], u256.U256_TYPE)
    assert u256.to_decimal_strings(empty).to_pylist() == []


def test_stringify_table_replaces_only_u256_columns() -> None:
    values = sample(2, 300)
    table = pa.table(
        {
            "amount": u256.array(values),
            "note": pa.array([str(i) for i in range(len(values))]),
            "raw": pa.array([b"\x00" * 32] * len(values), pa.binary(32)).cast(
                pa.binary()
            ),
        }
    )
    out = u256.stringify_table(table)
    assert out.schema.field("amount").type == pa.string()
    assert out.column("amount").to_pylist() == text(values)
    assert out.column("note") == table.column("note")
    assert out.column("raw") == table.column("raw")

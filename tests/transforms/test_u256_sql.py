"""The u256 SQL functions through DataFusion; expectations are Python int arithmetic."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pytest

from chaintap import u256
from chaintap.errors import ConfigError
from chaintap.spec.model import TransformSpec
from chaintap.transforms.sql import SqlTransform

MAX = (1 << 256) - 1
EDGES = [
    0,
    1,
    2,
    255,
    256,
    (1 << 64) - 1,
    1 << 64,
    10**18,
    (1 << 255) - 1,
    1 << 255,
    MAX - 1,
    MAX,
]


def run(sql: str, table: pa.Table) -> list[dict[str, Any]]:
    transform = SqlTransform(TransformSpec("math", "sql", None, sql, ("t",)))
    transform.open({"t": table.schema})
    return transform.process({"t": table}).to_pylist()


def pairs_table() -> pa.Table:
    a = [x for x in EDGES for _ in EDGES] + [None, 5]
    b = [y for _ in EDGES for y in EDGES] + [5, None]
    return pa.table({"a": u256.array(a), "b": u256.array(b)})


def as_int(raw: bytes | None) -> int | None:
    return None if raw is None else u256.from_bytes(raw)


OPERATIONS = {
    "u256_add": lambda a, b: a + b if a + b <= MAX else None,
    "u256_sub": lambda a, b: a - b if a >= b else None,
    "u256_mul": lambda a, b: a * b if a * b <= MAX else None,
    "u256_div": lambda a, b: a // b if b else None,
    "u256_mod": lambda a, b: a % b if b else None,
}


@pytest.mark.parametrize("name", sorted(OPERATIONS))
def test_arithmetic_is_exact_and_null_outside_the_range(name: str) -> None:
    table = pairs_table()
    rows = run(f"SELECT a, b, {name}(a, b) AS r FROM t", table)
    for row in rows:
        a, b = as_int(row["a"]), as_int(row["b"])
        want = None if a is None or b is None else OPERATIONS[name](a, b)
        assert as_int(row["r"]) == want, (name, a, b)


def test_overflow_underflow_and_division_by_zero_are_null() -> None:
    table = pa.table(
        {"a": u256.array([MAX, 0, 7, 1 << 128]), "b": u256.array([1, 1, 0, 1 << 128])}
    )
    rows = run(
        "SELECT u256_add(a, b) AS s, u256_sub(a, b) AS d, u256_mul(a, b) AS p,"
        " u256_div(a, b) AS q, u256_mod(a, b) AS m FROM t",
        table,
    )
    assert [as_int(r["s"]) for r in rows] == [None, 1, 7, 1 << 129]
    assert [as_int(r["d"]) for r in rows] == [MAX - 1, None, 7, 0]
    assert [as_int(r["p"]) for r in rows] == [MAX, 0, 0, None]
    assert [as_int(r["q"]) for r in rows] == [MAX, 0, None, 1]
    assert [as_int(r["m"]) for r in rows] == [0, 0, None, 0]


def test_to_u256_reads_decimal_and_hex_text_and_integers() -> None:
    texts = [str(v) for v in EDGES] + [hex(v) for v in EDGES] + ["0XFF", " 42 ", "007"]
    bad = [
        "-1",
        str(MAX + 1),
        hex(MAX + 1),
        "1.5",
        "1e18",
        "",
        "0x",
        "abc",
        "1_000",
        "+5",
        None,
    ]
    table = pa.table({"s": pa.array(texts + bad, pa.string())})
    rows = run("SELECT to_u256(s) AS v FROM t", table)
    want = [int(t, 0) if t.strip().lower().startswith("0x") else int(t) for t in texts]
    assert [as_int(r["v"]) for r in rows] == want + [None] * len(bad)

    ints = pa.table({"n": pa.array([0, 5, 2**63 - 1, -3], pa.int64())})
    assert [as_int(r["v"]) for r in run("SELECT to_u256(n) AS v FROM t", ints)] == [
        0,
        5,
        2**63 - 1,
        None,
    ]


def test_u256_to_string_round_trips_every_edge() -> None:
    table = pa.table({"u": u256.array([*EDGES, None])})
    rows = run(
        "SELECT u256_to_string(u) AS s,"
        " u256_to_string(to_u256(u256_to_string(u))) AS r FROM t",
        table,
    )
    assert [r["s"] for r in rows] == [str(v) for v in EDGES] + [None]
    assert [r["r"] for r in rows] == [str(v) for v in EDGES] + [None]


def test_u256_columns_compare_in_numeric_order() -> None:
    values = [MAX, 0, 1 << 200, 255, 256, 1 << 64]
    table = pa.table({"u": u256.array(values)})
    rows = run(
        "SELECT u256_to_string(u) AS s FROM t WHERE u > to_u256('255') ORDER BY u",
        table,
    )
    assert [r["s"] for r in rows] == [str(v) for v in sorted(values) if v > 255]


def test_to_u256_of_a_u256_column_is_a_config_error_with_a_hint() -> None:
    table = pa.table({"u": u256.array([1])})
    transform = SqlTransform(
        TransformSpec("math", "sql", None, "SELECT to_u256(u) FROM t", ("t",))
    )
    with pytest.raises(ConfigError, match="a u256 needs no to_u256"):
        transform.open({"t": table.schema})


@pytest.mark.parametrize(
    "literal", ["100000000000000000000", "1e20", "1.5", "1000000000000000000000000"]
)
def test_to_u256_of_a_number_that_a_float_would_round_is_refused(literal: str) -> None:
    table = pa.table({"u": u256.array([1])})
    sql = f"SELECT u FROM t WHERE u >= to_u256({literal})"
    transform = SqlTransform(TransformSpec("math", "sql", None, sql, ("t",)))
    with pytest.raises(ConfigError, match=rf"write it as text: to_u256\('{literal}'\)"):
        transform.open({"t": table.schema})


def test_to_u256_of_a_small_integer_and_of_text_stay_allowed() -> None:
    table = pa.table({"u": u256.array([5, 10**20])})
    rows = run(
        "SELECT u FROM t "
        "WHERE u >= to_u256(6) AND u <= to_u256('100000000000000000000')",
        table,
    )
    assert [as_int(r["u"]) for r in rows] == [10**20]

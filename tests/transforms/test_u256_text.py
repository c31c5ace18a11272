"""`to_u256` / `u256_to_string` through DataFusion, on many values and odd text.

The expected value of a text is the test's own reading of the documented rule:
strip whitespace, then 1-64 hex digits after `0x`/`0X` or 1-78 ASCII decimal
digits, at most 2^256-1; anything else is NULL. Real ERC-20 amounts are checked
against the log's data hex.
"""

from __future__ import annotations

import random
from typing import Any

import pyarrow as pa

from chaintap import u256
from chaintap.spec.model import TransformSpec
from chaintap.transforms.sql import SqlTransform
from transforms.helpers import ERC20_ABI, TRANSFER_TOPIC

MAX = (1 << 256) - 1
DECIMAL = "0123456789"
HEX = "0123456789abcdefABCDEF"


def expected(text: str | None) -> int | None:
    """The documented reading of one `to_u256` argument."""
    if text is None:
        return None
    body = text.strip()
    if body[:2] in ("0x", "0X"):
        digits, base, allowed, limit = body[2:], 16, HEX, 64
    else:
        digits, base, allowed, limit = body, 10, DECIMAL, 78
    if not 1 <= len(digits) <= limit or any(c not in allowed for c in digits):
        return None
    value = int(digits, base)
    return value if value <= MAX else None


def run(sql: str, table: pa.Table) -> list[dict[str, Any]]:
    transform = SqlTransform(TransformSpec("t", "sql", None, sql, ("t",)))
    transform.open({"t": table.schema})
    return transform.process({"t": table}).to_pylist()


def as_int(raw: bytes | None) -> int | None:
    return None if raw is None else u256.from_bytes(raw)


def magnitudes(rng: random.Random) -> list[int]:
    edges = [0, 1, MAX]
    for k in range(1, 78):
        edges += [10**k - 1, 10**k, 10**k + 1]
    for bits in (64, 128, 255, 256):
        edges += [(1 << bits) - 1, 1 << bits, (1 << bits) + 1]
    randoms = [rng.getrandbits(rng.randint(1, 256)) for _ in range(5000)]
    return [v for v in edges if v <= MAX] + randoms


def odd_texts(rng: random.Random) -> list[str | None]:
    """Hand-picked edge cases, then random strings over a hostile alphabet."""
    texts: list[str | None] = [
        None, "", " ", "0", "00", "0" * 38 + "1", "0" * 78, "0" * 79, "9" * 38,
        "9" * 39, "9" * 78, str(MAX), str(MAX + 1), "+5", "-5", "+0", "-0", " 42 ",
        "\t7\n", "\u00a08", "8\u2003", "\x1c9", "1_000", "1e18", "1.0", "0x", "0X1f",
        "0xg", "0x" + "f" * 64, "0x" + "0" * 65, " 0x10 ", "0b101", "\u0663",
        "\uff11\uff12", "5\x00", "12a", "a12",
    ]  # fmt: skip
    alphabet = "0123456789" * 4 + " \t\n+-xX.eE_abf\u00a0\u0663"
    for _ in range(3000):
        texts.append("".join(rng.choices(alphabet, k=rng.randint(0, 45))))
    return texts


def test_to_u256_matches_the_documented_rule_for_every_text() -> None:
    rng = random.Random(314)
    texts = [str(v) for v in magnitudes(rng)] + odd_texts(rng)
    texts += ["0" * rng.randint(0, 5) + str(v) for v in magnitudes(rng)[:2000]]
    rng.shuffle(texts)
    rows = run("SELECT to_u256(s) AS v FROM t", pa.table({"s": pa.array(texts)}))
    assert [as_int(r["v"]) for r in rows] == [expected(t) for t in texts]


def test_u256_to_string_matches_python_for_every_magnitude() -> None:
    rng = random.Random(2718)
    values: list[int | None] = list(magnitudes(rng))
    values += [None] * 50
    rng.shuffle(values)
    rows = run(
        "SELECT u256_to_string(u) AS s FROM t", pa.table({"u": u256.array(values)})
    )
    assert [r["s"] for r in rows] == [None if v is None else str(v) for v in values]


def test_decoded_mainnet_amounts_become_the_logged_value(
    raw_logs: pa.Table, logs: list[dict[str, Any]]
) -> None:
    sql = (
        "SELECT to_u256(decoded.event_params[3]) AS v FROM ("
        f"SELECT evm_log_decode('{ERC20_ABI}', topics, data) AS decoded FROM t)"
    )
    rows = run(sql, raw_logs)
    want = [
        int(log["data"], 16)
        if len(log["topics"]) == 3 and log["topics"][0] == TRANSFER_TOPIC
        else None
        for log in logs
    ]
    assert [as_int(r["v"]) for r in rows] == want
    assert sum(w is not None for w in want) > 300

"""analyze_filter checked against real mainnet logs: every row a predicate accepts
(evaluated by DataFusion, the engine the runtime uses) satisfies the pushdown.

The logs come from ../shared/chaindata (real eth_getTransactionReceipt results);
the addresses, topics and blocks used in predicates are picked from that raw JSON.
"""

from __future__ import annotations

import gzip
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from datafusion import SessionContext

from chaintap.spec.filters import Pushdown, analyze_filter

CHAINDATA = Path(__file__).resolve().parents[2].parent / "shared" / "chaindata"
BLOCKS = (4370006, 13998626, 16899757, 17053184)


def _raw_logs() -> list[dict[str, Any]]:
    rows = []
    for number in BLOCKS:
        path = CHAINDATA / "ethereum-mainnet" / f"{number}.json.gz"
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            block = json.load(handle)
        for receipt in block["receipts"]:
            for log in receipt["logs"]:
                rows.append(
                    {
                        "block_number": int(log["blockNumber"], 16),
                        "address": log["address"].lower(),
                        "topics": ",".join(t.lower() for t in log["topics"]),
                        "data": log["data"],
                    }
                )
    return rows


@pytest.fixture(scope="module")
def logs() -> list[dict[str, Any]]:
    if not CHAINDATA.is_dir():
        pytest.fail(f"chain data missing at {CHAINDATA}; it ships beside the repo")
    return _raw_logs()


@pytest.fixture(scope="module")
def engine(logs: list[dict[str, Any]]) -> SessionContext:
    ctx = SessionContext()
    table = pa.Table.from_pylist(logs)
    ctx.register_record_batches("logs", [table.to_batches()])
    return ctx


def _matching(engine: SessionContext, predicate: str) -> list[dict[str, Any]]:
    result = engine.sql(f"SELECT * FROM logs WHERE {predicate}").to_arrow_table()
    rows: list[dict[str, Any]] = result.to_pylist()
    return rows


def _admits(pushdown: Pushdown, row: dict[str, Any]) -> bool:
    number = row["block_number"]
    if pushdown.min_block is not None and number < pushdown.min_block:
        return False
    if pushdown.max_block is not None and number > pushdown.max_block:
        return False
    if pushdown.addresses is not None and row["address"] not in pushdown.addresses:
        return False
    topics = row["topics"].split(",") if row["topics"] else []
    for index, allowed in enumerate(pushdown.topics):
        if allowed is None:
            continue
        if index >= len(topics) or topics[index] not in allowed:
            return False
    return True


def _picks(logs: list[dict[str, Any]]) -> dict[str, str]:
    addresses = Counter(row["address"] for row in logs).most_common(2)
    topic0 = Counter(row["topics"].split(",")[0] for row in logs if row["topics"])
    transfer_second = next(
        row["topics"].split(",")[1]
        for row in logs
        if row["topics"].count(",") >= 2
        and row["topics"].startswith(topic0.most_common(1)[0][0])
    )
    return {
        "A": addresses[0][0],
        "B": addresses[1][0],
        "T": topic0.most_common(1)[0][0],
        "T1": transfer_second,
        "A_UPPER": "0x" + addresses[0][0][2:].upper(),
    }


PREDICATES = [
    "address = '{A}'",
    "address IN ('{A}', '{B}') AND block_number <= 16899757",
    "lower(address) = '{A}'",
    "address = '{A_UPPER}'",
    "topics LIKE '{T}%' AND (block_number = 13998626 OR block_number = 17053184)",
    "split_part(topics, ',', 1) = '{T}' AND split_part(topics, ',', 2) = '{T1}'",
    "address = '{A}' OR topics LIKE '{T}%'",
    "(address = '{A}' AND block_number < 16000000) OR address = '{B}'",
    "block_number BETWEEN 4370006 AND 13998626 OR block_number > 17000000",
    "topics LIKE '{T},{T1}%' OR split_part(topics, ',', 1) = '{T}'",
    "NOT (address = '{A}')",
    "topics NOT LIKE '{T}%'",
]


@pytest.mark.parametrize("template", PREDICATES)
def test_every_accepted_row_satisfies_the_pushdown(
    template: str, logs: list[dict[str, Any]], engine: SessionContext
) -> None:
    predicate = template.format(**_picks(logs))
    pushdown = analyze_filter(predicate, "block_number")
    rows = _matching(engine, predicate)
    rejected = [row for row in rows if not _admits(pushdown, row)]
    assert rejected == [], (predicate, pushdown, rejected[:3])


def test_the_data_makes_the_soundness_checks_bite(
    logs: list[dict[str, Any]], engine: SessionContext
) -> None:
    """The predicates above would catch over-claiming analyses on this data."""
    picks = _picks(logs)
    assert picks["A"] != picks["B"]

    # An analysis that kept `address = A` from an OR across columns would be wrong:
    rows = _matching(engine, "address = '{A}' OR topics LIKE '{T}%'".format(**picks))
    assert any(row["address"] != picks["A"] for row in rows)
    assert (
        analyze_filter(
            "address = '{A}' OR topics LIKE '{T}%'".format(**picks), "block_number"
        )
        == Pushdown()
    )

    # ...and one that read NOT LIKE as LIKE would drop rows the filter keeps.
    rows = _matching(engine, "topics NOT LIKE '{T}%'".format(**picks))
    assert any(row["topics"] for row in rows)


def test_pushdowns_are_as_narrow_as_expected(logs: list[dict[str, Any]]) -> None:
    picks = _picks(logs)
    two = "address IN ('{A}', '{B}') AND block_number <= 16899757".format(**picks)
    assert analyze_filter(two, "block_number") == Pushdown(
        max_block=16899757, addresses=frozenset([picks["A"], picks["B"]])
    )
    pinned = (
        "split_part(topics, ',', 1) = '{T}' AND split_part(topics, ',', 2) = '{T1}'"
    )
    assert analyze_filter(pinned.format(**picks), "block_number").topics == (
        frozenset([picks["T"]]),
        frozenset([picks["T1"]]),
        None,
        None,
    )
    upper = analyze_filter("address = '{A_UPPER}'".format(**picks), "block_number")
    assert upper.addresses == frozenset([picks["A"]])

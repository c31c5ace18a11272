"""RowFilter: a source's `filter:` predicate over real raw_logs rows."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pytest

from chaintap.datasets.evm import RAW_LOGS
from chaintap.errors import ConfigError
from chaintap.transforms.filter import RowFilter
from transforms.helpers import ERC20_ABI, TRANSFER_TOPIC


def test_keeps_matching_rows_in_order_with_the_exact_schema(
    raw_logs: pa.Table, logs: list[dict[str, Any]]
) -> None:
    busiest = max(
        {log["address"] for log in logs}, key=[log["address"] for log in logs].count
    )
    row_filter = RowFilter(
        f"address = '{busiest}' AND block_number > 0", RAW_LOGS, "logs"
    )
    out = row_filter.apply(raw_logs)
    assert out.schema == RAW_LOGS
    want = [
        f"{log['transactionHash']}_{int(log['logIndex'], 16)}"
        for log in logs
        if log["address"] == busiest
    ]
    assert out.column("id").to_pylist() == want
    assert len(want) > 1


def test_functions_and_backticks_are_available(
    raw_logs: pa.Table, logs: list[dict[str, Any]]
) -> None:
    predicate = (
        f"evm_log_decode('{ERC20_ABI}', `topics`, `data`) IS NOT NULL "
        "AND source_logs.log_index >= 0"
    )
    out = RowFilter(predicate, RAW_LOGS, "source_logs").apply(raw_logs)
    want = [
        f"{log['transactionHash']}_{int(log['logIndex'], 16)}"
        for log in logs
        if len(log["topics"]) == 3 and log["topics"][0] == TRANSFER_TOPIC
    ]
    assert out.column("id").to_pylist() == want


def test_null_predicate_drops_the_row_and_empty_input_passes() -> None:
    schema = pa.schema([pa.field("a", pa.int64()), pa.field("b", pa.string())])
    table = pa.table({"a": [1, None, 3], "b": ["x", "y", None]}, schema=schema)
    row_filter = RowFilter("a > 1 OR b = 'x'", schema, "s")
    assert row_filter.apply(table).to_pylist() == [
        {"a": 1, "b": "x"},
        {"a": 3, "b": None},
    ]
    assert row_filter.apply(schema.empty_table()).schema == schema


@pytest.mark.parametrize(
    ("predicate", "reason"),
    [
        ("nope = 1", "nope"),
        ("block_number +", "ParserError"),
        ("block_number + 1", "non-boolean"),
        ("block_number > 1; DROP TABLE logs", "ParserError"),
        ("block_number > 1 UNION SELECT 1", "ParserError"),
        ("evm_log_decode('x', topics, data) IS NULL", "ABI passed to evm_log_decode"),
    ],
)
def test_bad_predicates_are_config_errors(predicate: str, reason: str) -> None:
    with pytest.raises(ConfigError) as caught:
        RowFilter(predicate, RAW_LOGS, "logs")
    assert str(caught.value).startswith("source 'logs' filter")
    assert reason in str(caught.value)

"""SqlTransform: planning at open, per-batch runs, chaining, errors, Turbo SQL."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pytest

from chaintap import u256
from chaintap.datasets.evm import RAW_LOGS
from chaintap.errors import ConfigError
from chaintap.spec.model import TransformSpec
from chaintap.transforms.sql import SqlTransform
from transforms.helpers import ERC20_ABI, TRANSFER_TOPIC

DECODE_SQL = f"""
    SELECT `id`, block_number,
           _gs_log_decode('{ERC20_ABI}', `topics`, `data`) AS `decoded`
    FROM raw_logs
    WHERE topics LIKE '{TRANSFER_TOPIC}%'
"""
TRANSFERS_SQL = """
    SELECT id, block_number,
           decoded.event_params[1] AS sender,
           decoded.event_params[2] AS recipient,
           to_u256(decoded.event_params[3]) AS amount
    FROM decoded_logs
    WHERE decoded.event_signature = 'Transfer'
      AND decoded.event_params[3] <> '0'
"""


def transform(
    sql: str,
    inputs: tuple[str, ...] = ("raw_logs",),
    key: str | None = "id",
    line: int = 0,
) -> SqlTransform:
    return SqlTransform(TransformSpec("t1", "sql", key, sql, inputs, line=line))


def test_decode_then_filter_in_a_second_transform(
    raw_logs: pa.Table, logs: list[dict[str, Any]]
) -> None:
    decode = SqlTransform(
        TransformSpec("decoded_logs", "sql", "id", DECODE_SQL, ("raw_logs",))
    )
    transfers = SqlTransform(
        TransformSpec("transfers", "sql", "id", TRANSFERS_SQL, ("decoded_logs",))
    )
    decoded_schema = decode.open({"raw_logs": RAW_LOGS})
    schema = transfers.open({"decoded_logs": decoded_schema})
    assert schema.field("amount").type == u256.U256_TYPE
    assert schema.field("sender").type == pa.string()

    half = raw_logs.num_rows // 2
    got: list[dict[str, Any]] = []
    for batch in (raw_logs.slice(0, half), raw_logs.slice(half)):
        middle = decode.process({"raw_logs": batch})
        assert middle.schema == decoded_schema
        out = transfers.process({"decoded_logs": middle})
        assert out.schema == schema
        got.extend(out.to_pylist())

    want = []
    for log in logs:
        topics = log["topics"]
        if (
            len(topics) == 3
            and topics[0] == TRANSFER_TOPIC
            and int(log["data"], 16) != 0
        ):
            want.append(
                {
                    "id": f"{log['transactionHash']}_{int(log['logIndex'], 16)}",
                    "block_number": int(log["blockNumber"], 16),
                    "sender": "0x" + topics[1][26:],
                    "recipient": "0x" + topics[2][26:],
                    "amount": int(log["data"], 16).to_bytes(32, "big"),
                }
            )
    assert sorted(got, key=lambda r: r["id"]) == sorted(want, key=lambda r: r["id"])
    assert len(want) > 300


def test_open_plans_without_data_and_missing_inputs_are_empty(
    raw_logs: pa.Table,
) -> None:
    union = transform(
        "SELECT id FROM raw_logs UNION ALL SELECT id FROM other_logs",
        inputs=("raw_logs", "other_logs"),
    )
    schema = union.open({"raw_logs": RAW_LOGS, "other_logs": RAW_LOGS})
    assert schema.names == ["id"]
    out = union.process({"raw_logs": raw_logs})
    assert sorted(out.column("id").to_pylist()) == sorted(
        raw_logs.column("id").to_pylist()
    )
    assert union.process({}).num_rows == 0
    assert union.process({}).schema == schema


def test_each_batch_sees_only_its_own_rows(raw_logs: pa.Table) -> None:
    count = transform("SELECT count(*) AS n FROM raw_logs", key=None)
    count.open({"raw_logs": RAW_LOGS})
    assert count.process({"raw_logs": raw_logs.slice(0, 10)}).column(
        "n"
    ).to_pylist() == [10]
    assert count.process({"raw_logs": raw_logs.slice(0, 3)}).column(
        "n"
    ).to_pylist() == [3]


def test_view_types_are_made_plain() -> None:
    table = pa.table({"id": ["a", "b"], "v": pa.array(["x", "y"], pa.string_view())})
    t = transform("SELECT id, v, upper(v) AS u FROM t", inputs=("t",))
    schema = t.open({"t": table.schema})
    assert [f.type for f in schema] == [pa.string()] * 3
    assert t.process({"t": table}).to_pylist() == [
        {"id": "a", "v": "x", "u": "X"},
        {"id": "b", "v": "y", "u": "Y"},
    ]


def test_table_names_with_capitals_and_dashes() -> None:
    table = pa.table({"id": ["a"]})
    for sql in ('SELECT id FROM "My-Logs"', "SELECT id FROM `My-Logs`"):
        t = SqlTransform(TransformSpec("t1", "sql", "id", sql, ("My-Logs",)))
        t.open({"My-Logs": table.schema})
        assert t.process({"My-Logs": table}).to_pylist() == [{"id": "a"}]
    t = SqlTransform(
        TransformSpec("t1", "sql", "id", "SELECT id FROM MyLogs", ("MyLogs",))
    )
    t.open({"MyLogs": table.schema})
    assert t.process({"MyLogs": table}).to_pylist() == [{"id": "a"}]


def test_close_is_safe_twice() -> None:
    t = transform("SELECT id FROM raw_logs")
    t.open({"raw_logs": RAW_LOGS})
    t.close()
    t.close()


@pytest.mark.parametrize(
    ("sql", "reason"),
    [
        ("SELEC id FROM raw_logs", "ParserError"),
        ("SELECT nope FROM raw_logs", "nope"),
        ("SELECT id FROM missing_table", "missing_table"),
        ("SELECT id, no_such_fn(data) FROM raw_logs", "no_such_fn"),
        ("SELECT id, u256_add(data, data) FROM raw_logs", "u256_add"),
        ("CREATE TABLE x AS SELECT 1", "DDL not supported"),
        ("  ;", "`sql` is empty"),
        (
            'SELECT id, evm_log_decode(\'[{"type": "event"\', topics, data)'
            " FROM raw_logs",
            "ABI passed to evm_log_decode",
        ),
        ("SELECT address FROM raw_logs", "primary_key column"),
    ],
)
def test_open_errors_name_the_transform_and_the_reason(sql: str, reason: str) -> None:
    t = transform(sql, line=12)
    with pytest.raises(ConfigError) as caught:
        t.open({"raw_logs": RAW_LOGS})
    message = str(caught.value)
    assert message.startswith("transform 't1' (line 12): ")
    assert reason in message
    assert "\n" not in message


def test_an_input_without_a_schema_is_a_config_error() -> None:
    t = transform("SELECT id FROM raw_logs")
    with pytest.raises(ConfigError, match="no schema for input"):
        t.open({})

"""The SQL tokenizer that finds ABI literals, and the swap of ABIs for references."""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa

from chaintap.datasets.evm import RAW_LOGS
from chaintap.spec.model import TransformSpec
from chaintap.transforms.functions import evm_decode
from chaintap.transforms.session import intern_abi_literals
from chaintap.transforms.sql import SqlTransform
from chaintap.transforms.sqltext import literal_arguments, replace_literal_arguments
from transforms.helpers import ERC20_TRANSFER, TRANSFER_TOPIC

NAMES = ("evm_log_decode", "_gs_log_decode")


def test_only_real_calls_with_a_literal_first_argument_are_found() -> None:
    sql = """
        SELECT evm_log_decode('a''b', topics, data),      -- evm_log_decode('x')
               _GS_LOG_DECODE ( 'c' , t, d),
               /* _gs_log_decode('y') */ 'evm_log_decode(''z'')' AS s,
               "evm_log_decode"('w'), evm_log_decode(abi_col, t, d),
               other('v')
        FROM logs
    """
    found = literal_arguments(sql, NAMES)
    assert [(a.function, a.value) for a in found] == [
        ("evm_log_decode", "a'b"),
        ("_GS_LOG_DECODE", "c"),
    ]


def test_replacement_keeps_everything_else_byte_for_byte() -> None:
    sql = "SELECT x, evm_log_decode('old', t, d) -- keep\nFROM y WHERE z = 'old'"
    out = replace_literal_arguments(sql, NAMES, lambda a: a.value.upper() + "'s")
    assert (
        out
        == "SELECT x, evm_log_decode('OLD''s', t, d) -- keep\nFROM y WHERE z = 'old'"
    )


def test_an_abi_literal_becomes_a_short_reference_that_resolves() -> None:
    abi_json = json.dumps([ERC20_TRANSFER])
    escaped = abi_json.replace("'", "''")
    sql = intern_abi_literals(f"SELECT evm_log_decode('{escaped}', t, d) FROM l", "t1")
    (argument,) = literal_arguments(sql, NAMES)
    assert len(argument.value) < 100 and "[" not in argument.value
    assert evm_decode.events_for(argument.value).events[0].topic0 == TRANSFER_TOPIC


def test_a_large_contract_abi_decodes(
    raw_logs: pa.Table, logs: list[dict[str, Any]]
) -> None:
    filler = [
        {
            "type": "event",
            "name": f"Filler{i}",
            "inputs": [{"name": "it's", "type": "uint256", "indexed": False}],
        }
        for i in range(400)
    ]
    abi_json = json.dumps([*filler, ERC20_TRANSFER])
    assert len(abi_json) > 30_000
    sql = (
        "SELECT id FROM raw_logs WHERE "
        f"evm_log_decode('{abi_json.replace(chr(39), chr(39) * 2)}', topics, data)"
        "['event_signature'] = 'Transfer'"
    )
    transform = SqlTransform(TransformSpec("t1", "sql", "id", sql, ("raw_logs",)))
    transform.open({"raw_logs": RAW_LOGS})
    got = transform.process({"raw_logs": raw_logs}).column("id").to_pylist()
    want = [
        f"{log['transactionHash']}_{int(log['logIndex'], 16)}"
        for log in logs
        if len(log["topics"]) == 3 and log["topics"][0] == TRANSFER_TOPIC
    ]
    assert got == want

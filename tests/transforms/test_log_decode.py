"""`evm_log_decode` on recorded mainnet logs and on hand-built ABI encodings.

Expected values come from the test itself: slices of the raw JSON hex for real
logs, and `helpers.encode` / `helpers.expected_text` for built ones.
"""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa
import pytest

from chaintap.errors import TerminalError
from chaintap.spec.model import TransformSpec
from chaintap.transforms.functions import evm_decode
from chaintap.transforms.sql import SqlTransform
from transforms.helpers import (
    APPROVAL_TOPIC,
    ERC20_ABI,
    ERC20_APPROVAL,
    ERC20_TRANSFER,
    ERC721_TRANSFER,
    TRANSFER_TOPIC,
    AbiT,
    abi_input,
    canonical,
    encode,
    encode_tuple,
    expected_text,
    keccak_hex,
)

TRANSFER_SIGNATURE = "Transfer(address,address,uint256)"


def sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def run_sql(sql: str, tables: dict[str, pa.Table]) -> pa.Table:
    spec = TransformSpec("decode", "sql", None, sql, tuple(tables))
    transform = SqlTransform(spec)
    transform.open({name: t.schema for name, t in tables.items()})
    return transform.process(tables)


def decode(
    table: pa.Table, abi_json: str, function: str = "evm_log_decode"
) -> list[Any]:
    sql = (
        f"SELECT {function}({sql_literal(abi_json)}, topics, data) AS decoded "
        "FROM raw_logs"
    )
    return run_sql(sql, {"raw_logs": table}).column("decoded").to_pylist()


def decoded(name: str, signature: str, params: list[str]) -> dict[str, Any]:
    return {
        "name": name,
        "event_signature": name,
        "event_params": params,
        "signature": signature,
    }


def expected_erc20(log: dict[str, Any]) -> dict[str, Any] | None:
    """The test's own reading of an ERC-20 Transfer: slice the hex."""
    topics = log["topics"]
    if len(topics) != 3 or topics[0] != TRANSFER_TOPIC:
        return None
    params = ["0x" + topics[1][26:], "0x" + topics[2][26:], str(int(log["data"], 16))]
    return decoded("Transfer", TRANSFER_SIGNATURE, params)


def test_every_erc20_transfer_decodes_as_sliced_from_the_hex(
    raw_logs: pa.Table, logs: list[dict[str, Any]]
) -> None:
    expected = [expected_erc20(log) for log in logs]
    assert decode(raw_logs, ERC20_ABI) == expected
    assert sum(e is not None for e in expected) > 300
    erc721 = [
        i
        for i, log in enumerate(logs)
        if log["topics"][:1] == [TRANSFER_TOPIC] and len(log["topics"]) == 4
    ]
    assert erc721, "the recorded blocks carry ERC-721 transfers"
    assert all(expected[i] is None for i in erc721)


@pytest.mark.parametrize("alias", ["_gs_log_decode", "evm_decode_log"])
def test_aliases_decode_the_same(raw_logs: pa.Table, alias: str) -> None:
    assert decode(raw_logs, ERC20_ABI, alias) == decode(raw_logs, ERC20_ABI)


def test_topic_count_picks_erc20_or_erc721_layout(
    raw_logs: pa.Table, logs: list[dict[str, Any]]
) -> None:
    both = json.dumps([ERC20_TRANSFER, ERC721_TRANSFER])
    got = decode(raw_logs, both)
    for log, row in zip(logs, got, strict=True):
        topics = log["topics"]
        if topics[:1] == [TRANSFER_TOPIC] and len(topics) == 4:
            params = [
                "0x" + topics[1][26:],
                "0x" + topics[2][26:],
                str(int(topics[3], 16)),
            ]
            assert row == decoded("Transfer", TRANSFER_SIGNATURE, params)
        else:
            assert row == expected_erc20(log)


def test_full_contract_abi_decodes_each_event(
    raw_logs: pa.Table, logs: list[dict[str, Any]]
) -> None:
    contract = [
        {"type": "constructor", "inputs": []},
        {
            "type": "function",
            "name": "transfer",
            "inputs": [{"name": "to", "type": "address"}],
            "outputs": [{"name": "", "type": "bool"}],
        },
        ERC20_TRANSFER,
        ERC20_APPROVAL,
    ]
    got = decode(raw_logs, json.dumps(contract))
    approvals = 0
    for log, row in zip(logs, got, strict=True):
        topics = log["topics"]
        if (
            topics[:1] == [APPROVAL_TOPIC]
            and len(topics) == 3
            and len(log["data"]) == 66
        ):
            approvals += 1
            params = [
                "0x" + topics[1][26:],
                "0x" + topics[2][26:],
                str(int(log["data"], 16)),
            ]
            assert row == decoded(
                "Approval", "Approval(address,address,uint256)", params
            )
        else:
            assert row == expected_erc20(log)
    assert approvals > 0


def test_topics_as_a_list_column(
    raw_logs: pa.Table, logs: list[dict[str, Any]]
) -> None:
    listed = pa.table(
        {
            "topics": pa.array([log["topics"] for log in logs], pa.list_(pa.string())),
            "data": raw_logs.column("data"),
        }
    )
    assert decode(listed, ERC20_ABI) == [expected_erc20(log) for log in logs]


def test_chained_access_by_one_based_index(
    raw_logs: pa.Table, logs: list[dict[str, Any]]
) -> None:
    sql = f"""
        SELECT id, decoded.event_params[1] AS sender, decoded.event_params[3] AS amount
        FROM (
          SELECT id, evm_log_decode({sql_literal(ERC20_ABI)}, topics, data) AS decoded
          FROM raw_logs
        )
        WHERE decoded.event_signature = 'Transfer'
    """
    got = run_sql(sql, {"raw_logs": raw_logs}).to_pylist()
    want = [
        {
            "id": f"{log['transactionHash']}_{int(log['logIndex'], 16)}",
            "sender": e["event_params"][0],
            "amount": e["event_params"][2],
        }
        for log in logs
        if (e := expected_erc20(log)) is not None
    ]
    assert sorted(got, key=lambda r: r["id"]) == sorted(want, key=lambda r: r["id"])


def udf(
    abi_json: str | list[str | None], topics: list[Any], data: list[Any]
) -> list[Any]:
    """Call the UDF body directly, as DataFusion does (a literal becomes an array)."""
    abis = abi_json if isinstance(abi_json, list) else [abi_json] * len(topics)
    return evm_decode.evm_log_decode(
        pa.array(abis, pa.string()),
        pa.array(topics, pa.string()),
        pa.array(data, pa.string()),
    ).to_pylist()


def both_paths(
    monkeypatch: pytest.MonkeyPatch, abi_json: str, topics: list[Any], data: list[Any]
) -> list[Any]:
    """Decode with the array path, then row by row; they must agree."""
    vectorized = udf(abi_json, topics, data)
    with monkeypatch.context() as patch:
        patch.setattr(evm_decode, "_vectorizable", lambda event: False)
        rowwise = udf(abi_json, topics, data)
    assert vectorized == rowwise
    return vectorized


def test_odd_inputs_decode_alike_on_both_paths(
    monkeypatch: pytest.MonkeyPatch, logs: list[dict[str, Any]]
) -> None:
    log = next(log for log in logs if expected_erc20(log) is not None)
    t0, t1, t2 = log["topics"]
    data = log["data"]
    ok = expected_erc20(log)
    cases: list[tuple[Any, Any, bool]] = [
        (f"{t0},{t1},{t2}", data, True),
        (
            f"{t0.upper().replace('0X', '0x')},{t1.upper().replace('0X', '0x')},{t2}",
            data.upper().replace("0X", "0x"),
            True,
        ),
        (f"[{t0}, {t1}, {t2}]", data, True),
        (f"{t0}, {t1}, {t2}", data, True),
        (f"{t0},{t1[:2]}1{t1[3:]},{t2}", data, False),  # address padding not zero
        (f"{t0},{t1},{t2}", data[:-2], False),  # 31 bytes of data
        (f"{t0},{t1},{t2}", data + "00", False),  # 33 bytes
        (f"{t0},{t1},{t2}", data + "0" * 64, False),  # a second word
        (f"{t0},{t1},{t2}", "0x" + "zz" * 32, False),  # not hex
        (f"{t0},{t1},{t2}", data[2:] + "00", False),  # no 0x
        (f"{t0},{t1}", data, False),  # a topic missing
        (f"{t0},{t1},{t2},{t2}", data, False),  # ERC-721 shape
        (f"{t0},{t1},{t2[:-1]}", data, False),  # short topic
        ("", data, False),
        (None, data, False),
        (f"{t0},{t1},{t2}", None, False),
    ]
    got = both_paths(
        monkeypatch, ERC20_ABI, [c[0] for c in cases], [c[1] for c in cases]
    )
    for (topics, _, fits), row in zip(cases, got, strict=True):
        assert row == (ok if fits else None), topics


def event_abi(name: str, params: list[tuple[str, AbiT, bool]]) -> dict[str, Any]:
    return {
        "type": "event",
        "name": name,
        "anonymous": False,
        "inputs": [abi_input(n, t, indexed) for n, t, indexed in params],
    }


def signature(name: str, params: list[tuple[str, AbiT, bool]]) -> str:
    return name + "(" + ",".join(canonical(t) for _, t, _ in params) + ")"


def topic_hex(t: AbiT, value: Any) -> str:
    return "0x" + encode(t, value).hex()


VALUE_EVENT: list[tuple[str, AbiT, bool]] = [
    ("a", ("int", 8), True),
    ("s", ("string",), True),
    ("b", ("bool",), False),
    ("c", ("int", 256), False),
    ("d", ("uint", 8), False),
    ("e", ("bytesN", 4), False),
    ("f", ("address",), False),
    ("g", ("int", 16), False),
]


def value_log(words: list[bytes]) -> tuple[str, str]:
    sig = signature("Values", VALUE_EVENT)
    topics = [
        keccak_hex(sig.encode()),
        topic_hex(("int", 8), -128),
        keccak_hex(b"hello"),
    ]
    return ",".join(topics), "0x" + b"".join(words).hex()


def test_value_types_and_their_range_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    abi_json = json.dumps([event_abi("Values", VALUE_EVENT)])
    addr = "0x" + "ab" * 20
    good = [
        encode(("bool",), True),
        encode(("int", 256), -1),
        encode(("uint", 8), 255),
        encode(("bytesN",), b"\xde\xad\xbe\xef"),
        encode(("address",), addr),
        encode(("int", 16), -300),
    ]
    bad_bool = [(2).to_bytes(32, "big"), *good[1:]]
    bad_uint8 = [*good[:2], (256).to_bytes(32, "big"), *good[3:]]
    bad_bytes4 = [*good[:3], b"\xde\xad\xbe\xef\x01" + bytes(27), *good[4:]]
    bad_int16 = [*good[:5], (1 << 15).to_bytes(32, "big")]  # 32768 does not fit
    cases = [
        value_log(words) for words in (good, bad_bool, bad_uint8, bad_bytes4, bad_int16)
    ]
    got = both_paths(
        monkeypatch, abi_json, [c[0] for c in cases], [c[1] for c in cases]
    )

    params = [
        "-128",
        keccak_hex(b"hello"),
        "true",
        "-1",
        "255",
        "0xdeadbeef",
        addr,
        "-300",
    ]
    assert got[0] == decoded("Values", signature("Values", VALUE_EVENT), params)
    assert got[1:] == [None] * 4


DYNAMIC_CASES: list[tuple[AbiT, Any]] = [
    (("string",), "héllo wörld ✓"),
    (("string",), ""),
    (("bytes",), bytes(range(70))),
    (("array", ("uint", 256), None), [0, 1, (1 << 256) - 1]),
    (("array", ("int", 16), 3), [-1, 0, 300]),
    (("array", ("string",), None), ["a", "", "long " * 20]),
    (("array", ("bool",), None), [True, False]),
    (
        ("tuple", [("uint", 256), ("string",), ("array", ("address",), None)]),
        [7, "x", ["0x" + "11" * 20, "0x" + "22" * 20]],
    ),
    (("array", ("tuple", [("uint", 64), ("string",)]), None), [[1, "one"], [2, "two"]]),
    (("array", ("array", ("bytesN", 2), 2), None), [[b"\x01\x02", b"\x03\x04"]] * 2),
    (("array", ("array", ("uint", 8), None), 2), [[1, 2, 3], []]),
]


@pytest.mark.parametrize(("t", "value"), DYNAMIC_CASES, ids=lambda v: str(v)[:40])
def test_dynamic_and_nested_types(
    monkeypatch: pytest.MonkeyPatch, t: AbiT, value: Any
) -> None:
    params = [
        ("who", ("address",), True),
        ("value", t, False),
        ("after", ("uint", 256), False),
    ]
    who = "0x" + "cd" * 20
    sig = signature("Dyn", params)
    topics = f"{keccak_hex(sig.encode())},{topic_hex(('address',), who)}"
    data = "0x" + encode_tuple([t, ("uint", 256)], [value, 99]).hex()

    got = both_paths(
        monkeypatch, json.dumps([event_abi("Dyn", params)]), [topics], [data]
    )
    assert got == [decoded("Dyn", sig, [who, expected_text(t, value), "99"])]


def test_indexed_dynamic_values_are_their_hashes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    params = [
        ("name", ("string",), True),
        ("ids", ("array", ("uint", 256), None), True),
        ("pair", ("tuple", [("uint", 8), ("bool",)]), True),
    ]
    sig = signature("Hashed", params)
    hashes = [keccak_hex(b"name"), keccak_hex(b"ids"), keccak_hex(b"pair")]
    topics = ",".join([keccak_hex(sig.encode()), *hashes])
    got = both_paths(
        monkeypatch, json.dumps([event_abi("Hashed", params)]), [topics], ["0x"]
    )
    assert got == [decoded("Hashed", sig, hashes)]


def test_malformed_dynamic_data_is_null(monkeypatch: pytest.MonkeyPatch) -> None:
    params = [("value", ("array", ("uint", 256), None), False)]
    sig = signature("Arr", params)
    topics = keccak_hex(sig.encode())
    good = encode_tuple([params[0][1]], [[1, 2]])
    word = 32
    cases = {
        "good": good,
        "offset past end": (10_000).to_bytes(word, "big") + good[word:],
        "length past end": good[:word] + (3).to_bytes(word, "big") + good[2 * word :],
        "huge length": good[:word]
        + (1 << 255).to_bytes(word, "big")
        + good[2 * word :],
        "truncated": good[:-1],
        "empty": b"",
    }
    got = both_paths(
        monkeypatch,
        json.dumps([event_abi("Arr", params)]),
        [topics] * len(cases),
        ["0x" + raw.hex() for raw in cases.values()],
    )
    assert got[0] == decoded("Arr", sig, ['["1","2"]'])
    assert got[1:] == [None] * (len(cases) - 1)


def test_one_abi_per_row(logs: list[dict[str, Any]]) -> None:
    rows = [log for log in logs if log["topics"][:1] == [TRANSFER_TOPIC]][:40]
    only_721 = json.dumps([ERC721_TRANSFER])
    abis: list[str | None] = [
        ERC20_ABI if i % 3 == 0 else only_721 for i in range(len(rows))
    ]
    abis[1] = None
    got = udf(abis, [",".join(r["topics"]) for r in rows], [r["data"] for r in rows])
    for abi_text, log, row in zip(abis, rows, got, strict=True):
        if abi_text is None:
            assert row is None
        elif abi_text == ERC20_ABI:
            assert row == expected_erc20(log)
        elif len(log["topics"]) == 4:
            assert row is not None and row["event_params"][2] == str(
                int(log["topics"][3], 16)
            )
        else:
            assert row is None


def test_anonymous_events_never_match(logs: list[dict[str, Any]]) -> None:
    anonymous = json.dumps([{**ERC20_TRANSFER, "anonymous": True}])
    rows = logs[:50]
    got = udf(
        anonymous, [",".join(r["topics"]) for r in rows], [r["data"] for r in rows]
    )
    assert got == [None] * len(rows)


def test_an_abi_column_that_does_not_parse_fails_the_batch(raw_logs: pa.Table) -> None:
    table = raw_logs.append_column("abi", pa.array(["[not json"] * raw_logs.num_rows))
    sql = "SELECT evm_log_decode(abi, topics, data) AS d FROM raw_logs"
    with pytest.raises(TerminalError, match=r"transform 'decode'.*not valid JSON"):
        run_sql(sql, {"raw_logs": table})


def test_amounts_at_the_top_of_the_uint256_range(
    monkeypatch: pytest.MonkeyPatch, logs: list[dict[str, Any]]
) -> None:
    log = next(log for log in logs if expected_erc20(log) is not None)
    amounts = [0, 1, (1 << 255) - 1, 1 << 255, (1 << 256) - 1, 10**76, 10**77]
    topics = [",".join(log["topics"])] * len(amounts)
    data = ["0x" + a.to_bytes(32, "big").hex() for a in amounts]
    got = both_paths(monkeypatch, ERC20_ABI, topics, data)
    assert [row["event_params"][2] for row in got] == [str(a) for a in amounts]

"""The replay node answers as a node does; the pushdown tests rely on its filters."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from chaintap.sources.jsonrpc import JsonRpcClient, RpcCallError
from support.evm_expected import all_logs
from support.evm_replay import EvmReplayServer, load_ethereum_blocks

BUSY = 16899757


@pytest.fixture
def client(evm_replay: EvmReplayServer) -> Iterator[JsonRpcClient]:
    with JsonRpcClient(evm_replay.url, chain="ethereum") as rpc:
        yield rpc


def _ids(logs: list[dict[str, str]]) -> list[tuple[str, str]]:
    return [(e["transactionHash"], e["logIndex"]) for e in logs]


def test_get_logs_topic_or_lists_and_nulls(client: JsonRpcClient) -> None:
    logs = all_logs(load_ethereum_blocks()[BUSY])
    three = [e for e in logs if len(e["topics"]) >= 3]
    # Two different topic-2 values, any topic 0 and 1.
    picks = sorted({e["topics"][2] for e in three})[:2]
    query = {"fromBlock": hex(BUSY), "toBlock": hex(BUSY), "topics": [None, [], picks]}

    found = client.call("eth_getLogs", [query])

    wanted = [e for e in logs if len(e["topics"]) >= 3 and e["topics"][2] in picks]
    assert _ids(found) == _ids(wanted) and len(picks) == 2


def test_get_logs_addresses_and_block_hash(client: JsonRpcClient) -> None:
    recorded = load_ethereum_blocks()[BUSY]
    logs = all_logs(recorded)
    addresses = sorted({e["address"] for e in logs})[:3]
    query = {"blockHash": recorded["block"]["hash"], "address": addresses}

    found = client.call("eth_getLogs", [query])

    assert _ids(found) == _ids([e for e in logs if e["address"] in addresses])


def test_more_topics_than_a_log_has_never_match(client: JsonRpcClient) -> None:
    logs = all_logs(load_ethereum_blocks()[BUSY])
    query = {"fromBlock": hex(BUSY), "toBlock": hex(BUSY), "topics": [None] * 4}
    found = client.call("eth_getLogs", [query])
    assert _ids(found) == _ids([e for e in logs if len(e["topics"]) == 4])


def test_batch_with_missing_block_and_unknown_method(client: JsonRpcClient) -> None:
    first, missing, unknown = client.batch(
        [
            ("eth_getBlockByNumber", [hex(BUSY), False]),
            ("eth_getBlockByNumber", [hex(BUSY + 1), False]),
            ("eth_notAMethod", []),
        ]
    )
    assert first["hash"] == load_ethereum_blocks()[BUSY]["block"]["hash"]
    assert all(isinstance(tx, str) for tx in first["transactions"])
    assert missing is None
    assert isinstance(unknown, RpcCallError) and unknown.code == -32601

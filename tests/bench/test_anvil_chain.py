"""The benchmark chain holds what its shape says, and chaintap reads all of it.

The chain is built once on a fresh anvil node; every figure is then counted
again from the node's own blocks and receipts (plain JSON-RPC over httpx), not
from the builder's bookkeeping.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import httpx
import pytest
from anvil_chain import TOKENS, ChainShape, build_chain
from extraction import DATASETS, expected_rows, run_chaintap

from chaintap.demo.anvil import AnvilNode

pytestmark = pytest.mark.anvil

# keccak256 of the event signatures, as published for ERC-20.
TRANSFER = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"
APPROVAL = "0x8c5be1e5ebec7d5bd14f71427d1e84f3dd0314c0f7b2291e5b200ac8c7c3b925"
WORKLOAD_BLOCKS = 40


@pytest.fixture(scope="module")
def chain(fresh_anvil: AnvilNode) -> ChainShape:
    return build_chain(fresh_anvil.url, blocks=WORKLOAD_BLOCKS, seed=3)


def _rpc(url: str, calls: list[tuple[str, list[Any]]]) -> list[Any]:
    body = [
        {"jsonrpc": "2.0", "id": i, "method": m, "params": p}
        for i, (m, p) in enumerate(calls)
    ]
    answers = httpx.post(url, json=body, timeout=30).json()
    return [a["result"] for a in sorted(answers, key=lambda a: a["id"])]


def _read_chain(url: str, last: int) -> tuple[list[Any], list[Any]]:
    numbers = [hex(n) for n in range(last + 1)]
    blocks = _rpc(url, [("eth_getBlockByNumber", [n, True]) for n in numbers])
    receipts = _rpc(url, [("eth_getBlockReceipts", [n]) for n in numbers])
    return blocks, receipts


def test_the_chain_holds_what_its_shape_says(chain: ChainShape) -> None:
    head = int(_rpc(chain.url, [("eth_blockNumber", [])])[0], 16)
    blocks, receipts = _read_chain(chain.url, head)
    assert chain.last_block == head

    # Every transaction succeeded; the workload blocks are the last ones.
    statuses = Counter(r["status"] for block in receipts for r in block)
    assert set(statuses) == {"0x1"}
    workload = blocks[-WORKLOAD_BLOCKS:]
    setup_txs = sum(len(b["transactions"]) for b in blocks[:-WORKLOAD_BLOCKS])
    assert sum(len(b["transactions"]) for b in workload) == chain.transactions
    assert sum(not b["transactions"] for b in workload) == chain.empty_blocks
    assert setup_txs == TOKENS + TOKENS * chain.holders  # deployments + mints

    # Logs by kind, and plain ETH transfers (no call data, a value).
    logs = [e for block in receipts for r in block for e in r["logs"]]
    kinds = Counter(e["topics"][0] for e in logs)
    assert kinds[TRANSFER] == chain.transfer_logs
    assert kinds[APPROVAL] == chain.approvals
    assert len(logs) == chain.logs
    plain = [tx for b in workload for tx in b["transactions"] if tx["input"] == "0x"]
    assert len(plain) == chain.eth_transfers
    assert chain.transactions == chain.eth_transfers + len(
        [e for e in logs if int(e["blockNumber"], 16) > head - WORKLOAD_BLOCKS]
    )

    # A realistic mix: every token used, the first one the busiest.
    per_token = Counter(e["address"] for e in logs if e["topics"][0] == TRANSFER)
    assert set(per_token) == set(chain.tokens)
    assert per_token.most_common(1)[0][0] == chain.tokens[0]


@pytest.mark.parametrize("dataset", DATASETS)
def test_chaintap_reads_every_row_of_the_chain(chain: ChainShape, dataset: str) -> None:
    seconds, rows = run_chaintap(chain, dataset, "m")
    assert rows == expected_rows(chain, dataset)
    assert seconds > 0

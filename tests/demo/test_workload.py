"""The demo ERC-20 workload, checked against the contract itself over JSON-RPC.

The expected values here come from the plan (what was meant to be sent) and from
the contract's own view functions, not from the code that parsed the receipts.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path

import httpx
import pytest

from chaintap.demo.anvil import AnvilNode
from chaintap.demo.token import (
    call_data,
    encode_address,
    load_token_artifact,
    selector,
)
from chaintap.demo.workload import MINT_MAIN, MINT_SECOND, Workload

pytestmark = pytest.mark.anvil

REPO = Path(__file__).resolve().parents[2]


def _eth_call(url: str, to: str, data: str) -> str:
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "eth_call",
        "params": [{"to": to, "data": data}, "latest"],
    }
    return str(httpx.post(url, json=body, timeout=5).json()["result"])


def _decode_string(result: str) -> str:
    raw = bytes.fromhex(result[2:])
    offset = int.from_bytes(raw[:32], "big")
    length = int.from_bytes(raw[offset : offset + 32], "big")
    return raw[offset + 32 : offset + 32 + length].decode()


def test_artifact_is_compiled_from_the_checked_in_source() -> None:
    artifact = load_token_artifact()
    source = (REPO / "contracts" / "ChaintapToken.sol").read_bytes()
    assert artifact.source_sha256 == hashlib.sha256(source).hexdigest()
    stored = json.loads((REPO / "src/chaintap/demo/contracts/erc20.json").read_text())
    assert set(stored) >= {"contract", "compiler", "source_sha256", "abi", "bytecode"}


def test_selectors_match_the_well_known_erc20_ones() -> None:
    # The ERC-20 selectors every explorer lists; a wrong keccak would break them.
    assert selector("transfer(address,uint256)") == "a9059cbb"
    assert selector("balanceOf(address)") == "70a08231"
    assert selector("transferFrom(address,address,uint256)") == "23b872dd"


def test_token_metadata_and_supply(
    anvil_node: AnvilNode, erc20_workload: Workload
) -> None:
    url, token = anvil_node.url, erc20_workload.token
    assert _decode_string(_eth_call(url, token, call_data("name()"))) == (
        "Chaintap Demo Token"
    )
    assert _decode_string(_eth_call(url, token, call_data("symbol()"))) == "CTD"
    assert int(_eth_call(url, token, call_data("decimals()")), 16) == 18
    supply = int(_eth_call(url, token, call_data("totalSupply()")), 16)
    assert supply == MINT_MAIN + MINT_SECOND


def test_final_balances_equal_the_plan(
    anvil_node: AnvilNode, erc20_workload: Workload
) -> None:
    """Replay the intended transfers in Python and compare with balanceOf."""
    expected = Counter[str]()
    for sent in erc20_workload.intended:
        if sent.kind != "mint":
            expected[sent.sender] -= sent.amount
        expected[sent.recipient] += sent.amount
    for account in erc20_workload.accounts:
        data = call_data("balanceOf(address)", encode_address(account))
        on_chain = int(_eth_call(anvil_node.url, erc20_workload.token, data), 16)
        assert on_chain == expected[account], account


def test_emitted_transfers_are_the_intended_ones(erc20_workload: Workload) -> None:
    intended = {
        t.transaction_hash: (t.sender, t.recipient, t.amount)
        for t in erc20_workload.intended
    }
    emitted = {
        t.transaction_hash: (t.sender, t.recipient, t.amount)
        for t in erc20_workload.transfers
    }
    assert emitted == intended
    assert len(erc20_workload.transfers) == 40 + 2


def test_workload_covers_the_hard_cases(erc20_workload: Workload) -> None:
    transfers = erc20_workload.transfers
    amounts = [t.amount for t in transfers]
    assert 0 in amounts
    assert any(a > 2**64 for a in amounts)
    assert {t.kind for t in erc20_workload.intended} == {
        "mint",
        "transfer",
        "transferFrom",
    }
    per_block = Counter(t.block_number for t in transfers)
    assert max(per_block.values()) >= 3
    # Blocks inside the range with no transfer at all (empty or approve-only).
    span = range(erc20_workload.first_block, erc20_workload.last_block + 1)
    assert len([b for b in span if b not in per_block]) >= 4
    assert erc20_workload.last_block not in per_block
    # Log indexes restart in every block and follow transaction order.
    for block in per_block:
        logs = sorted(
            (t.transaction_index, t.log_index)
            for t in transfers
            if t.block_number == block
        )
        assert [li for _, li in logs] == list(range(len(logs)))

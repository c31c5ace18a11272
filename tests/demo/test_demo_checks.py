"""The demo's "matches the N transfers sent" line must be able to say no.

Rows are built from the workload's receipts and then tampered with; the check has
to notice each kind of damage.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from chaintap.demo.run import check_blocks, check_transfers
from chaintap.demo.workload import EmittedTransfer, Workload

pytestmark = pytest.mark.anvil


def _rows(transfers: tuple[EmittedTransfer, ...]) -> list[dict[str, Any]]:
    # As the Parquet file sink stores them: u256 amounts as base-10 strings.
    return [
        {
            "transaction_hash": t.transaction_hash,
            "log_index": t.log_index,
            "block_number": t.block_number,
            "sender": t.sender,
            "recipient": t.recipient,
            "amount": str(t.amount),
        }
        for t in transfers
    ]


def test_untouched_rows_match(erc20_workload: Workload) -> None:
    check = check_transfers("t", _rows(erc20_workload.transfers), erc20_workload)
    assert check.ok
    assert check.expected == f"the {len(erc20_workload.intended)} transfers sent"


def test_amount_off_by_one_wei_is_caught(erc20_workload: Workload) -> None:
    big = next(t for t in erc20_workload.transfers if t.amount > 2**64)
    tampered = tuple(
        replace(t, amount=t.amount + 1) if t is big else t
        for t in erc20_workload.transfers
    )
    check = check_transfers("t", _rows(tampered), erc20_workload)
    assert not check.ok
    assert any(big.transaction_hash in p for p in check.problems)


def test_missing_and_duplicated_rows_are_caught(erc20_workload: Workload) -> None:
    rows = _rows(erc20_workload.transfers)
    assert not check_transfers("t", rows[1:], erc20_workload).ok
    assert not check_transfers("t", [*rows, rows[0]], erc20_workload).ok


def test_swapped_sender_and_recipient_is_caught(erc20_workload: Workload) -> None:
    rows = _rows(erc20_workload.transfers)
    rows[-1]["sender"], rows[-1]["recipient"] = (
        rows[-1]["recipient"],
        rows[-1]["sender"],
    )
    assert not check_transfers("t", rows, erc20_workload).ok


def test_blocks_check_wants_every_block_once(erc20_workload: Workload) -> None:
    rows = [
        {"number": n, "transaction_count": 5}
        for n in range(erc20_workload.last_block + 1)
    ]
    assert check_blocks(rows, erc20_workload).ok
    assert not check_blocks(rows[:-1], erc20_workload).ok
    busy = next(iter({t.block_number for t in erc20_workload.transfers}))
    rows[busy]["transaction_count"] = 0
    assert not check_blocks(rows, erc20_workload).ok

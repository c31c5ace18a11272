"""Rows of the four Solana datasets from `getBlock` results. Pure: no I/O.

Input is a slot-ordered sequence of `(slot, block)`, where `block` is the result of
`getBlock(slot, {transactionDetails: "full", rewards: true,
maxSupportedTransactionVersion: 0})` in `json` or `jsonParsed` encoding, or None for
a skipped slot. Output is one Arrow table in the dataset's schema
(`chaintap.datasets.solana`), rows in slot order, then transaction order, then
instruction execution order (a top-level instruction before its inner ones).

Row rules, beyond the schema docstring:
- blocks: a skipped slot is a row with `skipped = true` and every other column
  except `id`/`slot` null; `transaction_count` counts the transactions in the
  answer; `leader` is null (getBlock does not name it).
- transactions: `status` is 1 when `meta.err` is null, else 0, and `err` is
  `meta.err` as compact JSON text; `accounts` is the full key list (loaded keys
  included); `balance_changes` has one entry per account key, changed or not.
  A transaction without `meta` (very old ledgers) has null fee/status/err/logs.
- instructions: `id` is `<signature>_<i>` for top-level instruction i and
  `<signature>_<i>.<j>` for the j-th (0-based) inner instruction it invoked;
  `data`/`accounts` are null for instructions the node gave only in parsed form
  (`jsonParsed`), so use `json` encoding when raw instruction data matters.
- token_transfers: see `tokens.py`; failed transactions have none; `id` equals the
  id of the instruction the transfer comes from.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from chaintap import u256
from chaintap.datasets import solana as schemas
from chaintap.sources.solana import message, tokens
from chaintap.sources.solana.errors import MalformedBlock

SlotBlock = tuple[int, Mapping[str, Any] | None]
Row = dict[str, Any]


@dataclass
class ExtractStats:
    """Counts for the one log line per batch.

    `unreconciled` counts successful transactions whose decoded token movements do
    not add up to their token balance deltas (see `tokens.reconciles`).
    """

    blocks: int = 0
    skipped: int = 0
    transactions: int = 0
    unreconciled: int = 0


def extract(
    dataset: str, blocks: Sequence[SlotBlock], stats: ExtractStats | None = None
) -> pa.Table:
    """The table of `dataset` ("blocks", "transactions", "instructions" or
    "token_transfers") for `blocks`; raises `MalformedBlock` naming the slot when
    an answer does not have the documented shape."""
    schema = schemas.SCHEMAS[dataset]
    build = _BUILDERS[dataset]
    stats = stats if stats is not None else ExtractStats()

    rows: list[Row] = []
    for slot, block in blocks:
        stats.blocks += 1
        if block is None:
            stats.skipped += 1
            if dataset == "blocks":
                rows.append(skipped_block_row(slot))
            continue
        try:
            stats.transactions += len(block["transactions"])
            rows.extend(build(slot, block, stats))
        except (
            KeyError,
            IndexError,
            TypeError,
            ValueError,
            AttributeError,
            OverflowError,
        ) as err:
            raise MalformedBlock(
                f"solana slot {slot}: the getBlock answer is not in the expected "
                f"shape ({type(err).__name__}: {err}); check the node answers "
                f"getBlock with transactionDetails=full in json or jsonParsed "
                f"encoding"
            ) from err
    return pa.Table.from_pylist(rows, schema=schema)


def skipped_block_row(slot: int) -> Row:
    """The `blocks` row of a slot the leader skipped."""
    return {"id": str(slot), "slot": slot, "skipped": True}


def block_rows(slot: int, block: Mapping[str, Any], stats: ExtractStats) -> list[Row]:
    return [
        {
            "id": str(slot),
            "slot": slot,
            "parent_slot": block["parentSlot"],
            "hash": block["blockhash"],
            "previous_block_hash": block["previousBlockhash"],
            "timestamp": block.get("blockTime"),
            "height": block.get("blockHeight"),
            "transaction_count": len(block["transactions"]),
            # Not filled: getBlock does not name the leader (getSlotLeaders would,
            # one more call per batch), so leader is always null.
            "leader": None,
            "skipped": False,
        }
    ]


def transaction_rows(
    slot: int, block: Mapping[str, Any], stats: ExtractStats
) -> list[Row]:
    rows: list[Row] = []
    for index, tx in enumerate(block["transactions"]):
        meta = tx.get("meta")
        keys = message.account_keys(tx)
        row: Row = {
            "id": message.signature(tx),
            "index": index,
            "block_slot": slot,
            "block_hash": block["blockhash"],
            "block_timestamp": block.get("blockTime"),
            "signature": message.signature(tx),
            "accounts": keys,
        }
        if meta is not None:
            err = meta.get("err")
            row["fee"] = u256.to_bytes(int(meta["fee"]))
            row["status"] = 1 if err is None else 0
            row["err"] = None if err is None else json.dumps(err, separators=(",", ":"))
            row["log_messages"] = meta.get("logMessages")
            row["compute_units_consumed"] = meta.get("computeUnitsConsumed")
            row["balance_changes"] = _balance_changes(keys, meta)
        rows.append(row)
    return rows


def _balance_changes(keys: Sequence[str], meta: Mapping[str, Any]) -> list[Row]:
    # Lamports are u64: int.to_bytes cannot lose them, and raises OverflowError
    # (a MalformedBlock) for a negative value. The hot loop of this dataset.
    pairs = zip(meta["preBalances"], meta["postBalances"], strict=True)
    return [
        {
            "account": keys[i],
            "before": int(before).to_bytes(u256.U256_BYTES, "big"),
            "after": int(after).to_bytes(u256.U256_BYTES, "big"),
        }
        for i, (before, after) in enumerate(pairs)
    ]


def instruction_rows(
    slot: int, block: Mapping[str, Any], stats: ExtractStats
) -> list[Row]:
    rows: list[Row] = []
    timestamp = block.get("blockTime")
    for tx in block["transactions"]:
        meta = tx.get("meta")
        sig = message.signature(tx)
        status = None if meta is None else int(message.succeeded(meta))
        for ins in message.instructions(tx, message.account_keys(tx)):
            rows.append(
                {
                    "id": f"{sig}_{ins.label}",
                    "tx_signature": sig,
                    "index": ins.index,
                    "parent_index": ins.parent_index,
                    "block_slot": slot,
                    "block_timestamp": timestamp,
                    "program_id": ins.program_id,
                    "data": ins.data,
                    "accounts": None if ins.accounts is None else list(ins.accounts),
                    "status": status,
                }
            )
    return rows


def token_transfer_rows(
    slot: int, block: Mapping[str, Any], stats: ExtractStats
) -> list[Row]:
    rows: list[Row] = []
    timestamp = block.get("blockTime")
    for tx in block["transactions"]:
        meta = tx.get("meta")
        if meta is None or not message.succeeded(meta):
            continue
        keys = message.account_keys(tx)
        found, balanced = tokens.transfers(meta, keys, message.instructions(tx, keys))
        stats.unreconciled += 0 if balanced else 1

        sig = message.signature(tx)
        for t in found:
            rows.append(
                {
                    "id": f"{sig}_{t.instruction.label}",
                    "block_slot": slot,
                    "block_timestamp": timestamp,
                    "signature": sig,
                    "token_mint_address": t.mint,
                    "from_token_account": t.source,
                    "to_token_account": t.destination,
                    "from_owner": t.from_owner,
                    "to_owner": t.to_owner,
                    "amount": u256.to_bytes(t.amount),
                    "decimals": t.decimals,
                }
            )
    return rows


_BUILDERS: dict[str, Callable[[int, Mapping[str, Any], ExtractStats], list[Row]]] = {
    "blocks": block_rows,
    "transactions": transaction_rows,
    "instructions": instruction_rows,
    "token_transfers": token_transfer_rows,
}

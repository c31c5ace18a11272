"""Pure conversion of JSON-RPC objects into the Arrow tables of the EVM datasets.

Every function here takes what a node answered (already checked for consistency by
`chaintap.sources.evm.fetch`) and returns a table in exactly the schema of
`chaintap.datasets.evm`. Nothing here talks to the network or keeps state.

Conventions (see the `chaintap.datasets.evm` docstring): hex strings are lowercased,
quantities become int64 or u256 through Python `int` (never a float), a field the
node leaves out (a pre-London block has no base fee) becomes null. A malformed
object (a required field missing or not hex) raises `KeyError`, `TypeError` or
`ValueError`; the caller maps that to a `TerminalError` naming node and block.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa
from Crypto.Hash import keccak

from chaintap import u256
from chaintap.datasets import evm

JsonObject = Mapping[str, Any]


def _keccak_hex(text: str) -> str:
    digest = keccak.new(digest_bits=256)
    digest.update(text.encode("ascii"))
    return "0x" + digest.hexdigest()


# topic0 of `Transfer(address,address,uint256)`: ERC-20 and ERC-721 share it; the
# number of indexed topics tells them apart (3 for ERC-20, 4 for ERC-721).
TRANSFER_TOPIC = _keccak_hex("Transfer(address,address,uint256)")


def quantity(value: Any) -> int | None:
    """A JSON-RPC quantity ('0x1a') as an int; None stays None."""
    if value is None:
        return None
    return int(value, 16)


def _u256(value: Any) -> bytes | None:
    number = quantity(value)
    return None if number is None else u256.to_bytes(number)


def _hex(value: Any) -> str | None:
    """A hash, address or byte string, lowercased; None stays None."""
    return None if value is None else str(value).lower()


def _required_hex(value: Any) -> str:
    if value is None:
        raise ValueError("a required hash or address is null")
    return str(value).lower()


def _required_int(value: Any) -> int:
    number = quantity(value)
    if number is None:
        raise ValueError("a required quantity is null")
    return number


def blocks_table(headers: Sequence[JsonObject]) -> pa.Table:
    """One `blocks` row per header (from `eth_getBlockByNumber`, either form)."""
    rows = [
        {
            "id": _required_hex(header["hash"]),
            "number": _required_int(header["number"]),
            "hash": _required_hex(header["hash"]),
            "parent_hash": _required_hex(header["parentHash"]),
            "miner": _hex(header.get("miner")),
            "gas_limit": quantity(header.get("gasLimit")),
            "gas_used": quantity(header.get("gasUsed")),
            "timestamp": quantity(header.get("timestamp")),
            "transaction_count": len(header.get("transactions") or ()),
            "base_fee_per_gas": _u256(header.get("baseFeePerGas")),
            "difficulty": _u256(header.get("difficulty")),
            "nonce": _hex(header.get("nonce")),
            "size": quantity(header.get("size")),
            "extra_data": _hex(header.get("extraData")),
            "state_root": _hex(header.get("stateRoot")),
            "transactions_root": _hex(header.get("transactionsRoot")),
            "receipts_root": _hex(header.get("receiptsRoot")),
            "withdrawals_root": _hex(header.get("withdrawalsRoot")),
            "blob_gas_used": quantity(header.get("blobGasUsed")),
            "excess_blob_gas": quantity(header.get("excessBlobGas")),
        }
        for header in headers
    ]
    return pa.Table.from_pylist(rows, schema=evm.BLOCKS)


def transactions_table(
    blocks: Sequence[JsonObject], receipts: Sequence[Sequence[JsonObject]]
) -> pa.Table:
    """`raw_transactions` rows: each full block's transactions joined with receipts.

    `blocks[i]` holds full transaction objects and `receipts[i]` that block's
    receipts in the same order (the caller checked that they match one to one).
    """
    rows: list[dict[str, Any]] = []
    for block, block_receipts in zip(blocks, receipts, strict=True):
        block_hash = _required_hex(block["hash"])
        number = _required_int(block["number"])
        timestamp = quantity(block.get("timestamp"))
        for tx, receipt in zip(block["transactions"], block_receipts, strict=True):
            rows.append(_transaction_row(tx, receipt, block_hash, number, timestamp))
    return pa.Table.from_pylist(rows, schema=evm.RAW_TRANSACTIONS)


def _transaction_row(
    tx: JsonObject,
    receipt: JsonObject,
    block_hash: str,
    block_number: int,
    block_timestamp: int | None,
) -> dict[str, Any]:
    tx_hash = _required_hex(tx["hash"])
    return {
        "id": tx_hash,
        "hash": tx_hash,
        "nonce": quantity(tx.get("nonce")),
        "block_hash": block_hash,
        "block_number": block_number,
        "transaction_index": _required_int(tx["transactionIndex"]),
        "from_address": _hex(tx.get("from")),
        "to_address": _hex(tx.get("to")),
        "value": _u256(tx.get("value")),
        "gas": quantity(tx.get("gas")),
        "gas_price": _u256(tx.get("gasPrice")),
        "input": _hex(tx.get("input")),
        "transaction_type": quantity(tx.get("type")) or 0,
        "max_fee_per_gas": _u256(tx.get("maxFeePerGas")),
        "max_priority_fee_per_gas": _u256(tx.get("maxPriorityFeePerGas")),
        "block_timestamp": block_timestamp,
        "receipt_cumulative_gas_used": quantity(receipt.get("cumulativeGasUsed")),
        "receipt_gas_used": quantity(receipt.get("gasUsed")),
        "receipt_contract_address": _hex(receipt.get("contractAddress")),
        # Receipts before Byzantium carry a state `root` instead of a status.
        "receipt_status": quantity(receipt.get("status")),
        "receipt_effective_gas_price": _u256(receipt.get("effectiveGasPrice")),
    }


def logs_table(logs: Sequence[JsonObject], timestamps: Mapping[int, int]) -> pa.Table:
    """`raw_logs` rows; `timestamps` maps each log's block number to its time."""
    rows = []
    for entry in logs:
        ids = _log_ids(entry, timestamps)
        rows.append(
            {
                **ids,
                "address": _required_hex(entry["address"]),
                "data": _hex(entry.get("data")),
                "topics": ",".join(_required_hex(t) for t in entry.get("topics", ())),
            }
        )
    return pa.Table.from_pylist(rows, schema=evm.RAW_LOGS)


def is_erc20_transfer(entry: JsonObject) -> bool:
    """True for an ERC-20 `Transfer`: 3 topics, topic0 Transfer, 32 bytes of data.

    An ERC-721 `Transfer` has the same topic0 but 4 topics (the token id is
    indexed), so it is not one.
    """
    topics: Sequence[Any] = entry.get("topics") or ()
    data: str = entry.get("data") or ""
    return (
        len(topics) == 3
        and str(topics[0]).lower() == TRANSFER_TOPIC
        and len(data) == 2 + 64
    )


def erc20_transfers_table(
    logs: Sequence[JsonObject], timestamps: Mapping[int, int]
) -> pa.Table:
    """`erc20_transfers` rows for the logs that `is_erc20_transfer`; others skipped."""
    rows = []
    for entry in logs:
        if not is_erc20_transfer(entry):
            continue
        topics = entry["topics"]
        rows.append(
            {
                **_log_ids(entry, timestamps),
                # An indexed address is the last 20 bytes of its 32-byte topic.
                "sender": "0x" + str(topics[1])[-40:].lower(),
                "recipient": "0x" + str(topics[2])[-40:].lower(),
                "amount": u256.to_bytes(int(entry["data"], 16)),
                "address": _required_hex(entry["address"]),
            }
        )
    return pa.Table.from_pylist(rows, schema=evm.ERC20_TRANSFERS)


def _log_ids(entry: JsonObject, timestamps: Mapping[int, int]) -> dict[str, Any]:
    """The columns every log-derived row shares (id, block and transaction)."""
    tx_hash = _required_hex(entry["transactionHash"])
    log_index = _required_int(entry["logIndex"])
    number = _required_int(entry["blockNumber"])
    return {
        "id": f"{tx_hash}_{log_index}",
        "block_number": number,
        "block_hash": _required_hex(entry["blockHash"]),
        "transaction_hash": tx_hash,
        "transaction_index": _required_int(entry["transactionIndex"]),
        "log_index": log_index,
        "block_timestamp": timestamps.get(number),
    }

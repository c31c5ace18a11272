"""Golden rows of the EVM datasets, computed straight from the recorded JSON.

This is the test's own reading of the dataset definitions, written without
`chaintap.sources.evm.extract`, so a golden test compares two independent
computations. u256 columns are Python ints here; `table_rows` decodes a source's
table the same way.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from chaintap import u256
from chaintap.datasets.catalog import resolve
from chaintap.sources.base import SourceBatch
from chaintap.sources.evm import EvmRpcSource
from chaintap.spec.model import SourceSpec
from chaintap.tuning import ResourceProfile, profile_for
from support.evm_replay import load_ethereum_blocks

Json = dict[str, Any]
Row = dict[str, Any]

# keccak256("Transfer(address,address,uint256)"), the well-known event signature.
TRANSFER = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"
BLOCK_NUMBERS = sorted(load_ethereum_blocks())


def _int(value: str | None) -> int | None:
    return None if value is None else int(value, 16)


def expected_blocks(recorded: Json) -> list[Row]:
    b = recorded["block"]
    return [
        {
            "id": b["hash"],
            "number": int(b["number"], 16),
            "hash": b["hash"],
            "parent_hash": b["parentHash"],
            "miner": b["miner"],
            "gas_limit": int(b["gasLimit"], 16),
            "gas_used": int(b["gasUsed"], 16),
            "timestamp": int(b["timestamp"], 16),
            "transaction_count": len(b["transactions"]),
            "base_fee_per_gas": _int(b.get("baseFeePerGas")),
            "difficulty": int(b["difficulty"], 16),
            "nonce": b["nonce"],
            "size": int(b["size"], 16),
            "extra_data": b["extraData"],
            "state_root": b["stateRoot"],
            "transactions_root": b["transactionsRoot"],
            "receipts_root": b["receiptsRoot"],
            "withdrawals_root": b.get("withdrawalsRoot"),
            "blob_gas_used": _int(b.get("blobGasUsed")),
            "excess_blob_gas": _int(b.get("excessBlobGas")),
        }
    ]


def expected_transactions(recorded: Json) -> list[Row]:
    b = recorded["block"]
    receipts = {r["transactionHash"]: r for r in recorded["receipts"]}
    rows = []
    for tx in b["transactions"]:
        r = receipts[tx["hash"]]
        rows.append(
            {
                "id": tx["hash"],
                "hash": tx["hash"],
                "nonce": int(tx["nonce"], 16),
                "block_hash": b["hash"],
                "block_number": int(b["number"], 16),
                "transaction_index": int(tx["transactionIndex"], 16),
                "from_address": tx["from"],
                "to_address": tx["to"],
                "value": int(tx["value"], 16),
                "gas": int(tx["gas"], 16),
                "gas_price": int(tx["gasPrice"], 16),
                "input": tx["input"],
                "transaction_type": int(tx.get("type", "0x0"), 16),
                "max_fee_per_gas": _int(tx.get("maxFeePerGas")),
                "max_priority_fee_per_gas": _int(tx.get("maxPriorityFeePerGas")),
                "block_timestamp": int(b["timestamp"], 16),
                "receipt_cumulative_gas_used": int(r["cumulativeGasUsed"], 16),
                "receipt_gas_used": int(r["gasUsed"], 16),
                "receipt_contract_address": r["contractAddress"],
                "receipt_status": _int(r.get("status")),
                "receipt_effective_gas_price": _int(r.get("effectiveGasPrice")),
            }
        )
    return rows


def all_logs(recorded: Json) -> list[Json]:
    return [entry for r in recorded["receipts"] for entry in r["logs"]]


def expected_logs(recorded: Json) -> list[Row]:
    timestamp = int(recorded["block"]["timestamp"], 16)
    return [
        {
            "id": f"{e['transactionHash']}_{int(e['logIndex'], 16)}",
            "block_number": int(e["blockNumber"], 16),
            "block_hash": e["blockHash"],
            "transaction_hash": e["transactionHash"],
            "transaction_index": int(e["transactionIndex"], 16),
            "log_index": int(e["logIndex"], 16),
            "address": e["address"],
            "data": e["data"],
            "topics": ",".join(e["topics"]),
            "block_timestamp": timestamp,
        }
        for e in all_logs(recorded)
    ]


def expected_transfers(recorded: Json) -> list[Row]:
    timestamp = int(recorded["block"]["timestamp"], 16)
    rows = []
    for e in all_logs(recorded):
        topics = e["topics"]
        if len(topics) != 3 or topics[0] != TRANSFER or len(e["data"]) != 66:
            continue
        rows.append(
            {
                "id": f"{e['transactionHash']}_{int(e['logIndex'], 16)}",
                "sender": "0x" + topics[1][26:],
                "recipient": "0x" + topics[2][26:],
                "amount": int(e["data"], 16),
                "address": e["address"],
                "block_number": int(e["blockNumber"], 16),
                "block_timestamp": timestamp,
                "block_hash": e["blockHash"],
                "transaction_hash": e["transactionHash"],
                "transaction_index": int(e["transactionIndex"], 16),
                "log_index": int(e["logIndex"], 16),
            }
        )
    return rows


EXPECTED = {
    "blocks": expected_blocks,
    "raw_transactions": expected_transactions,
    "raw_logs": expected_logs,
    "erc20_transfers": expected_transfers,
}


def expected_rows(dataset: str, numbers: list[int] | None = None) -> list[Row]:
    """Golden rows of `dataset` for the recorded blocks `numbers` (default all)."""
    recorded = load_ethereum_blocks()
    rows: list[Row] = []
    for number in numbers if numbers is not None else BLOCK_NUMBERS:
        rows.extend(EXPECTED[dataset](recorded[number]))
    return rows


def table_rows(table: pa.Table) -> list[Row]:
    """A source table as rows, u256 columns decoded to Python ints."""
    columns = {}
    for field in table.schema:
        column = table.column(field.name)
        is_u256 = u256.is_u256(field.type)
        columns[field.name] = u256.to_ints(column) if is_u256 else column.to_pylist()
    return [
        {name: values[i] for name, values in columns.items()}
        for i in range(table.num_rows)
    ]


def source_spec(url: str | None, dataset: str, **fields: Any) -> SourceSpec:
    """A `sources:` entry for `ethereum.<dataset>` read from `url`."""
    return SourceSpec(
        name="eth",
        type="dataset",
        dataset=resolve(f"ethereum.{dataset}", None),
        rpc_url=url,
        **fields,
    )


def read_all(
    spec: SourceSpec, profile: ResourceProfile | None = None, cursor: int | None = None
) -> list[SourceBatch]:
    """Open a real `EvmRpcSource`, read every batch, close it."""
    source = EvmRpcSource(spec, profile or profile_for("xs"))
    try:
        source.open(cursor)
        return list(source.read())
    finally:
        source.close()


def batch_rows(batches: list[SourceBatch]) -> list[Row]:
    return [row for batch in batches for row in table_rows(batch.records)]

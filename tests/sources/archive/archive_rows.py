"""Rows of the real mainnet blocks in shared/chaindata, built straight from the JSON.

These are the golden values of the archive tests: they are computed here from the
node's answers with plain Python, not with chaintap's extract code, and written to
Parquet with pyarrow in the layouts `chaintap.sources.archive.layout` documents.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

CHAINDATA = Path(__file__).resolve().parents[3].parent / "shared" / "chaindata"
ETHEREUM = CHAINDATA / "ethereum-mainnet"
# Blocks with logs, oldest first.
LOG_BLOCKS = (4370006, 4404763, 13998626, 16899757, 17053184)
TRANSFER = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"


def load_block(number: int) -> dict[str, Any]:
    with gzip.open(ETHEREUM / f"{number}.json.gz", "rt") as handle:
        data: dict[str, Any] = json.load(handle)
    return data


def log_rows(number: int) -> list[dict[str, Any]]:
    """raw_logs rows of one block, in log order, as plain Python values."""
    data = load_block(number)
    timestamp = int(data["block"]["timestamp"], 16)
    rows = []
    for receipt in data["receipts"]:
        for entry in receipt["logs"]:
            tx_hash = entry["transactionHash"].lower()
            log_index = int(entry["logIndex"], 16)
            rows.append(
                {
                    "id": f"{tx_hash}_{log_index}",
                    "block_number": int(entry["blockNumber"], 16),
                    "block_hash": entry["blockHash"].lower(),
                    "transaction_hash": tx_hash,
                    "transaction_index": int(entry["transactionIndex"], 16),
                    "log_index": log_index,
                    "address": entry["address"].lower(),
                    "data": entry["data"].lower(),
                    "topics": ",".join(t.lower() for t in entry["topics"]),
                    "block_timestamp": timestamp,
                }
            )
    return rows


def transfer_rows(number: int) -> list[dict[str, Any]]:
    """erc20_transfers rows of one block; `amount` is a Python int."""
    rows = []
    for row in log_rows(number):
        topics = row["topics"].split(",")
        if len(topics) != 3 or topics[0] != TRANSFER or len(row["data"]) != 66:
            continue
        rows.append(
            {
                "id": row["id"],
                "sender": "0x" + topics[1][-40:],
                "recipient": "0x" + topics[2][-40:],
                "amount": int(row["data"], 16),
                "address": row["address"],
                "block_number": row["block_number"],
                "block_timestamp": row["block_timestamp"],
                "block_hash": row["block_hash"],
                "transaction_hash": row["transaction_hash"],
                "transaction_index": row["transaction_index"],
                "log_index": row["log_index"],
            }
        )
    return rows


# How chaintap's file sink stores raw_logs: the dataset's own column types.
CHAINTAP_LOGS = pa.schema(
    [
        ("id", pa.string()),
        ("block_number", pa.int64()),
        ("block_hash", pa.string()),
        ("transaction_hash", pa.string()),
        ("transaction_index", pa.int64()),
        ("log_index", pa.int64()),
        ("address", pa.string()),
        ("data", pa.string()),
        ("topics", pa.string()),
        ("block_timestamp", pa.int64()),
    ]
)


def chaintap_name(first: int, last: int) -> str:
    return f"{first:012d}-{last:012d}.parquet"


def write_logs(
    path: Path,
    blocks: list[list[dict[str, Any]]],
    *,
    row_group_size: int | None = None,
) -> None:
    """One Parquet file of raw_logs rows; each block its own row group unless
    `row_group_size` cuts them evenly."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with pq.ParquetWriter(path, CHAINTAP_LOGS) as writer:
        if row_group_size is not None:
            rows = [r for block in blocks for r in block]
            table = pa.Table.from_pylist(rows, schema=CHAINTAP_LOGS)
            writer.write_table(table, row_group_size=row_group_size)
            return
        for rows in blocks:
            writer.write_table(pa.Table.from_pylist(rows, schema=CHAINTAP_LOGS))


def write_cryo_logs(path: Path, rows: list[dict[str, Any]]) -> None:
    """raw_logs rows in cryo's shape: binary hashes, uint32 numbers, topic0..3."""

    def raw(text: str) -> bytes:
        return bytes.fromhex(text[2:])

    topics = [r["topics"].split(",") if r["topics"] else [] for r in rows]
    columns: dict[str, pa.Array] = {
        "block_number": pa.array([r["block_number"] for r in rows], pa.uint32()),
        "block_hash": pa.array([raw(r["block_hash"]) for r in rows], pa.binary()),
        "transaction_index": pa.array(
            [r["transaction_index"] for r in rows], pa.uint32()
        ),
        "log_index": pa.array([r["log_index"] for r in rows], pa.uint32()),
        "transaction_hash": pa.array(
            [raw(r["transaction_hash"]) for r in rows], pa.binary()
        ),
        "contract_address": pa.array([raw(r["address"]) for r in rows], pa.binary()),
    }
    for slot in range(4):
        columns[f"topic{slot}"] = pa.array(
            [raw(t[slot]) if len(t) > slot else None for t in topics], pa.binary()
        )
    columns["data"] = pa.array([raw(r["data"]) for r in rows], pa.binary())
    columns["chain_id"] = pa.array([1] * len(rows), pa.uint64())
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(columns), path)

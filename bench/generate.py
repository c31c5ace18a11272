"""Generate an Ethereum-like `raw_logs` archive for benchmarks.

    python bench/generate.py --rows 2000000 --out bench/out/archive

The shapes follow the real mainnet blocks in shared/chaindata (the 2022-2023 ones,
whose logs look like today's chain), measured when the generator starts:

- event shape: every generated log copies one real log's topic count, topic0,
  data and non-address topics, so the mix of 0-4 topics, data sizes and
  ERC-20 (3-topic) / ERC-721 (4-topic) Transfers is the real one;
- contracts: log i's contract is drawn from a pool with Zipf popularity, the
  exponent fitted to the real per-contract log counts; pool rank r behaves like
  the real contract of rank r mod R (R real contracts), so the busiest synthetic
  contracts emit what the busiest real ones emit;
- addresses in topics (sender, recipient, ...) come from a pool of accounts, and
  ERC-20 amounts are fresh random values of a realistic size;
- logs per block follow a gamma distribution with the real mean and spread;
  logs per transaction are drawn from the real per-transaction counts.

Output: chaintap's archive layout (`<first:012d>-<last:012d>.parquet`, the file
sink's column types), one file per `--blocks-per-file` blocks, sorted by block and
log index. Everything is vectorised with numpy, so a few million rows take seconds.
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from chaintap.datasets import evm
from chaintap.sources.archive.convert import hex_strings

ROOT = Path(__file__).resolve().parents[1]
CHAINDATA = ROOT.parent / "shared" / "chaindata" / "ethereum-mainnet"
# The blocks whose logs look like today's chain (2022 and later).
MODERN_BLOCKS = (13998626, 16899757, 17053184)
TRANSFER = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"
START_BLOCK = 17_000_000
START_TIME = 1_681_000_000
_ADDRESS_TOPIC_PREFIX = "0x" + "0" * 24


@dataclass
class Shapes:
    """What was measured from the real blocks."""

    topics: list[list[str]]  # per real log
    data: list[str]
    family: list[int]  # real contract rank (0 = busiest) per real log
    families: int
    zipf_exponent: float
    logs_per_block_mean: float
    logs_per_block_std: float
    logs_per_tx: list[int]
    address_topic: list[list[bool]]  # per real log and topic slot

    @property
    def count(self) -> int:
        return len(self.data)


def measure(blocks: tuple[int, ...] = MODERN_BLOCKS) -> Shapes:
    """Read the real blocks and measure the distributions the docstring lists."""
    logs: list[dict[str, Any]] = []
    per_block: list[int] = []
    per_tx: list[int] = []
    for number in blocks:
        with gzip.open(CHAINDATA / f"{number}.json.gz", "rt") as handle:
            data = json.load(handle)
        block_logs = [e for r in data["receipts"] for e in r["logs"]]
        logs.extend(block_logs)
        per_block.append(len(block_logs))
        per_tx.extend(len(r["logs"]) for r in data["receipts"] if r["logs"])

    counts = Counter(e["address"].lower() for e in logs)
    ranked = {a: i for i, (a, _) in enumerate(counts.most_common())}
    frequencies = np.array(sorted(counts.values(), reverse=True), dtype=float)
    # Least squares on log(count) = a - s * log(rank): the Zipf exponent s.
    ranks = np.log(np.arange(1, len(frequencies) + 1))
    slope = float(np.polyfit(ranks, np.log(frequencies), 1)[0])

    topics = [[t.lower() for t in e["topics"]] for e in logs]
    return Shapes(
        topics=topics,
        data=[e["data"].lower() for e in logs],
        family=[ranked[e["address"].lower()] for e in logs],
        families=len(ranked),
        zipf_exponent=max(0.5, -slope),
        logs_per_block_mean=float(np.mean(per_block)),
        logs_per_block_std=float(np.std(per_block)),
        logs_per_tx=per_tx,
        address_topic=[
            [t.startswith(_ADDRESS_TOPIC_PREFIX) and t != "0x" + "0" * 64 for t in ts]
            for ts in topics
        ],
    )


def _zipf_ranks(rng: np.random.Generator, size: int, pool: int, s: float) -> np.ndarray:
    weights = 1.0 / np.arange(1, pool + 1, dtype=float) ** s
    cdf = np.cumsum(weights)
    cdf /= cdf[-1]
    return np.minimum(np.searchsorted(cdf, rng.random(size)), pool - 1)


def _random_hex(rng: np.random.Generator, count: int, width: int) -> pa.Array:
    raw = rng.integers(0, 256, size=(count, width), dtype=np.uint8)
    binary = pa.Array.from_buffers(
        pa.binary(width), count, [None, pa.py_buffer(raw.tobytes())]
    )
    return hex_strings(binary)


class Generator:
    """Makes blocks of logs with the measured shapes; deterministic per seed."""

    def __init__(self, shapes: Shapes, rows: int, seed: int) -> None:
        self.shapes = shapes
        self.rng = np.random.default_rng(seed)
        # Pools scale with the archive: about one contract per 40 logs and one
        # account per 8, so reuse stays realistic at any size.
        self.contracts = _random_hex(self.rng, max(shapes.families, rows // 40), 20)
        self.accounts = self.rng.integers(
            0, 256, size=(max(1000, rows // 8), 20), dtype=np.uint8
        )
        # Real logs grouped by contract rank: members[starts[f] : starts[f] + sizes[f]].
        order = np.argsort(np.array(shapes.family), kind="stable")
        self.members = order
        self.sizes = np.bincount(np.array(shapes.family), minlength=shapes.families)
        self.starts = np.cumsum(self.sizes) - self.sizes
        self.templates = self._templates()

    def _templates(self) -> dict[str, Any]:
        s = self.shapes
        slots = [
            pa.array([ts[i] if len(ts) > i else None for ts in s.topics], pa.string())
            for i in range(4)
        ]
        erc20 = np.array(
            [len(ts) == 3 and ts[0] == TRANSFER and len(d) == 66
             for ts, d in zip(s.topics, s.data, strict=True)]
        )  # fmt: skip
        address_slot = np.array(
            [[len(a) > i and a[i] for i in range(4)] for a in s.address_topic]
        )
        return {
            "slots": slots,
            "data": pa.array(s.data, pa.string()),
            "erc20": erc20,
            "address_slot": address_slot,
        }

    def logs_per_block(self, blocks: int) -> np.ndarray:
        mean, std = self.shapes.logs_per_block_mean, self.shapes.logs_per_block_std
        shape = (mean / std) ** 2
        counts = self.rng.gamma(shape, mean / shape, size=blocks)
        return np.maximum(1, np.round(counts)).astype(np.int64)

    def table(self, first_block: int, per_block: np.ndarray) -> pa.Table:
        """The logs of blocks `first_block ...`, `per_block[i]` logs in block i."""
        rng, count = self.rng, int(per_block.sum())
        blocks = np.repeat(np.arange(len(per_block)), per_block)
        starts = np.cumsum(per_block) - per_block
        log_index = np.arange(count) - np.repeat(starts, per_block)

        # Transactions: runs of logs with the real logs-per-transaction counts.
        runs = rng.choice(self.shapes.logs_per_tx, size=count)
        tx_id = np.zeros(count, dtype=np.int64)
        ends = np.cumsum(runs)
        tx_id[ends[ends < count]] = 1
        tx_id = np.cumsum(tx_id) + blocks  # a new transaction at each block start
        _, tx_id = np.unique(tx_id, return_inverse=True)
        first_tx = np.concatenate(([0], np.flatnonzero(np.diff(blocks)) + 1))
        tx_of_block_start = np.repeat(tx_id[first_tx], per_block)
        tx_index = tx_id - tx_of_block_start

        contract = _zipf_ranks(
            rng, count, len(self.contracts), self.shapes.zipf_exponent
        )
        family = contract % self.shapes.families
        within = (rng.random(count) * self.sizes[family]).astype(np.int64)
        template = self.members[self.starts[family] + within]
        return self._assemble(first_block, blocks, per_block, log_index, tx_id,
                              tx_index, contract, template)  # fmt: skip

    def _assemble(
        self,
        first_block: int,
        blocks: np.ndarray,
        per_block: np.ndarray,
        log_index: np.ndarray,
        tx_id: np.ndarray,
        tx_index: np.ndarray,
        contract: np.ndarray,
        template: np.ndarray,
    ) -> pa.Table:
        rng, count, t = self.rng, len(blocks), self.templates
        take = pa.array(template)
        block_hashes = _random_hex(rng, len(per_block), 32)
        tx_hashes = _random_hex(rng, int(tx_id.max()) + 1, 32)
        transaction_hash = tx_hashes.take(pa.array(tx_id))

        topics = []
        for slot in range(4):
            values = t["slots"][slot].take(take)
            fresh = t["address_slot"][template, slot]
            if fresh.any():
                accounts = self.accounts[rng.integers(0, len(self.accounts), count)]
                padded = np.zeros((count, 32), dtype=np.uint8)
                padded[:, 12:] = accounts
                words = pa.Array.from_buffers(
                    pa.binary(32), count, [None, pa.py_buffer(padded.tobytes())]
                )
                values = pc.if_else(pa.array(fresh), hex_strings(words), values)
            topics.append(values.fill_null(""))
        joined = pc.utf8_rtrim(
            pc.binary_join_element_wise(*topics, ","), characters=","
        )

        data = t["data"].take(take)
        erc20 = t["erc20"][template]
        if erc20.any():
            amounts = np.zeros((count, 32), dtype=np.uint8)
            # Token amounts of 1..~2^96: a random count of low bytes is filled.
            width = rng.integers(1, 13, count)
            noise = rng.integers(0, 256, size=(count, 12), dtype=np.uint8)
            noise[np.arange(12)[None, :] < (12 - width)[:, None]] = 0
            amounts[:, 20:] = noise
            words = pa.Array.from_buffers(
                pa.binary(32), count, [None, pa.py_buffer(amounts.tobytes())]
            )
            data = pc.if_else(pa.array(erc20), hex_strings(words), data)

        numbers = first_block + blocks
        ids = pc.binary_join_element_wise(
            transaction_hash, pc.cast(pa.array(log_index), pa.string()), "_"
        )
        columns = {
            "id": ids,
            "block_number": pa.array(numbers, pa.int64()),
            "block_hash": block_hashes.take(pa.array(blocks)),
            "transaction_hash": transaction_hash,
            "transaction_index": pa.array(tx_index, pa.int64()),
            "log_index": pa.array(log_index, pa.int64()),
            "address": self.contracts.take(pa.array(contract)),
            "data": data,
            "topics": joined,
            "block_timestamp": pa.array(START_TIME + 12 * numbers, pa.int64()),
        }
        return pa.Table.from_pydict(columns, schema=evm.RAW_LOGS)


def generate(
    out: Path,
    rows: int,
    *,
    seed: int = 1,
    blocks_per_file: int = 1000,
    row_group_rows: int = 65_536,
) -> dict[str, Any]:
    """Write about `rows` logs to `out`; returns what was written and measured."""
    started = time.monotonic()
    shapes = measure()
    generator = Generator(shapes, rows, seed)
    mean = shapes.logs_per_block_mean
    per_block = generator.logs_per_block(max(1, math.ceil(rows / mean)))

    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob("*.parquet"):
        stale.unlink()
    written, files = 0, 0
    for offset in range(0, len(per_block), blocks_per_file):
        chunk = per_block[offset : offset + blocks_per_file]
        first = START_BLOCK + offset
        table = generator.table(first, chunk)
        name = f"{first:012d}-{first + len(chunk) - 1:012d}.parquet"
        pq.write_table(table, out / name, row_group_size=row_group_rows)
        written += table.num_rows
        files += 1

    return {
        "directory": str(out),
        "rows": written,
        "files": files,
        "first_block": START_BLOCK,
        "last_block": START_BLOCK + len(per_block) - 1,
        "bytes": sum(p.stat().st_size for p in out.glob("*.parquet")),
        "seconds": round(time.monotonic() - started, 2),
        "measured": {
            "real_logs": shapes.count,
            "logs_per_block_mean": round(mean, 1),
            "logs_per_block_std": round(shapes.logs_per_block_std, 1),
            "zipf_exponent": round(shapes.zipf_exponent, 3),
            "real_contracts": shapes.families,
        },
    }


def describe(directory: Path, sample_rows: int = 200_000) -> dict[str, float]:
    """Shape figures of an archive (first `sample_rows` rows), to compare with
    the same figures of the real blocks."""
    table = pq.ParquetDataset(directory).read(columns=["topics", "data", "address"])
    table = table.slice(0, sample_rows)
    topics = table.column("topics").to_pylist()
    data = table.column("data").to_pylist()
    return _shape_figures(topics, data, table.column("address").to_pylist())


def real_figures() -> dict[str, float]:
    shapes = measure()
    addresses = [str(f) for f in shapes.family]
    return _shape_figures([",".join(t) for t in shapes.topics], shapes.data, addresses)


def _shape_figures(
    topics: list[str], data: list[str], addresses: list[str]
) -> dict[str, float]:
    n = len(topics)
    counts = Counter(len(t.split(",")) if t else 0 for t in topics)
    erc20 = sum(
        1 for t, d in zip(topics, data, strict=True)
        if t.startswith(TRANSFER) and t.count(",") == 2 and len(d) == 66
    )  # fmt: skip
    erc721 = sum(1 for t in topics if t.startswith(TRANSFER) and t.count(",") == 3)
    figures = {f"topics_{k}": round(counts.get(k, 0) / n, 3) for k in range(5)}
    figures["erc20_transfer"] = round(erc20 / n, 3)
    figures["erc721_transfer"] = round(erc721 / n, 3)
    figures["data_bytes_mean"] = round(sum((len(d) - 2) / 2 for d in data) / n, 1)
    top = Counter(addresses).most_common(1)[0][1]
    figures["busiest_contract_share"] = round(top / n, 3)
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=2_000_000, help="logs to write")
    parser.add_argument(
        "--out", type=Path, default=ROOT / "bench" / "out" / "archive",
        help="archive directory (its .parquet files are replaced)",
    )  # fmt: skip
    parser.add_argument("--seed", type=int, default=1, help="random seed")
    args = parser.parse_args(argv)
    result = generate(args.out, args.rows, seed=args.seed)
    result["shape_generated"] = describe(args.out)
    result["shape_real"] = real_figures()
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Benchmark: SQL transform overhead per batch, and ERC-20 Transfer decoding speed.

Run: `python tests/transforms/bench_sql.py` (not collected by pytest). Rows are the
recorded mainnet logs repeated to size. Each figure is the best of a few runs, wall
time, with the process CPU time of that run beside it.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from chaintap.datasets.evm import RAW_LOGS
from chaintap.spec.model import TransformSpec
from chaintap.transforms.sql import SqlTransform
from transforms.helpers import (
    ERC20_ABI,
    TRANSFER_TOPIC,
    mainnet_logs,
    raw_logs_table,
)


def repeated(table: pa.Table, rows: int) -> pa.Table:
    copies = -(-rows // table.num_rows)
    return pa.concat_tables([table] * copies).slice(0, rows).combine_chunks()


def best_of(transform: SqlTransform, table: pa.Table, runs: int) -> tuple[float, float]:
    transform.process({"raw_logs": table})
    best = (float("inf"), 0.0)
    for _ in range(runs):
        wall, cpu = time.perf_counter(), time.process_time()
        transform.process({"raw_logs": table})
        took = (time.perf_counter() - wall, time.process_time() - cpu)
        best = min(best, took)
    return best


def transform(sql: str) -> SqlTransform:
    t = SqlTransform(TransformSpec("bench", "sql", None, sql, ("raw_logs",)))
    t.open({"raw_logs": RAW_LOGS})
    return t


def main() -> None:
    logs = mainnet_logs()
    every = raw_logs_table(logs)
    transfers = raw_logs_table(
        [g for g in logs if len(g["topics"]) == 3 and g["topics"][0] == TRANSFER_TOPIC]
    )
    simple = transform("SELECT id, address FROM raw_logs WHERE block_number > 0")
    decode = transform(
        f"SELECT id, evm_log_decode('{ERC20_ABI}', topics, data) AS d FROM raw_logs"
    )
    empty, mixed = RAW_LOGS.empty_table(), repeated(every, 100_000)

    for label, t, table, runs in [
        ("simple SQL, empty batch", simple, empty, 200),
        ("simple SQL, 100k rows", simple, mixed, 20),
        ("decode SQL, empty batch", decode, empty, 200),
        ("decode SQL, 100k mixed logs", decode, mixed, 5),
    ]:
        wall, cpu = best_of(t, table, runs)
        print(f"{label:32} {wall * 1000:8.2f} ms  (cpu {cpu * 1000:.2f} ms)")

    million = repeated(transfers, 1_000_000)
    wall, cpu = best_of(decode, million, 3)
    print(
        f"{'decode 1M ERC-20 Transfers':32} {wall:8.3f} s   (cpu {cpu:.3f} s) "
        f"= {1e6 / wall:,.0f} rows/s"
    )


if __name__ == "__main__":
    main()

"""Benchmark: COPY paths of the postgres sink for 100k ERC-20-shaped rows.

Not collected by pytest (no `test_` prefix). Run it by hand:

    PYTHONPATH=tests /work/venv/bin/python tests/sinks/bench_postgres_copy.py

It starts its own throwaway cluster (the same one the tests use), then measures,
best of three each, into an unindexed table of the erc20_transfers shape:
- client-side encoding alone, binary vs CSV;
- COPY ... FROM STDIN, binary vs CSV (encode + send + server parse);
- `psql -c "\\copy ... FROM file (FORMAT csv)"` of the same rows, the baseline;
- psycopg's own per-row `write_row` in binary, to show what vectorising buys;
- the whole sink flush (staging + upsert on `id`) for a fresh and a repeated load.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv

from chaintap import u256
from chaintap.datasets.evm import ERC20_TRANSFERS
from chaintap.sinks.postgres import PostgresSink, encode
from chaintap.sinks.postgres.schema import pg_type
from chaintap.spec.model import BlockRange, SinkSpec
from chaintap.tuning import ResourceProfile
from support.postgres_fixtures import PostgresServer, find_postgres_bin, service_user

ROWS = 100_000
REPEATS = 5


def erc20_rows(count: int, seed: int = 7) -> pa.Table:
    """Synthetic rows with mainnet-like widths and amount magnitudes."""
    rng = random.Random(seed)

    def hexstr(nbytes: int) -> str:
        return "0x" + rng.getrandbits(nbytes * 8).to_bytes(nbytes, "big").hex()

    amounts = [
        rng.getrandbits(rng.choice((64, 80, 96, 128))) if i % 1000 else u256.U256_MAX
        for i in range(count)
    ]
    tx_hashes = [hexstr(32) for _ in range(count)]
    return pa.table(
        {
            "id": [f"{h}_{i % 300}" for i, h in enumerate(tx_hashes)],
            "sender": [hexstr(20) for _ in range(count)],
            "recipient": [hexstr(20) for _ in range(count)],
            "amount": u256.array(amounts),
            "address": [hexstr(20) for _ in range(count)],
            "block_number": [17_000_000 + i // 200 for i in range(count)],
            "block_timestamp": [1_680_000_000 + i // 200 * 12 for i in range(count)],
            "block_hash": [hexstr(32) for _ in range(count)],
            "transaction_hash": tx_hashes,
            "transaction_index": [i % 200 for i in range(count)],
            "log_index": [i % 300 for i in range(count)],
        },
        schema=ERC20_TRANSFERS,
    )


def best(label: str, run: Callable[[], None], before: Callable[[], None]) -> float:
    times = []
    for _ in range(REPEATS):
        before()
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    seconds = min(times)
    print(f"{label:<44} {seconds * 1000:8.1f} ms  {ROWS / seconds:>10,.0f} rows/s")
    return seconds


def main() -> None:
    bin_dir = find_postgres_bin()
    if bin_dir is None:
        sys.exit("no PostgreSQL binaries; install the postgresql package")
    root = Path(tempfile.mkdtemp(prefix="chaintap-pg-bench-"))
    server = PostgresServer(bin_dir, root, service_user())
    try:
        server.init()
        server.start()
        run_benchmarks(server, root)
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


def run_benchmarks(server: PostgresServer, root: Path) -> None:
    table = erc20_rows(ROWS)
    types = [pg_type(f.type) or "" for f in table.schema]
    batches = table.to_batches(max_chunksize=65_536)
    columns = ", ".join(
        f'"{f.name}" {t}' for f, t in zip(table.schema, types, strict=True)
    )
    conn = psycopg.connect(server.url, autocommit=True)
    conn.execute(f"CREATE TABLE bench ({columns})")

    def truncate() -> None:
        conn.execute("TRUNCATE bench")

    def encode_binary() -> None:
        for batch in batches:
            encode.binary_rows(batch, types)

    def encode_csv() -> None:
        for batch in batches:
            encode.csv_rows(batch, types)

    def copy(fmt: str) -> Callable[[], None]:
        def run() -> None:
            with conn.cursor().copy(f"COPY bench FROM STDIN (FORMAT {fmt})") as out:
                if fmt == "binary":
                    out.write(encode.BINARY_HEADER)
                for batch in batches:
                    rows = encode.binary_rows if fmt == "binary" else encode.csv_rows
                    out.write(rows(batch, types))
                if fmt == "binary":
                    out.write(encode.BINARY_TRAILER)

        return run

    def write_row() -> None:
        plain = table.to_pylist()
        with conn.cursor().copy("COPY bench FROM STDIN (FORMAT binary)") as out:
            out.set_types([t.split("(")[0] for t in types])
            for row in plain:
                row["amount"] = u256.from_bytes(row["amount"])
                out.write_row(tuple(row.values()))

    print(f"{ROWS:,} ERC-20-shaped rows, best of {REPEATS}")
    best("encode only: binary", encode_binary, lambda: None)
    best("encode only: csv", encode_csv, lambda: None)
    binary = best("COPY FROM STDIN binary (encode included)", copy("binary"), truncate)
    text = best("COPY FROM STDIN csv (encode included)", copy("csv"), truncate)
    psql = best("psql \\copy FROM file csv", psql_copy(server, root, table), truncate)
    best("psycopg write_row binary (per-row Python)", write_row, truncate)
    print(f"binary / csv speed: {text / binary:.2f}x")
    print(f"binary vs psql \\copy: {psql / binary:.2f}x of psql's rows/s")
    print(f"csv vs psql \\copy: {psql / text:.2f}x of psql's rows/s")
    sink_flush(server, conn, table)


def psql_copy(
    server: PostgresServer, root: Path, table: pa.Table
) -> Callable[[], None]:
    """psql reading the same rows from a CSV file (u256 as decimal text)."""
    text = pa.Table.from_batches(
        [
            pa.RecordBatch.from_arrays(
                [encode.decimal_strings(c) if u256.is_u256(c.type) else c for c in b],
                names=b.schema.names,
            )
            for b in table.to_batches()
        ]
    )
    path = root / "rows.csv"
    pacsv.write_csv(text, path, pacsv.WriteOptions(include_header=False))
    psql = shutil.which("psql") or str(server.bin_dir / "psql")
    env = dict(os.environ, PGPASSWORD=server.password)
    command = [
        psql,
        "-X",
        "-q",
        "-h",
        "127.0.0.1",
        "-p",
        str(server.port),
        "-U",
        "chaintap",
        "-d",
        "postgres",
        "-c",
        f"\\copy bench FROM '{path}' (FORMAT csv)",
    ]

    def run() -> None:
        subprocess.run(command, env=env, check=True)

    return run


def sink_flush(
    server: PostgresServer,
    conn: psycopg.Connection[tuple[object, ...]],
    table: pa.Table,
) -> None:
    """The whole sink path: staging, DISTINCT ON, upsert on id, commit."""
    os.environ["CHAINTAP_SECRET_BENCH_PG"] = server.url
    profile = ResourceProfile("bench", 100, 8, 100, 1, 10 * ROWS)
    for fmt in ("binary", "csv"):
        conn.execute("DROP TABLE IF EXISTS sink_bench")
        spec = SinkSpec(
            name="bench",
            type="postgres",
            from_="erc20_transfers",
            primary_key="id",
            options={"table": "sink_bench", "secret_name": "BENCH_PG"},
        )
        sink = PostgresSink(spec, "bench", profile, copy_format=fmt)
        sink.open(table.schema)
        for label in ("fresh table", "same rows again (all conflicts)"):
            started = time.perf_counter()
            sink.write_batch(table, BlockRange(1, 500))
            sink.flush()
            seconds = time.perf_counter() - started
            print(
                f"sink flush {fmt}, {label:<31} {seconds * 1000:8.1f} ms  "
                f"{ROWS / seconds:>10,.0f} rows/s"
            )
        sink.close()


if __name__ == "__main__":
    main()

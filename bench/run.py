"""chaintap's benchmark suite: each figure beside a baseline measured in the same run.

    python bench/run.py [--only 1,3,4] [--quick] [--rows N] [--blocks N]

1. decode + filter: a raw_logs archive → `evm_log_decode` of ERC-20 Transfers →
   blackhole, in source rows/s; against pyarrow reading the same Parquet files
   (the floor: no engine can read faster than its Parquet reader) and against the
   1,000,000 rows/s target. Measured with the filter in SQL only, and with the
   same filter also on the source (row-group and row pushdown).
2. end to end: archive → decode → Postgres upsert, in final rows/s, against
   `psql \\copy` of the same final rows into the same table (the floor of loading
   rows into PostgreSQL). Skipped with a message when no PostgreSQL server
   binaries are found.
3. extraction from a node: `blocks`, `raw_logs` and `erc20_transfers` of a local
   anvil chain (bench/anvil_chain.py) → blackhole, against cryo and ethereum-etl
   on the same node and range (bench/extraction.py); target 1.0x cryo.
4. scaling: the figure-1 decode job and the anvil `erc20_transfers` job run with
   1 and 2 worker processes (`chaintap run --workers N`): speedup and efficiency
   (bench/scaling.py).
5. a job over every row (`SELECT *` → blackhole) run as `chaintap run --workers 1`
   in a child process: its peak RSS against a child that reads the archive whole
   with pyarrow, and its time from process start to the first batch against the
   time `chaintap --version` takes (interpreter start and imports).

Throughputs are the median of `--repeat` runs (the machine may be shared). The
archive is made by `bench/generate.py` (Ethereum-like shapes measured from the
real blocks in shared/chaindata). Results go to bench/out/latest.json and a
markdown table to stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests"))

from anvil_chain import ChainShape, build_chain  # noqa: E402
from extraction import figure_extraction, pipeline_text  # noqa: E402
from generate import TRANSFER, generate  # noqa: E402
from report import TARGET_ROWS_PER_S, table, targets  # noqa: E402
from scaling import figure_scaling  # noqa: E402

from chaintap.demo.anvil import AnvilNode  # noqa: E402
from chaintap.runtime.runner import RunSummary, run_pipeline  # noqa: E402
from chaintap.spec.loader import load_pipeline_text  # noqa: E402

OUT = ROOT / "bench" / "out"
TRANSFER_ABI = (
    '[{"anonymous":false,"name":"Transfer","type":"event","inputs":['
    '{"indexed":true,"name":"from","type":"address"},'
    '{"indexed":true,"name":"to","type":"address"},'
    '{"indexed":false,"name":"value","type":"uint256"}]}]'
)
# The per-batch log line of the runner; its first appearance is the first batch.
FIRST_BATCH = re.compile(r"rows in, \d+ sink rows, checkpoint")

SOURCE = """
  logs:
    type: dataset
    dataset_name: ethereum.raw_logs
    archive: {archive}
    start_block: {first}
    end_block: {last}
"""
PUSHDOWN = f"    filter: topics LIKE '{TRANSFER}%'\n"
# `{amount}` is the decoded text, or `to_u256(...)` of it where it becomes a number.
DECODE = f"""
transforms:
  decoded:
    type: sql
    primary_key: id
    sql: |
      SELECT id, block_number, address AS token,
             evm_log_decode('{TRANSFER_ABI}', topics, data) AS decoded
      FROM logs
      WHERE topics LIKE '{TRANSFER}%'
  transfers:
    type: sql
    primary_key: id
    sql: |
      SELECT id, block_number, token,
             decoded.event_params[1] AS sender,
             decoded.event_params[2] AS recipient,
             {{amount}} AS amount
      FROM decoded
      WHERE decoded IS NOT NULL
"""
BLACKHOLE = """
sinks:
  out:
    type: blackhole
    from: {node}
"""
POSTGRES = """
sinks:
  out:
    type: postgres
    from: transfers
    schema: public
    table: transfers
    primary_key: id
    secret_name: BENCH_PG
"""


AS_TEXT = "decoded.event_params[3]"
AS_U256 = "to_u256(decoded.event_params[3])"


def decode(amount: str) -> str:
    return DECODE.replace("{amount}", amount)


def pipeline(name: str, size: str, archive: dict[str, Any], *parts: str) -> str:
    head = f"name: {name}\nresource_size: {size}\njob: true\nsources:"
    source = SOURCE.format(
        archive=archive["directory"],
        first=archive["first_block"],
        last=archive["last_block"],
    )
    return head + source + "".join(parts)


def run_once(text: str) -> tuple[RunSummary, float]:
    """Run a pipeline in this process with fresh checkpoints; (summary, seconds)."""
    spec = load_pipeline_text(text)
    with tempfile.TemporaryDirectory(prefix="chaintap-bench-") as home:
        started = time.perf_counter()
        summary = run_pipeline(spec, home=Path(home))
        seconds = time.perf_counter() - started
    if summary.outcome != "succeeded":
        raise RuntimeError(f"{spec.name}: {summary.outcome} {summary.message}")
    return summary, seconds


def pyarrow_floor(directory: Path) -> float:
    """Rows/s of pyarrow streaming every column of every file."""
    started, rows = time.perf_counter(), 0
    for path in sorted(directory.glob("*.parquet")):
        for batch in pq.ParquetFile(path).iter_batches(batch_size=65_536):
            rows += batch.num_rows
    return rows / (time.perf_counter() - started)


# Figure 1 -----------------------------------------------------------------------


def figure_decode(archive: dict[str, Any], size: str, repeat: int) -> dict[str, Any]:
    rows = archive["rows"]
    sink = BLACKHOLE.format(node="transfers")
    plain = pipeline("bench-decode", size, archive, decode(AS_TEXT), sink)
    pushed = pipeline(
        "bench-decode-pushdown", size, archive, PUSHDOWN, decode(AS_TEXT), sink
    )

    transfers = 0

    def measured(text: str) -> Callable[[], float]:
        def measure() -> float:
            nonlocal transfers
            summary, seconds = run_once(text)
            transfers = summary.rows_by_node["transfers"]
            return float(rows / seconds)

        return measure

    # Interleaved, so a busy moment on a shared machine hits all three alike.
    runs: dict[str, list[float]] = {"floor": [], "decode": [], "pushdown": []}
    for _ in range(repeat):
        runs["floor"].append(pyarrow_floor(Path(archive["directory"])))
        runs["decode"].append(measured(plain)())
        runs["pushdown"].append(measured(pushed)())
    return {
        "rows": rows,
        "transfers": transfers,
        "decode_rows_per_s": statistics.median(runs["decode"]),
        "decode_pushdown_rows_per_s": statistics.median(runs["pushdown"]),
        "pyarrow_floor_rows_per_s": statistics.median(runs["floor"]),
        "target_rows_per_s": TARGET_ROWS_PER_S,
        "runs": runs,
    }


# Figure 2 -----------------------------------------------------------------------


def figure_postgres(archive: dict[str, Any], size: str) -> dict[str, Any]:
    try:
        from support.postgres_fixtures import (  # type: ignore[import-not-found]
            PostgresServer,
            find_postgres_bin,
            service_user,
        )
    except ImportError as err:
        return {"skipped": f"the test support code cannot be imported ({err})"}
    bin_dir, psql = find_postgres_bin(), shutil.which("psql")
    if bin_dir is None or psql is None:
        return {"skipped": "no PostgreSQL server binaries or psql on this machine"}

    root = Path(tempfile.mkdtemp(prefix="chaintap-bench-pg-"))
    server = PostgresServer(bin_dir, root, service_user())
    try:
        server.init()
        server.start()
        return _measure_postgres(archive, size, server.url, psql)
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


def _measure_postgres(
    archive: dict[str, Any], size: str, url: str, psql: str
) -> dict[str, Any]:
    """1. chaintap upserts; 2. export its rows; 3. psql \\copy them back, timed."""
    os.environ["CHAINTAP_SECRET_BENCH_PG"] = url
    # Amounts land as NUMERIC(78,0), as a user would store them.
    text = pipeline("bench-postgres", size, archive, decode(AS_U256), POSTGRES)
    summary, seconds = run_once(text)
    final = summary.rows_by_node["out"]

    def sql(command: str) -> str:
        done = subprocess.run(
            [psql, url, "-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", "-c", command],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        return done.stdout.strip()

    rows_in_table = int(sql("SELECT count(*) FROM public.transfers"))
    with tempfile.TemporaryDirectory(prefix="chaintap-bench-csv-") as scratch:
        csv = Path(scratch) / "transfers.csv"
        sql(f"\\copy public.transfers TO '{csv}' WITH (FORMAT csv)")
        sql("TRUNCATE public.transfers")
        started = time.perf_counter()
        sql(f"\\copy public.transfers FROM '{csv}' WITH (FORMAT csv)")
        copy_seconds = time.perf_counter() - started
    copied = int(sql("SELECT count(*) FROM public.transfers"))
    return {
        "source_rows": summary.source_rows,
        "final_rows": final,
        "rows_in_table": rows_in_table,
        "chaintap_seconds": seconds,
        "chaintap_rows_per_s": final / seconds,
        "chaintap_source_rows_per_s": summary.source_rows / seconds,
        "psql_copy_seconds": copy_seconds,
        "psql_copy_rows_per_s": copied / copy_seconds,
    }


# Figure 5 -----------------------------------------------------------------------


def _child(
    command: list[str], env: dict[str, str]
) -> tuple[float, int, float | None, str]:
    """Run `command`; (seconds, peak RSS in bytes, seconds to first batch, stderr)."""
    started = time.perf_counter()
    child = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    first: list[float] = []
    lines: list[str] = []

    def watch() -> None:
        assert child.stderr is not None
        for line in child.stderr:
            if not first and FIRST_BATCH.search(line):
                first.append(time.perf_counter() - started)
            if len(lines) < 200:
                lines.append(line)

    reader = threading.Thread(target=watch, daemon=True)
    reader.start()
    # The child's own high-water mark. (wait4's ru_maxrss is no use here: Linux
    # carries the forking parent's peak across exec, and this process is big.)
    peak = 0
    while child.poll() is None:
        peak = max(peak, _high_water_mark(child.pid))
        time.sleep(0.02)
    seconds = time.perf_counter() - started
    reader.join()
    if child.returncode != 0:
        raise RuntimeError(f"{command[:3]} failed: {''.join(lines[-20:])}")
    return seconds, peak, first[0] if first else None, "".join(lines)


def _high_water_mark(pid: int) -> int:
    """VmHWM of a running process in bytes; 0 once it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    found = re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE)
    return int(found.group(1)) * 1024 if found else 0


def figure_memory(archive: dict[str, Any], size: str) -> dict[str, Any]:
    chaintap = str(Path(sys.executable).parent / "chaintap")
    with tempfile.TemporaryDirectory(prefix="chaintap-bench-rss-") as scratch:
        path = Path(scratch) / "all-rows.yaml"
        path.write_text(
            pipeline("bench-all-rows", size, archive, BLACKHOLE.format(node="logs"))
        )
        env = {**os.environ, "CHAINTAP_HOME": scratch}
        # One worker: a partitioned run's peak would be its parent's alone.
        run_seconds, rss, first_batch, _ = _child(
            [chaintap, "run", str(path), "--workers", "1", "--no-progress"], env
        )
        startup, startup_rss, _, _ = _child([chaintap, "--version"], env)

    script = (
        "import pyarrow.parquet as pq, sys; "
        "t = pq.ParquetDataset(sys.argv[1]).read(); print(t.num_rows)"
    )
    _, whole_rss, _, _ = _child(
        [sys.executable, "-c", script, archive["directory"]], dict(os.environ)
    )
    return {
        "job_seconds": run_seconds,
        "job_peak_rss_bytes": rss,
        "read_whole_peak_rss_bytes": whole_rss,
        "first_batch_seconds": first_batch,
        "cli_startup_seconds": startup,
        "cli_startup_peak_rss_bytes": startup_rss,
        "archive_bytes": archive["bytes"],
    }


# Main ---------------------------------------------------------------------------

ALL_FIGURES = "1,2,3,4,5"
# Node-job sizes: `m` is what the extraction targets are stated for.
NODE_SIZE = "m"
# ethereum-etl takes 5-10x longer than the other two per run (~30 s for the
# three datasets on a 2,000-block chain); this many runs keep the whole suite
# under ten minutes, and its spread is far smaller than its gap to the others.
ETL_RUNS = 1
# Figure 4 runs each point this often and takes the median.
SCALING_RUNS = 3


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default=ALL_FIGURES, help="figures to run: 1,3,4")
    parser.add_argument("--rows", type=int, default=None, help="logs in the archive")
    parser.add_argument("--blocks", type=int, default=None, help="anvil chain blocks")
    parser.add_argument(
        "--quick", action="store_true",
        help="300k rows, 300 blocks, one run each",
    )  # fmt: skip
    parser.add_argument("--repeat", type=int, default=None, help="runs per throughput")
    parser.add_argument("--size", default="xl", help="resource_size, archive jobs")
    args = parser.parse_args(argv)
    figures = {int(f) for f in args.only.split(",") if f.strip()}
    rows = args.rows or (300_000 if args.quick else 2_000_000)
    blocks = args.blocks or (300 if args.quick else 2_000)
    repeat = args.repeat or (1 if args.quick else 5)
    scaling_runs = 1 if args.quick else SCALING_RUNS

    started = time.perf_counter()
    results: dict[str, Any] = {}
    archive: dict[str, Any] = {}
    if figures & {1, 2, 4, 5}:
        print(f"generating an archive of ~{rows:,} logs ...", file=sys.stderr)
        archive = results["archive"] = generate(OUT / "archive", rows)
        print(
            f"  {archive['rows']:,} rows in {archive['files']} files", file=sys.stderr
        )
    if 1 in figures:
        print("figure 1: decode + filter ...", file=sys.stderr)
        results["decode"] = figure_decode(archive, args.size, repeat)
    if 2 in figures:
        print("figure 2: Postgres ...", file=sys.stderr)
        results["postgres"] = figure_postgres(archive, args.size)
    if figures & {3, 4}:
        _node_figures(
            results, figures, archive, args.size, blocks, repeat, scaling_runs
        )
    if 5 in figures:
        print("figure 5: memory and first batch ...", file=sys.stderr)
        results["memory"] = figure_memory(archive, args.size)
    results["environment"] = {
        "python": platform.python_version(),
        "pyarrow": pa.__version__,
        "cpus": os.cpu_count(),
        "figures": sorted(figures),
        "resource_size": args.size,
        "node_resource_size": NODE_SIZE,
        "repeat": repeat,
        "seconds": round(time.perf_counter() - started, 1),
        "when": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }

    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "latest.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(table(results))
    print()
    for line in targets(results):
        print(f"- {line}")
    print(f"\n(written to {OUT / 'latest.json'})")
    return 0


def _node_figures(
    results: dict[str, Any],
    figures: set[int],
    archive: dict[str, Any],
    size: str,
    blocks: int,
    repeat: int,
    scaling_runs: int,
) -> None:
    """Figures 3 and 4: both need the anvil chain, which lives only this long."""
    print(f"building an anvil chain of {blocks:,} blocks ...", file=sys.stderr)
    with AnvilNode() as node:
        shape = build_chain(node.url, blocks=blocks)
        print(
            f"  blocks 0..{shape.last_block}: {shape.transactions:,} transactions, "
            f"{shape.logs:,} logs ({shape.build_seconds:.0f} s)",
            file=sys.stderr,
        )
        if 3 in figures:
            print("figure 3: extraction from a node ...", file=sys.stderr)
            results["extraction"] = figure_extraction(
                shape, NODE_SIZE, repeat, min(repeat, ETL_RUNS)
            )
        if 4 in figures:
            print("figure 4: scaling over workers ...", file=sys.stderr)
            results["scaling"] = figure_scaling(
                _scaling_jobs(archive, size, shape), scaling_runs
            )


def _scaling_jobs(
    archive: dict[str, Any], size: str, shape: ChainShape
) -> dict[str, tuple[str, int]]:
    sink = BLACKHOLE.format(node="transfers")
    decode_job = pipeline("bench-scale-decode", size, archive, decode(AS_TEXT), sink)
    node_job = pipeline_text(shape, "erc20_transfers", NODE_SIZE)
    return {
        f"archive decode → blackhole ({archive['rows']:,} logs, {size})": (
            decode_job,
            archive["rows"],
        ),
        f"anvil erc20_transfers → blackhole ({shape.blocks:,} blocks, {NODE_SIZE})": (
            node_job,
            shape.transfer_logs,
        ),
    }


if __name__ == "__main__":
    raise SystemExit(main())

"""chaintap's benchmark suite: each figure beside a baseline measured in the same run.

    python bench/run.py [--rows N] [--quick]

1. decode + filter: a raw_logs archive → `evm_log_decode` of ERC-20 Transfers →
   blackhole, in source rows/s; against pyarrow reading the same Parquet files
   (the floor: no engine can read faster than its Parquet reader) and against the
   1,000,000 rows/s target. Measured with the filter in SQL only, and with the
   same filter also on the source (row-group and row pushdown).
2. end to end: archive → decode → Postgres upsert, in final rows/s, against
   `psql \\copy` of the same final rows into the same table (the floor of loading
   rows into PostgreSQL). Skipped with a message when no PostgreSQL server
   binaries are found.
5. a job over every row (`SELECT *` → blackhole) run as `chaintap run` in a child
   process: its peak RSS against a child that reads the archive whole with
   pyarrow, and its time from process start to the first batch against the
   time `chaintap --version` takes (interpreter start and imports).

Figures 3 (extraction against cryo / ethereum-etl on anvil) and 4 (multi-worker
scaling) are not measured here yet.

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

from generate import TRANSFER, generate  # noqa: E402

from chaintap.runtime.runner import RunSummary, run_pipeline  # noqa: E402
from chaintap.spec.loader import load_pipeline_text  # noqa: E402

OUT = ROOT / "bench" / "out"
TARGET_ROWS_PER_S = 1_000_000
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
        run_seconds, rss, first_batch, _ = _child(
            [chaintap, "run", str(path), "--no-progress"], env
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


# Report -------------------------------------------------------------------------


def _rate(value: float) -> str:
    return f"{value:,.0f} rows/s"


def _mib(value: float) -> str:
    return f"{value / 2**20:,.0f} MiB"


def _row(figure: str, ours: str, baseline: str, ratio: float | None) -> str:
    shown = "" if ratio is None else f"{ratio:.2f}x"
    return f"| {figure} | {ours} | {baseline} | {shown} |"


def table(results: dict[str, Any]) -> str:
    """The markdown table of every figure: chaintap, baseline, chaintap/baseline."""
    rows = ["| figure | chaintap | baseline | ratio |", "|---|---|---|---|"]
    one = results["decode"]
    floor = one["pyarrow_floor_rows_per_s"]
    for label, key in (
        ("1. decode+filter → blackhole", "decode_rows_per_s"),
        ("1. same, filter also on the source", "decode_pushdown_rows_per_s"),
    ):
        value = one[key]
        rows.append(
            _row(label, _rate(value), f"pyarrow read {_rate(floor)}", value / floor)
        )
        target = f"target {_rate(TARGET_ROWS_PER_S)}"
        rows.append(_row(label, _rate(value), target, value / TARGET_ROWS_PER_S))

    two = results["postgres"]
    label = "2. archive → decode → Postgres upsert"
    if "skipped" in two:
        rows.append(_row(label, f"skipped: {two['skipped']}", "", None))
    else:
        ours, copy = two["chaintap_rows_per_s"], two["psql_copy_rows_per_s"]
        rows.append(
            _row(
                f"{label} ({two['final_rows']:,} rows)",
                _rate(ours),
                f"psql \\copy {_rate(copy)}",
                ours / copy,
            )
        )

    five = results["memory"]
    rss, whole = five["job_peak_rss_bytes"], five["read_whole_peak_rss_bytes"]
    rows.append(
        _row(
            "5. peak RSS, every row → blackhole",
            _mib(rss),
            f"pyarrow reads the archive whole {_mib(whole)}",
            rss / whole,
        )
    )
    first, startup = five["first_batch_seconds"], five["cli_startup_seconds"]
    label = "5. `chaintap run` → first batch"
    if first is None:
        rows.append(_row(label, "not seen in the logs", "", None))
    else:
        baseline = f"`chaintap --version` {startup:.2f} s"
        rows.append(_row(label, f"{first:.2f} s", baseline, first / startup))
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=None, help="logs in the archive")
    parser.add_argument("--quick", action="store_true", help="300k rows, one run each")
    parser.add_argument("--repeat", type=int, default=None, help="runs per throughput")
    parser.add_argument("--size", default="xl", help="resource_size of the pipelines")
    args = parser.parse_args(argv)
    rows = args.rows or (300_000 if args.quick else 2_000_000)
    repeat = args.repeat or (1 if args.quick else 5)

    started = time.perf_counter()
    print(f"generating an archive of ~{rows:,} logs ...", file=sys.stderr)
    archive = generate(OUT / "archive", rows)
    print(f"  {archive['rows']:,} rows in {archive['files']} files", file=sys.stderr)

    results: dict[str, Any] = {"archive": archive}
    print("figure 1: decode + filter ...", file=sys.stderr)
    results["decode"] = figure_decode(archive, args.size, repeat)
    print("figure 2: Postgres ...", file=sys.stderr)
    results["postgres"] = figure_postgres(archive, args.size)
    print("figure 5: memory and first batch ...", file=sys.stderr)
    results["memory"] = figure_memory(archive, args.size)
    results["environment"] = {
        "python": platform.python_version(),
        "pyarrow": pa.__version__,
        "cpus": os.cpu_count(),
        "resource_size": args.size,
        "repeat": repeat,
        "seconds": round(time.perf_counter() - started, 1),
        "when": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }

    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "latest.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(table(results))
    print(f"\n(written to {OUT / 'latest.json'})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

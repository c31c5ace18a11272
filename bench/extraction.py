"""Figure 3: extraction from a node, chaintap against cryo and ethereum-etl.

The same anvil node, the same inclusive block range (the whole chain that
bench/anvil_chain.py built) and three datasets: `blocks` (in blocks/s),
`raw_logs` and `erc20_transfers` (in rows/s).

- chaintap: `run_pipeline` in this process, the dataset → blackhole, the
  pipeline's `resource_size` (m by default: 100 blocks per batch, 8 requests in
  flight), one worker; timed around `run_pipeline` with fresh checkpoints.
- cryo and ethereum-etl: bench/tool_driver.py in each tool's own virtualenv
  (bench/tools.py), timed around the extraction call after the imports; both
  write files (Parquet, CSV), chaintap writes nothing.

Runs are interleaved (chaintap, cryo, ethereum-etl, then again) so a busy
moment on a shared machine hits all alike; each figure is the median. Every
tool's row count is checked against what the chain holds.

NOTE: anvil runs on the same machine as the extractor, so on 2 cores the node
and the tool compete; a remote node would shift the figures towards whoever
asks the node for less (chaintap also fetches the headers of blocks with logs,
which cryo's `logs` does not). cryo's settings are its defaults, not tuned.
"""

from __future__ import annotations

import csv
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from anvil_chain import ChainShape
from tools import DRIVER, Tool, ensure_tool

from chaintap.runtime.runner import run_pipeline
from chaintap.spec.loader import load_pipeline_text

DATASETS = ("blocks", "raw_logs", "erc20_transfers")
BASELINES = ("cryo", "ethereum-etl")
# One baseline run may take this long before the suite gives up on it.
TOOL_TIMEOUT_S = 600
ETL_FILES = {
    "blocks": "blocks.csv",
    "raw_logs": "logs.csv",
    "erc20_transfers": "token_transfers.csv",
}

PIPELINE = """
name: bench-extract-{slug}
resource_size: {size}
job: true
sources:
  rows:
    type: dataset
    dataset_name: anvil.{dataset}
    rpc_url: {url}
    start_block: {first}
    end_block: {last}
sinks:
  out:
    type: blackhole
    from: rows
"""


def expected_rows(shape: ChainShape, dataset: str) -> int:
    """Rows of `dataset` the chain holds, from what the generator sent."""
    return {
        "blocks": shape.blocks,
        "raw_logs": shape.logs,
        "erc20_transfers": shape.transfer_logs,
    }[dataset]


def pipeline_text(shape: ChainShape, dataset: str, size: str) -> str:
    return PIPELINE.format(
        slug=dataset.replace("_", "-"), size=size, dataset=dataset,
        url=shape.url, first=shape.first_block, last=shape.last_block,
    )  # fmt: skip


def figure_extraction(
    shape: ChainShape, size: str, repeat: int, etl_repeat: int
) -> dict[str, Any]:
    """Figure 3 as a dict: per dataset, chaintap's and each baseline's rates."""
    tools: dict[str, Tool | str] = {name: ensure_tool(name) for name in BASELINES}
    results: dict[str, Any] = {"chain": shape.as_dict(), "resource_size": size}

    for dataset in DATASETS:
        print(f"  {dataset} ...", file=sys.stderr)
        expected = expected_rows(shape, dataset)
        runs: dict[str, list[float]] = {"chaintap": []}
        rows: dict[str, int] = {}
        extra: dict[str, Any] = {}
        # Per dataset: a tool that installed but failed on this dataset.
        status = dict(tools)
        for attempt in range(repeat):
            seconds, rows["chaintap"] = run_chaintap(shape, dataset, size)
            runs["chaintap"].append(seconds)
            for name, tool in status.items():
                if isinstance(tool, str):
                    continue
                if name == "ethereum-etl" and attempt >= etl_repeat:
                    continue  # the slow baseline runs fewer times (see run.py)
                outcome = _baseline(tool, shape, dataset)
                if isinstance(outcome, str):
                    status[name] = outcome  # failed: not measured, no figure
                    continue
                runs.setdefault(name, []).append(outcome["seconds"])
                rows[name] = outcome["rows"]
                if outcome["prepare_seconds"]:
                    extra[f"{name}_prepare_seconds"] = outcome["prepare_seconds"]
        results[dataset] = _summarise(expected, runs, rows, status, extra)
    # A version when the tool installed, else why it did not.
    results["tools"] = {
        name: tool if isinstance(tool, str) else tool.version
        for name, tool in tools.items()
    }
    return results


def _summarise(
    expected: int,
    runs: dict[str, list[float]],
    rows: dict[str, int],
    tools: dict[str, Tool | str],
    extra: dict[str, Any],
) -> dict[str, Any]:
    out: dict[str, Any] = {"expected_rows": expected, **extra}
    for name in ("chaintap", *BASELINES):
        tool = tools.get(name)
        if isinstance(tool, str):
            out[name] = {"not_measured": tool}
            continue
        if not runs.get(name):
            out[name] = {"not_measured": "no run completed"}
            continue
        seconds = statistics.median(runs[name])
        out[name] = {
            "seconds": seconds,
            "rows": rows[name],
            "rows_per_s": rows[name] / seconds,
            "rows_match": rows[name] == expected,
            "runs": runs[name],
        }
    return out


def run_chaintap(shape: ChainShape, dataset: str, size: str) -> tuple[float, int]:
    """One timed in-process run of `dataset` → blackhole: (seconds, rows)."""
    spec = load_pipeline_text(pipeline_text(shape, dataset, size))
    with tempfile.TemporaryDirectory(prefix="chaintap-bench-") as home:
        started = time.perf_counter()
        summary = run_pipeline(spec, home=Path(home))
        seconds = time.perf_counter() - started
    if summary.outcome != "succeeded":
        raise RuntimeError(f"{spec.name}: {summary.outcome} {summary.message}")
    return seconds, summary.rows_by_node["out"]


def _baseline(tool: Tool, shape: ChainShape, dataset: str) -> dict[str, Any] | str:
    """One timed run of `tool`; its figures, or why it did not run."""
    with tempfile.TemporaryDirectory(prefix=f"bench-{tool.name}-") as out:
        command = [
            str(tool.python), str(DRIVER), tool.name, dataset, shape.url,
            str(shape.first_block), str(shape.last_block), out,
        ]  # fmt: skip
        try:
            done = subprocess.run(
                command, capture_output=True, text=True,
                timeout=TOOL_TIMEOUT_S, check=False,
            )  # fmt: skip
        except subprocess.TimeoutExpired:
            return f"{tool.name} did not finish {dataset} in {TOOL_TIMEOUT_S} s"
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            return f"{tool.name} failed on {dataset}: {last}"
        timing: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        timing["rows"] = _count_rows(tool.name, dataset, Path(out))
    return timing


def _count_rows(tool: str, dataset: str, out: Path) -> int:
    if tool == "cryo":
        return sum(pq.read_metadata(p).num_rows for p in out.rglob("*.parquet"))
    with (out / ETL_FILES[dataset]).open(newline="") as handle:
        return sum(1 for _ in csv.reader(handle)) - 1  # less the header

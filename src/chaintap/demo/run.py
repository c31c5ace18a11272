"""`run_demo`: a local chain, a real ERC-20 workload, the example pipelines, a summary.

Steps: 1. prepare the work directory; 2. start anvil; 3. run the workload; 4. run
each `examples/demo/*.yaml` as a job into files under `<workdir>/out`; 5. read the
files back and compare them with what the workload sent; 6. stop anvil. Everything
the demo writes stays under `workdir`; each run starts it afresh.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import shutil
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from chaintap.demo.anvil import AnvilNode, checkout_root
from chaintap.demo.workload import Workload, run_workload
from chaintap.errors import ConfigError
from chaintap.runtime.runner import RunSummary, run_pipeline
from chaintap.spec.loader import load_pipeline_text
from chaintap.spec.model import PipelineSpec

log = logging.getLogger(__name__)

CHAIN = "anvil"
RPC_VARIABLE = "CHAINTAP_RPC_ANVIL"
LAST_BLOCK_PLACEHOLDER = "DEMO_LAST_BLOCK"
OUTPUT_PLACEHOLDER = "DEMO_OUTPUT"
# Written into the work directory so a rerun only ever clears a directory the demo
# made itself, never a user's directory given by mistake.
MARKER = ".chaintap-demo"
DEFAULT_WORKDIR = Path(".chaintap-demo")
# The example files, in the order they run and are reported.
PIPELINE_FILES = ("erc20-transfers.yaml", "decoded-transfers.yaml", "blocks.yaml")
_EXTENSIONS = {"parquet": ".parquet", "jsonl": ".jsonl", "csv": ".csv"}

Progress = Callable[[str], None]


@dataclass(frozen=True)
class PipelineResult:
    """One example pipeline's run and what its file sink left on disk."""

    file: Path
    spec: PipelineSpec
    summary: RunSummary
    output: Path
    format: str
    files: int
    rows: list[dict[str, Any]]


@dataclass(frozen=True)
class Check:
    """One comparison of landed rows with the workload; `problems` empty when equal."""

    label: str
    rows: int
    expected: str  # what the rows were compared with, e.g. "the 42 transfers sent"
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass
class DemoResult:
    """Everything `run_demo` did; `render` is the summary the CLI prints."""

    workdir: Path
    node_url: str
    workload: Workload
    pipelines: list[PipelineResult] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    seconds: float = 0.0
    workload_seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)

    def render(self) -> str:
        """A short summary: the chain, what landed where, and the checks."""
        w = self.workload
        mints = sum(1 for t in w.intended if t.kind == "mint")
        busiest = max(Counter(t.block_number for t in w.transfers).values())
        lines = [
            f"chain      anvil at {self.node_url}, chain id {w.chain_id}, "
            f"blocks 0..{w.last_block}",
            f"workload   ERC-20 token {w.token} (block {w.deployment_block})",
            f"           {len(w.intended) - mints} transfers + {mints} mints in "
            f"{w.blocks_with_transfers} blocks (up to {busiest} per block), "
            f"sent in {self.workload_seconds:.2f}s",
            "",
            "pipelines  examples/demo/*.yaml, each run as a job",
        ]
        rows = [["PIPELINE", "ROWS", "BLOCKS", "TIME", "OUTPUT"]]
        for result in self.pipelines:
            where = _relative(result.output)
            rows.append(
                [
                    result.spec.name,
                    str(len(result.rows)),
                    str(result.summary.blocks),
                    f"{result.summary.seconds:.2f}s",
                    f"{where}/*.{result.format} ({_count(result.files, 'file')})",
                ]
            )
        lines += _aligned(rows, right={1, 2, 3})

        lines += ["", "checks"]
        lines += ["  " + _render_check(check) for check in self.checks]
        verdict = "all checks passed" if self.ok else "SOME CHECKS FAILED"
        lines += ["", f"{verdict} in {self.seconds:.1f}s"]
        return "\n".join(lines)


def _aligned(rows: list[list[str]], right: set[int]) -> list[str]:
    """Rows as text columns, indented by two; columns in `right` right-aligned."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    out = []
    for row in rows:
        cells = [
            cell.rjust(widths[i]) if i in right else cell.ljust(widths[i])
            for i, cell in enumerate(row)
        ]
        out.append(("  " + "  ".join(cells)).rstrip())
    return out


def _render_check(check: Check) -> str:
    if check.ok:
        return f"{check.label}: {check.rows} rows, matches {check.expected}"
    shown = "; ".join(check.problems[:3])
    more = len(check.problems) - 3
    tail = f" (and {more} more)" if more > 0 else ""
    return (
        f"{check.label}: {check.rows} rows, DOES NOT match {check.expected}: "
        f"{shown}{tail}"
    )


def _relative(path: Path) -> str:
    """`path` relative to the current directory when it is below it."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def run_demo(
    workdir: Path,
    transfers: int = 40,
    *,
    examples: Path | None = None,
    progress: Progress | None = None,
) -> DemoResult:
    """Run the whole demo (steps in the module docstring) and return what happened.

    `workdir` must be empty, missing, or a directory an earlier demo made (it is
    then cleared). `examples` defaults to `examples/demo` of the checkout. Raises
    `ConfigError` when anvil or the example files cannot be found.
    """
    say = progress or (lambda _message: None)
    started = time.monotonic()
    # The example files are not package data: from an installed wheel (no
    # checkout) the demo stops here with the ConfigError below.
    examples = examples or checkout_root() / "examples" / "demo"
    files = [examples / name for name in PIPELINE_FILES]
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise ConfigError(
            f"demo pipeline file(s) not found: {', '.join(missing)}; run the demo "
            f"from a chaintap source checkout (the files live in examples/demo)"
        )
    # 1. A clean work directory (the runner does not create its state directory).
    workdir = _prepare(workdir.resolve())

    # 2-3. A fresh node and the workload on it.
    say("starting a local anvil node")
    with AnvilNode() as node:
        say(f"anvil up at {node.url}; sending {transfers} ERC-20 transfers")
        sent = time.monotonic()
        workload = run_workload(node.url, transfers=transfers)
        result = DemoResult(workdir, node.url, workload)
        result.workload_seconds = time.monotonic() - sent

        # 4. Each example as a job, against this node, into <workdir>/out.
        with _rpc_endpoint(node.url):
            for file in files:
                spec = _load(file, workload, workdir / "out")
                say(f"running {spec.name} ({file.name})")
                summary = run_pipeline(spec, home=workdir / "state")
                result.pipelines.append(_collect(file, spec, summary))

    # 5. Compare what landed with what was sent (6., stopping anvil, happened above).
    by_name = {p.file.name: p for p in result.pipelines}
    result.checks = [
        check_transfers("erc20 transfers", by_name[PIPELINE_FILES[0]].rows, workload),
        check_transfers("decoded transfers", by_name[PIPELINE_FILES[1]].rows, workload),
        check_blocks(by_name[PIPELINE_FILES[2]].rows, workload),
    ]
    result.seconds = time.monotonic() - started
    return result


def _prepare(workdir: Path) -> Path:
    """Create `workdir`, or clear it when an earlier demo made it; refuse otherwise."""
    if workdir.exists() and any(workdir.iterdir()):
        if not (workdir / MARKER).exists():
            raise ConfigError(
                f"demo work directory {workdir} is not empty and was not made by "
                f"`chaintap demo`; nothing was changed. Pick another --workdir"
            )
        log.warning("clearing the previous demo run in %s", workdir)
        for child in ("out", "state"):
            shutil.rmtree(workdir / child, ignore_errors=True)
    (workdir / "state").mkdir(parents=True, exist_ok=True)
    (workdir / MARKER).write_text("made by `chaintap demo`; safe to delete\n")
    return workdir


@contextmanager
def _rpc_endpoint(url: str) -> Iterator[None]:
    """Point the `anvil` chain at `url` for the duration, then restore the env."""
    before = os.environ.get(RPC_VARIABLE)
    os.environ[RPC_VARIABLE] = url
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(RPC_VARIABLE, None)
        else:
            os.environ[RPC_VARIABLE] = before


def _load(file: Path, workload: Workload, out: Path) -> PipelineSpec:
    """Load an example template with the placeholders replaced (see its header)."""
    text = file.read_text()
    text = text.replace(LAST_BLOCK_PLACEHOLDER, str(workload.last_block))
    text = text.replace(OUTPUT_PLACEHOLDER, str(out))
    return load_pipeline_text(text, str(file))


def _collect(file: Path, spec: PipelineSpec, summary: RunSummary) -> PipelineResult:
    """Read back what the pipeline's (single) file sink wrote."""
    sink = next(iter(spec.sinks.values()))
    output = Path(str(sink.options["path"]))
    fmt = str(sink.options.get("format", "parquet"))
    paths = sorted(output.rglob("*" + _EXTENSIONS[fmt])) if output.exists() else []
    rows = [row for path in paths for row in read_rows(path, fmt)]
    return PipelineResult(file, spec, summary, output, fmt, len(paths), rows)


def read_rows(path: Path, fmt: str) -> list[dict[str, Any]]:
    """Rows of one output file as dicts (values as the file holds them)."""
    if fmt == "parquet":
        rows: list[dict[str, Any]] = pq.read_table(path).to_pylist()
        return rows
    with path.open(newline="") as handle:
        if fmt == "jsonl":
            return [json.loads(line) for line in handle if line.strip()]
        return list(csv.DictReader(handle))


def as_int(value: Any) -> int:
    """An integer from a file cell: u256 bytes, a base-10 string or an int."""
    if isinstance(value, bytes):
        return int.from_bytes(value, "big")
    return int(value)


def check_transfers(
    label: str, rows: list[dict[str, Any]], workload: Workload
) -> Check:
    """Compare transfer rows with the workload, both as sent and as emitted.

    Each row must match, by (transaction_hash, log_index), a Transfer log the node
    reported (sender, recipient, exact amount, block), and the sender, recipient
    and amount the workload meant to send in that transaction. Every emitted
    transfer must appear exactly once.
    """
    emitted = {(t.transaction_hash, t.log_index): t for t in workload.transfers}
    intended = {t.transaction_hash: t for t in workload.intended}
    problems: list[str] = []
    seen: set[tuple[str, int]] = set()
    for row in rows:
        key = (str(row["transaction_hash"]).lower(), int(row["log_index"]))
        got = (
            str(row["sender"]).lower(),
            str(row["recipient"]).lower(),
            as_int(row["amount"]),
        )
        if key in seen:
            problems.append(f"duplicate row for {key[0]} log {key[1]}")
            continue
        seen.add(key)
        log_entry, sent = emitted.get(key), intended.get(key[0])
        if log_entry is None or sent is None:
            problems.append(f"unexpected row {key[0]} log {key[1]}")
            continue
        if got != (log_entry.sender, log_entry.recipient, log_entry.amount):
            problems.append(f"{key[0]} log {key[1]}: {got} differs from the chain")
        if got != (sent.sender, sent.recipient, sent.amount):
            problems.append(f"{key[0]}: {got} differs from what was sent")
        if "block_number" in row and int(row["block_number"]) != log_entry.block_number:
            problems.append(f"{key[0]}: block {row['block_number']} is wrong")
    landed = {tx_hash for tx_hash, _ in seen}
    missing = len(set(emitted) - seen) + len(set(intended) - landed)
    if missing:
        problems.append(f"{missing} sent transfer(s) missing")
    expected = f"the {len(workload.intended)} transfers sent"
    return Check(label, len(rows), expected, tuple(problems))


def check_blocks(rows: list[dict[str, Any]], workload: Workload) -> Check:
    """Every block 0..last_block exactly once; the transfer blocks list transactions."""
    numbers = sorted(int(row["number"]) for row in rows)
    expected = list(range(workload.last_block + 1))
    problems: list[str] = []
    if numbers != expected:
        problems.append(f"{len(numbers)} blocks landed, not each of {len(expected)}")
    counts = {int(row["number"]): int(row["transaction_count"]) for row in rows}
    per_block: dict[int, int] = {}
    for transfer in workload.transfers:
        per_block[transfer.block_number] = per_block.get(transfer.block_number, 0) + 1
    for number, transfers in per_block.items():
        if counts.get(number, -1) < transfers:
            problems.append(f"block {number} lists fewer transactions than transfers")
    return Check(
        "blocks", len(rows), f"blocks 0..{workload.last_block}", tuple(problems)
    )


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"

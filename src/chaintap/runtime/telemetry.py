"""What a running pipeline tells the outside: a status file and inspect samples.

When a run is given a telemetry directory (the control plane gives each pipeline
one), the runner keeps two things there:

- `status.json`, written when the run has opened every node, then replaced
  atomically at most every `STATUS_INTERVAL_S` (also while a source waits at the
  head) and at the end: per-source cursor and head, rows per node, batches,
  blocks, the last and total flush time of each sink, errors, timestamps. The
  control plane serves it as `get` output and Prometheus metrics.
- `inspect.jsonl`, only while someone watches: `chaintap inspect` keeps touching
  `inspect.request` (JSON: the nodes to sample). The runner looks at that file at
  most every `INSPECT_CHECK_S`; while it is fresh, each batch appends up to
  `INSPECT_ROWS_PER_NODE` rows of every requested node. With no watcher the cost
  is one `stat` a second.
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from chaintap.sinks.jsonrows import json_lines
from chaintap.spec.model import BlockRange
from chaintap.u256 import stringify_table

STATUS_FILE = "status.json"
INSPECT_REQUEST = "inspect.request"
INSPECT_SAMPLES = "inspect.jsonl"

# The status file is rewritten at most this often: fresh enough for `list` and a
# Prometheus scrape, negligible next to a batch.
STATUS_INTERVAL_S = 1.0
# How often the runner looks for a watcher, and how old a request may be before
# it counts as abandoned (the watcher refreshes it every second).
INSPECT_CHECK_S = 1.0
INSPECT_REQUEST_TTL_S = 10.0
# Rows of each node sampled per batch, and the size at which the samples file
# starts over, so an idle watcher cannot fill the disk.
INSPECT_ROWS_PER_NODE = 5
INSPECT_MAX_BYTES = 4 * 1024 * 1024


@dataclass
class _SinkStats:
    flushes: int = 0
    last_flush_s: float = 0.0
    total_flush_s: float = 0.0


@dataclass
class Telemetry:
    """Collects a run's counters and writes them under `directory`."""

    directory: Path
    pipeline: str
    rows: dict[str, int] = field(default_factory=dict)
    cursors: dict[str, int] = field(default_factory=dict)
    heads: dict[str, int] = field(default_factory=dict)
    sinks: dict[str, _SinkStats] = field(default_factory=dict)
    batches: int = 0
    blocks: int = 0
    errors: int = 0
    last_error: str | None = None
    started_at: float = field(default_factory=time.time)
    _written_at: float = 0.0
    _checked_at: float = 0.0
    _watched: frozenset[str] | None = None
    # write() also runs on the runner's watcher thread while a source waits.
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)

    def flushed(self, sink: str, seconds: float) -> None:
        stats = self.sinks.setdefault(sink, _SinkStats())
        stats.flushes += 1
        stats.last_flush_s = seconds
        stats.total_flush_s += seconds

    def batch_done(
        self,
        source: str,
        blocks: BlockRange,
        cursor: int,
        head: int | None,
        outputs: dict[str, pa.Table],
    ) -> None:
        """Count one delivered batch; sample it when someone is watching."""
        with self._lock:
            self.batches += 1
            self.blocks += len(blocks)
            self.cursors[source] = cursor
            if head is not None:
                self.heads[source] = head
            for node, table in outputs.items():
                self.rows[node] = self.rows.get(node, 0) + table.num_rows
        self._sample(outputs)
        # The first batch is written at once: it is what turns a pipeline from
        # "deploying" into one that moves, and tests and users look for it.
        self.write(force=self.batches == 1)

    def partition_done(self, rows: dict[str, int], blocks: int, batches: int) -> None:
        """Count a finished partition of a partitioned backfill, and write."""
        with self._lock:
            for node, count in rows.items():
                self.rows[node] = self.rows.get(node, 0) + count
            self.blocks += blocks
            self.batches += batches
        self.write()

    def failed(self, message: str) -> None:
        self.errors += 1
        self.last_error = message
        self.write(force=True)

    def write(self, *, force: bool = True) -> None:
        """Replace status.json (throttled unless `force`)."""
        now = time.time()
        if not force and now - self._written_at < STATUS_INTERVAL_S:
            return
        with self._lock:
            self._written_at = now
            text = json.dumps(self.snapshot(now))
            _replace(self.directory / STATUS_FILE, text)

    def heads_seen(self, heads: dict[str, int]) -> None:
        """Record the heads sources saw while waiting (no batch to carry them)."""
        with self._lock:
            self.heads.update(heads)

    def snapshot(self, now: float | None = None) -> dict[str, Any]:
        return {
            "pipeline": self.pipeline,
            "started_at": self.started_at,
            "updated_at": now or time.time(),
            "rows": self.rows,
            "cursors": self.cursors,
            "heads": self.heads,
            "batches": self.batches,
            "blocks": self.blocks,
            "errors": self.errors,
            "last_error": self.last_error,
            "sinks": {
                name: {
                    "flushes": s.flushes,
                    "last_flush_seconds": s.last_flush_s,
                    "total_flush_seconds": s.total_flush_s,
                }
                for name, s in self.sinks.items()
            },
        }

    def _sample(self, outputs: dict[str, pa.Table]) -> None:
        watched = self._watchers()
        if not watched:
            return
        samples = self.directory / INSPECT_SAMPLES
        if samples.exists() and samples.stat().st_size > INSPECT_MAX_BYTES:
            samples.unlink()
        lines = []
        for node, table in outputs.items():
            if "*" not in watched and node not in watched:
                continue
            head = stringify_table(table.slice(0, INSPECT_ROWS_PER_NODE))
            lines += [
                json.dumps({"node": node, "row": json.loads(line)})
                for line in json_lines(head)
            ]
        if lines:
            with samples.open("a", encoding="utf-8") as handle:
                handle.write("\n".join(lines) + "\n")

    def _watchers(self) -> frozenset[str]:
        """Nodes someone is inspecting now (checked at most every second)."""
        now = time.monotonic()
        if now - self._checked_at < INSPECT_CHECK_S:
            return self._watched or frozenset()
        self._checked_at = now
        request = self.directory / INSPECT_REQUEST
        try:
            age = time.time() - request.stat().st_mtime
            nodes = json.loads(request.read_text() or "{}").get("nodes") or ["*"]
        except (OSError, ValueError):
            self._watched = frozenset()
            return self._watched
        fresh = age <= INSPECT_REQUEST_TTL_S
        self._watched = frozenset(str(n) for n in nodes) if fresh else frozenset()
        return self._watched


def _replace(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(text)
    os.replace(temporary, path)


def read_status(directory: Path) -> dict[str, Any] | None:
    """The last status a run wrote there, None when there is none (yet)."""
    try:
        data: dict[str, Any] = json.loads((directory / STATUS_FILE).read_text())
    except (OSError, ValueError):
        return None
    return data

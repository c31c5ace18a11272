"""Run one pipeline in the foreground: sources → transforms → sinks, checkpointed.

For each source batch the runner:
1. pushes the rows through every transform downstream of that source;
2. hands each affected sink its input rows and the batch's block range;
3. flushes every affected sink;
4. only then commits the source's checkpoint (cursor = the batch's last block).

So the checkpoint never runs ahead of flushed data, and a run killed at any point
(kill -9 included) resumes after the last committed cursor. Re-delivered batches are
harmless with primary-keyed sinks (upsert) and file sinks (deterministic names).

A job (`job: true`) ends when every bounded source is read; it then marks its
checkpoints completed and records that it finished, so running it again does
nothing until `clear_state=True`. A deployment runs until `stop` is set.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol

from chaintap.errors import ChaintapError, NodeError
from chaintap.runtime.graph import PipelineGraph, describe
from chaintap.runtime.telemetry import Telemetry
from chaintap.sources.base import SourceBatch
from chaintap.spec.model import BlockRange, PipelineSpec
from chaintap.state.checkpoints import CheckpointStore
from chaintap.state.locks import pipeline_lock

log = logging.getLogger(__name__)

# How often the stop watcher looks at the stop request: a stopping deployment
# leaves its wait at the chain head within this long.
STOP_POLL_S = 0.2

SUCCEEDED = "succeeded"
ALREADY_FINISHED = "already-finished"
STOPPED = "stopped"


@dataclass
class RunSummary:
    """What one run did. `rows_by_node` counts rows each node produced or wrote."""

    pipeline: str
    outcome: str = SUCCEEDED
    rows_by_node: dict[str, int] = field(default_factory=dict)
    blocks: int = 0
    batches: int = 0
    seconds: float = 0.0
    first_batch_seconds: float | None = None
    message: str | None = None

    source_names: tuple[str, ...] = ()

    @property
    def source_rows(self) -> int:
        return sum(self.rows_by_node.get(n, 0) for n in self.source_names)

    @property
    def rows_per_second(self) -> float:
        return self.source_rows / self.seconds if self.seconds > 0 else 0.0


class Reporter(Protocol):
    """Receives progress; the CLI renders it as a progress bar or log lines."""

    def started(self, pipeline: str, targets: dict[str, BlockRange | None]) -> None: ...

    def batch_done(self, source: str, blocks: BlockRange, rows: int) -> None: ...


def spec_fingerprint(spec: PipelineSpec) -> str:
    """A stable hash of what the pipeline reads and writes."""
    shape = {
        "sources": {
            n: [
                s.dataset.qualified_name,
                s.dataset.version,
                s.start_block,
                s.end_block,
                s.start_at,
                [asdict(r) for r in s.block_ranges],
                s.filter,
            ]
            for n, s in spec.sources.items()
        },
        "transforms": {n: [t.sql, t.primary_key] for n, t in spec.transforms.items()},
        "sinks": {n: [k.type, k.from_, k.options] for n, k in spec.sinks.items()},
    }
    canonical = json.dumps(shape, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def finished_message(spec: PipelineSpec, fingerprint: str, at: float) -> str:
    """Why a finished job does nothing, and what changed if its file did."""
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(at))
    if fingerprint != spec_fingerprint(spec):
        return (
            f"job {spec.name!r} finished at {when} with a different pipeline file "
            f"(its sources, SQL or sinks changed since); nothing was run. Run with "
            f"--clear-state to run the new file from its start, or give the job a "
            f"new name"
        )
    return (
        f"job {spec.name!r} already finished at {when}; nothing to do (run with "
        f"--clear-state to run it again)"
    )


def run_pipeline(
    spec: PipelineSpec,
    *,
    home: Path | None = None,
    clear_state: bool = False,
    reporter: Reporter | None = None,
    stop: threading.Event | None = None,
    graph: PipelineGraph | None = None,
    telemetry: Telemetry | None = None,
) -> RunSummary:
    """Run `spec` until its bounded sources are done (job) or `stop` is set.

    Raises `NodeError` naming pipeline, node and block range when a node fails;
    checkpoints then stay at the last batch every sink flushed. `graph` replaces the
    nodes built from `spec` (tests pass in-memory nodes); `telemetry` receives the
    run's counters (see `chaintap.runtime.telemetry`).
    """
    with pipeline_lock(spec.name, home):
        store = CheckpointStore(home / "state.db" if home else None)
        try:
            run = PipelineRun(spec, store, reporter, stop or threading.Event())
            run.telemetry = telemetry
            return run.execute(clear_state, graph)
        except ChaintapError as err:
            if telemetry is not None:
                telemetry.failed(str(err))
            raise
        finally:
            if telemetry is not None:
                telemetry.write()
            store.close()


class PipelineRun:
    """One run of a pipeline, or of one partition of a job (`partition` != "")."""

    def __init__(
        self,
        spec: PipelineSpec,
        store: CheckpointStore,
        reporter: Reporter | None,
        stop: threading.Event,
        partition: str = "",
    ) -> None:
        self.spec = spec
        self.store = store
        self.reporter = reporter
        self.stop = stop
        self.partition = partition
        self.telemetry: Telemetry | None = None
        self.summary = RunSummary(spec.name, source_names=tuple(spec.sources))
        self.summary.rows_by_node = dict.fromkeys(
            [*spec.sources, *spec.transforms, *spec.sinks], 0
        )

    def execute(self, clear_state: bool, graph: PipelineGraph | None) -> RunSummary:
        """1. settle state; 2. build and open nodes; 3. stream; 4. finalize."""
        name = self.spec.name
        if clear_state:
            removed = self.store.clear(name)
            log.warning("pipeline %s: cleared %d checkpoint(s)", name, removed)
        finished = None if self.partition else self.store.finished(name)
        if self.spec.job and finished is not None:
            self.summary.outcome = ALREADY_FINISHED
            self.summary.message = finished_message(self.spec, *finished)
            return self.summary

        started = time.monotonic()
        cursors = self._cursors()
        self._note_changed_file(cursors)
        graph = graph or PipelineGraph.build(self.spec)
        try:
            graph.open(cursors, state_root=self.store.path.parent)
            targets = {n: s.target for n, s in graph.sources.items()}
            log.info("pipeline %s: started, targets %s", name, _describe(targets))
            if self.telemetry is not None:
                self.telemetry.write()
            if self.reporter is not None:
                self.reporter.started(name, targets)
            self._stream(graph, started)
        finally:
            problems = graph.close()
            for problem in problems:
                log.warning("pipeline %s: while closing %s", name, problem)

        self.summary.seconds = time.monotonic() - started
        if self.stop.is_set():
            self.summary.outcome = STOPPED
        elif self.spec.job:
            self._finalize()
        log.info(
            "pipeline %s: %s, %d blocks, %d rows in %.2fs",
            name,
            self.summary.outcome,
            self.summary.blocks,
            self.summary.source_rows,
            self.summary.seconds,
        )
        return self.summary

    def _note_changed_file(self, cursors: dict[str, int | None]) -> None:
        """Warn when checkpoints written by another version of the file are used."""
        if self.partition:
            return
        previous = self.store.swap_fingerprint(
            self.spec.name, spec_fingerprint(self.spec)
        )
        resumed = any(c is not None for c in cursors.values())
        if resumed and previous is not None and previous != spec_fingerprint(self.spec):
            log.warning(
                "pipeline %s: the pipeline file changed since its checkpoints were "
                "written; resuming after them, so blocks before the checkpoints are "
                "not read again under the new file. Run with --clear-state to start "
                "the new file from its start",
                self.spec.name,
            )

    def _cursors(self) -> dict[str, int | None]:
        cursors: dict[str, int | None] = {}
        for source in self.spec.sources:
            checkpoint = self.store.get(self.spec.name, source, self.partition)
            cursors[source] = None if checkpoint is None else checkpoint.cursor
            if checkpoint is not None and checkpoint.cursor >= 0:
                log.info(
                    "pipeline %s: source %s resumes after block %d",
                    self.spec.name,
                    source,
                    checkpoint.cursor,
                )
        return cursors

    def _stream(self, graph: PipelineGraph, started: float) -> None:
        """Round-robin over the sources so every one of them makes progress."""
        readers: dict[str, Iterator[SourceBatch]] = {
            n: iter(s.read()) for n, s in graph.sources.items()
        }
        finished = threading.Event()
        watcher = threading.Thread(
            target=self._forward_stop,
            args=(graph, finished),
            name=f"stop-{self.spec.name}",
            daemon=True,
        )
        watcher.start()
        try:
            self._round_robin(graph, readers, started)
        finally:
            finished.set()

    def _forward_stop(self, graph: PipelineGraph, finished: threading.Event) -> None:
        """Tell sources waiting at the head that the run is stopping; meanwhile
        keep the status file fresh while no batch comes."""
        while not finished.is_set():
            if self.stop.wait(STOP_POLL_S):
                for source in graph.sources.values():
                    source.request_stop()
                return
            if self.telemetry is not None:
                heads = {n: s.head for n, s in graph.sources.items()}
                self.telemetry.heads_seen({n: h for n, h in heads.items() if h})
                self.telemetry.write(force=False)

    def _round_robin(
        self,
        graph: PipelineGraph,
        readers: dict[str, Iterator[SourceBatch]],
        started: float,
    ) -> None:
        while readers and not self.stop.is_set():
            for name in list(readers):
                try:
                    batch = next(readers[name])
                except StopIteration:
                    del readers[name]
                    continue
                except Exception as err:
                    if self.stop.is_set():
                        # Asked to stop while the source waited on a node that
                        # failed: a stop, not a failure; the checkpoint stands.
                        log.warning(
                            "pipeline %s: stopped while %s was retrying: %s",
                            self.spec.name,
                            name,
                            err,
                        )
                        return
                    if isinstance(err, NodeError):
                        raise
                    raise NodeError(
                        self.spec.name, name, describe(err), _span(graph, name)
                    ) from err
                self._deliver(graph, name, batch)
                if self.summary.first_batch_seconds is None:
                    self.summary.first_batch_seconds = time.monotonic() - started
                if self.stop.is_set():
                    break

    def _deliver(self, graph: PipelineGraph, source: str, batch: SourceBatch) -> None:
        """Steps 1-4 of the module docstring for one batch."""
        outputs = graph.process(source, batch.records, batch.blocks)
        for node, table in outputs.items():
            self.summary.rows_by_node[node] += table.num_rows

        targets = graph.sinks_of(outputs)
        for sink_name in targets:
            table = outputs[self.spec.sinks[sink_name].from_]
            shared = len(graph.sources_feeding(sink_name)) > 1
            with self._sink_failure(sink_name, batch.blocks):
                graph.sinks[sink_name].write_batch(
                    table, batch.blocks, source if shared else None
                )
            self.summary.rows_by_node[sink_name] += table.num_rows
        for sink_name in targets:
            flush_started = time.monotonic()
            with self._sink_failure(sink_name, batch.blocks):
                graph.sinks[sink_name].flush()
            if self.telemetry is not None:
                self.telemetry.flushed(sink_name, time.monotonic() - flush_started)

        self.store.commit(
            self.spec.name, source, batch.next_cursor, partition=self.partition
        )
        self.summary.blocks += len(batch.blocks)
        self.summary.batches += 1
        log.info(
            "pipeline %s: %s blocks %s: %d rows in, %d sink rows, checkpoint %d",
            self.spec.name,
            source,
            batch.blocks,
            batch.records.num_rows,
            sum(outputs[self.spec.sinks[s].from_].num_rows for s in targets),
            batch.next_cursor,
        )
        if self.reporter is not None:
            self.reporter.batch_done(source, batch.blocks, batch.records.num_rows)
        if self.telemetry is not None:
            head = graph.sources[source].head
            self.telemetry.batch_done(
                source, batch.blocks, batch.next_cursor, head, outputs
            )

    @contextmanager
    def _sink_failure(self, sink_name: str, blocks: BlockRange) -> Iterator[None]:
        """Wrap a sink failure once, saying where the checkpoint stays."""
        try:
            yield
        except Exception as err:
            raise NodeError(
                self.spec.name,
                sink_name,
                f"{describe(err)}; the checkpoint stays before block {blocks.start}, "
                f"so rerunning resumes there",
                (blocks.start, blocks.end),
            ) from err

    def _finalize(self) -> None:
        """Mark every source (partition) completed; a whole job also finished."""
        for name in self.spec.sources:
            checkpoint = self.store.get(self.spec.name, name, self.partition)
            if checkpoint is not None:
                self.store.commit(
                    self.spec.name,
                    name,
                    checkpoint.cursor,
                    completed=True,
                    partition=self.partition,
                )
        if not self.partition:
            self.store.mark_finished(self.spec.name, spec_fingerprint(self.spec))


def _span(graph: PipelineGraph, source: str) -> tuple[int, int] | None:
    target = graph.sources[source].target
    return None if target is None else (target.start, target.end)


def _describe(targets: dict[str, BlockRange | None]) -> str:
    return ", ".join(f"{n}={'head' if t is None else t}" for n, t in targets.items())

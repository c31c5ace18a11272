"""Partitioned backfills: one job's block range split over parallel worker processes.

A job with one bounded source and more than one worker is cut into partitions:
inclusive block ranges aligned on `blocks_per_batch` from the source's first block,
so every partition cuts its batches exactly where a sequential run would (file
sinks then write the same files). Each partition runs in its own worker process
with its own checkpoint (pipeline + source + partition), so a restart redoes only
the partitions that had not completed, each from its own cursor. The plan is
stored with the checkpoints on the first run and reused on every rerun, so a
changed worker count does not re-cut work that is half done.

Steps of `run_partitioned`:
1. open every node once in this process (tables are created and checked, SQL is
   planned, the source's range is resolved) and close them again;
2. load the stored plan or cut a new one and store it;
3. run the unfinished partitions on a pool of `workers` processes (started with
   `spawn`; each dies with this process);
4. when every partition completed, record the job as finished.

The result equals a sequential run for primary-keyed Postgres sinks (upserts) and
file sinks (names by block range); a Postgres sink without a primary key appends,
so partitions replayed after a crash append again there, as they would
sequentially.
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing
import signal
import threading
import time
from concurrent.futures import FIRST_EXCEPTION, Future, ProcessPoolExecutor, wait
from dataclasses import replace
from pathlib import Path

from chaintap.errors import ConfigError
from chaintap.runtime.graph import PipelineGraph
from chaintap.runtime.runner import (
    ALREADY_FINISHED,
    STOPPED,
    PipelineRun,
    RunSummary,
    finished_message,
    spec_fingerprint,
)
from chaintap.runtime.telemetry import Telemetry
from chaintap.spec.model import BlockRange, PipelineSpec
from chaintap.state.checkpoints import CheckpointStore
from chaintap.state.locks import pipeline_lock
from chaintap.tuning import PARTITIONS_PER_WORKER

log = logging.getLogger(__name__)


def plan_partitions(
    target: BlockRange, workers: int, blocks_per_batch: int
) -> list[BlockRange]:
    """Cut `target` into at most `workers * PARTITIONS_PER_WORKER` ranges.

    Every partition but the last is a whole number of batches long, counted from
    `target.start`, so batch boundaries match a sequential run's.
    """
    batches = -(-len(target) // blocks_per_batch)
    count = max(1, min(batches, workers * PARTITIONS_PER_WORKER))
    per_partition = -(-batches // count) * blocks_per_batch
    partitions = []
    start = target.start
    while start <= target.end:
        end = min(start + per_partition - 1, target.end)
        partitions.append(BlockRange(start, end))
        start = end + 1
    return partitions


def partition_key(blocks: BlockRange) -> str:
    return f"{blocks.start}-{blocks.end}"


def _parse_key(key: str) -> BlockRange:
    start, _, end = key.partition("-")
    return BlockRange(int(start), int(end))


def can_partition(spec: PipelineSpec, workers: int) -> bool:
    """Partitioning applies to jobs with one source read as one block range
    (no `block_ranges` windows), run with more than one worker."""
    if not spec.job or workers <= 1 or len(spec.sources) != 1:
        return False
    (source,) = spec.sources.values()
    return not source.block_ranges


def run_partitioned(
    spec: PipelineSpec,
    *,
    workers: int,
    home: Path | None = None,
    clear_state: bool = False,
    stop: threading.Event | None = None,
    telemetry: Telemetry | None = None,
) -> RunSummary:
    """Run the job `spec` over `workers` processes (see the module docstring).

    `telemetry` gets the job's status when its nodes opened and after each
    partition (counts per partition, not per batch).
    """
    if not can_partition(spec, workers):
        raise ConfigError(
            f"pipeline {spec.name!r}: only a job with one source and no "
            f"block_ranges can be split over workers; run it with --workers 1"
        )
    stop = stop or threading.Event()
    with pipeline_lock(spec.name, home):
        store = CheckpointStore(home / "state.db" if home else None)
        try:
            run = _Partitioned(spec, workers, store, home, stop)
            run.telemetry = telemetry
            return run.execute(clear_state)
        finally:
            store.close()


class _Partitioned:
    def __init__(
        self,
        spec: PipelineSpec,
        workers: int,
        store: CheckpointStore,
        home: Path | None,
        stop: threading.Event,
    ) -> None:
        self.spec = spec
        self.workers = workers
        self.store = store
        self.home = home
        self.stop = stop
        (self.source,) = spec.sources
        self.telemetry: Telemetry | None = None
        self.summary = RunSummary(spec.name, source_names=(self.source,))
        self.summary.rows_by_node = dict.fromkeys(
            [*spec.sources, *spec.transforms, *spec.sinks], 0
        )

    def execute(self, clear_state: bool) -> RunSummary:
        """Steps 1-4 of the module docstring."""
        name = self.spec.name
        if clear_state:
            removed = self.store.clear(name)
            log.warning("pipeline %s: cleared %d checkpoint(s)", name, removed)
        finished = self.store.finished(name)
        if finished is not None:
            self.summary.outcome = ALREADY_FINISHED
            self.summary.message = finished_message(self.spec, *finished)
            return self.summary
        started = time.monotonic()

        partitions = self._plan(self._target())
        if self.telemetry is not None:
            self.telemetry.write()
        pending = [p for p in partitions if not self._completed(p)]
        log.info(
            "pipeline %s: %d partitions over %d workers, %d already done",
            name,
            len(partitions),
            self.workers,
            len(partitions) - len(pending),
        )
        self._run_all(pending)

        self.summary.seconds = time.monotonic() - started
        if self.stop.is_set():
            self.summary.outcome = STOPPED
        else:
            self.store.mark_finished(name, spec_fingerprint(self.spec))
        return self.summary

    def _target(self) -> BlockRange:
        """Step 1: open and close every node; the source's whole range."""
        graph = PipelineGraph.build(self.spec)
        try:
            graph.open({self.source: None})
            target = graph.sources[self.source].target
        finally:
            graph.close()
        if target is None:
            raise ConfigError(
                f"pipeline {self.spec.name!r}: source {self.source!r} has no range "
                f"to split; give it start_block and end_block"
            )
        return target

    def _plan(self, target: BlockRange) -> list[BlockRange]:
        """Step 2: the stored plan, or a new one stored now."""
        stored = [
            _parse_key(c.partition)
            for c in self.store.all_for(self.spec.name)
            if c.source == self.source and c.partition
        ]
        if stored:
            return sorted(stored, key=lambda b: b.start)

        partitions = plan_partitions(
            target, self.workers, self.spec.profile.blocks_per_batch
        )
        for blocks in partitions:
            self.store.commit(
                self.spec.name,
                self.source,
                blocks.start - 1,
                partition=partition_key(blocks),
            )
        return partitions

    def _completed(self, blocks: BlockRange) -> bool:
        checkpoint = self.store.get(self.spec.name, self.source, partition_key(blocks))
        return checkpoint is not None and checkpoint.completed

    def _run_all(self, pending: list[BlockRange]) -> None:
        """Step 3; the first failure cancels what has not started and is raised."""
        if not pending:
            return
        context = multiprocessing.get_context("spawn")
        level = logging.getLogger("chaintap").getEffectiveLevel()
        with ProcessPoolExecutor(
            max_workers=min(self.workers, len(pending)),
            mp_context=context,
            initializer=_init_worker,
            initargs=(level,),
        ) as pool:
            futures: dict[Future[RunSummary], BlockRange] = {
                pool.submit(
                    _run_partition, self.spec, self.source, blocks, self.home
                ): blocks
                for blocks in pending
            }
            remaining = set(futures)
            while remaining:
                done, remaining = wait(
                    remaining, timeout=0.5, return_when=FIRST_EXCEPTION
                )
                for future in done:
                    self._add(future.result(), futures[future])
                if self.stop.is_set():
                    for future in remaining:
                        future.cancel()
                    break

    def _add(self, part: RunSummary, blocks: BlockRange) -> None:
        for node, rows in part.rows_by_node.items():
            self.summary.rows_by_node[node] += rows
        self.summary.blocks += part.blocks
        self.summary.batches += part.batches
        if self.telemetry is not None:
            self.telemetry.partition_done(part.rows_by_node, part.blocks, part.batches)
        log.info(
            "pipeline %s: partition %s done: %d blocks, %d rows",
            self.spec.name,
            blocks,
            part.blocks,
            part.source_rows,
        )


def _init_worker(level: int) -> None:
    """In each worker: die with the parent (Linux), log like the parent."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL)
    except OSError:  # not Linux: an orphaned worker finishes its partition
        pass
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logger = logging.getLogger("chaintap")
    if not logger.handlers and not logging.getLogger().handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s")
        )
        logger.addHandler(handler)
    logger.setLevel(level)


def _run_partition(
    spec: PipelineSpec, source: str, blocks: BlockRange, home: Path | None
) -> RunSummary:
    """In a worker: run `spec` with its source narrowed to `blocks`."""
    narrowed = replace(
        spec.sources[source],
        start_block=blocks.start,
        end_block=blocks.end,
        start_at=None,
    )
    part_spec = replace(spec, sources={source: narrowed})
    store = CheckpointStore(home / "state.db" if home else None)
    try:
        run = PipelineRun(
            part_spec, store, None, threading.Event(), partition_key(blocks)
        )
        return run.execute(False, None)
    finally:
        store.close()

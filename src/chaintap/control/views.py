"""What the API says about a pipeline: its record joined with checkpoints and counts.

Progress per source is `cursor` (the last block every sink flushed, from the
runtime's checkpoints) against `target` (the inclusive range the file asks for;
`end` is None for a source that follows the head) and `head` (the chain head the
source last saw, from the run's status file). Rows, batches, blocks, flushes and
errors come from the status files of the runs (`chaintap.control.stats`): the
current run's and the total over runs. `memory` is the resident size of the
pipeline's process tree, measured when asked, against its limit
(`chaintap.control.memory`). Texts that might carry a secret (spec, last errors)
are masked before they leave.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from chaintap.control import store as st
from chaintap.control.memory import memory_limit, tree_rss_bytes
from chaintap.control.redact import Redactor
from chaintap.control.stats import PipelineStats, collect, load_spec
from chaintap.control.worker import PipelineDir, next_run
from chaintap.spec.filters import analyze_filter, block_column
from chaintap.spec.model import SourceSpec
from chaintap.state.checkpoints import CheckpointStore

Json = dict[str, Any]


def display_status(record: st.PipelineRecord) -> str:
    """The status as shown: a job that succeeded is `completed`."""
    if record.is_job and record.status == st.SUCCEEDED:
        return "completed"
    return record.status


def pipeline_view(
    record: st.PipelineRecord,
    store: st.ControlStore,
    home: Path,
    redactor: Redactor,
    *,
    job_ttl_s: float,
    memory_limit_mib: int | None = None,
    detail: bool = False,
) -> Json:
    """The JSON object for one pipeline; `detail` adds its spec and run history.

    `memory_limit_mib` is the server's override of every resource_size's limit.
    """
    folded_at, folded = store.run_totals(record.name)
    telemetry = PipelineDir(home, record.name).telemetry
    stats = collect(record.spec_text, telemetry, folded_at, folded)
    view: Json = {
        "name": record.name,
        "kind": record.kind,
        "status": record.status,
        "display_status": display_status(record),
        "desired": record.desired,
        "restarts": record.restarts,
        "last_error": redactor.scrub(record.last_error) if record.last_error else None,
        "pid": record.pid,
        "created_at": record.created_at,
        "updated_at": record.updated_at,
        "ended_at": record.ended_at,
        "schedule": record.schedule,
        "next_run_at": None,
        "expires_at": None,
        "sources": _sources(record, home, stats),
        "nodes": [
            {
                "name": name,
                "kind": kind,
                "rows": stats.run.rows.get(name, 0),
                "rows_total": stats.total.rows.get(name, 0),
            }
            for name, kind in stats.shape.nodes
        ],
        "sinks": _sinks(stats),
        "run": _run(stats, redactor),
        "totals": {
            "batches": stats.total.batches,
            "blocks": stats.total.blocks,
            "errors": stats.total.errors,
        },
        "memory": _memory(record, memory_limit_mib),
    }
    if record.schedule is not None and record.desired == st.WANT_RUNNING:
        view["next_run_at"] = next_run(record.schedule, time.time())
    elif record.is_job and record.ended_at is not None:
        view["expires_at"] = record.ended_at + job_ttl_s
    if detail:
        view["spec"] = redactor.scrub(record.spec_text)
        view["workdir"] = record.workdir
        view["runs"] = [
            {
                "started_at": r.started_at,
                "ended_at": r.ended_at,
                "status": r.status,
                "exit_code": r.exit_code,
                "error": redactor.scrub(r.error) if r.error else None,
            }
            for r in store.runs(record.name)
        ]
    return view


def _memory(record: st.PipelineRecord, override_mib: int | None) -> Json:
    """The limit, and the resident size now (None while no child runs)."""
    limit = memory_limit(record.spec_text, override_mib)
    return {
        "rss_bytes": None if record.pid is None else tree_rss_bytes(record.pid),
        "limit_bytes": limit.limit_bytes,
        "resource_size": limit.resource_size,
        "limit_from": "server" if limit.overridden else "resource_size",
    }


def _sources(record: st.PipelineRecord, home: Path, stats: PipelineStats) -> list[Json]:
    checkpoints = CheckpointStore(home / "state.db")
    try:
        cursors = {c.source: c for c in checkpoints.all_for(record.name)}
    finally:
        checkpoints.close()
    heads: dict[str, int] = (stats.status or {}).get("heads") or {}
    views = []
    for name, (start, end) in _targets(record.spec_text).items():
        checkpoint = cursors.get(name)
        cursor = None if checkpoint is None else checkpoint.cursor
        head = heads.get(name)
        views.append(
            {
                "name": name,
                "cursor": cursor,
                "completed": checkpoint is not None and checkpoint.completed,
                "target_start": start,
                "target_end": end,
                "head": head,
                # The head is asked for less often than the cursor moves, so a
                # cursor past the last head seen counts as caught up.
                "lag_blocks": (
                    None if head is None or cursor is None else max(0, head - cursor)
                ),
            }
        )
    return views


def _sinks(stats: PipelineStats) -> list[Json]:
    current: dict[str, Json] = (stats.status or {}).get("sinks") or {}
    return [
        {
            "name": name,
            "flushes": stats.run.flushes.get(name, 0),
            "flush_seconds": stats.run.flush_seconds.get(name, 0.0),
            "last_flush_seconds": current.get(name, {}).get("last_flush_seconds"),
            "flushes_total": stats.total.flushes.get(name, 0),
            "flush_seconds_total": stats.total.flush_seconds.get(name, 0.0),
        }
        for name in stats.shape.sink_inputs
    ]


def _run(stats: PipelineStats, redactor: Redactor) -> Json | None:
    """The current (or last) run's own counters; None until the run opened its
    nodes (it writes its first status file then, with every count at zero)."""
    status = stats.status
    if status is None:
        return None
    error = status.get("last_error")
    return {
        "started_at": status.get("started_at"),
        "updated_at": status.get("updated_at"),
        "batches": stats.run.batches,
        "blocks": stats.run.blocks,
        "errors": stats.run.errors,
        "last_error": redactor.scrub(error) if error else None,
    }


def _targets(spec_text: str) -> dict[str, tuple[int | None, int | None]]:
    """Each source's configured (first, last) block; None where not fixed."""
    spec = load_spec(spec_text)
    if spec is None:
        return {}
    return {name: _bounds(source) for name, source in spec.sources.items()}


def _bounds(source: SourceSpec) -> tuple[int | None, int | None]:
    start, end = source.start_block, source.end_block
    if source.block_ranges:
        start = min(r.start for r in source.block_ranges)
        end = max(r.end for r in source.block_ranges)
    if source.filter and (start is None or end is None):
        pushdown = analyze_filter(source.filter, block_column(source.dataset))
        start = start if start is not None else pushdown.min_block
        end = end if end is not None else pushdown.max_block
    return start, end

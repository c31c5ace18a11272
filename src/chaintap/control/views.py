"""What the API says about a pipeline: its record joined with checkpoints and counts.

Progress per source is `cursor` (the last block every sink flushed, from the
runtime's checkpoints) against `target` (the inclusive range the file asks for;
`end` is None for a source that follows the head). Texts that might carry a secret
(spec, last error) are masked before they leave.
"""

from __future__ import annotations

import functools
import logging
import time
from pathlib import Path
from typing import Any

from chaintap.control import store as st
from chaintap.control.redact import Redactor
from chaintap.control.worker import next_run
from chaintap.errors import ChaintapError
from chaintap.spec.filters import analyze_filter, block_column
from chaintap.spec.loader import load_pipeline_text
from chaintap.spec.model import SourceSpec
from chaintap.state.checkpoints import CheckpointStore

log = logging.getLogger(__name__)

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
    detail: bool = False,
) -> Json:
    """The JSON object for one pipeline; `detail` adds its spec and run history."""
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
        "sources": _sources(record, home),
        "rows": [
            {"source": c.node, "rows_in": c.rows_in, "sink_rows": c.sink_rows}
            for c in store.row_counts(record.name)
        ],
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


def _sources(record: st.PipelineRecord, home: Path) -> list[Json]:
    checkpoints = CheckpointStore(home / "state.db")
    try:
        cursors = {c.source: c for c in checkpoints.all_for(record.name)}
    finally:
        checkpoints.close()
    views = []
    for name, (start, end) in _targets(record.spec_text).items():
        checkpoint = cursors.get(name)
        views.append(
            {
                "name": name,
                "cursor": None if checkpoint is None else checkpoint.cursor,
                "completed": checkpoint is not None and checkpoint.completed,
                "target_start": start,
                "target_end": end,
            }
        )
    return views


@functools.lru_cache(maxsize=256)
def _targets(spec_text: str) -> dict[str, tuple[int | None, int | None]]:
    """Each source's configured (first, last) block; None where not fixed."""
    try:
        spec = load_pipeline_text(spec_text)
    except ChaintapError as err:
        # A stored spec that a newer chaintap rejects: show no targets, not a crash.
        log.warning("stored spec no longer loads: %s", err)
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

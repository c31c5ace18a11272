"""A pipeline's counters, from the status files its runs keep.

Each run of a supervised pipeline keeps `telemetry/status.json` (see
`chaintap.runtime.telemetry`): rows per node, batches, blocks, sink flushes and
errors of that one run, so a restarted deployment's counters start over. When a run
ends, the worker folds its last status into the pipeline's totals in the control
database (`ControlStore.fold_run`), marked with the run's start time so the same
run is never added twice. What the API shows is then:

- `run`: the current (or, when none runs, the last) run's counters;
- `total`: every run since the pipeline was applied or last restarted with
  cleared state — the folded totals plus the current run when not yet folded.

The status file counts the rows each source and transform produced; a sink is
given exactly the rows of the node it reads (`from`), so its count is derived from
that node's. Checkpoints, and so the cursors shown, are always exact; the counters
are not, in three cases:
- a run killed with SIGKILL loses its last second of counts (the runner rewrites
  the status file at most once a second);
- the runner writes the file only on a batch and at the end, so a deployment that
  goes idle at the head less than a second after its last write shows the counts
  from before its latest batch until the next one;
- a job split into partitions over worker processes keeps no status file at all,
  so its rows, batches and flushes show as 0 (and it cannot be inspected).
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from chaintap.errors import ChaintapError
from chaintap.runtime.telemetry import read_status
from chaintap.spec.loader import load_pipeline_text
from chaintap.spec.model import PipelineSpec

log = logging.getLogger(__name__)

Json = dict[str, Any]

SOURCE = "source"
TRANSFORM = "transform"
SINK = "sink"


@dataclass(frozen=True)
class SpecShape:
    """The nodes of a pipeline by kind, and the node each sink reads."""

    sources: tuple[str, ...] = ()
    transforms: tuple[str, ...] = ()
    sink_inputs: dict[str, str] = field(default_factory=dict)

    @property
    def nodes(self) -> list[tuple[str, str]]:
        """(name, kind) of every node: sources, transforms, then sinks."""
        return [
            *((n, SOURCE) for n in self.sources),
            *((n, TRANSFORM) for n in self.transforms),
            *((n, SINK) for n in self.sink_inputs),
        ]

    @property
    def inspectable(self) -> tuple[str, ...]:
        """Nodes whose output records the runner can sample."""
        return self.sources + self.transforms


@functools.lru_cache(maxsize=256)
def load_spec(spec_text: str) -> PipelineSpec | None:
    """The stored spec, None when it no longer loads (logged, never raised)."""
    try:
        return load_pipeline_text(spec_text)
    except ChaintapError as err:
        # A stored spec that a newer chaintap rejects: show what we can, not crash.
        log.warning("stored spec no longer loads: %s", err)
        return None


def spec_shape(spec_text: str) -> SpecShape:
    spec = load_spec(spec_text)
    if spec is None:
        return SpecShape()
    return SpecShape(
        tuple(spec.sources),
        tuple(spec.transform_order),
        {name: sink.from_ for name, sink in spec.sinks.items()},
    )


@dataclass
class Counters:
    """Additive counters of one run, or of several runs added up."""

    rows: dict[str, int] = field(default_factory=dict)
    batches: int = 0
    blocks: int = 0
    errors: int = 0
    flushes: dict[str, int] = field(default_factory=dict)
    flush_seconds: dict[str, float] = field(default_factory=dict)

    @classmethod
    def of_status(cls, status: Json, sink_inputs: dict[str, str]) -> Counters:
        """The counters in one status file; sink rows derived from their input."""
        rows = {str(k): int(v) for k, v in (status.get("rows") or {}).items()}
        for sink, source in sink_inputs.items():
            rows[sink] = rows.get(source, 0)
        sinks: dict[str, Json] = status.get("sinks") or {}
        return cls(
            rows=rows,
            batches=int(status.get("batches", 0)),
            blocks=int(status.get("blocks", 0)),
            errors=int(status.get("errors", 0)),
            flushes={k: int(v.get("flushes", 0)) for k, v in sinks.items()},
            flush_seconds={
                k: float(v.get("total_flush_seconds", 0.0)) for k, v in sinks.items()
            },
        )

    def plus(self, other: Counters) -> Counters:
        return Counters(
            rows=_add(self.rows, other.rows),
            batches=self.batches + other.batches,
            blocks=self.blocks + other.blocks,
            errors=self.errors + other.errors,
            flushes=_add(self.flushes, other.flushes),
            flush_seconds=_add(self.flush_seconds, other.flush_seconds),
        )

    def as_json(self) -> Json:
        return {
            "rows": self.rows,
            "batches": self.batches,
            "blocks": self.blocks,
            "errors": self.errors,
            "flushes": self.flushes,
            "flush_seconds": self.flush_seconds,
        }

    @classmethod
    def from_json(cls, data: Json) -> Counters:
        return cls(
            rows={str(k): int(v) for k, v in data.get("rows", {}).items()},
            batches=int(data.get("batches", 0)),
            blocks=int(data.get("blocks", 0)),
            errors=int(data.get("errors", 0)),
            flushes={str(k): int(v) for k, v in data.get("flushes", {}).items()},
            flush_seconds={
                str(k): float(v) for k, v in data.get("flush_seconds", {}).items()
            },
        )


_Number = TypeVar("_Number", int, float)


def _add(a: dict[str, _Number], b: dict[str, _Number]) -> dict[str, _Number]:
    out = dict(a)
    for key, value in b.items():
        out[key] = out[key] + value if key in out else value
    return out


@dataclass(frozen=True)
class PipelineStats:
    """What the telemetry says about one pipeline (see the module docstring)."""

    shape: SpecShape
    status: Json | None
    run: Counters
    total: Counters


def collect(
    spec_text: str,
    telemetry_dir: Path,
    folded_at: float,
    folded: Counters,
) -> PipelineStats:
    """Join the current status file with the folded totals of earlier runs.

    `folded_at` is the start time of the last run already in `folded`; a status
    file of that run or an older one is not added again.
    """
    shape = spec_shape(spec_text)
    status = read_status(telemetry_dir)
    if status is None:
        return PipelineStats(shape, None, Counters(), folded)
    run = Counters.of_status(status, shape.sink_inputs)
    unfolded = float(status.get("started_at", 0.0)) > folded_at
    return PipelineStats(shape, status, run, folded.plus(run) if unfolded else folded)

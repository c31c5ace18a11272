"""`GET /metrics`: every pipeline's counters in the Prometheus text format (0.0.4).

Rendered from the same pipeline views as `chaintap get`, so a scrape and the CLI
never disagree. Every series carries `pipeline`; per-node series add `node`,
`source` or `sink`. Counters (`*_total`) add up every run since the pipeline was
applied, or last restarted with cleared state (then they start over, which
Prometheus treats as a counter reset). Series of things not known yet — a head
before the source asked for one, the last flush before the first batch — are left
out rather than reported as zero.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from chaintap.control.store import RUNNING

Json = dict[str, Any]
Labels = dict[str, str]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# name → (type, help). The order here is the order of the exposition.
_FAMILIES: dict[str, tuple[str, str]] = {
    "chaintap_pipeline_up": ("gauge", "1 while the pipeline's process is running."),
    "chaintap_restarts_total": (
        "counter",
        "Automatic restarts of a deployment after a failure.",
    ),
    "chaintap_errors_total": ("counter", "Runs that ended with an error."),
    "chaintap_rows_total": (
        "counter",
        "Rows a source read, a transform produced or a sink was given.",
    ),
    "chaintap_batches_total": ("counter", "Source batches delivered to every sink."),
    "chaintap_blocks_total": ("counter", "Blocks covered by delivered batches."),
    "chaintap_sink_flushes_total": ("counter", "Flushes of a sink."),
    "chaintap_sink_flush_seconds_total": ("counter", "Time spent in a sink's flushes."),
    "chaintap_sink_flush_seconds_last": (
        "gauge",
        "Duration of a sink's last flush in the current run.",
    ),
    "chaintap_source_cursor": (
        "gauge",
        "Last block every sink flushed (the checkpoint), inclusive.",
    ),
    "chaintap_source_head": ("gauge", "Chain head the source last saw."),
    "chaintap_source_lag_blocks": ("gauge", "Blocks between the head and the cursor."),
    "chaintap_checkpoint_age_seconds": (
        "gauge",
        "Seconds since the current run last reported progress.",
    ),
    "chaintap_memory_bytes": (
        "gauge",
        "Resident memory of the pipeline's processes, while they run.",
    ),
    "chaintap_memory_limit_bytes": (
        "gauge",
        "Memory the pipeline's processes may use before the server stops them.",
    ),
}


def render(pipelines: Iterable[Json], now: float | None = None) -> str:
    """The exposition text for the pipeline views in `pipelines`."""
    now = time.time() if now is None else now
    samples: dict[str, list[str]] = {name: [] for name in _FAMILIES}
    for view in pipelines:
        for name, labels, value in _samples(view, now):
            samples[name].append(f"{name}{_labels(labels)} {_number(value)}")

    lines: list[str] = []
    for name, (kind, help_text) in _FAMILIES.items():
        if samples[name]:
            lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
            lines += samples[name]
    return "\n".join(lines) + "\n" if lines else ""


def _samples(view: Json, now: float) -> Iterable[tuple[str, Labels, float]]:
    """(metric, labels, value) of one pipeline."""
    pipeline = view["name"]
    base = {"pipeline": pipeline}
    yield "chaintap_pipeline_up", base, 1.0 if view["status"] == RUNNING else 0.0
    yield "chaintap_restarts_total", base, view["restarts"]
    yield "chaintap_errors_total", base, view["totals"]["errors"]
    for node in view["nodes"]:
        yield "chaintap_rows_total", {**base, "node": node["name"]}, node["rows_total"]
    yield "chaintap_batches_total", base, view["totals"]["batches"]
    yield "chaintap_blocks_total", base, view["totals"]["blocks"]

    for sink in view["sinks"]:
        labels = {**base, "sink": sink["name"]}
        yield "chaintap_sink_flushes_total", labels, sink["flushes_total"]
        yield "chaintap_sink_flush_seconds_total", labels, sink["flush_seconds_total"]
        if sink["last_flush_seconds"] is not None:
            last = sink["last_flush_seconds"]
            yield "chaintap_sink_flush_seconds_last", labels, last

    run = view["run"]
    for source in view["sources"]:
        labels = {**base, "source": source["name"]}
        if source["cursor"] is not None:
            yield "chaintap_source_cursor", labels, source["cursor"]
        if source["head"] is not None:
            yield "chaintap_source_head", labels, source["head"]
        if source["lag_blocks"] is not None:
            yield "chaintap_source_lag_blocks", labels, source["lag_blocks"]
        if run is not None and run["updated_at"] is not None:
            age = max(0.0, now - float(run["updated_at"]))
            yield "chaintap_checkpoint_age_seconds", labels, age

    memory = view["memory"]
    if memory["rss_bytes"] is not None:
        yield "chaintap_memory_bytes", base, memory["rss_bytes"]
    yield "chaintap_memory_limit_bytes", base, memory["limit_bytes"]


def _labels(labels: Labels) -> str:
    inner = ",".join(f'{key}="{_escape(value)}"' for key, value in labels.items())
    return "{" + inner + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    if isinstance(value, int) or float(value).is_integer():
        return str(int(value))
    return repr(float(value))

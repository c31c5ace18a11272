"""`chaintap list` and `chaintap get NAME`: what the control server runs."""

from __future__ import annotations

import json

import click

from chaintap.cli import output
from chaintap.cli.remote import (
    OUTPUT_OPTION,
    Json,
    ago,
    connected,
    control_command,
    progress,
    rows_in,
    when,
)


@click.command("list")
@OUTPUT_OPTION
@control_command
def list_(fmt: str) -> None:
    """List every applied pipeline with its status and progress."""
    with connected() as client:
        pipelines = client.list()
    if fmt == "json":
        output.out(json.dumps(pipelines, indent=2))
        return
    if not pipelines:
        output.out("no pipelines; `chaintap apply FILE` adds one")
        return
    rows = [
        [
            p["name"],
            p["kind"],
            p["display_status"],
            ago(p["created_at"]),
            progress(p),
            f"{rows_in(p):,}",
        ]
        for p in pipelines
    ]
    headers = ["name", "kind", "status", "age", "progress", "rows"]
    output.out(output.table(rows, headers))


@click.command()
@click.argument("name")
@OUTPUT_OPTION
@control_command
def get(name: str, fmt: str) -> None:
    """Show pipeline NAME: status, errors, progress per source, rows per node, sink
    flushes (this run and all runs), runs of a scheduled job, and the spec."""
    with connected() as client:
        pipeline = client.get(name)
    if fmt == "json":
        output.out(json.dumps(pipeline, indent=2))
        return
    output.out(render(pipeline))


def render(p: Json) -> str:
    """The readable form of one pipeline (secrets were masked by the server)."""
    lines = [
        f"name:        {p['name']}",
        f"kind:        {p['kind']}",
        f"status:      {p['display_status']}"
        + (f" (wanted: {p['desired']})" if p["desired"] == "paused" else ""),
        f"restarts:    {p['restarts']}",
        f"last error:  {p['last_error'] or '-'}",
        f"memory:      {_memory_line(p.get('memory'))}",
        f"created:     {when(p['created_at'])} ({ago(p['created_at'])} ago)",
    ]
    if p["ended_at"] is not None:
        lines.append(f"ended:       {when(p['ended_at'])}")
    if p["expires_at"] is not None:
        lines.append(f"deleted at:  {when(p['expires_at'])} (job TTL)")
    if p["schedule"]:
        lines.append(f"schedule:    {p['schedule']} (next {when(p['next_run_at'])})")

    lines.append(f"this run:    {_run_line(p['run'])}")
    totals = p["totals"]
    lines.append(
        f"all runs:    {totals['batches']:,} batches, {totals['blocks']:,} blocks, "
        f"{totals['errors']} error(s)"
    )

    sources = [
        [
            s["name"],
            _num(s["cursor"]),
            _num(s["head"]),
            _num(s["lag_blocks"]),
            f"{_num(s['target_start'])}..{_num(s['target_end'], 'head')}",
            "yes" if s["completed"] else "no",
        ]
        for s in p["sources"]
    ]
    headers = ["source", "cursor", "head", "lag", "target", "completed"]
    lines += ["", output.table(sources, headers)]
    nodes = [
        [n["name"], n["kind"], f"{n['rows']:,}", f"{n['rows_total']:,}"]
        for n in p["nodes"]
    ]
    lines += ["", output.table(nodes, ["node", "kind", "rows", "rows all runs"])]
    sinks = [
        [
            k["name"],
            f"{k['flushes']:,}",
            _seconds(k["last_flush_seconds"]),
            _seconds(k["flush_seconds"]),
            f"{k['flushes_total']:,}",
        ]
        for k in p["sinks"]
    ]
    headers = ["sink", "flushes", "last flush", "flush time", "flushes all runs"]
    lines += ["", output.table(sinks, headers)]

    if p.get("runs"):
        run_rows = [
            [when(r["started_at"]), when(r["ended_at"]), r["status"], r["error"] or ""]
            for r in p["runs"]
        ]
        lines += ["", output.table(run_rows, ["started", "ended", "status", "error"])]
    lines += ["", "spec:"] + [f"  {line}" for line in p["spec"].splitlines()]
    return "\n".join(lines)


def _memory_line(memory: Json | None) -> str:
    """Resident size now against the limit, e.g. `212 MiB of 1024 MiB (...)`."""
    if memory is None:  # a server from before memory limits
        return "-"
    mib = 1024 * 1024
    rss = memory["rss_bytes"]
    used = "not running" if rss is None else f"{rss // mib} MiB"
    source = (
        "set by the server"
        if memory["limit_from"] == "server"
        else f"resource_size {memory['resource_size']}"
    )
    return f"{used} of {memory['limit_bytes'] // mib} MiB ({source})"


def _num(value: int | None, missing: str = "-") -> str:
    return missing if value is None else str(value)


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}s"


def _run_line(run: Json | None) -> str:
    """The current (or last) run in one line; its own counts start at zero."""
    if run is None:
        return "no batch delivered yet"
    line = (
        f"started {when(run['started_at'])}, {run['batches']:,} batches, "
        f"{run['blocks']:,} blocks, {run['errors']} error(s), last report "
        f"{ago(run['updated_at'])} ago"
    )
    if run["last_error"]:
        line += f"; error: {run['last_error']}"
    return line

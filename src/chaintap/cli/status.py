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
    """Show pipeline NAME: status, last error, progress per source, rows, spec."""
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
        f"created:     {when(p['created_at'])} ({ago(p['created_at'])} ago)",
    ]
    if p["ended_at"] is not None:
        lines.append(f"ended:       {when(p['ended_at'])}")
    if p["expires_at"] is not None:
        lines.append(f"deleted at:  {when(p['expires_at'])} (job TTL)")
    if p["schedule"]:
        lines.append(f"schedule:    {p['schedule']} (next {when(p['next_run_at'])})")

    counts = {r["source"]: r for r in p["rows"]}
    rows = []
    for s in p["sources"]:
        count = counts.get(s["name"], {"rows_in": 0, "sink_rows": 0})
        target = f"{_num(s['target_start'])}..{_num(s['target_end'], 'head')}"
        rows.append(
            [
                s["name"],
                _num(s["cursor"]),
                target,
                "yes" if s["completed"] else "no",
                f"{count['rows_in']:,}",
                f"{count['sink_rows']:,}",
            ]
        )
    headers = ["source", "cursor", "target", "completed", "rows in", "sink rows"]
    lines += ["", output.table(rows, headers)]

    if p.get("runs"):
        run_rows = [
            [when(r["started_at"]), when(r["ended_at"]), r["status"], r["error"] or ""]
            for r in p["runs"]
        ]
        lines += ["", output.table(run_rows, ["started", "ended", "status", "error"])]
    lines += ["", "spec:"] + [f"  {line}" for line in p["spec"].splitlines()]
    return "\n".join(lines)


def _num(value: int | None, missing: str = "-") -> str:
    return missing if value is None else str(value)

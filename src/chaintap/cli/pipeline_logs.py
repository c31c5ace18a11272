"""`chaintap logs NAME`: what a pipeline's processes wrote, kept across restarts."""

from __future__ import annotations

import re

import click

from chaintap.cli import output
from chaintap.cli.remote import connected, control_command

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> float:
    """Seconds in `90s`, `5m`, `1h30m`, `2d`; a bare number is seconds."""
    text = text.strip()
    try:
        return float(text)
    except ValueError:
        pass
    parts = _DURATION_PART.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise click.BadParameter(
            f"{text!r} is not a duration; write it like 30s, 5m, 1h30m or 2d"
        )
    return sum(float(n) * _UNIT_SECONDS[u] for n, u in parts)


@click.command("logs")
@click.argument("name")
@click.option("-f", "--follow", is_flag=True, help="Keep printing new lines.")
@click.option(
    "--tail", type=click.IntRange(min=0), default=None, help="Only the last N lines."
)
@click.option("--since", default=None, help="Only lines newer than this, e.g. 10m.")
@click.option("--timestamps", is_flag=True, help="Start each line with its UTC time.")
@control_command
def logs(
    name: str, follow: bool, tail: int | None, since: str | None, timestamps: bool
) -> None:
    """Print the log of pipeline NAME (every run, restarts included).

    Lines from chaintap itself (start, exit, restart) begin with `chaintap:`.
    With --follow, printing goes on until the pipeline stops for good, is deleted,
    or Ctrl-C.
    """
    since_seconds = None if since is None else parse_duration(since)
    with connected() as client:
        for entry in client.logs(
            name, tail=tail, since_seconds=since_seconds, follow=follow
        ):
            text = entry["line"]
            if entry["stream"] == "ctl":
                text = f"chaintap: {text}"
            output.out(f"{entry['ts']} {text}" if timestamps else text)

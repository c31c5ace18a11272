"""`chaintap inspect NAME`: a live sample of the records flowing through a pipeline.

The pipeline samples only while someone inspects it (see
`chaintap.control.inspect`): up to 5 rows of each watched node per batch. On a
terminal the samples show as a table per node with its latest rows; with `--print`
(or when stdout is not a terminal) as JSON lines `{"node": ..., "row": ...}`.
"""

from __future__ import annotations

import contextlib
import itertools
import json
from collections import deque
from collections.abc import Iterable

import click
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from chaintap.cli import output
from chaintap.cli.remote import Json, connected, control_command

# Rows of each node the live view keeps on screen: enough to see what flows,
# few enough that several nodes fit one terminal.
_ROWS_SHOWN = 8
# A value wider than this is cut with an ellipsis (hashes and calldata are long);
# no column is squeezed below its name or this, whichever is shorter.
_CELL_WIDTH = 24
_CELL_MIN_WIDTH = 8


@click.command("inspect")
@click.argument("name")
@click.option(
    "-n",
    "--nodes",
    "nodes",
    multiple=True,
    metavar="NODE[,NODE...]",
    help="Sources or transforms to sample (comma-separated or repeated; "
    "default: every one).",
)
@click.option(
    "--print",
    "plain",
    is_flag=True,
    help='Print JSON lines {"node": ..., "row": ...} instead of the live tables.',
)
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=None,
    help="Stop after N rows.",
)
@control_command
def inspect(name: str, nodes: tuple[str, ...], plain: bool, limit: int | None) -> None:
    """Show records passing through the nodes of running pipeline NAME, live.

    Sampling costs the pipeline a few rows per batch while this command runs and
    nothing otherwise. Runs until Ctrl-C, --limit rows, or the pipeline stops.
    An unknown node is an error that lists the pipeline's nodes.
    """
    wanted = [n.strip() for part in nodes for n in part.split(",") if n.strip()]
    with (
        connected() as client,
        contextlib.closing(client.inspect(name, wanted)) as stream,
    ):
        samples: Iterable[Json] = stream
        if limit is not None:
            samples = itertools.islice(stream, limit)
        if plain or not output.stdout_is_terminal():
            for sample in samples:
                output.out(json.dumps(sample))
        else:
            _live(name, samples)


def _live(name: str, samples: Iterable[Json]) -> None:
    """Redraw a table per node with its latest rows as samples arrive."""
    latest: dict[str, deque[Json]] = {}
    seen = 0
    with Live(_view(name, latest, seen), console=Console(), auto_refresh=False) as live:
        for sample in samples:
            rows = latest.setdefault(str(sample["node"]), deque(maxlen=_ROWS_SHOWN))
            rows.append(sample["row"])
            seen += 1
            live.update(_view(name, latest, seen), refresh=True)


def _view(name: str, latest: dict[str, deque[Json]], seen: int) -> Group:
    if not latest:
        waiting = f"{name}: waiting for the next batch (Ctrl-C to stop)"
        return Group(Text(waiting, style="dim"))
    parts: list[Text | Table] = [
        Text(f"{name}: {seen:,} rows sampled (Ctrl-C to stop)", style="dim")
    ]
    for node, rows in latest.items():
        columns = list(dict.fromkeys(key for row in rows for key in row))
        table = Table(title=node, title_justify="left", expand=False)
        for column in columns:
            table.add_column(
                column,
                overflow="ellipsis",
                no_wrap=True,
                min_width=min(len(column), _CELL_MIN_WIDTH),
                max_width=_CELL_WIDTH,
            )
        for row in rows:
            table.add_row(*(_cell(row.get(column)) for column in columns))
        parts.append(table)
    return Group(*parts)


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)

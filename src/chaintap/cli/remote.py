"""What the verbs that talk to the control server share: connect, errors, rendering.

`control_command` wraps a verb so that a missing pipeline exits 3, a conflict 4 and
an invalid file 2 (with every problem listed), each as one clear line; anything
else falls through to the group's handler.
"""

from __future__ import annotations

import functools
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, ParamSpec, TypeVar

import click

from chaintap.cli import output
from chaintap.control.client import ControlClient
from chaintap.control.errors import PipelineConflict, PipelineNotFound, SpecRejected
from chaintap.state.home import chaintap_home

P = ParamSpec("P")
R = TypeVar("R")
Json = dict[str, Any]

OUTPUT_OPTION = click.option(
    "-o",
    "--output",
    "fmt",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="Plain text for people, or JSON for scripts.",
)


def control_command(func: Callable[P, R]) -> Callable[P, R]:
    """Map control-plane failures to one error line and the documented exit code."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        ctx = click.get_current_context()
        debug = bool((ctx.find_root().obj or {}).get("debug"))
        try:
            return func(*args, **kwargs)
        except PipelineNotFound as err:
            output.error_line(str(err), debug=debug, exc=err)
            sys.exit(output.EXIT_NOT_FOUND)
        except PipelineConflict as err:
            output.error_line(str(err), debug=debug, exc=err)
            sys.exit(output.EXIT_CONFLICT)
        except SpecRejected as err:
            for problem in err.problems:
                output.err(problem)
            output.error_line(str(err), debug=debug, exc=err)
            sys.exit(output.EXIT_INVALID)

    return wrapper


@contextmanager
def connected() -> Iterator[ControlClient]:
    """A client of a healthy server for this CHAINTAP_HOME (started when needed)."""
    client = ControlClient(chaintap_home())
    try:
        client.ensure_server()
        yield client
    finally:
        client.close()


def ago(at: float | None, now: float | None = None) -> str:
    """A short age: 42s, 7m, 3h, 2d."""
    if at is None:
        return "-"
    seconds = max(0, int((now or time.time()) - at))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def when(at: float | None) -> str:
    if at is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(at))


def progress(pipeline: Json) -> str:
    """cursor/target of the source furthest behind; `head` for unbounded ones."""
    shown: list[tuple[float, str]] = []
    for source in pipeline["sources"]:
        cursor, start, end = (
            source["cursor"],
            source["target_start"],
            source["target_end"],
        )
        text = f"{'-' if cursor is None else cursor}/{'head' if end is None else end}"
        if end is None or start is None:
            fraction = 0.0 if cursor is None else 0.5
        elif cursor is None:
            fraction = 0.0
        else:
            fraction = (cursor - start + 1) / max(1, end - start + 1)
        shown.append((fraction, text))
    return min(shown)[1] if shown else "-"


def rows_in(pipeline: Json) -> int:
    """Rows the pipeline's sources read, over every run."""
    return sum(int(n["rows_total"]) for n in pipeline["nodes"] if n["kind"] == "source")

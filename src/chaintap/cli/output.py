"""All terminal output of the CLI goes through here.

Results go to stdout, errors and progress to stderr; `--debug` adds tracebacks.
"""

from __future__ import annotations

import sys
import traceback

import click

# Exit codes, documented in the README.
EXIT_OK = 0
EXIT_FAILED = 1  # the pipeline (or a command) ran and failed
EXIT_INVALID = 2  # invalid pipeline file, options or usage
EXIT_NOT_FOUND = 3  # a named pipeline, secret or file does not exist
EXIT_CONFLICT = 4  # the request conflicts with existing state
EXIT_INTERRUPTED = 130


def out(text: str = "") -> None:
    click.echo(text)


def err(text: str) -> None:
    click.echo(text, err=True)


def error_line(message: str, *, debug: bool, exc: BaseException | None = None) -> None:
    """One clear line; the traceback (and its causes) only with --debug."""
    err(f"error: {message}")
    if debug and exc is not None:
        err("".join(traceback.format_exception(exc)))


def stderr_is_terminal() -> bool:
    return sys.stderr.isatty()


def stdout_is_terminal() -> bool:
    return sys.stdout.isatty()


def table(rows: list[list[str]], headers: list[str]) -> str:
    """A plain aligned text table."""
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
    lines = [
        "  ".join(h.upper().ljust(w) for h, w in zip(headers, widths, strict=True))
    ]
    lines += [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows
    ]
    return "\n".join(line.rstrip() for line in lines)

"""The `chaintap` entry point: global options, logging, and one-line errors."""

from __future__ import annotations

import logging
import sys
from typing import Any

import click

from chaintap import __version__
from chaintap.cli import logs, output
from chaintap.errors import ChaintapError, ConfigError, ConflictError


class _Group(click.Group):
    """Turns chaintap errors into one clear line and a documented exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        debug = bool(ctx.params.get("debug"))
        try:
            return super().invoke(ctx)
        except ConfigError as err:
            output.error_line(str(err), debug=debug, exc=err)
            sys.exit(output.EXIT_INVALID)
        except ConflictError as err:
            output.error_line(str(err), debug=debug, exc=err)
            sys.exit(output.EXIT_CONFLICT)
        except ChaintapError as err:
            output.error_line(str(err), debug=debug, exc=err)
            sys.exit(output.EXIT_FAILED)
        except KeyboardInterrupt:
            output.err("interrupted")
            sys.exit(output.EXIT_INTERRUPTED)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="chaintap")
@click.option("--debug", is_flag=True, help="Show tracebacks and debug logs.")
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Format of log lines on stderr.",
)
@click.option("-q", "--quiet", is_flag=True, help="Only warnings and errors in logs.")
@click.pass_context
def cli(ctx: click.Context, debug: bool, log_format: str, quiet: bool) -> None:
    """chaintap: blockchain data pipelines on your own machines.

    Exit codes: 0 success, 1 the pipeline or command failed, 2 invalid pipeline
    file or usage, 3 not found, 4 conflict, 130 interrupted.
    """
    level = logging.DEBUG if debug else logging.WARNING if quiet else logging.INFO
    logs.configure(level, log_format)
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug
    ctx.obj["quiet"] = quiet


def _register() -> None:
    from chaintap.cli.datasets import datasets
    from chaintap.cli.run import run
    from chaintap.cli.secret import secret
    from chaintap.cli.validate import validate

    for command in (run, validate, datasets, secret):
        cli.add_command(command)
    _register_control()
    try:
        from chaintap.cli.demo import demo
    except ImportError:  # the demo module is optional in stripped installs
        return
    cli.add_command(demo)


def _register_control() -> None:
    """The verbs that talk to the control server."""
    from chaintap.cli.apply import apply
    from chaintap.cli.delete import delete
    from chaintap.cli.inspect_pipeline import inspect
    from chaintap.cli.lifecycle import pause, restart, resume
    from chaintap.cli.pipeline_logs import logs as logs_command
    from chaintap.cli.server import server
    from chaintap.cli.status import get, list_

    for command in (server, apply, list_, get, logs_command, inspect, delete):
        cli.add_command(command)
    for command in (pause, resume, restart):
        cli.add_command(command)


_register()


def main() -> None:
    cli(prog_name="chaintap")

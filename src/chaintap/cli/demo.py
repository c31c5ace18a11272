"""`chaintap demo`: run the example pipelines against a local anvil chain."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click

from chaintap.cli import output
from chaintap.demo.run import DEFAULT_WORKDIR, run_demo


@click.command()
@click.option(
    "--workdir",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_WORKDIR,
    show_default=True,
    help="Directory for the demo's output files and checkpoints; cleared on each "
    "run (only if an earlier demo made it).",
)
@click.option(
    "--transfers",
    type=click.IntRange(min=3, max=10_000),
    default=40,
    show_default=True,
    help="ERC-20 transfers to send on the local chain (plus 2 mints).",
)
@click.option(
    "--verbose",
    is_flag=True,
    help="Show the pipelines' per-batch log lines instead of one line per step.",
)
@click.pass_context
def demo(ctx: click.Context, workdir: Path, transfers: int, verbose: bool) -> None:
    """Run chaintap end to end on a local chain, with nothing to configure.

    Starts a throwaway anvil node on 127.0.0.1 (installed by `npm install` in the
    checkout), deploys an ERC-20 token, sends TRANSFERS transfers, runs the
    pipelines in examples/demo as jobs into files under WORKDIR, checks the rows
    against what was sent and prints a summary. Exits 1 when a check fails.
    """
    debug = bool((ctx.obj or {}).get("debug"))
    if not (verbose or debug):
        # One progress line per step reads better here than per-batch log lines.
        logging.getLogger("chaintap").setLevel(logging.WARNING)

    result = run_demo(workdir, transfers, progress=lambda line: output.err(f"… {line}"))
    output.out(result.render())
    if not result.ok:
        sys.exit(output.EXIT_FAILED)

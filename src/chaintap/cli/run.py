"""`chaintap run FILE`: run a pipeline in the foreground."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from contextlib import nullcontext
from pathlib import Path
from types import FrameType

import click

from chaintap.cli import output
from chaintap.cli.pipeline_file import load_or_exit
from chaintap.cli.progress import BarReporter
from chaintap.runtime.partitions import can_partition, run_partitioned
from chaintap.runtime.runner import ALREADY_FINISHED, RunSummary, run_pipeline
from chaintap.runtime.telemetry import Telemetry


@click.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option(
    "--clear-state",
    is_flag=True,
    help="Forget this pipeline's checkpoints first and start from the beginning.",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Worker processes for a job's backfill (default: from resource_size).",
)
@click.option(
    "--telemetry-dir",
    type=click.Path(file_okay=False),
    default=None,
    hidden=True,
    help="Keep status.json and inspect samples here (set by the control plane).",
)
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Progress bar (default: on when stderr is a terminal).",
)
@click.pass_context
def run(
    ctx: click.Context,
    file: str,
    clear_state: bool,
    workers: int | None,
    telemetry_dir: str | None,
    progress: bool | None,
) -> None:
    """Run the pipeline in FILE in the foreground.

    A job runs to the end of its block range, prints a summary (on stderr;
    stdout carries only rows of print sinks) and exits 0; a
    deployment follows the chain head until interrupted. Checkpoints are kept under
    CHAINTAP_HOME, so a rerun resumes where the last one stopped. A job with one
    source is split into partitions over several worker processes when
    resource_size (or --workers) gives more than one.
    """
    spec = load_or_exit(file, nothing_done="nothing was run")

    stop = threading.Event()
    _stop_on_sigterm(stop)
    count = spec.profile.workers if workers is None else workers
    telemetry = Telemetry(Path(telemetry_dir), spec.name) if telemetry_dir else None
    if can_partition(spec, count):
        summary = run_partitioned(
            spec,
            workers=count,
            clear_state=clear_state,
            stop=stop,
            telemetry=telemetry,
        )
        _finish(spec.name, spec.job, summary, stop)
        return

    show_bar = output.stderr_is_terminal() if progress is None else progress
    if show_bar:
        # The bar replaces per-batch log lines; warnings still show.
        logging.getLogger("chaintap").setLevel(logging.WARNING)
    reporter = BarReporter() if show_bar else None
    with reporter or nullcontext():
        summary = run_pipeline(
            spec,
            clear_state=clear_state,
            reporter=reporter,
            stop=stop,
            telemetry=telemetry,
        )
    _finish(spec.name, spec.job, summary, stop)


def _finish(name: str, job: bool, summary: RunSummary, stop: threading.Event) -> None:
    # stderr: stdout belongs to the pipeline's rows (a print sink), so
    # `chaintap run f.yaml | jq` sees only them.
    output.err(render_summary(summary))
    if stop.is_set() and job:
        output.err(f"job {name!r} stopped before its end; rerun to resume")
        sys.exit(output.EXIT_INTERRUPTED)


def _stop_on_sigterm(stop: threading.Event) -> None:
    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, handler)


def render_summary(summary: RunSummary) -> str:
    """A short, readable account of what the run did."""
    if summary.outcome == ALREADY_FINISHED:
        return summary.message or f"{summary.pipeline}: already finished"
    lines = [
        f"pipeline {summary.pipeline}: {summary.outcome} — {summary.blocks:,} blocks, "
        f"{summary.source_rows:,} rows in {summary.seconds:.2f}s "
        f"({summary.rows_per_second:,.0f} rows/s)"
    ]
    width = max((len(n) for n in summary.rows_by_node), default=0)
    for node, rows in summary.rows_by_node.items():
        lines.append(f"  {node:<{width}}  {rows:>12,} rows")
    return "\n".join(lines)

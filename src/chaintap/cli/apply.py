"""`chaintap apply FILE`: hand a pipeline to the control server."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from chaintap.cli import output
from chaintap.cli.remote import connected, control_command
from chaintap.runtime.preflight import preflight
from chaintap.spec.loader import PipelineInvalid, load_pipeline


@click.command()
@click.argument("file", type=click.Path(dir_okay=False))
@control_command
def apply(file: str) -> None:
    """Create the pipeline in FILE, or update it, on the control server.

    FILE is validated first; nothing is applied when it has problems. A new
    pipeline starts at once. An updated deployment restarts with the new file and
    keeps its checkpoints. A job is not updated in place (delete it first), and a
    pipeline cannot switch between job and deployment. Relative paths in FILE
    resolve from the current directory, as with `chaintap run`.
    """
    try:
        spec = load_pipeline(file)
    except PipelineInvalid as invalid:
        for problem in invalid.problems:
            output.err(problem.format(file))
        output.err(f"{file}: {len(invalid.problems)} problem(s); nothing was applied")
        sys.exit(output.EXIT_INVALID)
    plan_problems = preflight(spec)
    if plan_problems:
        for problem in plan_problems:
            output.err(problem.format(file))
        output.err(f"{file}: {len(plan_problems)} problem(s); nothing was applied")
        sys.exit(output.EXIT_INVALID)

    text = Path(file).read_text(encoding="utf-8")
    with connected() as client:
        answer = client.apply(text, os.getcwd())
    pipeline = answer["pipeline"]
    output.out(f"{pipeline['kind']} {pipeline['name']} {answer['action']}")

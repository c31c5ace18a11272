"""`chaintap validate FILE`: report every problem of a pipeline file at once."""

from __future__ import annotations

import sys

import click

from chaintap.cli import output
from chaintap.runtime.preflight import preflight
from chaintap.spec.loader import PipelineInvalid, load_pipeline


@click.command()
@click.argument("file", type=click.Path(dir_okay=False))
def validate(file: str) -> None:
    """Check FILE before anything runs; exit 0 when valid, 2 otherwise."""
    try:
        spec = load_pipeline(file)
    except PipelineInvalid as invalid:
        for problem in invalid.problems:
            output.err(problem.format(file))
        output.err(f"{file}: {len(invalid.problems)} problem(s); nothing was run")
        sys.exit(output.EXIT_INVALID)

    problems = preflight(spec)
    if problems:
        for problem in problems:
            output.err(problem.format(file))
        output.err(f"{file}: {len(problems)} problem(s); nothing was run")
        sys.exit(output.EXIT_INVALID)

    kind = "job" if spec.job else "deployment"
    output.out(
        f"{file}: valid {kind} {spec.name!r}: {len(spec.sources)} source(s), "
        f"{len(spec.transforms)} transform(s), {len(spec.sinks)} sink(s)"
    )

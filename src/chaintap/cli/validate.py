"""`chaintap validate FILE`: report every problem of a pipeline file at once."""

from __future__ import annotations

import click

from chaintap.cli import output
from chaintap.cli.pipeline_file import load_or_exit


@click.command()
@click.argument("file", type=click.Path(dir_okay=False))
def validate(file: str) -> None:
    """Check FILE before anything runs; exit 0 when valid, 2 if not, 3 if missing."""
    spec = load_or_exit(file, nothing_done="nothing was run")

    kind = "job" if spec.job else "deployment"
    output.out(
        f"{file}: valid {kind} {spec.name!r}: {len(spec.sources)} source(s), "
        f"{len(spec.transforms)} transform(s), {len(spec.sinks)} sink(s)"
    )

"""`chaintap delete NAME`: stop a pipeline and forget it."""

from __future__ import annotations

import click

from chaintap.cli import output
from chaintap.cli.remote import connected, control_command


@click.command()
@click.argument("name")
@control_command
def delete(name: str) -> None:
    """Stop pipeline NAME and remove its record, checkpoints and logs.

    Data it already wrote to its sinks stays. Applying the same file again starts
    it from the beginning.
    """
    with connected() as client:
        client.delete(name)
    output.out(
        f"pipeline {name} deleted (checkpoints and logs removed; sink data kept)"
    )

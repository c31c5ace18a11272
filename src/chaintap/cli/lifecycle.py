"""`chaintap pause|resume|restart NAME`: deployments only; jobs run to their end."""

from __future__ import annotations

import click

from chaintap.cli import output
from chaintap.cli.remote import connected, control_command


@click.command()
@click.argument("name")
@control_command
def pause(name: str) -> None:
    """Stop deployment NAME until `chaintap resume`; its checkpoints stay."""
    with connected() as client:
        pipeline = client.pause(name)
    output.out(f"deployment {name} {pipeline['display_status']}")


@click.command()
@click.argument("name")
@control_command
def resume(name: str) -> None:
    """Start paused deployment NAME again, after its last checkpoint."""
    with connected() as client:
        pipeline = client.resume(name)
    output.out(f"deployment {name} {pipeline['display_status']}")


@click.command()
@click.argument("name")
@click.option(
    "--clear-state",
    is_flag=True,
    help="Forget its checkpoints first, so it starts from the beginning.",
)
@control_command
def restart(name: str, clear_state: bool) -> None:
    """Stop and start deployment NAME (also brings back a failed one)."""
    if clear_state:
        output.err(
            f"warning: clearing the checkpoints of {name}; it reads from the start "
            "again and rewrites rows its sinks already hold"
        )
    with connected() as client:
        pipeline = client.restart(name, clear_state)
    output.out(f"deployment {name} {pipeline['display_status']}")

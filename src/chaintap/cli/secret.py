"""`chaintap secret ...`: named secrets for `secret_name` options."""

from __future__ import annotations

import sys

import click

from chaintap.cli import output
from chaintap.state.secrets import SecretStore


@click.group()
def secret() -> None:
    """Create, list, reveal, update and delete named secrets (owner-only file)."""


def _read_value(value: str | None) -> str:
    if value is not None:
        return value
    if not sys.stdin.isatty():
        return sys.stdin.read().strip()
    return str(click.prompt("value", hide_input=True))


@secret.command("create")
@click.argument("name")
@click.option(
    "--value", help="The secret value; read from stdin or a prompt if absent."
)
def create(name: str, value: str | None) -> None:
    """Store a new secret NAME."""
    store = SecretStore()
    if store.get(name) is not None:
        output.err(f"error: secret {name!r} exists; use `chaintap secret update`")
        sys.exit(output.EXIT_CONFLICT)
    store.put(name, _read_value(value))
    output.out(f"secret {name} created")


@secret.command("update")
@click.argument("name")
@click.option("--value", help="The new value; read from stdin or a prompt if absent.")
def update(name: str, value: str | None) -> None:
    """Replace the value of secret NAME."""
    store = SecretStore()
    if store.get(name) is None:
        output.err(f"error: no secret {name!r}; use `chaintap secret create`")
        sys.exit(output.EXIT_NOT_FOUND)
    store.put(name, _read_value(value))
    output.out(f"secret {name} updated")


@secret.command("list")
def list_() -> None:
    """List secret names (never values)."""
    for name in SecretStore().names():
        output.out(name)


@secret.command("reveal")
@click.argument("name")
def reveal(name: str) -> None:
    """Print the value of secret NAME."""
    value = SecretStore().get(name)
    if value is None:
        output.err(f"error: no secret {name!r}")
        sys.exit(output.EXIT_NOT_FOUND)
    output.out(value.reveal())


@secret.command("delete")
@click.argument("name")
def delete(name: str) -> None:
    """Delete secret NAME."""
    if not SecretStore().delete(name):
        output.err(f"error: no secret {name!r}")
        sys.exit(output.EXIT_NOT_FOUND)
    output.out(f"secret {name} deleted")

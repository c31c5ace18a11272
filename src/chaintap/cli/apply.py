"""`chaintap apply FILE`: hand a pipeline to the control server."""

from __future__ import annotations

import os
from pathlib import Path

import click

from chaintap.cli import output
from chaintap.cli.pipeline_file import load_or_exit
from chaintap.cli.remote import connected, control_command


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
    load_or_exit(file, nothing_done="nothing was applied")

    text = Path(file).read_text(encoding="utf-8")
    with connected() as client:
        answer = client.apply(text, os.getcwd())
    pipeline = answer["pipeline"]
    output.out(f"{pipeline['kind']} {pipeline['name']} {answer['action']}")

"""Helpers for end-to-end tests that run the real `chaintap` command as a child."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest


@dataclass
class Cli:
    """Runs `python -m chaintap` with a private CHAINTAP_HOME and environment."""

    home: Path
    env: dict[str, str]

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "chaintap", *args]

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.command(*args),
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def start(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            self.command(*args),
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def cursor(self, pipeline: str, source: str) -> int | None:
        """The committed checkpoint, read straight from the state database."""
        path = self.home / "state.db"
        if not path.exists():
            return None
        with sqlite3.connect(path) as db:
            try:
                row = db.execute(
                    "SELECT cursor FROM checkpoints WHERE pipeline = ? AND source = ?",
                    (pipeline, source),
                ).fetchone()
            except sqlite3.OperationalError:
                return None
        return None if row is None else int(row[0])


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    home = tmp_path / "home"
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("CHAINTAP_RPC_", "CHAINTAP_SECRET_", "CHAINTAP_ARCHIVE_"))
    }
    env["CHAINTAP_HOME"] = str(home)
    return Cli(home, env)


def query(url: str, statement: str) -> list[tuple[object, ...]]:
    with psycopg.connect(url) as conn:
        return [tuple(row) for row in conn.execute(statement).fetchall()]


def write_pipeline(path: Path, text: str, **values: object) -> Path:
    for key, value in values.items():
        text = text.replace("{" + key + "}", str(value))
    path.write_text(text)
    return path


Writer = Callable[..., Path]

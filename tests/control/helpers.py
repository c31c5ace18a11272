"""A real control server for a test: its own CHAINTAP_HOME and a free 127.0.0.1 port.

`ControlPlane.start()` runs `python -m chaintap server` as a child of the test,
with a short stop grace and job TTL; `stop()` ends it by its PID (SIGTERM, then
SIGKILL) along with any pipeline child it left. CLI verbs run in-process through click's
runner with the same environment, so they reach that server; they never start one
of their own because the server is up whenever a test calls them.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from chaintap.cli.main import cli
from chaintap.state.checkpoints import Checkpoint, CheckpointStore

# Short enough to keep the suite fast; long enough that an ended job can be looked
# at before it goes.
JOB_TTL_S = 3.0
# The head-following EVM source does not stop on SIGTERM while it waits for a new
# block, so stopping one costs the whole grace period.
STOP_GRACE_S = 1.0


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class ControlPlane:
    """One server process and the CLI pointed at it."""

    def __init__(self, home: Path, workdir: Path, extra_env: dict[str, str]) -> None:
        self.home = home
        self.workdir = workdir
        self.port = _free_port()
        self.env = {
            "CHAINTAP_HOME": str(home),
            "CHAINTAP_SERVER_PORT": str(self.port),
            **extra_env,
        }
        self.process: subprocess.Popen[bytes] | None = None
        self.children_seen: set[int] = set()

    def start(self, *extra_args: str) -> None:
        log = (self.home / "test-server.log").open("ab")
        self.process = subprocess.Popen(
            [
                *(sys.executable, "-m", "chaintap", "server", "--port", str(self.port)),
                *("--job-ttl", str(JOB_TTL_S), "--stop-grace", str(STOP_GRACE_S)),
                *extra_args,
            ],
            env={**os.environ, **self.env},
            stdout=log,
            stderr=log,
            stdin=subprocess.DEVNULL,
        )
        log.close()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"control server did not start:\n{self.server_log()}")

    def kill(self) -> None:
        """SIGKILL the server, as a crash would."""
        assert self.process is not None
        self.process.kill()
        self.process.wait()

    def stop(self) -> None:
        """SIGTERM the server (it stops its children), SIGKILL after 15 s."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        # Pipeline children this test saw: end any left over (they are ours).
        for pid in self.children_seen:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def server_log(self) -> str:
        path = self.home / "test-server.log"
        return path.read_text() if path.exists() else "(no server log)"

    def cli(self, *args: str) -> CliResult:
        result = CliRunner().invoke(cli, list(args), env=self.env)
        if result.exception is not None and not isinstance(
            result.exception, SystemExit
        ):
            raise result.exception
        return CliResult(result.exit_code, result.stdout, result.stderr)

    def pipeline(self, name: str) -> dict[str, Any]:
        result = self.cli("get", name, "-o", "json")
        assert result.code == 0, result.stderr
        view: dict[str, Any] = json.loads(result.stdout)
        if view["pid"]:
            self.children_seen.add(int(view["pid"]))
        return view

    def names(self) -> list[str]:
        result = self.cli("list", "-o", "json")
        assert result.code == 0, result.stderr
        return [p["name"] for p in json.loads(result.stdout)]

    def wait_for(
        self,
        name: str,
        predicate: Callable[[dict[str, Any]], bool],
        timeout: float = 20.0,
        what: str = "the expected state",
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        view: dict[str, Any] = {}
        while time.monotonic() < deadline:
            view = self.pipeline(name)
            if predicate(view):
                return view
            time.sleep(0.1)
        raise AssertionError(
            f"{name} did not reach {what} in {timeout}s: {view}\n{self.server_log()}"
        )

    def apply(self, name: str, text: str) -> CliResult:
        path = self.workdir / f"{name}.yaml"
        path.write_text(text)
        return self.cli("apply", str(path))

    def checkpoints(self, name: str) -> list[Checkpoint]:
        store = CheckpointStore(self.home / "state.db")
        try:
            return store.all_for(name)
        finally:
            store.close()


def deployment_yaml(name: str, rpc_url: str, start: int, sink: str = "") -> str:
    """A deployment that reads blocks from `start` on and then follows the head."""
    return f"""\
name: {name}
sources:
  blocks:
    type: dataset
    dataset_name: ethereum.blocks
    version: 1.0.0
    start_block: {start}
    rpc_url: {rpc_url}
sinks:
  out:
    type: blackhole
    from: blocks
{sink}"""


def job_yaml(name: str, rpc_url: str, start: int, end: int) -> str:
    """A job over the inclusive block range start..end, into jsonl files."""
    return f"""\
name: {name}
job: true
sources:
  blocks:
    type: dataset
    dataset_name: ethereum.blocks
    version: 1.0.0
    start_block: {start}
    end_block: {end}
    rpc_url: {rpc_url}
sinks:
  out:
    type: file
    from: blocks
    path: out-{name}
    format: jsonl
"""

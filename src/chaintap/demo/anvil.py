"""A throwaway local EVM node: anvil, started on 127.0.0.1 and stopped by us.

anvil comes from the npm package `@foundry-rs/anvil` (`npm install` in a chaintap
checkout puts it under `node_modules/`). `AnvilNode` finds the binary, starts it on
a free loopback port with a fixed chain id, waits until it answers JSON-RPC and
stops exactly the process it started (by PID), never any other anvil.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import IO

import httpx

from chaintap.errors import ConfigError, TerminalError

log = logging.getLogger(__name__)

# anvil's default dev chain id; fixed so that runs are comparable.
DEMO_CHAIN_ID = 31337
# A cold start of the 40 MB binary takes ~0.1 s here; 20 s leaves room for a slow
# disk or a busy CI machine before we call the start failed.
START_TIMEOUT_S = 20.0
# How long `stop` waits after SIGTERM before it sends SIGKILL to the same PID.
STOP_TIMEOUT_S = 5.0
# Attempts to start on a fresh free port: another process may take the port
# between our probe and anvil's bind.
START_ATTEMPTS = 3

INSTALL_HINT = (
    "install it with `npm install` in the chaintap checkout (puts it in "
    "node_modules/.bin), or `npm install --prefix ~/.chaintap/tools "
    "@foundry-rs/anvil@1.7.1`, or point CHAINTAP_ANVIL at an anvil binary"
)


class AnvilNotFound(ConfigError):
    """No anvil binary in any of the places `find_anvil` looks."""


def checkout_root() -> Path:
    """The source checkout this module runs from (editable install or source tree).

    From an installed wheel this is a directory of site-packages with no
    node_modules or examples in it; callers check that what they want exists.
    """
    return Path(__file__).resolve().parents[3]


def _tools_dir() -> Path:
    # Not chaintap_home(): looking for a binary must not create the state directory.
    home = os.environ.get("CHAINTAP_HOME") or str(Path.home() / ".chaintap")
    return Path(home) / "tools"


def _native_binary(wrapper: Path) -> Path:
    """The platform binary behind npm's `node_modules/.bin/anvil` wrapper, if found.

    The npm wrapper is a node.js script that spawns the real binary as a child;
    running the binary directly means the PID we hold is anvil's own, so stopping
    it cannot leave an orphaned anvil behind.
    """
    script = wrapper.resolve()
    if script.suffix not in (".mjs", ".js"):
        return wrapper  # already a native binary (foundryup, a package manager)
    scope = script.parent.parent  # node_modules/@foundry-rs
    for candidate in sorted(scope.glob("anvil-*/bin/anvil*")):
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    return wrapper


def find_anvil() -> Path:
    """The anvil binary to run, or `AnvilNotFound` naming every place looked at.

    Order: `CHAINTAP_ANVIL`, then `anvil` on PATH, then `<checkout>/node_modules/.bin`,
    then `$CHAINTAP_HOME/tools/node_modules/.bin`.
    """
    explicit = os.environ.get("CHAINTAP_ANVIL")
    if explicit:
        path = Path(explicit)
        if path.is_file() and os.access(path, os.X_OK):
            return path
        raise AnvilNotFound(
            f"CHAINTAP_ANVIL={explicit} is not an executable file; fix or unset it"
        )

    on_path = shutil.which("anvil")
    if on_path:
        return _native_binary(Path(on_path))

    looked = ["PATH"]
    for base in (checkout_root(), _tools_dir()):
        wrapper = base / "node_modules" / ".bin" / "anvil"
        looked.append(str(wrapper))
        if wrapper.exists():
            return _native_binary(wrapper)
    raise AnvilNotFound(
        "anvil (the local EVM node the demo and the anvil tests run) was not found "
        f"(looked at CHAINTAP_ANVIL, {', '.join(looked)}); {INSTALL_HINT}"
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class AnvilNode:
    """One anvil process on 127.0.0.1; use as a context manager or `start`/`stop`.

    The node has anvil's ten unlocked dev accounts (fixed mnemonic), mines a block
    per transaction until told otherwise, and starts at block 0. `url` is valid
    between `start` and `stop`.
    """

    def __init__(
        self, *, chain_id: int = DEMO_CHAIN_ID, binary: Path | None = None
    ) -> None:
        self.chain_id = chain_id
        self.binary = binary
        self.port: int | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None

    @property
    def url(self) -> str:
        if self.port is None or self._process is None:
            raise TerminalError("the anvil node is not running; call start() first")
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def start(self) -> AnvilNode:
        """Start anvil and wait until `eth_chainId` answers; raise if it never does."""
        binary = self.binary = self.binary or find_anvil()
        problem = ""
        for _ in range(START_ATTEMPTS):
            self._launch(binary)
            problem = self._wait_ready()
            if not problem:
                log.info("anvil %s ready at %s (pid %d)", binary, self.url, self.pid)
                return self
            self.stop()
        raise TerminalError(
            f"anvil ({binary}) did not start after {START_ATTEMPTS} attempts: "
            f"{problem}; run `{binary} --version` to check the binary works"
        )

    def _launch(self, binary: Path) -> None:
        self.port = _free_port()
        # anvil's stderr goes to a temporary file (not a pipe nobody reads, which
        # could fill up and block it) so a failed start can say why.
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - closed by stop()
        command = [
            str(binary),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--chain-id",
            str(self.chain_id),
            "--silent",
        ]
        self._process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self._stderr,
        )

    def _wait_ready(self) -> str:
        """Poll `eth_chainId`; an empty string when ready, else what went wrong."""
        assert self._process is not None
        body = {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}
        deadline = time.monotonic() + START_TIMEOUT_S
        with httpx.Client(timeout=1.0) as http:
            while time.monotonic() < deadline:
                if self._process.poll() is not None:
                    return f"it exited with code {self._process.returncode}: " + (
                        self._stderr_text() or "no output"
                    )
                try:
                    answer = http.post(self.url, json=body).json()
                except (httpx.HTTPError, ValueError):
                    time.sleep(0.05)
                    continue
                if int(answer.get("result", "0x0"), 16) == self.chain_id:
                    return ""
                return f"it answered eth_chainId with {answer!r}"
        return f"no answer to eth_chainId within {START_TIMEOUT_S:.0f}s"

    def _stderr_text(self) -> str:
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        return self._stderr.read()[-2000:].decode(errors="replace").strip()

    def stop(self) -> None:
        """Stop the process this object started (SIGTERM, then SIGKILL). Idempotent."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                log.warning("anvil pid %d ignored SIGTERM; killing it", process.pid)
                process.kill()
                process.wait()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    def __enter__(self) -> AnvilNode:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

"""The CLI's client of the control server, starting the server when none answers.

The address is `CHAINTAP_SERVER_URL` when set, else http://127.0.0.1:<port> with
the port from `CHAINTAP_SERVER_PORT` (default 4750); the token, when the server
wants one, from `CHAINTAP_SERVER_TOKEN`. When nothing answers on a loopback
address, `ensure_server()` starts `chaintap server` as a detached background
process (its output in CHAINTAP_HOME/server.log) and waits until it is healthy.

HTTP failures are mapped to the error tree: 404 `PipelineNotFound`, 409
`PipelineConflict`, 422 `SpecRejected`, 401 `Unauthorized`, 400 `ConfigError`,
5xx `ServerFailed`, no answer `ServerUnavailable`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Generator, Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from chaintap.control import is_loopback
from chaintap.control.errors import (
    PipelineConflict,
    PipelineNotFound,
    ServerFailed,
    ServerUnavailable,
    SpecRejected,
    Unauthorized,
)
from chaintap.errors import ChaintapError, ConfigError
from chaintap.tuning import (
    CONTROL_DEFAULT_PORT,
    CONTROL_REQUEST_TIMEOUT_S,
    CONTROL_SERVER_START_TIMEOUT_S,
)

Json = dict[str, Any]


def server_port() -> int:
    raw = os.environ.get("CHAINTAP_SERVER_PORT")
    if not raw:
        return CONTROL_DEFAULT_PORT
    try:
        return int(raw)
    except ValueError as err:
        raise ConfigError(
            f"CHAINTAP_SERVER_PORT={raw!r} is not a port number; set it to one"
        ) from err


class ControlClient:
    """Calls the control API; every method raises from the error tree on failure."""

    def __init__(
        self, home: Path, url: str | None = None, token: str | None = None
    ) -> None:
        self.home = home
        self.url = (
            url
            or os.environ.get("CHAINTAP_SERVER_URL")
            or f"http://127.0.0.1:{server_port()}"
        ).rstrip("/")
        token = token or os.environ.get("CHAINTAP_SERVER_TOKEN") or None
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(
            base_url=self.url, headers=headers, timeout=CONTROL_REQUEST_TIMEOUT_S
        )

    def close(self) -> None:
        self._http.close()

    def ensure_server(self) -> None:
        """Make sure a server for this CHAINTAP_HOME answers; start one if needed."""
        health = self._health()
        if health is None:
            self._start_server()
            return
        if Path(health.get("home", "")).resolve() != self.home.resolve():
            raise ConfigError(
                f"the chaintap server at {self.url} manages {health.get('home')}, "
                f"not CHAINTAP_HOME {self.home}; set CHAINTAP_SERVER_PORT to a free "
                "port to get a server for this home"
            )

    def apply(self, spec_text: str, workdir: str) -> Json:
        return self._call(
            "POST", "/v1/pipelines", {"spec": spec_text, "workdir": workdir}
        )

    def list(self) -> list[Json]:
        pipelines: list[Json] = self._call("GET", "/v1/pipelines")["pipelines"]
        return pipelines

    def get(self, name: str) -> Json:
        pipeline: Json = self._call("GET", f"/v1/pipelines/{name}")["pipeline"]
        return pipeline

    def delete(self, name: str) -> None:
        self._call("DELETE", f"/v1/pipelines/{name}")

    def pause(self, name: str) -> Json:
        pipeline: Json = self._call("POST", f"/v1/pipelines/{name}/pause")["pipeline"]
        return pipeline

    def resume(self, name: str) -> Json:
        pipeline: Json = self._call("POST", f"/v1/pipelines/{name}/resume")["pipeline"]
        return pipeline

    def restart(self, name: str, clear_state: bool) -> Json:
        body = {"clear_state": clear_state}
        answer = self._call("POST", f"/v1/pipelines/{name}/restart", body)
        pipeline: Json = answer["pipeline"]
        return pipeline

    def logs(
        self,
        name: str,
        *,
        tail: int | None = None,
        since_seconds: float | None = None,
        follow: bool = False,
    ) -> Iterator[Json]:
        """Log entries, oldest first; with `follow` they go on as they are written."""
        params: dict[str, str] = {"follow": "1" if follow else "0"}
        if tail is not None:
            params["tail"] = str(tail)
        if since_seconds is not None:
            params["since_seconds"] = str(since_seconds)
        yield from self._stream(f"/v1/pipelines/{name}/logs", params, endless=follow)

    def inspect(self, name: str, nodes: Sequence[str]) -> Generator[Json, None, None]:
        """Samples `{"node", "row"}` of the records passing through `nodes` (every
        source and transform when empty), as the running pipeline produces them.

        The pipeline samples only while this iterator is open; close it (or stop
        iterating) to stop."""
        params = {"nodes": ",".join(nodes)}
        yield from self._stream(f"/v1/pipelines/{name}/inspect", params, endless=True)

    def _stream(
        self, path: str, params: dict[str, str], endless: bool
    ) -> Iterator[Json]:
        """The JSON lines of a streamed answer; empty lines (heartbeats) skipped."""
        timeout = httpx.Timeout(CONTROL_REQUEST_TIMEOUT_S, read=None if endless else 60)
        try:
            with self._http.stream(
                "GET", path, params=params, timeout=timeout
            ) as response:
                if response.status_code >= 400:
                    response.read()
                    _raise_for(response)
                for line in response.iter_lines():
                    if line.strip():
                        yield json.loads(line)
        except httpx.TransportError as err:
            raise ServerUnavailable(
                f"lost the chaintap server at {self.url}: {err}"
            ) from err

    def _call(self, method: str, path: str, body: Json | None = None) -> Json:
        try:
            response = self._http.request(method, path, json=body)
        except httpx.TransportError as err:
            raise ServerUnavailable(
                f"no chaintap server answers at {self.url} ({err}); start one with "
                "`chaintap server`"
            ) from err
        if response.status_code >= 400:
            _raise_for(response)
        answer: Json = response.json()
        return answer

    def _health(self) -> Json | None:
        try:
            response = self._http.get("/healthz", timeout=2.0)
        except httpx.TransportError:
            return None
        if response.status_code >= 400:
            _raise_for(response)
        health: Json = response.json()
        return health

    def _start_server(self) -> None:
        """Start `chaintap server` detached from this terminal and wait for it."""
        address = urlsplit(self.url)
        if not is_loopback(address.hostname or ""):
            raise ServerUnavailable(
                f"no chaintap server answers at {self.url}; start it on that machine "
                "with `chaintap server`"
            )
        log_path = self.home / "server.log"
        port = address.port or 80
        with log_path.open("ab") as log_file:
            process = subprocess.Popen(
                [sys.executable, "-m", "chaintap", "server", "--port", str(port)],
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=log_file,
                env=dict(os.environ, CHAINTAP_HOME=str(self.home)),
                start_new_session=True,
            )

        deadline = time.monotonic() + CONTROL_SERVER_START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._health() is not None:
                return
            if process.poll() is not None and self._health() is None:
                raise ServerUnavailable(
                    f"the chaintap server did not start (exit code "
                    f"{process.returncode}); see {log_path}"
                )
            time.sleep(0.1)
        raise ServerUnavailable(
            f"the chaintap server started but did not answer within "
            f"{CONTROL_SERVER_START_TIMEOUT_S:g}s; see {log_path}"
        )


def _raise_for(response: httpx.Response) -> None:
    try:
        error = response.json()["error"]
        message, problems = str(error["message"]), error.get("problems")
    except (ValueError, KeyError, TypeError):
        message, problems = f"HTTP {response.status_code}: {response.text[:200]}", None
    status = response.status_code
    failure: ChaintapError
    if status == 404:
        failure = PipelineNotFound(message)
    elif status == 409:
        failure = PipelineConflict(message)
    elif status == 422:
        failure = SpecRejected(message, list(problems or []))
    elif status == 401:
        failure = Unauthorized(message)
    elif status < 500:
        failure = ConfigError(message)
    else:
        failure = ServerFailed(f"the chaintap server failed: {message}")
    raise failure

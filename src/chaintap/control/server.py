"""The control server: a small HTTP JSON API over the `Supervisor`.

Listens on 127.0.0.1:4750 by default (`CHAINTAP_SERVER_PORT`). Any other address
requires a token (`--token` / `CHAINTAP_SERVER_TOKEN`), which every request must
then carry as `Authorization: Bearer <token>`. One server manages one
CHAINTAP_HOME: a second one on the same home refuses to start.

Endpoints (the full contract is `openapi.json`, served at GET /openapi.json):
GET /healthz; GET /metrics (Prometheus); GET|POST /v1/pipelines;
GET|DELETE /v1/pipelines/{name}; POST /v1/pipelines/{name}/{pause|resume|restart};
GET /v1/pipelines/{name}/logs; GET /v1/pipelines/{name}/inspect.
The server speaks plain HTTP: with a token on a non-loopback address the token
crosses the network in clear text. Missing: TLS; until then put it behind a
TLS-terminating proxy or an SSH tunnel.

Errors are `{"error": {"code", "message"[, "problems"]}}` with status 400 invalid,
401 unauthorized, 404 not_found, 409 conflict, 422 invalid (a bad pipeline file),
500 internal.
"""

from __future__ import annotations

import contextlib
import fcntl
import hmac
import json
import logging
import os
import re
import signal
import threading
import time
from collections.abc import Iterator
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from types import FrameType
from typing import IO, Any
from urllib.parse import parse_qs, urlsplit

from chaintap import __version__
from chaintap.control import is_loopback, metrics, views
from chaintap.control.errors import PipelineConflict, PipelineNotFound, SpecRejected
from chaintap.control.inspect import InspectSessions, SampleFollower
from chaintap.control.logfile import LogFollower, read_entries
from chaintap.control.stats import spec_shape
from chaintap.control.store import WANT_RUNNING
from chaintap.control.supervisor import Supervisor, SupervisorSettings
from chaintap.control.worker import PipelineDir
from chaintap.errors import ConfigError
from chaintap.tuning import CONTROL_INSPECT_TOUCH_S, CONTROL_LOG_POLL_S

log = logging.getLogger(__name__)

# A pipeline file is a few KiB; a larger body is a mistake or an attack.
_MAX_BODY = 4 * 1024 * 1024
# A quiet `logs --follow` stream sends an empty line this often, so a follower that
# went away is noticed (the write fails) and its thread ends.
_HEARTBEAT_S = 5.0
_NAME = r"(?P<name>[a-z0-9][a-z0-9-]{0,49})"
_ROUTES: list[tuple[str, re.Pattern[str], str]] = [
    ("GET", re.compile(r"/healthz"), "health"),
    ("GET", re.compile(r"/openapi\.json"), "openapi"),
    ("GET", re.compile(r"/metrics"), "metrics"),
    ("GET", re.compile(r"/v1/pipelines"), "list"),
    ("POST", re.compile(r"/v1/pipelines"), "apply"),
    ("GET", re.compile(rf"/v1/pipelines/{_NAME}"), "get"),
    ("DELETE", re.compile(rf"/v1/pipelines/{_NAME}"), "delete"),
    (
        "POST",
        re.compile(rf"/v1/pipelines/{_NAME}/(?P<verb>pause|resume|restart)"),
        "verb",
    ),
    ("GET", re.compile(rf"/v1/pipelines/{_NAME}/logs"), "logs"),
    ("GET", re.compile(rf"/v1/pipelines/{_NAME}/inspect"), "inspect"),
]


class ControlServer(ThreadingHTTPServer):
    """The HTTP server; handlers reach the supervisor through it."""

    daemon_threads = True

    def __init__(
        self, address: tuple[str, int], supervisor: Supervisor, token: str | None
    ) -> None:
        super().__init__(address, _Handler)
        self.supervisor = supervisor
        self.token = token
        self.closing = threading.Event()
        self.inspections = InspectSessions()


class _Handler(BaseHTTPRequestHandler):
    server: ControlServer
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)

    def _dispatch(self, method: str) -> None:
        self.close_connection = True
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        try:
            self._authorize()
            for route_method, pattern, action in _ROUTES:
                match = pattern.fullmatch(url.path)
                if match and route_method == method:
                    getattr(self, f"_{action}")(match.groupdict(), query)
                    return
            self._error(HTTPStatus.NOT_FOUND, "not_found", _no_route(method, url.path))
        except _Unauthorized:
            self._error(HTTPStatus.UNAUTHORIZED, "unauthorized", _UNAUTHORIZED)
        except PipelineNotFound as err:
            self._error(HTTPStatus.NOT_FOUND, "not_found", str(err))
        except PipelineConflict as err:
            self._error(HTTPStatus.CONFLICT, "conflict", str(err))
        except SpecRejected as err:
            self._error(
                HTTPStatus.UNPROCESSABLE_ENTITY, "invalid", str(err), err.problems
            )
        except ConfigError as err:
            self._error(HTTPStatus.BAD_REQUEST, "invalid", str(err))
        except (BrokenPipeError, ConnectionResetError):
            log.debug("client went away during %s %s", method, url.path)
        except Exception as err:
            log.exception("control API %s %s failed", method, url.path)
            self._error(
                HTTPStatus.INTERNAL_SERVER_ERROR,
                "internal",
                f"unexpected {type(err).__name__}: {err}; see the server log",
            )

    def _authorize(self) -> None:
        token = self.server.token
        if token is None:
            return
        given = self.headers.get("Authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            raise _Unauthorized

    # Endpoints. Each takes the path parameters and the query.

    def _health(self, params: dict[str, str], query: dict[str, str]) -> None:
        supervisor = self.server.supervisor
        self._json(
            HTTPStatus.OK,
            {
                "status": "ok",
                "version": __version__,
                "pid": os.getpid(),
                "home": str(supervisor.home),
            },
        )

    def _openapi(self, params: dict[str, str], query: dict[str, str]) -> None:
        document = resources.files("chaintap.control").joinpath("openapi.json")
        self._send(HTTPStatus.OK, document.read_bytes(), "application/json")

    def _metrics(self, params: dict[str, str], query: dict[str, str]) -> None:
        supervisor = self.server.supervisor
        redactor = supervisor.redactor()
        pipelines = [self._view(record, redactor) for record in supervisor.store.all()]
        text = metrics.render(pipelines)
        self._send(HTTPStatus.OK, text.encode(), metrics.CONTENT_TYPE)

    def _list(self, params: dict[str, str], query: dict[str, str]) -> None:
        supervisor = self.server.supervisor
        redactor = supervisor.redactor()
        items = [self._view(record, redactor) for record in supervisor.store.all()]
        self._json(HTTPStatus.OK, {"pipelines": items})

    def _apply(self, params: dict[str, str], query: dict[str, str]) -> None:
        body = self._body()
        spec, workdir = body.get("spec"), body.get("workdir")
        if not isinstance(spec, str) or not isinstance(workdir, str):
            raise ConfigError(
                "apply needs a JSON body with string fields spec, workdir"
            )
        supervisor = self.server.supervisor
        action, record = supervisor.apply(spec, workdir)
        view = self._view(supervisor.get(record.name), supervisor.redactor())
        status = HTTPStatus.CREATED if action == "created" else HTTPStatus.OK
        self._json(status, {"action": action, "pipeline": view})

    def _get(self, params: dict[str, str], query: dict[str, str]) -> None:
        supervisor = self.server.supervisor
        record = supervisor.get(params["name"])
        view = self._view(record, supervisor.redactor(), detail=True)
        self._json(HTTPStatus.OK, {"pipeline": view})

    def _delete(self, params: dict[str, str], query: dict[str, str]) -> None:
        self.server.supervisor.delete(params["name"])
        self._json(HTTPStatus.OK, {"deleted": params["name"]})

    def _verb(self, params: dict[str, str], query: dict[str, str]) -> None:
        supervisor, name, verb = self.server.supervisor, params["name"], params["verb"]
        if verb == "pause":
            record = supervisor.pause(name)
        elif verb == "resume":
            record = supervisor.resume(name)
        else:
            clear_state = self._body().get("clear_state", False)
            record = supervisor.restart(name, clear_state is True)
        view = self._view(record, supervisor.redactor())
        self._json(HTTPStatus.OK, {"pipeline": view})

    def _logs(self, params: dict[str, str], query: dict[str, str]) -> None:
        """NDJSON entries; with follow=1 a chunked stream of new ones as they come."""
        supervisor, name = self.server.supervisor, params["name"]
        supervisor.get(name)
        tail = _int_param(query, "tail")
        since_s = _float_param(query, "since_seconds")
        since = None if since_s is None else time.time() - since_s
        directory = PipelineDir(supervisor.home, name).logs
        entries, inode, offset = read_entries(directory, tail=tail, since=since)
        lines = b"".join(_ndjson(e.as_json()) for e in entries)
        if query.get("follow") not in ("1", "true"):
            self._send(HTTPStatus.OK, lines, "application/x-ndjson")
            return

        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "application/x-ndjson")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Connection", "close")
        self.end_headers()
        if lines:  # an empty chunk would end the stream at once
            self._chunk(lines)
        for chunk in self._follow(name, LogFollower(directory, inode, offset)):
            if chunk:
                self._chunk(chunk)
        self._end_chunks()

    def _inspect(self, params: dict[str, str], query: dict[str, str]) -> None:
        """A chunked NDJSON stream of samples ({"node", "row"}) while connected.

        Steps in `chaintap.control.inspect`; the stream ends when the pipeline
        stops for good or is deleted, or the server stops. Empty lines are
        heartbeats, sent every CONTROL_INSPECT_TOUCH_S, so a client that left is
        noticed (the write fails) within seconds.
        """
        supervisor, name = self.server.supervisor, params["name"]
        record = supervisor.get(name)
        nodes = _inspected_nodes(name, record.spec_text, query.get("nodes", ""))
        if record.desired != WANT_RUNNING and not supervisor.is_active(name):
            raise PipelineConflict(
                f"pipeline {name!r} is not running (status "
                f"{views.display_status(record)}); inspect shows records while it "
                "runs: resume or apply it first"
            )

        telemetry = PipelineDir(supervisor.home, name).telemetry
        follower = SampleFollower(telemetry)
        session = self.server.inspections.join(telemetry, nodes)
        try:
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", "application/x-ndjson")
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("Connection", "close")
            self.end_headers()
            for chunk in self._samples(name, telemetry, follower, nodes):
                if chunk:
                    self._chunk(chunk)
            self._end_chunks()
        finally:
            self.server.inspections.leave(telemetry, session)

    def _samples(
        self,
        name: str,
        telemetry: Path,
        follower: SampleFollower,
        nodes: frozenset[str],
    ) -> Iterator[bytes]:
        """Samples of `nodes` as they come, a heartbeat when there are none."""
        supervisor = self.server.supervisor
        touched = time.monotonic()
        while not self.server.closing.is_set():
            record = supervisor.store.get(name)
            if record is None or (
                record.desired != WANT_RUNNING and not supervisor.is_active(name)
            ):
                return
            wanted = [s for s in follower.poll() if s.get("node") in nodes]
            if wanted:
                yield b"".join(_ndjson(sample) for sample in wanted)
            if time.monotonic() - touched >= CONTROL_INSPECT_TOUCH_S:
                touched = time.monotonic()
                self.server.inspections.touch(telemetry)
                if not wanted:
                    yield b"\n"
            time.sleep(CONTROL_LOG_POLL_S)

    def _follow(self, name: str, follower: LogFollower) -> Iterator[bytes]:
        """New lines until the pipeline is deleted or stops for good, or shutdown.

        A pipeline stops for good when no worker runs it and it is not meant to
        run (paused, ended); a restart in progress keeps the stream open.
        """
        supervisor = self.server.supervisor
        quiet_since = time.monotonic()
        while not self.server.closing.is_set():
            record = supervisor.store.get(name)
            done = record is None or (
                record.desired != WANT_RUNNING and not supervisor.is_active(name)
            )
            entries = follower.poll()
            if entries:
                quiet_since = time.monotonic()
                yield b"".join(_ndjson(e.as_json()) for e in entries)
            elif time.monotonic() - quiet_since >= _HEARTBEAT_S:
                quiet_since = time.monotonic()
                yield b"\n"
            if done:
                return
            time.sleep(CONTROL_LOG_POLL_S)

    def _view(self, record: Any, redactor: Any, detail: bool = False) -> dict[str, Any]:
        supervisor = self.server.supervisor
        return views.pipeline_view(
            record,
            supervisor.store,
            supervisor.home,
            redactor,
            job_ttl_s=supervisor.settings.job_ttl_s,
            memory_limit_mib=supervisor.settings.memory_limit_mib,
            detail=detail,
        )

    # Plumbing.

    def _body(self) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        if length > _MAX_BODY:
            raise ConfigError(f"request body of {length} bytes is over {_MAX_BODY}")
        raw = self.rfile.read(length) if length else b"{}"
        try:
            body = json.loads(raw)
        except json.JSONDecodeError as err:
            raise ConfigError(f"request body is not JSON: {err}") from err
        if not isinstance(body, dict):
            raise ConfigError("request body must be a JSON object")
        return body

    def _json(self, status: HTTPStatus, payload: dict[str, Any]) -> None:
        self._send(status, json.dumps(payload).encode(), "application/json")

    def _error(
        self,
        status: HTTPStatus,
        code: str,
        message: str,
        problems: list[str] | None = None,
    ) -> None:
        error: dict[str, Any] = {"code": code, "message": message}
        if problems is not None:
            error["problems"] = problems
        self._json(status, {"error": error})

    def _send(self, status: HTTPStatus, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def _chunk(self, data: bytes) -> None:
        """One chunk of a chunked response; `data` must not be empty (that ends it)."""
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _end_chunks(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


def _no_route(method: str, path: str) -> str:
    """What a path no route matches was meant to be, in words."""
    prefix = "/v1/pipelines/"
    if path.startswith(prefix):
        name = path[len(prefix) :].split("/")[0]
        if not re.fullmatch(_NAME, name):
            return (
                f"no pipeline {name!r}: pipeline names are lowercase letters, "
                f"digits and hyphens, at most 50 characters"
            )
    return f"no route {method} {path}"


class _Unauthorized(Exception):
    pass


_UNAUTHORIZED = (
    "this chaintap server needs a token: set CHAINTAP_SERVER_TOKEN to the token it "
    "was started with"
)


def _ndjson(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload).encode() + b"\n"


def _inspected_nodes(pipeline: str, spec_text: str, asked: str) -> frozenset[str]:
    """The nodes in `asked` (comma-separated; empty = all), each one checked."""
    shape = spec_shape(spec_text)
    known = shape.inspectable
    wanted = [n.strip() for n in asked.split(",") if n.strip()]
    unknown = [n for n in wanted if n not in known]
    if unknown:
        hints = [
            f"sink {n!r} is given what {shape.sink_inputs[n]!r} produces"
            for n in unknown
            if n in shape.sink_inputs
        ]
        raise ConfigError(
            f"pipeline {pipeline!r} has no source or transform named "
            f"{', '.join(map(repr, unknown))} to inspect; its nodes are "
            f"{', '.join(known)}" + (f" ({'; '.join(hints)})" if hints else "")
        )
    return frozenset(wanted or known)


def _int_param(query: dict[str, str], key: str) -> int | None:
    value = query.get(key)
    if value is None:
        return None
    try:
        number = int(value)
    except ValueError as err:
        raise ConfigError(
            f"query parameter {key}={value!r} is not a whole number"
        ) from err
    if number < 0:
        raise ConfigError(f"query parameter {key} must not be negative")
    return number


def _float_param(query: dict[str, str], key: str) -> float | None:
    value = query.get(key)
    if value is None:
        return None
    try:
        return float(value)
    except ValueError as err:
        raise ConfigError(f"query parameter {key}={value!r} is not a number") from err


@contextlib.contextmanager
def _home_lock(home: Path) -> Iterator[IO[str]]:
    """Hold CHAINTAP_HOME/server.lock: one server per home."""
    handle = (home / "server.lock").open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError as err:
        handle.seek(0)
        holder = handle.read().strip() or "unknown"
        handle.close()
        raise ConfigError(
            f"another chaintap server (pid {holder}) already manages {home}; use "
            "that one, or stop it before starting another"
        ) from err
    try:
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        yield handle
    finally:
        handle.close()


def serve(
    home: Path,
    host: str,
    port: int,
    token: str | None,
    settings: SupervisorSettings,
    ready: threading.Event | None = None,
) -> None:
    """Run the server until SIGTERM or SIGINT.

    1. refuse a non-loopback address without a token; 2. lock the home; 3. bind;
    4. bring back the pipelines that should run; 5. serve; 6. stop every child
    (their desired states stay, so the next server resumes them).
    """
    if not is_loopback(host) and not token:
        raise ConfigError(
            f"refusing to listen on {host} without a token: anyone who reaches it "
            "could run pipelines; pass --token or set CHAINTAP_SERVER_TOKEN"
        )
    with _home_lock(home):
        supervisor = Supervisor(home, settings)
        try:
            httpd = ControlServer((host, port), supervisor, token or None)
        except OSError as err:
            supervisor.store.close()
            raise ConfigError(
                f"cannot listen on {host}:{port}: {err.strerror}; pick another port "
                "with --port or CHAINTAP_SERVER_PORT"
            ) from err

        def stop(signum: int, frame: FrameType | None) -> None:
            httpd.closing.set()
            threading.Thread(target=httpd.shutdown, daemon=True).start()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        supervisor.start()
        log.info("control server %s:%d for %s (pid %d)", host, port, home, os.getpid())
        if ready is not None:
            ready.set()
        try:
            httpd.serve_forever(poll_interval=0.2)
        finally:
            httpd.closing.set()
            log.info("control server stopping its pipelines")
            supervisor.shutdown()
            httpd.server_close()

"""Live samples of the records passing through a running pipeline's nodes.

A run samples records only while its `telemetry/inspect.request` is fresh (see
`chaintap.runtime.telemetry`). The server keeps that file fresh while clients are
connected to `GET /v1/pipelines/{name}/inspect`:

1. a client registers with the nodes it wants (`InspectSessions.join`);
2. while any client of that pipeline is connected, its handler rewrites the
   request every `CONTROL_INSPECT_TOUCH_S` with the union of the wanted nodes;
3. each handler follows `inspect.jsonl` (`SampleFollower`) and forwards the
   samples of its own nodes;
4. when the last client leaves, the request and the samples file are removed, so
   the run stops sampling at its next check (within a second) and nothing stays
   on disk. With nobody connected the run writes no samples at all.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chaintap.runtime.telemetry import INSPECT_REQUEST, INSPECT_SAMPLES

Json = dict[str, Any]

# A sample line longer than this is not JSON the runner wrote (it writes one row a
# line); a follower drops what it holds rather than grow without bound.
_MAX_LINE_BYTES = 16 * 1024 * 1024


@dataclass
class _Watchers:
    sessions: dict[int, frozenset[str]] = field(default_factory=dict)


class InspectSessions:
    """Who inspects which nodes of which pipeline, and the request files for it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pipelines: dict[Path, _Watchers] = {}
        self._next_id = 0

    def join(self, telemetry_dir: Path, nodes: frozenset[str]) -> int:
        """Register a client; returns its session id. Writes the request at once."""
        with self._lock:
            self._next_id += 1
            watchers = self._pipelines.setdefault(telemetry_dir, _Watchers())
            watchers.sessions[self._next_id] = nodes
            self._write_request(telemetry_dir, watchers)
            return self._next_id

    def touch(self, telemetry_dir: Path) -> None:
        """Rewrite the request (fresh mtime) with every connected client's nodes."""
        with self._lock:
            watchers = self._pipelines.get(telemetry_dir)
            if watchers is not None and watchers.sessions:
                self._write_request(telemetry_dir, watchers)

    def leave(self, telemetry_dir: Path, session: int) -> None:
        """Unregister; the last client out removes the request and the samples."""
        with self._lock:
            watchers = self._pipelines.get(telemetry_dir)
            if watchers is None:
                return
            watchers.sessions.pop(session, None)
            if watchers.sessions:
                self._write_request(telemetry_dir, watchers)
                return
            del self._pipelines[telemetry_dir]
            (telemetry_dir / INSPECT_REQUEST).unlink(missing_ok=True)
            (telemetry_dir / INSPECT_SAMPLES).unlink(missing_ok=True)

    @staticmethod
    def _write_request(telemetry_dir: Path, watchers: _Watchers) -> None:
        nodes: set[str] = set()
        for wanted in watchers.sessions.values():
            nodes |= wanted
        try:
            # Not `parents`: a pipeline deleted meanwhile must not come back as
            # an empty folder.
            telemetry_dir.mkdir(exist_ok=True)
        except FileNotFoundError:
            return
        path = telemetry_dir / INSPECT_REQUEST
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        temporary.write_text(json.dumps({"nodes": sorted(nodes)}))
        os.replace(temporary, path)


class SampleFollower:
    """New complete lines of `inspect.jsonl`, from its end at creation on.

    The runner starts the file over when it grows too large, and the server removes
    it when the last client leaves: a new file (another inode, or shorter than
    what was read) is read from its beginning.
    """

    def __init__(self, telemetry_dir: Path) -> None:
        self.path = telemetry_dir / INSPECT_SAMPLES
        self._inode, self._offset = self._identity()
        self._partial = b""

    def _identity(self) -> tuple[int | None, int]:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return None, 0
        return stat.st_ino, stat.st_size

    def poll(self) -> list[Json]:
        """The samples written since the last poll, oldest first."""
        inode, size = self._identity()
        if inode is None:
            return []
        if inode != self._inode or size < self._offset:
            self._inode, self._offset, self._partial = inode, 0, b""
        if size == self._offset:
            return []
        with self.path.open("rb") as handle:
            handle.seek(self._offset)
            data = handle.read(size - self._offset)
        self._offset += len(data)

        *complete, rest = (self._partial + data).split(b"\n")
        self._partial = rest if len(rest) <= _MAX_LINE_BYTES else b""
        samples: list[Json] = []
        for line in complete:
            try:
                sample = json.loads(line)
            except ValueError:
                continue  # a line torn by the runner starting the file over
            if isinstance(sample, dict) and "node" in sample:
                samples.append(sample)
        return samples

"""A pipeline's log: every line its children wrote, timestamped, across restarts.

File: `CHAINTAP_HOME/pipelines/<name>/logs/pipeline.log`, one entry a line:
`<UTC time, ISO 8601 with ms> <stream> <text>`, where stream is `out` or `err` (the
child's stdout/stderr) or `ctl` (the supervisor: starts, exits, restarts). Past
`CONTROL_LOG_ROTATE_BYTES` the file is renamed to `pipeline.1.log` (replacing the
previous one) and a new file begins, so at most two files' worth is kept.

Readers see whole lines only: a line is written with one `write` of its full text.
"""

from __future__ import annotations

import calendar
import os
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from chaintap.tuning import CONTROL_LOG_ROTATE_BYTES

LOG_NAME = "pipeline.log"
ROTATED_NAME = "pipeline.1.log"


@dataclass(frozen=True)
class LogEntry:
    """One line of a pipeline's log; `ts` is the ISO text, `at` the same in epoch s."""

    ts: str
    at: float
    stream: str
    text: str

    def as_json(self) -> dict[str, str]:
        return {"ts": self.ts, "stream": self.stream, "line": self.text}


def format_ts(at: float) -> str:
    millis = int((at % 1) * 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(at)) + f".{millis:03d}Z"


def parse_line(line: str) -> LogEntry | None:
    """The entry in one stored line, None when it is not one (a torn last line)."""
    parts = line.rstrip("\n").split(" ", 2)
    if len(parts) < 2 or len(parts[0]) != 24:
        return None
    try:
        whole = calendar.timegm(time.strptime(parts[0][:19], "%Y-%m-%dT%H:%M:%S"))
        at = whole + int(parts[0][20:23]) / 1000
    except ValueError:
        return None
    return LogEntry(parts[0], at, parts[1], parts[2] if len(parts) > 2 else "")


class LogWriter:
    """Appends entries to one pipeline's log; safe to share between threads."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.path = directory / LOG_NAME
        self._lock = threading.Lock()
        self._file: IO[str] | None = None

    def write(self, stream: str, text: str) -> None:
        line = f"{format_ts(time.time())} {stream} {text.rstrip()}\n"
        with self._lock:
            handle = self._open()
            if handle.tell() + len(line) > CONTROL_LOG_ROTATE_BYTES:
                handle.close()
                os.replace(self.path, self.directory / ROTATED_NAME)
                self._file = None
                handle = self._open()
            handle.write(line)
            handle.flush()

    def _open(self) -> IO[str]:
        if self._file is None or self._file.closed:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("a", encoding="utf-8", errors="replace")
        return self._file

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None


def read_entries(
    directory: Path, *, tail: int | None = None, since: float | None = None
) -> tuple[list[LogEntry], int, int]:
    """Entries of the rotated file then the current one, oldest first.

    `since` keeps entries at or after that epoch time, `tail` the last N of those.
    Also returns (inode, offset) of the current file's end, where a follower goes on.
    """
    kept: deque[LogEntry] = deque(maxlen=tail if tail is not None else None)
    for path in (directory / ROTATED_NAME, directory / LOG_NAME):
        for entry in _entries(path):
            if since is None or entry.at >= since:
                kept.append(entry)
    try:
        stat = (directory / LOG_NAME).stat()
    except FileNotFoundError:
        return list(kept), 0, 0
    return list(kept), stat.st_ino, stat.st_size


def _entries(path: Path) -> Iterator[LogEntry]:
    try:
        handle = path.open(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return
    with handle:
        for line in handle:
            if not line.endswith("\n"):
                break
            entry = parse_line(line)
            if entry is not None:
                yield entry


class LogFollower:
    """Reads entries appended after a position, across one rotation at a time."""

    def __init__(self, directory: Path, inode: int, offset: int) -> None:
        self.directory = directory
        self.inode = inode
        self.offset = offset

    def poll(self) -> list[LogEntry]:
        """Whole new lines since the last poll (none when the file is gone)."""
        current = self.directory / LOG_NAME
        try:
            stat = current.stat()
        except FileNotFoundError:
            return []
        entries: list[LogEntry] = []
        if stat.st_ino != self.inode:
            # Rotated: finish the old file (now pipeline.1.log), then start anew.
            rotated = self.directory / ROTATED_NAME
            if self.inode and _inode(rotated) == self.inode:
                entries += self._read(rotated)
            self.inode, self.offset = stat.st_ino, 0
        entries += self._read(current)
        return entries

    def _read(self, path: Path) -> list[LogEntry]:
        try:
            with path.open("rb") as handle:
                handle.seek(self.offset)
                data = handle.read()
        except FileNotFoundError:
            return []
        complete = data[: data.rfind(b"\n") + 1]
        self.offset += len(complete)
        text = complete.decode("utf-8", errors="replace")
        return [e for e in map(parse_line, text.splitlines(True)) if e is not None]


def _inode(path: Path) -> int:
    try:
        return path.stat().st_ino
    except FileNotFoundError:
        return 0

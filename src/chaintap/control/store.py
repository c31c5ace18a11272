"""The control plane's own database: what should run, and what did.

`CHAINTAP_HOME/control.db` (SQLite, WAL) holds one row per applied pipeline — its
spec text, kind, desired state and observed status, restart count, last error and
the PID of its current child — plus the history of runs of scheduled jobs and the
counters of every ended run added up (`fold_run`; see `chaintap.control.stats`).
Checkpoints are not here: they stay in `state.db`, owned by the runtime, so
`chaintap run` and the server share them.

Every method is one transaction; one connection is shared by the server's threads
under a lock, so callers need no locking of their own.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from chaintap.control.stats import Counters

JOB = "job"
DEPLOYMENT = "deployment"

# Observed statuses.
DEPLOYING = "deploying"
RUNNING = "running"
PAUSED = "paused"
RESTARTING = "restarting"
FAILED = "failed"
SUCCEEDED = "succeeded"
STOPPED = "stopped"
ENDED_STATUSES = frozenset({FAILED, SUCCEEDED, STOPPED})

# Desired states: `running` pipelines are (re)started by the server; `paused` ones
# stay down until resumed; `done` ones ended and wait for nothing but deletion.
WANT_RUNNING = "running"
WANT_PAUSED = "paused"
WANT_DONE = "done"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS pipelines (
    name        TEXT PRIMARY KEY,
    kind        TEXT NOT NULL,
    spec_text   TEXT NOT NULL,
    workdir     TEXT NOT NULL,
    schedule    TEXT,
    status      TEXT NOT NULL,
    desired     TEXT NOT NULL,
    restarts    INTEGER NOT NULL DEFAULT 0,
    last_error  TEXT,
    pid         INTEGER,
    created_at  REAL NOT NULL,
    updated_at  REAL NOT NULL,
    ended_at    REAL
);
CREATE TABLE IF NOT EXISTS runs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    pipeline    TEXT NOT NULL,
    started_at  REAL NOT NULL,
    ended_at    REAL,
    status      TEXT NOT NULL,
    exit_code   INTEGER,
    error       TEXT
);
CREATE INDEX IF NOT EXISTS runs_by_pipeline ON runs (pipeline, id);
CREATE TABLE IF NOT EXISTS run_totals (
    pipeline    TEXT PRIMARY KEY,
    folded_at   REAL NOT NULL,
    counters    TEXT NOT NULL
);
-- Row counts once parsed from log lines; run_totals replaces them.
DROP TABLE IF EXISTS row_counts;
"""

_COLUMNS = (
    "name, kind, spec_text, workdir, schedule, status, desired, restarts, "
    "last_error, pid, created_at, updated_at, ended_at"
)


@dataclass(frozen=True)
class PipelineRecord:
    """One applied pipeline as the control database holds it."""

    name: str
    kind: str
    spec_text: str
    workdir: str
    schedule: str | None
    status: str
    desired: str
    restarts: int
    last_error: str | None
    pid: int | None
    created_at: float
    updated_at: float
    ended_at: float | None

    @property
    def is_job(self) -> bool:
        return self.kind == JOB


@dataclass(frozen=True)
class RunRecord:
    """One run of a job: `status` is running, succeeded or failed."""

    id: int
    pipeline: str
    started_at: float
    ended_at: float | None
    status: str
    exit_code: int | None
    error: str | None


class ControlStore:
    """The control database at `path` (normally CHAINTAP_HOME/control.db)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(
            path, timeout=30.0, isolation_level=None, check_same_thread=False
        )
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def get(self, name: str) -> PipelineRecord | None:
        with self._lock:
            row = self._db.execute(
                f"SELECT {_COLUMNS} FROM pipelines WHERE name = ?", (name,)
            ).fetchone()
        return None if row is None else PipelineRecord(*row)

    def all(self) -> list[PipelineRecord]:
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_COLUMNS} FROM pipelines ORDER BY name"
            ).fetchall()
        return [PipelineRecord(*row) for row in rows]

    def create(
        self, name: str, kind: str, spec_text: str, workdir: str, schedule: str | None
    ) -> PipelineRecord:
        """Insert a new pipeline that should run, in status deploying."""
        now = time.time()
        with self._transaction() as db:
            db.execute(
                f"INSERT INTO pipelines ({_COLUMNS}) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, 0, NULL, NULL, ?, ?, NULL)",
                (
                    name,
                    kind,
                    spec_text,
                    workdir,
                    schedule,
                    DEPLOYING,
                    WANT_RUNNING,
                    now,
                    now,
                ),
            )
        record = self.get(name)
        assert record is not None
        return record

    def replace_spec(
        self, name: str, spec_text: str, workdir: str, schedule: str | None
    ) -> None:
        """Store an updated spec; the pipeline should run it (status deploying)."""
        with self._transaction() as db:
            db.execute(
                "UPDATE pipelines SET spec_text = ?, workdir = ?, schedule = ?, "
                "status = ?, desired = ?, last_error = NULL, ended_at = NULL, "
                "updated_at = ? WHERE name = ?",
                (
                    spec_text,
                    workdir,
                    schedule,
                    DEPLOYING,
                    WANT_RUNNING,
                    time.time(),
                    name,
                ),
            )

    def set_state(
        self,
        name: str,
        *,
        status: str | None = None,
        desired: str | None = None,
        last_error: str | None = None,
        clear_error: bool = False,
        ended: bool | None = None,
    ) -> None:
        """Change the given fields; `ended` sets (True) or clears (False) ended_at."""
        sets: list[str] = ["updated_at = ?"]
        values: list[object] = [time.time()]
        for column, value in (("status", status), ("desired", desired)):
            if value is not None:
                sets.append(f"{column} = ?")
                values.append(value)
        if last_error is not None or clear_error:
            sets.append("last_error = ?")
            values.append(last_error)
        if ended is not None:
            sets.append("ended_at = ?")
            values.append(time.time() if ended else None)
        with self._transaction() as db:
            db.execute(
                f"UPDATE pipelines SET {', '.join(sets)} WHERE name = ?",
                (*values, name),
            )

    def set_pid(self, name: str, pid: int | None) -> None:
        with self._transaction() as db:
            db.execute("UPDATE pipelines SET pid = ? WHERE name = ?", (pid, name))

    def count_restart(self, name: str, last_error: str | None) -> None:
        """One more automatic restart, with the error that caused it."""
        with self._transaction() as db:
            db.execute(
                "UPDATE pipelines SET restarts = restarts + 1, last_error = ?, "
                "status = ?, updated_at = ? WHERE name = ?",
                (last_error, RESTARTING, time.time(), name),
            )

    def delete(self, name: str) -> bool:
        """Forget the pipeline, its runs and run totals; True when it existed."""
        with self._transaction() as db:
            removed = db.execute(
                "DELETE FROM pipelines WHERE name = ?", (name,)
            ).rowcount
            db.execute("DELETE FROM runs WHERE pipeline = ?", (name,))
            db.execute("DELETE FROM run_totals WHERE pipeline = ?", (name,))
        return bool(removed)

    def start_run(self, name: str) -> int:
        """Record that a run of job `name` started; returns the run's id."""
        with self._transaction() as db:
            cursor = db.execute(
                "INSERT INTO runs (pipeline, started_at, status) VALUES (?, ?, ?)",
                (name, time.time(), RUNNING),
            )
        return int(cursor.lastrowid or 0)

    def end_run(
        self, run_id: int, status: str, exit_code: int | None, error: str | None
    ) -> None:
        with self._transaction() as db:
            db.execute(
                "UPDATE runs SET ended_at = ?, status = ?, exit_code = ?, error = ? "
                "WHERE id = ?",
                (time.time(), status, exit_code, error, run_id),
            )

    def end_dangling_runs(self) -> int:
        """Mark runs a killed server left `running` as stopped; returns how many."""
        with self._transaction() as db:
            ended = db.execute(
                "UPDATE runs SET status = ?, ended_at = ? WHERE status = ?",
                (STOPPED, time.time(), RUNNING),
            ).rowcount
        return int(ended)

    def runs(self, name: str, limit: int = 20) -> list[RunRecord]:
        """The latest `limit` runs of job `name`, newest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, pipeline, started_at, ended_at, status, exit_code, error "
                "FROM runs WHERE pipeline = ? ORDER BY id DESC LIMIT ?",
                (name, limit),
            ).fetchall()
        return [RunRecord(*row) for row in rows]

    def fold_run(self, name: str, started_at: float, counters: Counters) -> bool:
        """Add the counters of the run that started at `started_at` to the totals.

        Idempotent: a run that started at or before the last folded one is not
        added again. Returns True when the counters were added.
        """
        with self._transaction() as db:
            row = db.execute(
                "SELECT folded_at, counters FROM run_totals WHERE pipeline = ?",
                (name,),
            ).fetchone()
            if row is not None and started_at <= row[0]:
                return False
            total = counters
            if row is not None:
                total = Counters.from_json(json.loads(row[1])).plus(counters)
            db.execute(
                "INSERT INTO run_totals (pipeline, folded_at, counters) "
                "VALUES (?, ?, ?) ON CONFLICT (pipeline) DO UPDATE SET "
                "folded_at = excluded.folded_at, counters = excluded.counters",
                (name, started_at, json.dumps(total.as_json())),
            )
        return True

    def run_totals(self, name: str) -> tuple[float, Counters]:
        """(start time of the last folded run, counters of every folded run)."""
        with self._lock:
            row = self._db.execute(
                "SELECT folded_at, counters FROM run_totals WHERE pipeline = ?",
                (name,),
            ).fetchone()
        if row is None:
            return 0.0, Counters()
        return float(row[0]), Counters.from_json(json.loads(row[1]))

    def reset_totals(self, name: str) -> None:
        with self._transaction() as db:
            db.execute("DELETE FROM run_totals WHERE pipeline = ?", (name,))

    def close(self) -> None:
        with self._lock:
            self._db.close()

"""Checkpoints: how far each source of each pipeline got, durably.

A checkpoint is keyed by pipeline name + source name (+ partition, for partitioned
backfills) and holds the cursor: the last block whose rows every sink has flushed.
The runtime writes it only after every sink confirmed the batch, so the cursor never
runs ahead of the data. Writes are SQLite transactions (WAL mode): a kill -9 leaves
either the old or the new checkpoint, never a torn one.

A finished job also records that it finished (`mark_finished`), so running it again
does nothing until its state is cleared.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from chaintap.errors import ConfigError
from chaintap.state.home import chaintap_home

_SCHEMA = """
CREATE TABLE IF NOT EXISTS checkpoints (
    pipeline   TEXT NOT NULL,
    source     TEXT NOT NULL,
    partition  TEXT NOT NULL DEFAULT '',
    cursor     INTEGER NOT NULL,
    completed  INTEGER NOT NULL DEFAULT 0,
    updated_at REAL NOT NULL,
    PRIMARY KEY (pipeline, source, partition)
);
CREATE TABLE IF NOT EXISTS run_specs (
    pipeline    TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS finished_jobs (
    pipeline    TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    finished_at REAL NOT NULL
);
"""


@dataclass(frozen=True)
class Checkpoint:
    """The cursor of one source (partition): every block <= cursor is flushed."""

    pipeline: str
    source: str
    partition: str
    cursor: int
    completed: bool
    updated_at: float


class CheckpointStore:
    """The SQLite checkpoint database under CHAINTAP_HOME (or an explicit path)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or chaintap_home() / "state.db"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            self._db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
        except (OSError, sqlite3.DatabaseError) as err:
            raise ConfigError(
                f"the checkpoint database {self.path} cannot be opened ({err}); if "
                f"it is damaged, move it away (every pipeline then starts from its "
                f"configured start) or point CHAINTAP_HOME elsewhere"
            ) from err

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def get(self, pipeline: str, source: str, partition: str = "") -> Checkpoint | None:
        row = self._db.execute(
            "SELECT cursor, completed, updated_at FROM checkpoints "
            "WHERE pipeline = ? AND source = ? AND partition = ?",
            (pipeline, source, partition),
        ).fetchone()
        if row is None:
            return None
        return Checkpoint(pipeline, source, partition, row[0], bool(row[1]), row[2])

    def all_for(self, pipeline: str) -> list[Checkpoint]:
        rows = self._db.execute(
            "SELECT source, partition, cursor, completed, updated_at FROM checkpoints "
            "WHERE pipeline = ? ORDER BY source, partition",
            (pipeline,),
        ).fetchall()
        return [Checkpoint(pipeline, r[0], r[1], r[2], bool(r[3]), r[4]) for r in rows]

    def commit(
        self,
        pipeline: str,
        source: str,
        cursor: int,
        *,
        completed: bool = False,
        partition: str = "",
    ) -> None:
        """Record that every block <= `cursor` is flushed by every sink."""
        with self._transaction() as db:
            db.execute(
                "INSERT INTO checkpoints "
                "(pipeline, source, partition, cursor, completed, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (pipeline, source, partition) DO UPDATE SET "
                "cursor = excluded.cursor, completed = excluded.completed, "
                "updated_at = excluded.updated_at",
                (pipeline, source, partition, cursor, int(completed), time.time()),
            )

    def mark_finished(self, pipeline: str, fingerprint: str) -> None:
        """Record that the job `pipeline` (with this spec fingerprint) finished."""
        with self._transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO finished_jobs VALUES (?, ?, ?)",
                (pipeline, fingerprint, time.time()),
            )

    def finished(self, pipeline: str) -> tuple[str, float] | None:
        """(fingerprint, finished_at) when the job finished, else None."""
        row = self._db.execute(
            "SELECT fingerprint, finished_at FROM finished_jobs WHERE pipeline = ?",
            (pipeline,),
        ).fetchone()
        return None if row is None else (str(row[0]), float(row[1]))

    def forget_finished(self, pipeline: str) -> bool:
        """Drop the finished mark of job `pipeline`, keeping its checkpoints, so the
        next run continues after them; True when there was a mark."""
        with self._transaction() as db:
            removed = db.execute(
                "DELETE FROM finished_jobs WHERE pipeline = ?", (pipeline,)
            ).rowcount
        return bool(removed)

    def swap_fingerprint(self, pipeline: str, fingerprint: str) -> str | None:
        """Record the spec fingerprint of the run starting now; return the last one."""
        with self._transaction() as db:
            row = db.execute(
                "SELECT fingerprint FROM run_specs WHERE pipeline = ?", (pipeline,)
            ).fetchone()
            db.execute(
                "INSERT OR REPLACE INTO run_specs VALUES (?, ?)",
                (pipeline, fingerprint),
            )
        return None if row is None else str(row[0])

    def clear(self, pipeline: str) -> int:
        """Forget every checkpoint of `pipeline`; returns how many were removed."""
        with self._transaction() as db:
            removed = db.execute(
                "DELETE FROM checkpoints WHERE pipeline = ?", (pipeline,)
            ).rowcount
            db.execute("DELETE FROM finished_jobs WHERE pipeline = ?", (pipeline,))
            db.execute("DELETE FROM run_specs WHERE pipeline = ?", (pipeline,))
        return int(removed)

    def close(self) -> None:
        self._db.close()

"""`PostgresSink`: rows into a PostgreSQL table by bulk COPY, upserted on a key.

One flush is one transaction:
1. COPY the rows accepted since the last flush into a TEMP staging table, with a
   row-number column that keeps their input order (binary COPY, see `encode`);
2. with a primary key: INSERT ... SELECT DISTINCT ON (key) ... ON CONFLICT (key)
   DO UPDATE, taking the last row of each key, then DELETE the keys whose last row
   has `_gs_op = 'd'`; without one, append the rows;
3. COMMIT.

`write_batch` runs steps 1-2 early, in the same open transaction, once
`profile.sink_batch_rows` rows are waiting, so no single COPY grows without bound.
The rows stay in memory until the COMMIT succeeds: when the connection drops, the
sink reconnects and sends the whole transaction again, up to SINK_MAX_ATTEMPTS
times, then raises `PostgresUnavailable` and still holds the rows, so a later
`flush` (or the runtime's replay from its checkpoint) can deliver them. Nothing is
counted in `rows_flushed` before its COMMIT returned. A terminal error drops the
uncommitted rows: the run stops and resumes from its checkpoint.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import psycopg
import pyarrow as pa
import pyarrow.compute as pc
from psycopg import sql
from psycopg.rows import TupleRow

from chaintap.datasets.ops import DELETE_OP, OP_COLUMN
from chaintap.errors import ConfigError, TerminalError
from chaintap.sinks.base import Sink
from chaintap.sinks.postgres import encode, statements
from chaintap.sinks.postgres.config import PostgresSinkConfig
from chaintap.sinks.postgres.errors import (
    PostgresSinkError,
    Target,
    is_transient,
    map_error,
)
from chaintap.sinks.postgres.schema import check_table, pg_type
from chaintap.sinks.postgres.statements import WritePlan
from chaintap.spec.model import BlockRange, SinkSpec
from chaintap.state.secrets import resolve_secret
from chaintap.tuning import (
    POSTGRES_CONNECT_TIMEOUT_S,
    POSTGRES_COPY_CHUNK_ROWS,
    POSTGRES_COPY_FORMAT,
    POSTGRES_SESSION_SETTINGS,
    SINK_BACKOFF_INITIAL_S,
    SINK_MAX_ATTEMPTS,
    ResourceProfile,
)

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass
class _Counts:
    """What the open transaction did so far."""

    rows: int = 0
    upserted: int = 0
    deleted: int = 0


class PostgresSink(Sink):
    """A `type: postgres` sink; the module docstring describes the write path.

    Guarantees: with `primary_key`, writing the same rows twice leaves the table as
    writing them once, and within one flush the last row of a key wins (deletes
    included). Without a key rows are appended, so a replayed batch is appended
    again. u256 columns are stored as numeric(78,0), exactly.
    """

    def __init__(
        self,
        spec: SinkSpec,
        pipeline: str,
        profile: ResourceProfile,
        copy_format: str = POSTGRES_COPY_FORMAT,
    ) -> None:
        super().__init__(spec, pipeline, profile)
        self.config = PostgresSinkConfig.from_spec(spec, pipeline)
        if copy_format not in ("binary", "csv"):
            raise ValueError(f"copy_format is binary or csv, not {copy_format!r}")
        self.copy_format = copy_format
        # Rows this sink has committed.
        self.rows_flushed = 0

        # NOTE: every row since the last COMMIT stays here so a dropped connection
        # can be replayed; memory therefore grows with the rows per flush, not
        # with sink_batch_rows (the runner flushes once per source batch).
        self._pending: list[pa.Table] = []
        self._pending_rows = 0
        self._blocks: BlockRange | None = None
        # _pending[:_loaded] were already loaded in the open transaction.
        self._loaded = 0
        self._counts = _Counts()

        self._schema: pa.Schema | None = None
        self._plan: WritePlan | None = None
        self._target: Target | None = None
        self._url = ""
        self._conn: psycopg.Connection[TupleRow] | None = None
        self._stage_ready = False
        self._closed = False

    @property
    def rows_pending(self) -> int:
        """Rows accepted but not committed yet."""
        return self._pending_rows

    def open(self, schema: pa.Schema) -> None:
        """Connect, create the schema and table when missing, else check the table.

        Raises ConfigError, before anything is written, when the rows carry a type
        PostgreSQL cannot hold or the existing table cannot take them.
        """
        self._url = resolve_secret(self.config.secret_name).reveal()
        self._target = Target.from_url(
            self._url, self.pipeline, self.name, self.config.secret_name
        )
        columns, has_op = self._columns(schema)
        self._schema = schema

        exact = self._with_retries(
            f"preparing table {self.config.qualified_table}",
            lambda: self._prepare_table(columns),
        )
        self._plan = statements.write_plan(
            self._table(),
            columns,
            self.config.primary_key,
            has_op,
            direct=exact,
            copy_format=self.copy_format,
        )

    def write_batch(
        self, table: pa.Table, blocks: BlockRange, source: str | None = None
    ) -> None:
        """Buffer the rows; load them into the open transaction past sink_batch_rows."""
        if self._closed or self._schema is None:
            state = "closed" if self._closed else "not open"
            raise TerminalError(
                f"pipeline {self.pipeline!r}, sink {self.name!r}: write_batch on a "
                f"sink that is {state}"
            )
        self._blocks = blocks if self._blocks is None else _span(self._blocks, blocks)
        if table.num_rows == 0:
            return

        self._pending.append(self._conform(table))
        self._pending_rows += table.num_rows
        waiting = sum(t.num_rows for t in self._pending[self._loaded :])
        if waiting >= self.profile.sink_batch_rows:
            self._with_retries(self._doing(), self._load)

    def flush(self) -> None:
        """Load what is buffered and COMMIT; the rows are durable when this returns."""
        if not self._pending:
            self._blocks = None
            return
        started = time.monotonic()

        self._with_retries(self._doing(), self._load_and_commit)
        counts, blocks = self._counts, self._blocks
        self.rows_flushed += self._pending_rows
        self._pending, self._pending_rows, self._loaded = [], 0, 0
        self._counts, self._blocks = _Counts(), None

        log.info(
            "pipeline %s, sink %s: flushed %d rows of blocks %s to %s "
            "(%d upserted or inserted, %d deleted) in %.1f ms",
            self.pipeline,
            self.name,
            counts.rows,
            blocks,
            self.config.qualified_table,
            counts.upserted,
            counts.deleted,
            (time.monotonic() - started) * 1000,
            extra={"pipeline": self.pipeline, "sink": self.name},
        )

    def close(self) -> None:
        """Flush, then close the connection. A second call does nothing."""
        if self._closed:
            return
        try:
            if self._plan is not None:
                self.flush()
        finally:
            self._closed = True
            self._disconnect()

    # -- open ------------------------------------------------------------------

    def _columns(self, schema: pa.Schema) -> tuple[dict[str, str], bool]:
        """Stored columns (name → type) and whether rows carry `_gs_op`.

        ConfigError lists every problem at once.
        """
        columns: dict[str, str] = {}
        problems = []
        for field in schema:
            wanted = pg_type(field.type)
            if field.name == OP_COLUMN:
                if not pa.types.is_string(field.type):
                    problems.append(f"{OP_COLUMN} must be a string, not {field.type}")
            elif wanted is None:
                problems.append(
                    f"column {field.name!r} has unsupported type {field.type}"
                )
            else:
                columns[field.name] = wanted

        has_op = OP_COLUMN in schema.names
        key = self.config.primary_key
        problems += [
            f"primary_key column {c!r} is not in the rows"
            for c in key
            if c not in columns
        ]
        if has_op and not key:
            problems.append(
                f"the rows carry {OP_COLUMN} (deletes) but there is no primary_key "
                f"to delete by"
            )
        if problems:
            raise ConfigError(
                f"pipeline {self.pipeline!r}, sink {self.name!r}: cannot write the "
                f"rows of {self.spec.from_!r}: {'; '.join(problems)}. Change the "
                f"transform or the sink's options"
            )
        return columns, has_op

    def _prepare_table(self, columns: dict[str, str]) -> bool:
        """Create the schema and the table, or check the existing table; commit.

        Returns whether the table's column types equal the ones chaintap creates,
        so append-only rows can COPY straight into it.
        """
        conn = self._connection()
        schema, key = self.config.schema, self.config.primary_key
        if not statements.schema_exists(conn, schema):
            conn.execute(statements.create_schema(schema))
            log.info(
                "pipeline %s, sink %s: created schema %s",
                self.pipeline,
                self.name,
                schema,
            )

        relation = statements.find_relation(conn, schema, self.config.table)
        if relation is None:
            conn.execute(statements.create_table(self._table(), columns, key))
            conn.commit()
            log.info(
                "pipeline %s, sink %s: created table %s (%d columns, primary key %s)",
                self.pipeline,
                self.name,
                self.config.qualified_table,
                len(columns),
                ", ".join(key) or "none",
            )
            return True

        oid, kind = relation
        if kind not in ("r", "p"):
            raise self._table_error([f"it is not a table (pg_class.relkind {kind!r})"])
        existing, unique_keys = statements.describe_table(conn, oid)
        conn.commit()
        problems = check_table(columns, existing, key, unique_keys)
        if problems:
            raise self._table_error(problems)
        return all(existing[n].type == t for n, t in columns.items())

    def _table_error(self, problems: list[str]) -> ConfigError:
        return ConfigError(
            f"{self._target}: table {self.config.qualified_table} cannot take the "
            f"rows of {self.spec.from_!r}: {'; '.join(problems)}. Nothing was "
            f"written. Alter the table, drop it so chaintap creates it, or set "
            f"sinks.{self.name}.table to a new name"
        )

    # -- write -----------------------------------------------------------------

    def _conform(self, table: pa.Table) -> pa.Table:
        """The batch with exactly the columns and types given to `open`."""
        assert self._schema is not None
        missing = [n for n in self._schema.names if n not in table.column_names]
        if missing:
            raise TerminalError(
                f"pipeline {self.pipeline!r}, sink {self.name!r}: a batch lacks the "
                f"columns {missing} the sink was opened with"
            )
        table = table.select(self._schema.names)
        if table.schema.types == self._schema.types:
            return table
        try:
            return table.cast(self._schema)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as err:
            raise TerminalError(
                f"pipeline {self.pipeline!r}, sink {self.name!r}: a batch's column "
                f"types ({table.schema}) differ from those the sink was opened with "
                f"and cannot be converted: {err}"
            ) from err

    def _load(self) -> None:
        """Steps 1-2 for the rows not yet loaded in the open transaction."""
        assert self._plan is not None
        plan, tables = self._plan, self._pending[self._loaded :]
        conn = self._connection()
        if not self._stage_ready and not plan.direct:
            conn.execute(plan.create_stage)
            self._stage_ready = True

        with conn.cursor() as cursor:
            with cursor.copy(plan.copy) as copy:
                for chunk in self._payload(tables):
                    copy.write(chunk)
            if plan.direct:
                self._counts.upserted += sum(t.num_rows for t in tables)
            else:
                cursor.execute(plan.merge)
                self._counts.upserted += max(cursor.rowcount, 0)
                if plan.delete is not None and any(map(_has_deletes, tables)):
                    cursor.execute(plan.delete)
                    self._counts.deleted += max(cursor.rowcount, 0)
                cursor.execute(sql.SQL("TRUNCATE {}").format(_stage()))

        self._counts.rows += sum(t.num_rows for t in tables)
        self._loaded = len(self._pending)

    def _load_and_commit(self) -> None:
        """Steps 1-3."""
        self._load()
        # NOTE: a connection lost during COMMIT leaves its outcome unknown; the
        # retry sends the rows again, harmless with a primary key but appending
        # duplicates to a table without one.
        self._connection().commit()

    def _payload(self, tables: list[pa.Table]) -> Iterator[pa.Buffer | bytes]:
        """COPY data for `tables`, numbering the rows when they go to staging."""
        assert self._plan is not None
        plan, binary = self._plan, self.copy_format == "binary"
        rows_of = encode.binary_rows if binary else encode.csv_rows
        if binary:
            yield encode.BINARY_HEADER

        number = 0
        for table in tables:
            for batch in table.to_batches(max_chunksize=POSTGRES_COPY_CHUNK_ROWS):
                if not plan.direct:
                    order = np.arange(number, number + batch.num_rows, dtype=np.int64)
                    batch = batch.append_column(statements.SEQ_COLUMN, pa.array(order))
                    number += batch.num_rows
                yield rows_of(batch, plan.copy_types)
        if binary:
            yield encode.BINARY_TRAILER

    # -- connection and retries ------------------------------------------------

    def _connection(self) -> psycopg.Connection[TupleRow]:
        """The open connection, or a new one with the session settings applied.

        NOTE: the TEMP staging table needs a session of its own; behind a pooler
        in transaction mode (PgBouncer) it can vanish between statements.
        """
        if self._conn is not None and not self._conn.closed:
            return self._conn
        conn = psycopg.connect(
            self._url,
            connect_timeout=POSTGRES_CONNECT_TIMEOUT_S,
            application_name=f"chaintap {self.pipeline}/{self.name}"[:63],
        )
        for name, value in POSTGRES_SESSION_SETTINGS.items():
            conn.execute("SELECT set_config(%s, %s, false)", (name, value))
        conn.commit()

        self._conn = conn
        self._loaded, self._counts, self._stage_ready = 0, _Counts(), False
        return conn

    def _disconnect(self) -> None:
        conn, self._conn = self._conn, None
        self._loaded, self._counts, self._stage_ready = 0, _Counts(), False
        if conn is not None and not conn.closed:
            conn.close()

    def _with_retries(self, doing: str, step: Callable[[], T]) -> T:
        """Run `step`; when the connection drops, reconnect and run it again.

        `step` must be safe to repeat from the start of a transaction: a new
        connection resets `_loaded`, so the whole transaction is sent again. A
        terminal failure drops the uncommitted rows and raises at once.
        """
        assert self._target is not None
        delay = SINK_BACKOFF_INITIAL_S
        for attempt in range(1, SINK_MAX_ATTEMPTS + 1):
            try:
                return step()
            except (pa.ArrowException, ValueError) as err:
                self._disconnect()
                self._pending, self._pending_rows, self._blocks = [], 0, None
                raise PostgresSinkError(
                    f"{self._target}: {doing} failed while encoding the rows for "
                    f"COPY: {err}. Nothing of this flush was committed"
                ) from err
            except psycopg.Error as err:
                self._disconnect()
                if not is_transient(err):
                    self._pending, self._pending_rows, self._blocks = [], 0, None
                    raise map_error(err, self._target, doing) from err
                if attempt == SINK_MAX_ATTEMPTS:
                    raise map_error(err, self._target, doing) from err
                log.warning(
                    "%s: %s failed (attempt %d of %d), reconnecting in %.1f s: %s",
                    self._target,
                    doing,
                    attempt,
                    SINK_MAX_ATTEMPTS,
                    delay,
                    self._target.mask(" ".join(str(err).split())),
                )
            time.sleep(delay)
            delay *= 2
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _doing(self) -> str:
        blocks = f" of blocks {self._blocks}" if self._blocks else ""
        table = self.config.qualified_table
        return f"writing {self._pending_rows} rows{blocks} to {table}"

    def _table(self) -> sql.Identifier:
        return sql.Identifier(self.config.schema, self.config.table)


def _stage() -> sql.Identifier:
    return sql.Identifier(statements.STAGE_TABLE)


def _span(a: BlockRange, b: BlockRange) -> BlockRange:
    return BlockRange(min(a.start, b.start), max(a.end, b.end))


def _has_deletes(table: pa.Table) -> bool:
    if OP_COLUMN not in table.column_names:
        return False
    return bool(pc.any(pc.equal(table.column(OP_COLUMN), DELETE_OP)).as_py())

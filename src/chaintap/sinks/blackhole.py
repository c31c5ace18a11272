"""`BlackholeSink`: accepts rows and keeps nothing (benchmarks, dry runs)."""

from __future__ import annotations

import pyarrow as pa

from chaintap.sinks.base import Sink
from chaintap.spec.model import BlockRange


class BlackholeSink(Sink):
    """Counts what it is given; `rows_written` and `batches` are the only output."""

    rows_written = 0
    batches = 0
    closed = False

    def open(self, schema: pa.Schema) -> None:
        self.schema = schema

    def write_batch(
        self, table: pa.Table, blocks: BlockRange, source: str | None = None
    ) -> None:
        self.rows_written += table.num_rows
        self.batches += 1

    def flush(self) -> None:
        """Nothing to make durable."""

    def close(self) -> None:
        self.closed = True

"""`MemorySource` replays prepared batches; `MemorySink` keeps what was flushed."""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa

from chaintap.errors import TransientError
from chaintap.sinks.base import Sink
from chaintap.sources.base import Source, SourceBatch
from chaintap.spec.model import BlockRange, SinkSpec, SourceSpec
from chaintap.tuning import profile_for


class MemorySource(Source):
    """Yields the given batches after the cursor; `fail_at` raises before that block."""

    def __init__(
        self,
        spec: SourceSpec,
        batches: list[SourceBatch],
        *,
        fail_at: int | None = None,
    ) -> None:
        super().__init__(spec, profile_for(None))
        self.batches = batches
        self.fail_at = fail_at
        self.cursor: int | None = None
        self.opened = False
        self.closed = False

    @property
    def schema(self) -> pa.Schema:
        """The schema of the prepared batches (the dataset's when there are none)."""
        if self.batches:
            return self.batches[0].records.schema
        return super().schema

    def open(self, cursor: int | None) -> None:
        self.cursor = cursor
        self.opened = True

    @property
    def target(self) -> BlockRange | None:
        remaining = [b for b in self.batches if self._pending(b)]
        if not remaining:
            return None
        return BlockRange(remaining[0].blocks.start, remaining[-1].blocks.end)

    def _pending(self, batch: SourceBatch) -> bool:
        return self.cursor is None or batch.blocks.start > self.cursor

    def read(self) -> Iterator[SourceBatch]:
        for batch in self.batches:
            if not self._pending(batch):
                continue
            if self.fail_at is not None and batch.blocks.start >= self.fail_at:
                raise TransientError(f"memory source failed at block {self.fail_at}")
            yield batch

    def close(self) -> None:
        self.closed = True


class MemorySink(Sink):
    """Keeps flushed rows in `flushed`; `fail_flush_at` fails the flush of a block."""

    def __init__(
        self,
        spec: SinkSpec,
        *,
        fail_flush_at: int | None = None,
    ) -> None:
        super().__init__(spec, "memory", profile_for(None))
        self.fail_flush_at = fail_flush_at
        self.schema: pa.Schema | None = None
        self.pending: list[tuple[pa.Table, BlockRange]] = []
        self.flushed: list[tuple[pa.Table, BlockRange]] = []
        self.closed = False

    def open(self, schema: pa.Schema) -> None:
        self.schema = schema

    def write_batch(
        self, table: pa.Table, blocks: BlockRange, source: str | None = None
    ) -> None:
        self.pending.append((table, blocks))

    def flush(self) -> None:
        if self.fail_flush_at is not None and any(
            b.start <= self.fail_flush_at <= b.end for _, b in self.pending
        ):
            raise TransientError(
                f"memory sink lost its connection at {self.fail_flush_at}"
            )
        self.flushed.extend(self.pending)
        self.pending.clear()

    def close(self) -> None:
        self.closed = True

    def rows(self) -> list[dict[str, object]]:
        """Every flushed row, in flush order."""
        return [row for table, _ in self.flushed for row in table.to_pylist()]

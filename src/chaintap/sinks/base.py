"""The contract every sink implements.

Lifecycle: `open(schema)` → `write_batch(...)`* → `flush()` → ... → `close()`.

- `open` creates or checks the target and fails up front (`ConfigError`) when it is
  incompatible, before any row is written.
- `write_batch` may buffer. Rows are only durable after `flush` returns; the runtime
  writes a checkpoint only after every sink's `flush` returned.
- With a primary key, writing the same rows twice leaves the same target as writing
  them once (upsert; within one batch the last row for a key wins). That makes
  at-least-once delivery after a crash produce exactly the clean-run result.
- `close` flushes what is buffered and releases connections; safe to call twice.
- u256 columns (`chaintap.u256`) are written exactly: NUMERIC(78,0) in databases,
  base-10 strings in text formats.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import pyarrow as pa

from chaintap.spec.model import BlockRange, SinkSpec
from chaintap.tuning import ResourceProfile


class Sink(ABC):
    """One entry under `sinks:`."""

    def __init__(self, spec: SinkSpec, pipeline: str, profile: ResourceProfile) -> None:
        self.spec = spec
        self.pipeline = pipeline
        self.profile = profile

    @property
    def name(self) -> str:
        return self.spec.name

    @abstractmethod
    def open(self, schema: pa.Schema) -> None:
        """Create or check the target for rows of `schema`."""

    @abstractmethod
    def write_batch(
        self, table: pa.Table, blocks: BlockRange, source: str | None = None
    ) -> None:
        """Accept the rows a source batch covering `blocks` produced (maybe none).

        They are durable only after `flush`. `blocks` lets file-like sinks name their
        output deterministically, so a re-run after a crash overwrites instead of
        duplicating. `source` names the source the batch came from when more than
        one source feeds this sink (their block ranges overlap), else None.
        """

    @abstractmethod
    def flush(self) -> None:
        """Make every accepted row durable; raise if that failed."""

    @abstractmethod
    def close(self) -> None:
        """Flush, then release connections. Safe to call twice."""

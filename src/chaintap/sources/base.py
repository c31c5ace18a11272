"""The contract every source implements.

Lifecycle: `open(cursor)` → iterate `read()` → `close()`.

Guarantees a source gives the runtime:
- batches come in increasing block order and their `blocks` ranges are contiguous and
  do not overlap; a batch's rows are exactly the rows of the blocks in its range
  (a range may hold zero rows). The one exception is a retraction batch after a
  reorg, which goes back over blocks already emitted (see `SourceBatch.cursor`);
- the cursor is the last block whose rows were all emitted; after `open(cursor)`
  reading starts at `cursor + 1` (or at the configured start when cursor is None);
- a bounded source's `read()` ends after its last block; an unbounded one follows
  the chain head until closed.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from chaintap.spec.model import BlockRange, SourceSpec
from chaintap.tuning import ResourceProfile


@dataclass(frozen=True)
class SourceBatch:
    """Rows of every block in `blocks` (inclusive), in the source's schema.

    `cursor` is where the source stands once this batch is flushed: by default the
    batch's last block. A retraction batch (a reorg: rows with `_gs_op = 'd'` for
    the orphaned blocks `blocks`) sets it to the common ancestor, below `blocks`.
    """

    records: pa.Table
    blocks: BlockRange
    cursor: int | None = None

    @property
    def next_cursor(self) -> int:
        return self.blocks.end if self.cursor is None else self.cursor


class Source(ABC):
    """A stream of `SourceBatch`es for one entry under `sources:`."""

    def __init__(self, spec: SourceSpec, profile: ResourceProfile) -> None:
        self.spec = spec
        self.profile = profile
        # A directory the runtime gives the source for state that must survive
        # restarts (set before open); None when the run keeps no such state.
        self.state_dir: Path | None = None

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def schema(self) -> pa.Schema:
        """The Arrow schema of every batch."""
        return self.spec.dataset.dataset.schema

    @abstractmethod
    def open(self, cursor: int | None) -> None:
        """Connect and plan; resume after block `cursor` when it is not None."""

    @abstractmethod
    def read(self) -> Iterator[SourceBatch]:
        """Yield batches in block order (see the module docstring for guarantees)."""

    @property
    @abstractmethod
    def target(self) -> BlockRange | None:
        """After `open`: the inclusive range still to read, None when unbounded."""

    @property
    def head(self) -> int | None:
        """The chain head the source last saw, None when it does not know one."""
        return None

    def request_stop(self) -> None:  # noqa: B027 - optional hook
        """Ask a running `read()` to end at its next wait (thread-safe).

        A source that waits for the chain head implements this so a stopping
        deployment does not sit out its poll interval; the default does nothing.
        """

    def close(self) -> None:  # noqa: B027 - optional hook, most sources hold nothing
        """Release connections and threads. Safe to call twice."""

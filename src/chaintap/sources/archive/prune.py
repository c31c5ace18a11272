"""Use a source filter's `Pushdown` to skip row groups and rows of archive files.

Two levels, both sound (they never drop a row the filter could accept):

- row groups: Parquet keeps a min and max per column and row group. A row group
  is skipped when its block range misses the blocks being read, or when no
  wanted `address` / topic0 value can lie between its min and max. topic0 is
  read from cryo's `topic0` column, or from the leading 66 characters of
  chaintap's comma-separated `topics` (a row's prefix lies between the prefixes
  of the min and the max, so the test holds for prefixes too). topic1..3 prune
  only cryo files: in the joined text they are not a prefix, so chaintap-layout
  files are read for them and only filtered row by row;
- rows: in the row groups that are read, rows outside the blocks being read, or
  whose address or topics are not among the wanted values, are dropped before
  conversion work downstream. The runtime still applies the whole filter.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from chaintap.spec.filters import TOPIC_SLOTS, Pushdown
from chaintap.spec.model import BlockRange

# A topic is "0x" + 64 hex digits; in `topics` each is followed by a comma.
_TOPIC_CHARS = 66


class RowGroupStats:
    """Min/max of the columns that pruning looks at, for one file's row groups.

    `block`, `address`, `topics` and `topic_columns` are the file's own column
    names for the block number, the contract address, chaintap's joined topics
    and cryo's topic0..topic3 (None / absent where the file has none).
    `text_columns` are the file's string columns: their min/max compare as text.
    """

    def __init__(
        self,
        metadata: pq.FileMetaData,
        block: str,
        address: str | None,
        topics: str | None,
        topic_columns: Sequence[str | None],
        text_columns: frozenset[str],
    ) -> None:
        self.metadata = metadata
        self.block = block
        self.address = address
        self.topics = topics
        self.topic_columns = list(topic_columns)
        self.text_columns = text_columns
        first = metadata.row_group(0) if metadata.num_row_groups else None
        self._index: dict[str, int] = {}
        if first is not None:
            for position in range(first.num_columns):
                self._index[first.column(position).path_in_schema] = position

    @property
    def count(self) -> int:
        return int(self.metadata.num_row_groups)

    def span(self, group: int, column: str | None) -> tuple[Any, Any] | None:
        """(min, max) of `column` in row group `group`; None when unknown."""
        if column is None or column not in self._index:
            return None
        chunk = self.metadata.row_group(group).column(self._index[column])
        stats = chunk.statistics
        if stats is None or not stats.has_min_max:
            return None
        low, high = stats.min, stats.max
        if column in self.text_columns and isinstance(low, bytes):
            return low.decode(errors="replace"), high.decode(errors="replace")
        return low, high

    def blocks(self, group: int) -> tuple[int, int] | None:
        span = self.span(group, self.block)
        return None if span is None else (int(span[0]), int(span[1]))

    def may_hold(self, group: int, blocks: BlockRange, pushdown: Pushdown) -> bool:
        """False only when no row of `group` can be in `blocks` and pass `pushdown`."""
        if self.metadata.row_group(group).num_rows == 0:
            return False
        span = self.blocks(group)
        if span is not None and (span[1] < blocks.start or span[0] > blocks.end):
            return False
        if not _any_between(self.span(group, self.address), pushdown.addresses):
            return False

        topic0 = pushdown.topics[0]
        if self.topics is not None:
            joined = self.span(group, self.topics)
            if joined is not None:
                joined = (joined[0][:_TOPIC_CHARS], joined[1][:_TOPIC_CHARS])
            if not _any_between(joined, topic0):
                return False
        for slot, column in enumerate(self.topic_columns):
            if not _any_between(self.span(group, column), pushdown.topics[slot]):
                return False
        return True


def _any_between(span: tuple[Any, Any] | None, wanted: frozenset[str] | None) -> bool:
    """True when some wanted hex value may lie in `span` (unknown span: True)."""
    if span is None or wanted is None:
        return True
    low, high = span
    for value in wanted:
        # Binary columns (cryo) keep raw bytes; string columns keep the hex text.
        key: str | bytes = bytes.fromhex(value[2:]) if isinstance(low, bytes) else value
        if low <= key <= high:
            return True
    return False


def row_mask(
    batch: pa.RecordBatch, block_column: str, blocks: BlockRange, pushdown: Pushdown
) -> pa.Array | None:
    """Rows of a converted batch to keep; None when every row is kept."""
    numbers = batch.column(block_column).to_numpy(zero_copy_only=False)
    inside = (numbers >= blocks.start) & (numbers <= blocks.end)
    mask: pa.Array | None = None if bool(inside.all()) else pa.array(inside)

    names = batch.schema.names
    if pushdown.addresses is not None and "address" in names:
        wanted = pa.array(sorted(pushdown.addresses), type=pa.string())
        mask = _and(mask, pc.is_in(batch.column("address"), value_set=wanted))
    if "topics" in names:
        for slot in range(TOPIC_SLOTS):
            allowed = pushdown.topics[slot]
            if allowed is None:
                continue
            start = slot * (_TOPIC_CHARS + 1)
            topic = pc.utf8_slice_codeunits(
                batch.column("topics"), start, start + _TOPIC_CHARS
            )
            wanted = pa.array(sorted(allowed), type=pa.string())
            mask = _and(mask, pc.is_in(topic, value_set=wanted))
    return mask


def _and(mask: pa.Array | None, more: pa.Array) -> pa.Array:
    more = pc.fill_null(more, False)
    return more if mask is None else pc.and_(mask, more)


def is_sorted(numbers: np.ndarray) -> bool:
    """True when `numbers` never decrease."""
    return bool(numbers.size < 2 or (np.diff(numbers) >= 0).all())

"""Reorg bookkeeping of an EVM source that follows the chain head.

`EmittedWindow` remembers the blocks a source emitted lately near the head: the
hash of each (from its header), the rows emitted for it, and the hash of the block
just below them (the base). With it the source can tell

- whether a newly fetched block extends what was emitted (`links`);
- after a mismatch, the highest remembered block that the node's canonical chain
  still holds (`common_ancestor`);
- which rows to retract for the blocks above that ancestor (`retract`).

The window holds at most `size` consecutive blocks ending at the last one emitted;
older ones are forgotten, so a reorg reaching below the base cannot be retracted
(the source then waits and warns instead of deleting rows it no longer knows).

NOTE: the window lives in memory only. A reorg that happens while the pipeline is
down is not retracted after a restart: the rows of the orphaned blocks stay in the
sinks, and the run resumes after the checkpoint on the new chain.

Rows that carry the operation column `_gs_op` say what a sink does with them:
'i' inserts (upserts) the row, 'd' deletes the row with its primary key.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from chaintap.datasets.ops import OP_FIELD
from chaintap.spec.model import BlockRange

# Turbo's name and values for the operation column.


@dataclass(frozen=True)
class Header:
    """The three fields of a block header that chain blocks together (lowercase)."""

    number: int
    hash: str
    parent_hash: str

    @classmethod
    def of(cls, block: Mapping[str, Any]) -> Header:
        """From an `eth_getBlockByNumber` answer; KeyError / ValueError if malformed."""
        return cls(
            int(block["number"], 16),
            str(block["hash"]).lower(),
            str(block["parentHash"]).lower(),
        )


def with_op(table: pa.Table, op: str) -> pa.Table:
    """`table` with a trailing `_gs_op` column holding `op` on every row."""
    values = pa.array([op] * table.num_rows, type=pa.string())
    return table.append_column(OP_FIELD, values)


class EmittedWindow:
    """The last `size` emitted blocks: hashes and rows, for retracting a reorg.

    Block ranges are inclusive. `base` is the block below the first remembered one
    (only its hash is known); `last` the last block emitted. Both are None until
    something is recorded, and again after `forget`.
    """

    def __init__(self, size: int, schema: pa.Schema, block_column: str) -> None:
        if size < 1:
            raise ValueError(f"a reorg window holds at least one block, not {size}")
        self.size = size
        self._schema = schema
        self._block_column = block_column
        self._hashes: dict[int, str] = {}
        self._rows: deque[tuple[BlockRange, pa.Table]] = deque()
        self._base: int | None = None
        self._last: int | None = None

    @property
    def base(self) -> int | None:
        return self._base

    @property
    def last(self) -> int | None:
        return self._last

    @property
    def blocks(self) -> int:
        """How many emitted blocks are remembered (the base not counted)."""
        if self._base is None or self._last is None:
            return 0
        return self._last - self._base

    @property
    def rows(self) -> int:
        """How many emitted rows are remembered."""
        return sum(table.num_rows for _, table in self._rows)

    def hash_of(self, number: int) -> str | None:
        """The remembered hash of block `number` (base included), else None."""
        return self._hashes.get(number)

    def links(self, header: Header) -> bool:
        """True when `header` extends the last remembered block, or none is known.

        Raises ValueError unless `header` is the block right after `last`.
        """
        if self._last is None:
            return True
        if header.number != self._last + 1:
            raise ValueError(
                f"block {header.number} does not follow the last emitted {self._last}"
            )
        return header.parent_hash == self._hashes[self._last]

    def record(
        self, blocks: BlockRange, headers: Sequence[Header], rows: pa.Table
    ) -> None:
        """Remember the emitted `rows` of `blocks` and their headers (one per block).

        The headers must be those of `blocks` in order, each linking to the one
        before it and the first to `last` (see `links`); else ValueError. The
        oldest blocks are forgotten once more than `size` are remembered.
        """
        numbers = [h.number for h in headers]
        if numbers != list(range(blocks.start, blocks.end + 1)):
            raise ValueError(f"headers {numbers} are not those of blocks {blocks}")
        if not self.links(headers[0]):
            raise ValueError(f"block {blocks.start} does not extend block {self._last}")
        for before, after in itertools.pairwise(headers):
            if after.parent_hash != before.hash:
                raise ValueError(f"block {after.number} does not extend its parent")

        if self._last is None:
            self._base = blocks.start - 1
            self._hashes[self._base] = headers[0].parent_hash
        self._hashes.update((h.number, h.hash) for h in headers)
        self._rows.append((blocks, rows))
        self._last = blocks.end
        self._trim()

    def forget(self) -> None:
        """Forget everything (the next range recorded starts a new window)."""
        self._hashes.clear()
        self._rows.clear()
        self._base = self._last = None

    def common_ancestor(self, canonical: Mapping[int, str | None]) -> int | None:
        """The highest remembered block whose hash equals the canonical one.

        `canonical` maps block numbers to the hash the node holds now (None when
        it has no such block). None when no remembered block matches: the reorg
        reaches below the base, or the node lacks those blocks.
        """
        for number in sorted(canonical, reverse=True):
            known = self._hashes.get(number)
            if known is not None and canonical[number] == known:
                return number
        return None

    def retract(self, ancestor: int) -> pa.Table:
        """Forget the blocks above `ancestor`; return the rows emitted for them.

        `ancestor` must lie between `base` and `last` (inclusive), else
        ValueError. The rows come back in the order they were emitted.
        """
        if self._base is None or self._last is None:
            raise ValueError("nothing is remembered to retract")
        if not self._base <= ancestor <= self._last:
            raise ValueError(
                f"block {ancestor} is outside the remembered blocks "
                f"{self._base}..{self._last}"
            )
        kept, gone = self._split(ancestor)
        self._rows = deque(kept)
        for number in range(ancestor + 1, self._last + 1):
            del self._hashes[number]
        self._last = ancestor
        return pa.concat_tables([t for _, t in gone]) if gone else self._empty()

    def _trim(self) -> None:
        """Keep at most `size` blocks above the base; the last dropped one is base."""
        assert self._base is not None and self._last is not None
        base = self._last - self.size
        if base <= self._base:
            return
        for number in range(self._base, base):
            del self._hashes[number]
        self._base = base
        _, above = self._split(base)
        self._rows = deque(above)

    def _split(
        self, at: int
    ) -> tuple[list[tuple[BlockRange, pa.Table]], list[tuple[BlockRange, pa.Table]]]:
        """The remembered rows of blocks up to `at`, and of the blocks above it."""
        below: list[tuple[BlockRange, pa.Table]] = []
        above: list[tuple[BlockRange, pa.Table]] = []
        for blocks, table in self._rows:
            if blocks.end <= at:
                below.append((blocks, table))
            elif blocks.start > at:
                above.append((blocks, table))
            else:
                column = table.column(self._block_column)
                below.append(
                    (
                        BlockRange(blocks.start, at),
                        table.filter(pc.less_equal(column, at)),
                    )
                )
                above.append(
                    (
                        BlockRange(at + 1, blocks.end),
                        table.filter(pc.greater(column, at)),
                    )
                )
        return below, above

    def _empty(self) -> pa.Table:
        return self._schema.empty_table()

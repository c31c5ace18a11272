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

Given a directory, the window survives restarts: every change (a recorded range
with its headers and rows, a retraction) is one file there (`window_files`), and
files of blocks that fall out of the window are deleted, so the directory holds
about `size` blocks of rows. `load(cursor)` at the next start replays the files up
to the first state whose last block is the checkpoint `cursor` (blocks after it
were never checkpointed and are read again; with no cursor nothing is kept), then
rewrites the directory as that window. When two stored states end at the cursor
the earlier one wins: retracting too much is safe (the new chain is read again),
too little is not. Unreadable files are warned about; the window then starts empty.

NOTE: files of blocks a reorg replaced stay until they fall out of the window, so
each reorg inside the window can add up to `size` blocks of rows on disk for a
while; and the directory itself is not fsynced after a rename, so a power loss
(not a process crash) may lose the last change.

NOTE: without a directory (bounded runs, partitions, a runtime that gives the
source none) the window lives in memory only: a reorg of blocks emitted before a
restart is then not retracted, and their rows stay in the sinks.

Rows that carry the operation column `_gs_op` say what a sink does with them:
'i' inserts (upserts) the row, 'd' deletes the row with its primary key.
"""

from __future__ import annotations

import itertools
import logging
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from chaintap.datasets.ops import OP_FIELD
from chaintap.sources.evm.window_files import Change, WindowFiles
from chaintap.spec.model import BlockRange

log = logging.getLogger(__name__)


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
    something is recorded, and again after `forget`. With a `directory`, every
    change is stored there as it happens and `load` rebuilds the window (see the
    module docstring); a failed write raises `TransientError`.
    """

    def __init__(
        self,
        size: int,
        schema: pa.Schema,
        block_column: str,
        directory: Path | None = None,
    ) -> None:
        if size < 1:
            raise ValueError(f"a reorg window holds at least one block, not {size}")
        self.size = size
        self._schema = schema
        self._block_column = block_column
        self._hashes: dict[int, str] = {}
        self._rows: deque[tuple[BlockRange, pa.Table]] = deque()
        self._base: int | None = None
        self._last: int | None = None
        self._store = None if directory is None else WindowFiles(directory)
        self._files: list[tuple[int, Path]] = []  # (top block, file) per change
        self._replaying = False

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

        self._persist_record(blocks, headers, rows)
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
        self._drop_files(lambda top: True)

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
        if self._store is not None and not self._replaying:
            path = self._store.write_retract(ancestor, self._schema)
            self._files.append((ancestor, path))
        kept, gone = self._split(ancestor)
        self._rows = deque(kept)
        for number in range(ancestor + 1, self._last + 1):
            del self._hashes[number]
        self._last = ancestor
        return pa.concat_tables([t for _, t in gone]) if gone else self._empty()

    def load(self, cursor: int | None) -> None:
        """Rebuild the window from its directory for a run resuming after `cursor`.

        Steps: 1. read every stored change (unreadable: warn, start empty);
        2. replay them up to the first state whose last block is `cursor`, else
        retract down to `cursor`, else (the window does not reach it) forget;
        3. rewrite the directory as the rebuilt window. Nothing is kept when
        `cursor` is None. Without a directory the window just starts empty.
        """
        store = self._store
        self._clear_memory()
        self._files = []
        if store is None:
            return
        changes: list[Change] = []
        usable = cursor is not None
        if cursor is not None:
            try:
                changes = store.read(self._schema)
                self._replay(changes, cursor)
            except (OSError, ValueError, KeyError, TypeError, pa.ArrowException) as e:
                log.warning(
                    "reorg window in %s cannot be read (%s); starting without it: "
                    "a reorg of blocks emitted before this restart is not retracted",
                    store.directory,
                    e,
                )
                self._clear_memory()
                usable = False

        self._rewrite()
        if usable:
            for change in changes:
                store.delete(change.path)
        else:
            store.clear()  # the rewrite stored nothing: the window is empty
        log.info(
            "reorg window in %s: %d blocks remembered (%s) at cursor %s",
            store.directory,
            self.blocks,
            "none" if self._last is None else f"{self._base}..{self._last}",
            cursor,
        )

    def _replay(self, changes: list[Change], cursor: int | None) -> None:
        """Apply stored `changes` in order, stopping once `last` is `cursor`."""
        self._replaying = True
        try:
            for change in changes:
                if self._last is not None and self._last == cursor:
                    return
                self._apply(change)
        finally:
            self._replaying = False
        if cursor is None or self._last is None or self._last == cursor:
            return
        assert self._base is not None
        if self._base <= cursor < self._last:
            self._replaying = True
            try:
                self.retract(cursor)
            finally:
                self._replaying = False
        else:
            # The stored blocks do not reach the checkpoint: they cannot be
            # linked to what is read next, so they are of no use.
            self._clear_memory()

    def _apply(self, change: Change) -> None:
        """Replay one stored change; a range overlapping `last` retracts first."""
        if change.blocks is None:
            ancestor = change.top
            if self._base is not None and self._last is not None:
                if self._base <= ancestor < self._last:
                    self.retract(ancestor)
                elif ancestor < self._base:
                    self._clear_memory()
            return
        assert change.rows is not None
        start = change.blocks.start
        if self._base is not None and self._last is not None:
            if start <= self._base or start > self._last + 1:
                self._clear_memory()  # a new window (forgotten, or out of reach)
            elif start <= self._last:
                self.retract(start - 1)
        headers = [Header(n, h, p) for n, h, p in change.headers]
        self.record(change.blocks, headers, change.rows)

    def _rewrite(self) -> None:
        """Store the window as it is now, one file per remembered range."""
        if self._store is None:
            return
        for blocks, table in self._rows:
            numbers = range(blocks.start, blocks.end + 1)
            headers = [(n, self._hashes[n], self._hashes[n - 1]) for n in numbers]
            path = self._store.write_record(blocks, headers, table)
            self._files.append((blocks.end, path))

    def _persist_record(
        self, blocks: BlockRange, headers: Sequence[Header], rows: pa.Table
    ) -> None:
        if self._store is None or self._replaying:
            return
        stored = [(h.number, h.hash, h.parent_hash) for h in headers]
        path = self._store.write_record(blocks, stored, rows)
        self._files.append((blocks.end, path))

    def _drop_files(self, gone: Callable[[int], bool]) -> None:
        """Delete the stored changes whose top block satisfies `gone`."""
        if self._store is None or self._replaying:
            return
        kept = []
        for top, path in self._files:
            if gone(top):
                self._store.delete(path)
            else:
                kept.append((top, path))
        self._files = kept

    def _clear_memory(self) -> None:
        self._hashes.clear()
        self._rows.clear()
        self._base = self._last = None

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
        self._drop_files(lambda top: top <= base)

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

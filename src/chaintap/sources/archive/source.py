"""`ArchiveSource`: a bounded source that replays a dataset from Parquet files.

Where: the source's `archive` option, else the environment variable
`CHAINTAP_ARCHIVE_<CHAIN>` (chain upper-cased, `-` as `_`), names the archive
directory; `chaintap.sources.archive.layout` says how files there are named.

What is read (all ranges inclusive): from `start_block` (default: the archive's
first block) to `end_block` (default: its last block), or the `block_ranges`
windows; narrowed by the block bounds the `filter` implies and resumed after the
cursor. Every block of that range must be in some file: a gap fails `open` with
a `ConfigError` naming the missing blocks, because skipping it would lose rows.
`start_at: latest` has no meaning for a finished archive and is refused.

Guarantees on top of `chaintap.sources.base`:
- batches never span two files, and every block of the range is in exactly one
  batch; a batch with rows covers at most `blocks_per_batch` blocks, a stretch
  of blocks without rows may be one empty batch of any length;
- rows keep the file's order (sorted by block number when a file is not);
- rows the source's own `filter` cannot accept may be left out early (row groups
  skipped by their statistics, rows by address / topic / block); the runtime
  applies the whole filter to what remains, so results are unchanged;
- memory is bounded by a few batches (the one being processed and up to
  `ARCHIVE_PREFETCH_BATCHES` read ahead in a background thread) plus one read
  step of `ARCHIVE_READ_ROWS` rows: files are streamed, never read whole.

A file whose rows fall outside the range its name gives, or whose rows go back
to blocks of a batch already emitted, fails the read with a `TerminalError`.

Not done: the source does not hand over to JSON-RPC at the archive's end, so a
deployment that should backfill from an archive and then follow the head needs
two pipelines (or a run without the archive after the backfill).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from chaintap.datasets.archives import archive_env_var, configured_archive
from chaintap.errors import ConfigError, TerminalError
from chaintap.sources.archive.convert import FileConverter
from chaintap.sources.archive.layout import EMPTY, Archive, ArchiveFile, discover
from chaintap.sources.archive.prefetch import Prefetcher
from chaintap.sources.archive.prune import RowGroupStats, is_sorted, row_mask
from chaintap.sources.base import Source, SourceBatch
from chaintap.spec.filters import Pushdown, analyze_filter, block_column
from chaintap.spec.model import BlockRange, SourceSpec
from chaintap.tuning import (
    ARCHIVE_PREFETCH_BATCHES,
    ARCHIVE_READ_ROWS,
    ResourceProfile,
)

log = logging.getLogger(__name__)


def archive_root(spec: SourceSpec) -> Path | None:
    """The archive directory configured for `spec`, None when there is none."""
    return configured_archive(spec.chain, spec.options)


@dataclass
class ReadStats:
    """What a source read so far; row groups count those of the files opened."""

    files: int = 0
    row_groups_read: int = 0
    row_groups_skipped: int = 0
    rows_read: int = 0
    rows_emitted: int = 0


class ArchiveSource(Source):
    """Reads one dataset from an archive directory (see the module docstring)."""

    def __init__(
        self,
        spec: SourceSpec,
        profile: ResourceProfile,
        root: Path | None = None,
    ) -> None:
        super().__init__(spec, profile)
        self.root = root or archive_root(spec)
        self.stats = ReadStats()
        self.pushdown = Pushdown()
        self._block = block_column(spec.dataset)
        self._plan: list[tuple[ArchiveFile, BlockRange, FileConverter | None]] = []
        self._target: BlockRange | None = None
        self._prefetch: Prefetcher[SourceBatch] | None = None

    def open(self, cursor: int | None) -> None:
        """1. list the archive; 2. analyse the filter; 3. plan files and ranges;
        4. check every planned file's columns (a missing one fails here)."""
        if self.root is None:
            raise ConfigError(
                f"source {self.name!r}: no archive configured; set its `archive` "
                f"option or {archive_env_var(self.spec.chain)}"
            )
        dataset = self.spec.dataset.dataset.name
        archive = discover(self.root, self.spec.chain, dataset)

        if self.spec.filter:
            self.pushdown = analyze_filter(self.spec.filter, self._block)
        windows = self._windows(archive, cursor)

        self._plan = []
        converters: dict[Path, FileConverter] = {}
        for window in windows:
            for item in archive.covering(window):
                segment = BlockRange(
                    max(window.start, item.blocks.start),
                    min(window.end, item.blocks.end),
                )
                if item.style == EMPTY:
                    self._plan.append((item, segment, None))
                    continue
                if item.path not in converters:
                    converters[item.path] = self._converter(item.path)
                self._plan.append((item, segment, converters[item.path]))
        self._target = (
            BlockRange(windows[0].start, windows[-1].end) if windows else None
        )
        log.info(
            "source %s: archive %s, %d files, reading %s",
            self.name,
            archive.directory,
            len(converters),
            self._target or "nothing (all read)",
        )

    @property
    def target(self) -> BlockRange | None:
        """The blocks still to read; None also when nothing is left to read."""
        return self._target

    def read(self) -> Iterator[SourceBatch]:
        """Batches in block order; the next ones are read in a background thread
        (at most `ARCHIVE_PREFETCH_BATCHES` ahead) while the caller works."""
        self._prefetch = Prefetcher(
            self._batches, ARCHIVE_PREFETCH_BATCHES, f"archive-{self.name}"
        )
        yield from self._prefetch

    def close(self) -> None:
        """Stop the background reader, if one runs."""
        if self._prefetch is not None:
            self._prefetch.close()

    def _batches(self) -> Iterator[SourceBatch]:
        for item, segment, converter in self._plan:
            if converter is None:  # recorded as written without rows
                yield SourceBatch(self.schema.empty_table(), segment)
            else:
                yield from self._read_file(item, segment, converter)

    def _converter(self, path: Path) -> FileConverter:
        try:
            stored = pq.read_schema(path)
        except (OSError, pa.ArrowInvalid) as err:
            raise TerminalError(
                f"archive file {path} cannot be read as Parquet ({err}); replace "
                f"the file"
            ) from err
        dataset = self.spec.dataset.dataset.name
        return FileConverter(path, stored, self.schema, dataset)

    def _windows(self, archive: Archive, cursor: int | None) -> list[BlockRange]:
        """The inclusive ranges to read: configured, narrowed by filter and cursor."""
        spec = self.spec
        if spec.block_ranges:
            configured = list(spec.block_ranges)
        else:
            if spec.start_block is None and spec.start_at == "latest":
                raise ConfigError(
                    f"source {self.name!r}: start_at: latest cannot be read from an "
                    f"archive (it holds blocks {archive.blocks} and does not grow); "
                    f"set start_block, or remove the archive option to follow the "
                    f"chain head over JSON-RPC"
                )
            start = (
                archive.blocks.start if spec.start_block is None else spec.start_block
            )
            end = archive.blocks.end if spec.end_block is None else spec.end_block
            if start > end:
                raise ConfigError(
                    f"source {self.name!r}: archive {archive.directory} ends at block "
                    f"{archive.blocks.end}, before start_block {start}; add files "
                    f"or lower start_block"
                )
            configured = [BlockRange(start, end)]

        if self.pushdown.matches_nothing:
            return []
        low = max(self.pushdown.min_block or 0, 0 if cursor is None else cursor + 1)
        high = self.pushdown.max_block
        windows = []
        for window in configured:
            start = max(window.start, low)
            end = window.end if high is None else min(window.end, high)
            if start <= end:
                windows.append(BlockRange(start, end))
        return windows

    def _read_file(
        self, item: ArchiveFile, segment: BlockRange, converter: FileConverter
    ) -> Iterator[SourceBatch]:
        """1. open the file; 2. pick row groups; 3. stream and slice."""
        parquet = _open_parquet(item.path)
        try:
            groups = self._row_groups(item, segment, parquet, converter)
            self.stats.files += 1
            size = self.profile.blocks_per_batch
            slicer = _Slicer(item, segment, size, self._block, self.schema)

            steps = parquet.iter_batches(
                batch_size=ARCHIVE_READ_ROWS,
                row_groups=groups,
                columns=converter.columns,
                use_threads=True,
            )
            for raw in _guarded(steps, item.path) if groups else ():
                self.stats.rows_read += raw.num_rows
                batch = converter.convert(raw)
                if batch.column(self._block).null_count:
                    raise TerminalError(
                        f"archive file {item.path}: some rows have no "
                        f"{self._block}; re-write it with every row's block number"
                    )
                mask = row_mask(batch, self._block, segment, self.pushdown)
                if mask is not None:
                    batch = batch.filter(mask)
                for out in slicer.add(batch):
                    self.stats.rows_emitted += out.records.num_rows
                    yield out
            for out in slicer.finish():
                self.stats.rows_emitted += out.records.num_rows
                yield out
        finally:
            parquet.close()

    def _row_groups(
        self,
        item: ArchiveFile,
        segment: BlockRange,
        parquet: pq.ParquetFile,
        converter: FileConverter,
    ) -> list[int]:
        """Row groups of the file that may hold rows of `segment` passing the filter.

        Also checks that the statistics agree with the range the file's name gives.
        """
        file_schema = parquet.schema_arrow
        text = frozenset(
            f.name
            for f in file_schema
            if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)
        )
        block = converter.source_of(self._block) or self._block
        stats = RowGroupStats(
            parquet.metadata,
            block=block,
            address=converter.source_of("address"),
            topics=converter.source_of("topics"),
            topic_columns=[
                t if t in file_schema.names else None
                for t in ("topic0", "topic1", "topic2", "topic3")
            ],
            text_columns=text,
        )

        kept = []
        for group in range(stats.count):
            span = stats.blocks(group)
            if span is not None and (
                span[0] < item.blocks.start or span[1] > item.blocks.end
            ):
                raise TerminalError(
                    f"archive file {item.path} holds blocks {span[0]}..{span[1]}, "
                    f"outside the range {item.blocks} its name gives; rename or "
                    f"re-write the file"
                )
            if stats.may_hold(group, segment, self.pushdown):
                kept.append(group)
        self.stats.row_groups_read += len(kept)
        self.stats.row_groups_skipped += stats.count - len(kept)
        log.debug(
            "source %s: %s blocks %s: %d of %d row groups to read",
            self.name,
            item.path.name,
            segment,
            len(kept),
            stats.count,
        )
        return kept


class _Slicer:
    """Cuts one file's rows into batches covering `segment` block by block.

    Slice k is `segment.start + k*size` .. that plus `size - 1` (the last one ends
    at `segment.end`); a slice with rows becomes one batch. Consecutive slices
    without rows become one empty batch, however many blocks they cover: it
    costs nothing to hold, and a filtered read that skips most row groups then
    commits one checkpoint per stretch instead of one per few blocks.
    Rows must not go back to a slice already emitted.
    """

    def __init__(
        self,
        item: ArchiveFile,
        segment: BlockRange,
        size: int,
        block: str,
        schema: pa.Schema,
    ) -> None:
        self.item = item
        self.segment = segment
        self.size = size
        self.block = block
        self.schema = schema
        # Rows gathered for slice `current`; every block before `next_block` (the
        # first block of slice `current`) is emitted.
        self.current = 0
        self.next_block = segment.start
        self.pieces: list[pa.RecordBatch] = []

    def add(self, batch: pa.RecordBatch) -> Iterator[SourceBatch]:
        """Take converted, masked rows; yield the batches they complete."""
        if batch.num_rows == 0:
            return
        numbers = batch.column(self.block).to_numpy(zero_copy_only=False)
        index = (numbers - self.segment.start) // self.size
        if int(index.min()) < self.current:
            self._out_of_order(int(numbers.min()))
        if not is_sorted(index):
            order = np.argsort(numbers, kind="stable")
            batch, index = batch.take(pa.array(order)), index[order]

        present, begins = np.unique(index, return_index=True)
        ends = [*begins[1:], len(index)]
        for k, begin, end in zip(present, begins, ends, strict=True):
            if self.pieces and k > self.current:
                yield self._emit_rows()
            if not self.pieces:
                empty = self._emit_empty_until(self._start_of(int(k)))
                if empty is not None:
                    yield empty
                self.current = int(k)
            self.pieces.append(batch.slice(int(begin), int(end - begin)))

    def finish(self) -> Iterator[SourceBatch]:
        """Yield what is not emitted yet, down to the end of the segment."""
        if self.pieces:
            yield self._emit_rows()
        empty = self._emit_empty_until(self.segment.end + 1)
        if empty is not None:
            yield empty

    def _start_of(self, k: int) -> int:
        return self.segment.start + k * self.size

    def _emit_rows(self) -> SourceBatch:
        start = self._start_of(self.current)
        blocks = BlockRange(start, min(start + self.size - 1, self.segment.end))
        records = pa.Table.from_batches(self.pieces, schema=self.schema)
        numbers = records.column(self.block).to_numpy()
        if not is_sorted(numbers):
            records = records.take(np.argsort(numbers, kind="stable"))
        self.pieces = []
        self.current += 1
        self.next_block = blocks.end + 1
        return SourceBatch(records, blocks)

    def _emit_empty_until(self, stop: int) -> SourceBatch | None:
        """An empty batch for `next_block` .. `stop - 1`, None when that is empty."""
        if stop <= self.next_block:
            return None
        blocks = BlockRange(self.next_block, stop - 1)
        self.next_block = stop
        return SourceBatch(self.schema.empty_table(), blocks)

    def _out_of_order(self, block: int) -> None:
        raise TerminalError(
            f"archive file {self.item.path}: a row of block {block} comes after rows "
            f"of later batches; the file is not in block order, re-write it sorted "
            f"by block number"
        )


def _open_parquet(path: Path) -> pq.ParquetFile:
    try:
        # Without pre-buffering the reader fetches column data as it decodes
        # instead of holding a whole row group's bytes: lower peak memory.
        return pq.ParquetFile(path, pre_buffer=False)
    except (OSError, pa.ArrowInvalid) as err:
        raise TerminalError(
            f"archive file {path} cannot be read as Parquet ({err}); replace the file "
            f"or remove it and the blocks it holds from the run"
        ) from err


def _guarded(steps: Iterator[pa.RecordBatch], path: Path) -> Iterator[pa.RecordBatch]:
    """Map a read failure in the middle of a file to a `TerminalError`."""
    try:
        yield from steps
    except (OSError, pa.ArrowInvalid) as err:
        raise TerminalError(
            f"archive file {path} is damaged ({err}); replace the file"
        ) from err

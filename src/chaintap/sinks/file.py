"""`FileSink`: rows into files in a directory, one file per flush.

Options: `path` (a directory, created when missing) and `format`: `parquet`
(default), `jsonl` or `csv`.

Each flush writes the rows buffered since the last one into
`<path>/<first block:012d>-<last block:012d>.<ext>`, where the blocks are the
inclusive range the flushed batches cover; when several sources feed the sink
(their block ranges overlap) the source's name goes before the extension
(`...-000000000049.transfers.parquet`). A new file that holds every block of an
older file of the same source replaces it. The file is written under a temporary
name, fsynced and renamed into place, so a reader never sees half a file and a
re-run after a crash that re-delivers the same batches overwrites the same file
instead of adding a duplicate. A flush with no rows writes no data file. Every
flush, with rows or without, then records its range in the directory's coverage
file (`chaintap.datasets.coverage`), so a reader such as the archive source can
tell blocks without rows from blocks never written.

Every format stores u256 columns as base-10 strings: JSON and CSV readers would
round big numbers, and Parquet's largest decimal holds 76 digits, not 78. In JSON
lines and CSV, bytes are 0x-prefixed hex; in CSV, lists and structs are JSON
text. A `_gs_op` column is kept as ordinary data: files record changes, they do
not apply them.
"""

from __future__ import annotations

import logging
import os
import re
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from chaintap.datasets.coverage import COVERAGE_FILE, record_coverage
from chaintap.errors import ConfigError, TerminalError
from chaintap.sinks.base import Sink
from chaintap.sinks.jsonrows import dumps, json_lines
from chaintap.spec.model import BlockRange, SinkSpec
from chaintap.tuning import ResourceProfile
from chaintap.u256 import stringify_table

log = logging.getLogger(__name__)

FORMATS = ("parquet", "jsonl", "csv")
_DATA_FILE = re.compile(
    r"^(?P<first>\d{12})-(?P<last>\d{12})(?:\.(?P<stream>[^.]+))?\.(?P<ext>\w+)$"
)


class FileSink(Sink):
    """A `type: file` sink; see the module docstring for names and formats.

    Files are named by block range, so replays overwrite only when they are flushed
    over the same ranges as the first run (the runner flushes once per source
    batch, and batches are cut the same way on a re-run).
    """

    def __init__(self, spec: SinkSpec, pipeline: str, profile: ResourceProfile) -> None:
        super().__init__(spec, pipeline, profile)
        path = spec.options.get("path")
        if not isinstance(path, str) or not path.strip():
            raise self._option_error("path", f"must name a directory, not {path!r}")
        file_format = spec.options.get("format", "parquet")
        if file_format not in FORMATS:
            raise self._option_error(
                "format", f"is {file_format!r}; choose one of {', '.join(FORMATS)}"
            )

        self.directory = Path(path).expanduser()
        self.format: str = file_format
        self.files_written: list[Path] = []
        self.rows_flushed = 0
        self._pending: list[pa.Table] = []
        self._blocks: BlockRange | None = None
        self._source: str | None = None
        # Data files in the directory: block range and source stream of each.
        self._existing: dict[Path, tuple[BlockRange, str | None]] = {}
        self._closed = False

    def open(self, schema: pa.Schema) -> None:
        """Create the directory (ConfigError when impossible); list its files."""
        self.schema = schema
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise self._option_error(
                "path", f"{str(self.directory)!r} cannot be created: {err.strerror}"
            ) from err
        for path in self.directory.iterdir():
            match = _DATA_FILE.match(path.name)
            if match is not None and match["ext"] == self.format:
                span = BlockRange(int(match["first"]), int(match["last"]))
                self._existing[path] = (span, match["stream"])

    def write_batch(
        self, table: pa.Table, blocks: BlockRange, source: str | None = None
    ) -> None:
        """Buffer the rows; past sink_batch_rows they go to a file of their own."""
        self._source = source
        if self._blocks is None:
            self._blocks = blocks
        else:
            self._blocks = BlockRange(
                min(self._blocks.start, blocks.start), max(self._blocks.end, blocks.end)
            )
        if table.num_rows:
            self._pending.append(table)
        if sum(t.num_rows for t in self._pending) >= self.profile.sink_batch_rows:
            self.flush()

    def flush(self) -> None:
        """Write the buffered rows to their file, fsync it, record the coverage."""
        blocks, self._blocks = self._blocks, None
        if blocks is None:
            return
        if not self._pending:
            self._record(blocks)
            return
        started = time.monotonic()

        table = pa.concat_tables(self._pending, promote_options="permissive")
        target = self.directory / self._name(blocks, self._source)
        try:
            _write_atomically(stringify_table(table), target, self.format)
        except OSError as err:
            self._blocks = blocks
            raise TerminalError(
                f"pipeline {self.pipeline!r}, sink {self.name!r}: writing {target} "
                f"failed: {err.strerror or err}. Nothing of blocks {blocks} was "
                f"written; free space or fix permissions on {self.directory}, then "
                f"rerun"
            ) from err

        self.files_written.append(target)
        self.rows_flushed += table.num_rows
        self._pending = []
        self._drop_superseded(target, blocks, self._source)
        self._record(blocks)
        log.info(
            "pipeline %s, sink %s: wrote %d rows of blocks %s to %s in %.1f ms",
            self.pipeline,
            self.name,
            table.num_rows,
            blocks,
            target,
            (time.monotonic() - started) * 1000,
            extra={"pipeline": self.pipeline, "sink": self.name},
        )

    def _name(self, blocks: BlockRange, source: str | None) -> str:
        stream = "" if source is None else f".{source}"
        return f"{blocks.start:012d}-{blocks.end:012d}{stream}.{self.format}"

    def _drop_superseded(
        self, target: Path, blocks: BlockRange, source: str | None
    ) -> None:
        """Remove older files of this stream whose blocks the new file holds.

        A batch cut at the chain head can be cut longer on the rerun after a
        failure (3200-3203, then 3200-3209): the longer file holds every row of
        the shorter one, which would otherwise stay beside it as duplicates.
        """
        for path, (span, stream) in list(self._existing.items()):
            inside = blocks.start <= span.start and span.end <= blocks.end
            if stream == source and inside and path != target:
                path.unlink(missing_ok=True)
                del self._existing[path]
                log.info(
                    "sink %s: removed %s, superseded by %s", self.name, path, target
                )
        self._existing[target] = (blocks, source)

    def _record(self, blocks: BlockRange) -> None:
        if self._source is not None:
            return  # several sources share the directory: no single coverage
        try:
            record_coverage(self.directory, blocks)
        except OSError as err:
            self._blocks = blocks
            raise TerminalError(
                f"pipeline {self.pipeline!r}, sink {self.name!r}: recording blocks "
                f"{blocks} in {self.directory / COVERAGE_FILE} failed: "
                f"{err.strerror or err}; fix the directory, then rerun"
            ) from err

    def close(self) -> None:
        """Flush; a second call does nothing."""
        if self._closed:
            return
        self._closed = True
        self.flush()

    def _option_error(self, key: str, problem: str) -> ConfigError:
        return ConfigError(
            f"pipeline {self.pipeline!r}, sink {self.name!r}: "
            f"sinks.{self.name}.{key} {problem}"
        )


def _write_atomically(table: pa.Table, target: Path, file_format: str) -> None:
    """Write beside `target`, fsync, rename over it, fsync the directory."""
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        if file_format == "parquet":
            pq.write_table(table, temporary)
        elif file_format == "csv":
            pacsv.write_csv(_csv_ready(table), temporary)
        else:
            with temporary.open("w", encoding="utf-8") as handle:
                handle.writelines(line + "\n" for line in json_lines(table))
        _fsync(temporary)
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)
    _fsync(target.parent)


def _csv_ready(table: pa.Table) -> pa.Table:
    """Bytes as 0x-hex strings and nested values as JSON text, for CSV."""
    for index, field in enumerate(table.schema):
        kind, column = field.type, table.column(index).to_pylist
        if _is_bytes(kind):
            values = [None if v is None else "0x" + v.hex() for v in column()]
        elif pa.types.is_nested(kind):
            values = [None if v is None else dumps(v) for v in column()]
        else:
            continue
        table = table.set_column(index, field.name, pa.array(values, pa.string()))
    return table


def _is_bytes(kind: pa.DataType) -> bool:
    return bool(
        pa.types.is_binary(kind)
        or pa.types.is_large_binary(kind)
        or pa.types.is_fixed_size_binary(kind)
    )


def _fsync(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)

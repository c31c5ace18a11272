"""`PrintSink`: rows to standard output as JSON lines, for trying a pipeline out.

Printing is this sink's purpose, so it writes to `sys.stdout`, the one place in
library code that does. Options: `limit`, the most rows shown over the whole run
(all rows when absent); the rows beyond it are counted and reported in the log.
"""

from __future__ import annotations

import logging
import sys
from typing import TextIO

import pyarrow as pa

from chaintap.errors import ConfigError
from chaintap.sinks.base import Sink
from chaintap.sinks.jsonrows import json_lines
from chaintap.spec.model import BlockRange, SinkSpec
from chaintap.tuning import ResourceProfile

log = logging.getLogger(__name__)


class PrintSink(Sink):
    """One JSON object per row (u256 as base-10 strings), printed as it arrives."""

    def __init__(
        self,
        spec: SinkSpec,
        pipeline: str,
        profile: ResourceProfile,
        stream: TextIO | None = None,
    ) -> None:
        super().__init__(spec, pipeline, profile)
        limit = spec.options.get("limit")
        if limit is not None and (
            not isinstance(limit, int) or isinstance(limit, bool) or limit < 1
        ):
            raise ConfigError(
                f"pipeline {pipeline!r}, sink {spec.name!r}: sinks.{spec.name}.limit "
                f"must be a positive integer, not {limit!r}"
            )
        self.limit: int | None = limit
        self.rows_shown = 0
        self.rows_hidden = 0
        self._stream = stream
        self._closed = False

    def open(self, schema: pa.Schema) -> None:
        self.schema = schema

    def write_batch(
        self, table: pa.Table, blocks: BlockRange, source: str | None = None
    ) -> None:
        room = table.num_rows
        if self.limit is not None:
            room = max(0, min(room, self.limit - self.rows_shown))
        self.rows_hidden += table.num_rows - room
        if room == 0:
            return

        stream = self._stream or sys.stdout
        stream.writelines(line + "\n" for line in json_lines(table.slice(0, room)))
        self.rows_shown += room

    def flush(self) -> None:
        (self._stream or sys.stdout).flush()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.flush()
        if self.rows_hidden:
            log.info(
                "pipeline %s, sink %s: printed %d rows, %d more not shown (limit %s)",
                self.pipeline,
                self.name,
                self.rows_shown,
                self.rows_hidden,
                self.limit,
            )

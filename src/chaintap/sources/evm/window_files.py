"""The files that keep an `EmittedWindow` across restarts.

One directory per source (`Source.state_dir`). Every change to the window is one
Arrow IPC file, numbered in the order the changes happened:

- `<seq>-<start>-<end>.arrow`: a recorded block range (inclusive): the rows
  emitted for it, and in the schema metadata the headers of its blocks;
- `<seq>-retract-<ancestor>.arrow`: the blocks above `ancestor` were retracted
  (no rows).

Each file is written beside its final name and renamed into place, so a reader
sees whole files or none. `WindowFiles` knows nothing about what the changes mean;
`EmittedWindow` replays them (see `chaintap.sources.evm.reorg`).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from chaintap.errors import TransientError
from chaintap.spec.model import BlockRange

_META_KEY = b"chaintap.window"
_SUFFIX = ".arrow"


@dataclass(frozen=True)
class Change:
    """One stored change: a recorded range (`blocks`, `headers`, `rows`) or a
    retraction back to `ancestor`. Headers are (number, hash, parent hash)."""

    seq: int
    path: Path
    blocks: BlockRange | None = None
    headers: tuple[tuple[int, str, str], ...] = ()
    rows: pa.Table | None = None
    ancestor: int | None = None

    @property
    def top(self) -> int:
        """The highest block this change is about (what trimming compares)."""
        if self.blocks is not None:
            return self.blocks.end
        assert self.ancestor is not None
        return self.ancestor


class WindowFiles:
    """The numbered change files in `directory` (created on the first write)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._seq = 0

    def write_record(
        self,
        blocks: BlockRange,
        headers: list[tuple[int, str, str]],
        rows: pa.Table,
    ) -> Path:
        """Store one recorded range; the path of its file."""
        meta = {"blocks": [blocks.start, blocks.end], "headers": headers}
        name = f"{blocks.start}-{blocks.end}"
        return self._write(name, rows, meta)

    def write_retract(self, ancestor: int, schema: pa.Schema) -> Path:
        """Store a retraction of the blocks above `ancestor`; the path of its file."""
        return self._write(f"retract-{ancestor}", schema.empty_table(), {})

    def _write(self, name: str, rows: pa.Table, meta: dict[str, object]) -> Path:
        """1. write `<seq>-<name>.arrow.tmp`; 2. fsync it; 3. rename into place."""
        self._seq += 1
        target = self.directory / f"{self._seq:012d}-{name}{_SUFFIX}"
        temporary = target.with_name(target.name + ".tmp")
        metadata = {**(rows.schema.metadata or {}), _META_KEY: json.dumps(meta)}
        table = rows.replace_schema_metadata(metadata)
        try:
            self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            with (
                pa.OSFile(str(temporary), "wb") as sink,
                pa.ipc.new_file(sink, table.schema) as writer,
            ):
                writer.write_table(table)
            with open(temporary, "rb") as written:
                os.fsync(written.fileno())
            os.replace(temporary, target)
        except OSError as err:
            raise TransientError(
                f"the reorg window file {target} cannot be written ({err}); "
                f"without it a reorg after a restart is not retracted; free disk "
                f"space or fix the permissions of {self.directory}"
            ) from err
        return target

    def delete(self, path: Path) -> None:
        """Remove one change file; one already gone is fine."""
        path.unlink(missing_ok=True)

    def clear(self) -> None:
        """Remove every change file (and leftovers of interrupted writes)."""
        if not self.directory.is_dir():
            return
        for path in self.directory.iterdir():
            if path.name.endswith((_SUFFIX, _SUFFIX + ".tmp")):
                path.unlink(missing_ok=True)

    def read(self, schema: pa.Schema) -> list[Change]:
        """Every stored change in the order it happened.

        Raises ValueError (or OSError, pyarrow's errors) when a file cannot be
        read, is not one of ours, or holds rows of another schema; the caller
        then starts with an empty window. Later writes continue the numbering.
        """
        if not self.directory.is_dir():
            return []
        changes = []
        for path in self.directory.iterdir():
            if path.name.endswith(_SUFFIX):
                changes.append(_read_change(path, schema))
            elif path.name.endswith(_SUFFIX + ".tmp"):
                path.unlink(missing_ok=True)  # a write cut short
        changes.sort(key=lambda c: c.seq)
        self._seq = max([self._seq, *(c.seq for c in changes)])
        return changes


def _read_change(path: Path, schema: pa.Schema) -> Change:
    seq_text, _, rest = path.name.removesuffix(_SUFFIX).partition("-")
    seq = int(seq_text)
    if rest.startswith("retract-"):
        return Change(seq, path, ancestor=int(rest.removeprefix("retract-")))

    table = pa.ipc.open_file(pa.BufferReader(path.read_bytes())).read_all()
    meta = json.loads((table.schema.metadata or {})[_META_KEY])
    rows = table.replace_schema_metadata(schema.metadata)
    if not rows.schema.equals(schema):
        raise ValueError(f"{path.name} holds rows of another schema")
    start, end = (int(n) for n in meta["blocks"])
    headers = tuple((int(n), str(h), str(p)) for n, h, p in meta["headers"])
    return Change(seq, path, BlockRange(start, end), headers, rows)

"""Which block ranges a directory of dataset files is known to cover.

A file sink writes one file per flush that had rows; a flush without rows writes no
file (a sparse dataset would otherwise leave one empty file per batch). So that a
reader can tell "these blocks had no rows" from "these blocks were never written",
the sink also keeps `_chaintap_coverage.json` in the directory: the merged,
inclusive block ranges it has flushed, rows or not. The file is replaced
atomically after the data file of a flush is in place, so it never claims a range
whose file is missing; after a crash it may lag behind, and the re-delivered
batches fill it in.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

from chaintap.spec.model import BlockRange

COVERAGE_FILE = "_chaintap_coverage.json"


def merge(ranges: Iterable[BlockRange]) -> list[BlockRange]:
    """Sorted ranges with overlapping and adjacent ones joined."""
    merged: list[BlockRange] = []
    for item in sorted(ranges, key=lambda r: (r.start, r.end)):
        if merged and item.start <= merged[-1].end + 1:
            last = merged[-1]
            merged[-1] = BlockRange(last.start, max(last.end, item.end))
        else:
            merged.append(item)
    return merged


def read_coverage(directory: Path) -> list[BlockRange]:
    """The recorded ranges of `directory`; none when it has no coverage file."""
    path = directory / COVERAGE_FILE
    if not path.exists():
        return []
    data = json.loads(path.read_text())
    return merge(BlockRange(int(a), int(b)) for a, b in data.get("ranges", []))


def record_coverage(directory: Path, blocks: BlockRange) -> list[BlockRange]:
    """Add `blocks` to the recorded ranges, replacing the file atomically."""
    ranges = merge([*read_coverage(directory), blocks])
    path = directory / COVERAGE_FILE
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    payload = {"ranges": [[r.start, r.end] for r in ranges]}
    temporary.write_text(json.dumps(payload))
    os.replace(temporary, path)
    return ranges


def covers(ranges: Iterable[BlockRange], blocks: BlockRange) -> bool:
    """True when one recorded range holds every block of `blocks`."""
    return any(r.start <= blocks.start and blocks.end <= r.end for r in ranges)


def first_uncovered(ranges: Iterable[BlockRange], blocks: BlockRange) -> BlockRange:
    """The first stretch of `blocks` no recorded range holds (`blocks` if none do).

    Call it only when `covers(ranges, blocks)` is False.
    """
    start = blocks.start
    for item in merge(ranges):
        if item.start <= start <= item.end:
            start = item.end + 1
    following = [r.start for r in merge(ranges) if start < r.start <= blocks.end]
    end = min(following) - 1 if following else blocks.end
    return BlockRange(start, end)

"""`EmittedWindow` kept in a directory: written by one window, loaded by the next.

Pure data, no node: headers are made up here with hashes that name their fork and
number, so every expectation is read off the test, not off the code under test.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pyarrow as pa
import pytest

from chaintap.sources.evm.reorg import EmittedWindow, Header
from chaintap.spec.model import BlockRange

SCHEMA = pa.schema([("id", pa.string()), ("block_number", pa.int64())])


def _hash(fork: str, number: int) -> str:
    return f"0x{fork}{number:04d}"


def _headers(first: int, last: int, fork: str = "a", below: str = "a") -> list[Header]:
    return [
        Header(n, _hash(fork, n), _hash(below if n == first else fork, n - 1))
        for n in range(first, last + 1)
    ]


def _rows(first: int, last: int, fork: str = "a") -> pa.Table:
    ids = [f"{fork}{n}-{i}" for n in range(first, last + 1) for i in range(2)]
    numbers = [n for n in range(first, last + 1) for _ in range(2)]
    return pa.table({"id": ids, "block_number": numbers}, schema=SCHEMA)


def _window(directory: Path, size: int = 10) -> EmittedWindow:
    return EmittedWindow(size, SCHEMA, "block_number", directory)


def _record(
    window: EmittedWindow, first: int, last: int, fork: str = "a", below: str = "a"
) -> None:
    window.record(
        BlockRange(first, last),
        _headers(first, last, fork, below),
        _rows(first, last, fork),
    )


def _files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def test_a_window_loaded_at_the_cursor_retracts_a_reorg_of_earlier_blocks(
    tmp_path: Path,
) -> None:
    before = _window(tmp_path)
    _record(before, 100, 102)
    _record(before, 103, 105)

    after = _window(tmp_path)  # the restarted source, checkpoint at 105
    after.load(105)
    assert (after.base, after.last, after.rows) == (99, 105, 12)
    assert not after.links(Header(106, _hash("b", 106), _hash("b", 105)))

    # The node now holds fork b above block 103.
    canonical = {n: _hash("a" if n <= 103 else "b", n) for n in range(100, 106)}
    assert after.common_ancestor(canonical) == 103
    retracted = after.retract(103)
    assert retracted.to_pylist() == _rows(104, 105).to_pylist()
    _record(after, 104, 106, fork="b", below="a")
    assert after.last == 106


def test_blocks_after_the_cursor_are_dropped_at_load(tmp_path: Path) -> None:
    before = _window(tmp_path)
    _record(before, 100, 102)
    _record(before, 103, 105)  # emitted, but the sinks never checkpointed it

    after = _window(tmp_path)
    after.load(102)
    assert (after.base, after.last, after.rows) == (99, 102, 6)
    assert after.hash_of(103) is None
    _record(after, 103, 104, fork="c")  # read again from the node: another fork

    again = _window(tmp_path)
    again.load(104)
    assert (again.last, again.hash_of(103)) == (104, _hash("c", 103))


def test_without_a_cursor_nothing_is_kept(tmp_path: Path) -> None:
    before = _window(tmp_path)
    _record(before, 100, 102)
    assert _files(tmp_path)

    after = _window(tmp_path)
    after.load(None)
    assert (after.base, after.last) == (None, None)
    assert _files(tmp_path) == []


def test_an_unreadable_window_file_starts_an_empty_window_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    before = _window(tmp_path)
    _record(before, 100, 102)
    (tmp_path / _files(tmp_path)[0]).write_bytes(b"not arrow")

    after = _window(tmp_path)
    with caplog.at_level(logging.WARNING, logger="chaintap.sources.evm"):
        after.load(102)
    assert (after.base, after.last) == (None, None)
    assert "cannot be read" in caplog.text
    assert _files(tmp_path) == []


def test_files_of_blocks_out_of_the_window_are_deleted(tmp_path: Path) -> None:
    window = _window(tmp_path, size=4)
    for first in range(100, 120, 2):
        _record(window, first, first + 1)
    # Blocks 116..119 are remembered; base 115's hash is 116's parent hash.
    assert _files(tmp_path) == [
        "000000000009-116-117.arrow",
        "000000000010-118-119.arrow",
    ]

    after = _window(tmp_path, size=4)
    after.load(119)
    assert (after.base, after.last, after.rows) == (115, 119, 8)
    assert len(_files(tmp_path)) == 2  # rewritten as the loaded window


def test_a_retraction_the_sinks_never_checkpointed_is_retracted_again(
    tmp_path: Path,
) -> None:
    """The checkpoint still names the orphaned block 103: the earlier state wins,
    so the restarted source retracts it again instead of forgetting its rows."""
    before = _window(tmp_path)
    _record(before, 100, 103)
    before.retract(101)

    after = _window(tmp_path)
    after.load(103)
    assert (after.last, after.hash_of(103)) == (103, _hash("a", 103))

    checkpointed = _window(tmp_path)
    checkpointed.load(101)
    assert (checkpointed.last, checkpointed.rows) == (101, 4)

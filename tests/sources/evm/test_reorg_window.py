"""`EmittedWindow`: the bookkeeping of emitted blocks that reorg retraction uses.

Pure data, no node: headers are made up here, with hashes that name their fork
and number, so every expectation can be read off the test.
"""

from __future__ import annotations

import pyarrow as pa
import pytest

from chaintap.sources.evm.reorg import EmittedWindow, Header, with_op
from chaintap.spec.model import BlockRange

SCHEMA = pa.schema([("id", pa.string()), ("block_number", pa.int64())])


def _hash(fork: str, number: int) -> str:
    return f"0x{fork}{number:04d}"


def _headers(first: int, last: int, fork: str = "a", below: str = "a") -> list[Header]:
    """Headers of blocks first..last on `fork`; the first one's parent on `below`."""
    return [
        Header(n, _hash(fork, n), _hash(below if n == first else fork, n - 1))
        for n in range(first, last + 1)
    ]


def _rows(first: int, last: int, fork: str = "a", per_block: int = 2) -> pa.Table:
    ids = [f"{fork}{n}-{i}" for n in range(first, last + 1) for i in range(per_block)]
    numbers = [n for n in range(first, last + 1) for _ in range(per_block)]
    return pa.table({"id": ids, "block_number": numbers}, schema=SCHEMA)


def _window(size: int = 10) -> EmittedWindow:
    return EmittedWindow(size, SCHEMA, "block_number")


def _record(window: EmittedWindow, first: int, last: int, fork: str = "a") -> None:
    window.record(
        BlockRange(first, last), _headers(first, last, fork), _rows(first, last, fork)
    )


def test_an_empty_window_links_anything_and_takes_the_first_parent_as_base() -> None:
    window = _window()
    assert window.links(Header(100, "0xany", "0xparent"))
    assert (window.base, window.last, window.blocks) == (None, None, 0)

    _record(window, 100, 102)
    assert (window.base, window.last, window.blocks, window.rows) == (99, 102, 3, 6)
    assert window.hash_of(99) == _hash("a", 99)  # the parent of block 100
    assert window.hash_of(102) == _hash("a", 102)
    assert window.hash_of(98) is None and window.hash_of(103) is None


def test_links_compares_the_parent_hash_with_the_last_block() -> None:
    window = _window()
    _record(window, 100, 102)
    assert window.links(Header(103, _hash("a", 103), _hash("a", 102)))
    assert not window.links(Header(103, _hash("b", 103), _hash("b", 102)))
    with pytest.raises(ValueError, match="does not follow"):
        window.links(Header(105, _hash("a", 105), _hash("a", 104)))


def test_record_refuses_headers_that_do_not_chain_or_do_not_fit() -> None:
    window = _window()
    _record(window, 100, 102)
    with pytest.raises(ValueError, match="not those of blocks"):
        window.record(BlockRange(103, 104), _headers(103, 103), _rows(103, 104))
    with pytest.raises(ValueError, match="does not extend block 102"):
        window.record(
            BlockRange(103, 103), _headers(103, 103, "b", "b"), _rows(103, 103)
        )
    broken = [_headers(103, 103)[0], Header(104, _hash("a", 104), "0xelse")]
    with pytest.raises(ValueError, match="block 104 does not extend its parent"):
        window.record(BlockRange(103, 104), broken, _rows(103, 104))
    assert window.last == 102  # nothing of the refused ranges was kept


def test_the_window_keeps_the_last_size_blocks_and_their_rows_only() -> None:
    window = _window(size=4)
    _record(window, 100, 102)
    _record(window, 103, 105)  # 6 blocks: 100 and 101 fall out, 101 becomes base
    assert (window.base, window.last, window.blocks) == (101, 105, 4)
    assert window.hash_of(100) is None and window.hash_of(101) == _hash("a", 101)
    assert window.rows == 8

    everything = window.retract(101)
    assert everything.column("block_number").to_pylist() == [
        102,
        102,
        103,
        103,
        104,
        104,
        105,
        105,
    ]


def test_common_ancestor_is_the_highest_block_the_node_still_holds() -> None:
    window = _window()
    _record(window, 100, 105)
    # The node replaced 104 and 105 (fork b), and holds 99..103 as emitted.
    canonical: dict[int, str | None] = {n: _hash("a", n) for n in range(99, 104)}
    canonical |= {104: _hash("b", 104), 105: _hash("b", 105)}
    assert window.common_ancestor(canonical) == 103
    # Only the base matches: a reorg of every emitted block.
    only_base = {n: _hash("b", n) for n in range(100, 106)} | {99: _hash("a", 99)}
    assert window.common_ancestor(only_base) == 99
    # Nothing matches (deeper than the window), or the node lacks the blocks.
    assert window.common_ancestor({n: _hash("b", n) for n in range(99, 106)}) is None
    assert window.common_ancestor(dict.fromkeys(range(99, 106))) is None
    assert window.common_ancestor({}) is None


def test_retract_returns_the_orphaned_rows_and_splits_a_batch() -> None:
    window = _window()
    _record(window, 100, 103)  # one batch, split by the retraction below
    _record(window, 104, 105)

    gone = window.retract(102)
    expected = [f"a{n}-{i}" for n in (103, 104, 105) for i in range(2)]
    assert gone.column("id").to_pylist() == expected
    assert (window.base, window.last) == (99, 102)
    assert window.hash_of(103) is None and window.hash_of(102) == _hash("a", 102)

    # The new chain continues from the ancestor; its rows are what is kept now.
    window.record(
        BlockRange(103, 104), _headers(103, 104, "b", "a"), _rows(103, 104, "b")
    )
    again = window.retract(99)
    assert again.column("id").to_pylist() == [
        f"{fork}{n}-{i}"
        for fork, n in (("a", 100), ("a", 101), ("a", 102), ("b", 103), ("b", 104))
        for i in range(2)
    ]
    assert window.blocks == 0 and window.base == 99
    assert window.links(Header(100, _hash("c", 100), _hash("a", 99)))


def test_retract_to_the_last_block_returns_no_rows_and_outside_is_refused() -> None:
    window = _window()
    _record(window, 100, 101)
    assert window.retract(101).num_rows == 0
    assert window.retract(101).schema == SCHEMA
    with pytest.raises(ValueError, match="outside"):
        window.retract(98)
    window.forget()
    with pytest.raises(ValueError, match="nothing is remembered"):
        window.retract(100)
    assert window.links(Header(500, "0x1", "0x2"))  # forgotten: a new start


def test_with_op_appends_the_operation_column() -> None:
    table = with_op(_rows(1, 2), "d")
    assert table.schema.names == ["id", "block_number", "_gs_op"]
    assert table.schema.field("_gs_op").type == pa.string()
    assert table.column("_gs_op").to_pylist() == ["d"] * 4
    assert with_op(SCHEMA.empty_table(), "i").num_rows == 0

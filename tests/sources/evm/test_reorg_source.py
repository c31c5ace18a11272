"""A source following the head of a real anvil node through reorgs.

Each test gets its own anvil (reorgs rewrite its chain) with the demo token, reads
`erc20_transfers` from block 0 without an end, and steps the source one batch at a
time (`Puller`), so when the source looks at the node is decided by the test. What
the source emitted is checked against the chain the node holds afterwards, read
back with `eth_getLogs` by the test itself.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chaintap import tuning
from chaintap.datasets.catalog import resolve
from chaintap.sources.base import SourceBatch
from chaintap.sources.evm import EvmRpcSource
from chaintap.spec.model import BlockRange, SourceSpec
from chaintap.tuning import profile_for
from support.reorg_chain import Chain, HeadCapProxy, Puller, apply_ops, fresh_chain


@pytest.fixture
def chain() -> Iterator[Chain]:
    with fresh_chain() as chain:
        yield chain


@pytest.fixture
def follow() -> Iterator[Any]:
    """Opens a source following the head at `url`; closes it after the test."""
    pullers: list[Puller] = []

    def start(
        url: str,
        state_dir: Path | None = None,
        cursor: int | None = None,
        **options: Any,
    ) -> Puller:
        spec = SourceSpec(
            name="transfers",
            type="dataset",
            dataset=resolve("anvil.erc20_transfers", None, allow_unknown_chain=True),
            rpc_url=url,
            start_block=0,
            options={"poll_interval": 0.02, **options},
        )
        source = EvmRpcSource(spec, profile_for("xs"))
        source.state_dir = state_dir
        source.open(cursor)
        pullers.append(Puller(source))
        return pullers[-1]

    yield start
    for puller in pullers:
        puller.close()


@pytest.fixture
def small_window(monkeypatch: pytest.MonkeyPatch) -> int:
    """A 4-block window and a warning every 0.1 s, so stalls show within a second."""
    monkeypatch.setattr(tuning, "EVM_REORG_WINDOW_BLOCKS", 4)
    monkeypatch.setattr(tuning, "EVM_HEAD_STALL_LOG_S", 0.1)
    return 4


def _canonical(chain: Chain, last: int) -> dict[str, tuple[Any, ...]]:
    return {
        t.id: (t.block_number, t.block_hash, t.sender, t.recipient, t.amount)
        for t in chain.transfers(last)
    }


def _held(batches: list[SourceBatch]) -> dict[str, tuple[Any, ...]]:
    """What a keyed sink holds after the batches, in the shape of `_canonical`."""
    return {
        key: (
            row["block_number"],
            row["block_hash"],
            row["sender"],
            row["recipient"],
            int.from_bytes(row["amount"], "big"),
        )
        for key, row in apply_ops(batches).items()
    }


def _deletes(batches: list[SourceBatch]) -> list[str]:
    return [
        row["id"]
        for batch in batches
        for row in batch.records.to_pylist()
        if row["_gs_op"] != "i"
    ]


def test_a_reorg_at_the_same_height_is_retracted_then_the_new_chain_read(
    chain: Chain, follow: Any
) -> None:
    puller = follow(chain.url)
    head = chain.head()
    puller.until_cursor(head)
    chain.send_transfers(11, 12, 13)  # blocks head+1 .. head+3
    puller.until_cursor(head + 3)
    orphaned = [t for t in chain.transfers() if t.block_number > head]
    assert len(orphaned) == 3

    # anvil replaces the three blocks with two other transfers; the height stays.
    chain.reorg(3, [(0, 8, 21), (2, 9, 22)])
    assert chain.head() == head + 3
    retraction = puller.next()

    assert retraction is not None
    assert retraction.blocks == BlockRange(head + 1, head + 3)
    assert retraction.cursor == head and retraction.next_cursor == head
    deleted = retraction.records.to_pylist()
    assert sorted(r["id"] for r in deleted) == sorted(t.id for t in orphaned)
    emitted = [
        row
        for batch in puller.batches[:-1]
        for row in batch.records.to_pylist()
        if row["block_number"] > head
    ]
    assert deleted == [{**row, "_gs_op": "d"} for row in emitted]  # whole rows

    puller.until_cursor(head + 3)
    assert _held(puller.batches) == _canonical(chain, head + 3)
    assert not set(_canonical(chain, head + 3)) & {t.id for t in orphaned}


def test_a_longer_competing_chain_is_caught_by_the_parent_hash(
    chain: Chain, follow: Any
) -> None:
    puller = follow(chain.url)
    head = chain.head()
    chain.send_transfers(11, 12, 13)
    puller.until_cursor(head + 3)

    # The new chain forks below head+2 and is three blocks longer before the
    # source looks again: the first new range does not extend block head+3.
    chain.reorg(2, [(0, 8, 21), (1, 9, 22)])
    chain.mine(2)
    chain.send_transfers(31)
    retraction = puller.next()

    assert retraction is not None
    assert retraction.blocks == BlockRange(head + 2, head + 3)
    assert retraction.cursor == head + 1
    puller.until_cursor(head + 6)
    assert _held(puller.batches) == _canonical(chain, head + 6)
    assert len(_deletes(puller.batches)) == 2


def test_confirmations_keep_a_shallow_reorg_from_the_batches(
    chain: Chain, follow: Any
) -> None:
    puller = follow(chain.url, confirmations=3)
    head = chain.head()
    puller.until_cursor(head - 3)  # never nearer to the head than 3 blocks
    chain.send_transfers(11, 12)  # blocks head+1, head+2
    puller.until_cursor(head - 1)
    orphaned = {t.id for t in chain.transfers() if t.block_number > head}

    chain.reorg(2, [(0, 8, 21), (1, 9, 22)])  # shallower than 3 confirmations
    chain.mine(3)
    puller.until_cursor(head + 2)

    assert _deletes(puller.batches) == []
    assert all(batch.cursor is None for batch in puller.batches)
    emitted = {r["id"] for b in puller.batches for r in b.records.to_pylist()}
    assert not emitted & orphaned and len(orphaned) == 2
    assert _held(puller.batches) == _canonical(chain, head + 2)
    assert puller.next(timeout=0.3) is None  # head+3.. are not 3 deep yet


def test_a_reorg_deeper_than_the_window_deletes_nothing_and_waits(
    chain: Chain,
    follow: Any,
    small_window: int,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """anvil reverts to a snapshot below the window and mines a longer chain."""
    snapshot = chain.snapshot()
    head = chain.head()
    chain.send_transfers(1, 2, 3, 4, 5, 6)
    puller = follow(chain.url)
    puller.until_cursor(head + 6)

    # Back below every remembered block, then a longer chain of other blocks.
    chain.revert(snapshot)
    chain.mine(small_window + 4)
    assert chain.block_hash(head) != ""  # the fork point is still there
    with caplog.at_level(logging.WARNING, logger="chaintap.sources.evm"):
        assert puller.next(timeout=1.0) is None

    deep = [r for r in caplog.records if "a reorg deeper than the 4" in r.message]
    assert len(deep) >= 2, caplog.text  # warned at once, then again
    assert f"up to {head + 6}" in deep[0].message
    assert _deletes(puller.batches) == []
    assert all(batch.cursor is None for batch in puller.batches)


def test_a_node_far_behind_is_waited_for_then_followed_again(
    chain: Chain,
    follow: Any,
    small_window: int,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The one injected fault: a proxy in front of the real node hides its blocks
    above a cap, as a resyncing node would; the chain itself stays anvil's."""
    proxy = HeadCapProxy(chain.url)
    try:
        puller = follow(proxy.url)
        head = chain.head()
        puller.until_cursor(head)

        # The node now says its head is far below what was emitted (resyncing).
        proxy.cap = head - small_window - 2
        with caplog.at_level(logging.INFO, logger="chaintap.sources.evm"):
            assert puller.next(timeout=1.0) is None
            chain.send_transfers(41, 42)
            assert puller.next(timeout=0.3) is None  # still behind: nothing read

            proxy.cap = None  # caught up, and past what was emitted
            puller.until_cursor(head + 2)
    finally:
        proxy.stop()

    behind = [r for r in caplog.records if "below the blocks" in r.message]
    assert len(behind) >= 2 and all(r.levelno == logging.WARNING for r in behind)
    assert any("is back at head" in r.message for r in caplog.records)
    assert _deletes(puller.batches) == []
    assert _held(puller.batches) == _canonical(chain, head + 2)


def test_a_restarted_source_retracts_a_reorg_of_blocks_emitted_before(
    chain: Chain, follow: Any, tmp_path: Path
) -> None:
    """The first source stops at the head; a new one, given the same state_dir
    and the checkpoint, must still know the hashes and rows of those blocks."""
    first = follow(chain.url, state_dir=tmp_path)
    head = chain.head()
    chain.send_transfers(11, 12, 13)
    first.until_cursor(head + 3)
    first.close()
    orphaned = {t.id for t in chain.transfers() if t.block_number > head}

    second = follow(chain.url, state_dir=tmp_path, cursor=head + 3)
    chain.reorg(3, [(0, 8, 21), (2, 9, 22)])
    retraction = second.next()

    assert retraction is not None
    assert retraction.blocks == BlockRange(head + 1, head + 3)
    assert retraction.cursor == head
    assert set(_deletes([retraction])) == orphaned and len(orphaned) == 3
    second.until_cursor(head + 3)
    assert _held(first.batches + second.batches) == _canonical(chain, head + 3)

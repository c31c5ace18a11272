"""Fixtures for the Solana replay node (see `support.solana_replay`).

`solana_replay_node` is one server for the whole session; `solana_replay` hands it
to a test with every knob at its default and resets it afterwards, so tests can
turn knobs freely. Both skip when the chain data folder is missing. `read_solana`
runs a real `SolanaRpcSource` against it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from chaintap.datasets.catalog import resolve
from chaintap.sources.base import SourceBatch
from chaintap.sources.solana.source import SolanaRpcSource
from chaintap.spec.model import SourceSpec
from chaintap.tuning import ResourceProfile
from support.solana_replay import SOLANA_DIR, SolanaReplay


@pytest.fixture(scope="session")
def solana_replay_node() -> Iterator[SolanaReplay]:
    if not (SOLANA_DIR / "manifest.json").exists():
        pytest.skip(f"Solana chain data not found in {SOLANA_DIR}")
    replay = SolanaReplay().start()
    try:
        yield replay
    finally:
        replay.stop()


@pytest.fixture
def solana_replay(solana_replay_node: SolanaReplay) -> Iterator[SolanaReplay]:
    solana_replay_node.reset()
    try:
        yield solana_replay_node
    finally:
        solana_replay_node.reset()


ReadSolana = Callable[..., list[SourceBatch]]

# Small batches so a handful of slots already spans several batches.
SMALL = ResourceProfile("test", 3, 2, 2, 1, 1_000)


def solana_spec(url: str | None, dataset: str, **bounds: Any) -> SourceSpec:
    """A `solana.<dataset>` source spec aimed at `url`; `bounds` are SourceSpec
    fields (start_block, end_block, block_ranges, start_at, options)."""
    return SourceSpec(
        name="sol",
        type="dataset",
        dataset=resolve(f"solana.{dataset}", None),
        rpc_url=url,
        **bounds,
    )


@pytest.fixture
def read_solana(solana_replay: SolanaReplay) -> ReadSolana:
    """`read_solana(dataset, cursor=None, profile=SMALL, **bounds)`: every batch a
    fresh source yields from the replay, the source opened and closed."""

    def read(
        dataset: str,
        cursor: int | None = None,
        profile: ResourceProfile = SMALL,
        **bounds: Any,
    ) -> list[SourceBatch]:
        source = SolanaRpcSource(
            solana_spec(solana_replay.url, dataset, **bounds), profile
        )
        try:
            source.open(cursor)
            return list(source.read())
        finally:
            source.close()

    return read

"""Fixtures for the EVM replay node (see `support.evm_replay`)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from support.evm_replay import EvmReplayServer


@pytest.fixture
def evm_replay() -> Iterator[EvmReplayServer]:
    """A fresh replay node on 127.0.0.1 (its own fault switches), stopped after."""
    server = EvmReplayServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()

"""Fixtures for the benchmark suite's own tests: its modules, and a fresh anvil.

The suite's modules live in bench/ (not a package); they are imported the way
bench/run.py imports them, with bench/ on sys.path.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from chaintap.demo.anvil import AnvilNode
from support.anvil_fixtures import anvil_binary

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))


@pytest.fixture(scope="module")
def fresh_anvil() -> Iterator[AnvilNode]:
    """An anvil node nobody else has sent to (the chain builder needs block 0)."""
    with AnvilNode(binary=anvil_binary()) as node:
        yield node

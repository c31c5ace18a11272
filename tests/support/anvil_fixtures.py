"""A local anvil node and a real ERC-20 workload on it, once per test session.

`anvil_node` skips (with the install command in the reason) only when no anvil
binary can be found, and fails instead under CI=true, where `npm ci` in the
checkout installs it. The node listens on 127.0.0.1 and the fixture stops exactly
the process it started.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from chaintap.demo.anvil import AnvilNode, AnvilNotFound, find_anvil
from chaintap.demo.workload import Workload, run_workload

# Enough transfers to fill several multi-transfer blocks and empty gaps, and still
# a fraction of a second to send.
SESSION_TRANSFERS = 40


def anvil_binary() -> Path:
    """The anvil binary; skips the test without one, but fails under CI=true."""
    try:
        return find_anvil()
    except AnvilNotFound as err:
        if os.environ.get("CI") == "true":
            # CI installs anvil (`npm ci`); a skip there would hide a broken step.
            pytest.fail(f"CI has no anvil binary: {err}")
        pytest.skip(f"no anvil binary: {err}")


@pytest.fixture(scope="session")
def anvil_node() -> Iterator[AnvilNode]:
    with AnvilNode(binary=anvil_binary()) as node:
        yield node


@pytest.fixture(scope="session")
def erc20_workload(anvil_node: AnvilNode) -> Workload:
    """The demo token deployed and SESSION_TRANSFERS transfers sent, read back."""
    return run_workload(anvil_node.url, transfers=SESSION_TRANSFERS)

"""Fixtures of the transform tests: the recorded mainnet logs as `raw_logs`."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pytest

from transforms.helpers import mainnet_logs, raw_logs_table


@pytest.fixture(scope="session")
def logs() -> list[dict[str, Any]]:
    """Every log of the recorded Ethereum blocks, as the node returned it."""
    return mainnet_logs()


@pytest.fixture(scope="session")
def raw_logs(logs: list[dict[str, Any]]) -> pa.Table:
    """The same logs as a `raw_logs` table, in recorded order."""
    return raw_logs_table(logs)

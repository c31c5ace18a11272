"""The `control` fixture: a started control server per test (see `helpers`)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from control.helpers import ControlPlane
from support.evm_replay import EvmReplayServer


@pytest.fixture
def control(tmp_path: Path, evm_replay: EvmReplayServer) -> Iterator[ControlPlane]:
    """A started server. The replay node's URL is also a secret of its environment
    (CHAINTAP_SECRET_REPLAY_URL), so every output can be checked for masking."""
    home, workdir = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    workdir.mkdir()
    plane = ControlPlane(home, workdir, {"CHAINTAP_SECRET_REPLAY_URL": evm_replay.url})
    previous = Path.cwd()
    os.chdir(workdir)
    try:
        plane.start()
        yield plane
    finally:
        os.chdir(previous)
        plane.stop()

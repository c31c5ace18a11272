"""`AnvilNode` and `find_anvil`: a real anvil process started and stopped by PID."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import httpx
import pytest

from chaintap.demo import anvil
from chaintap.demo.anvil import AnvilNode, AnvilNotFound, find_anvil
from chaintap.errors import TerminalError

pytestmark = pytest.mark.anvil


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); Popen.wait in stop() reaps ours, so any
    # process left with this PID means the node was not stopped.
    return True


def _chain_id(url: str) -> int:
    body = {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}
    return int(httpx.post(url, json=body, timeout=5).json()["result"], 16)


def test_node_answers_on_loopback_and_stop_ends_its_process(
    anvil_node: AnvilNode,
) -> None:
    binary = anvil_node.binary
    assert binary is not None
    with AnvilNode(binary=binary, chain_id=4242) as node:
        assert node.url.startswith("http://127.0.0.1:")
        assert _chain_id(node.url) == 4242
        pid = node.pid
        assert pid is not None and _alive(pid)
    assert not _alive(pid)
    node.stop()  # a second stop is harmless

    with pytest.raises(httpx.HTTPError):
        httpx.post(f"http://127.0.0.1:{node.port}", json={}, timeout=1)


def test_two_nodes_get_different_ports(anvil_node: AnvilNode) -> None:
    with AnvilNode(binary=anvil_node.binary) as other:
        assert other.port != anvil_node.port
        assert _chain_id(other.url) == _chain_id(anvil_node.url)


def test_chaintap_anvil_must_be_executable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    not_executable = tmp_path / "anvil"
    not_executable.write_text("#!/bin/sh\n")
    monkeypatch.setenv("CHAINTAP_ANVIL", str(not_executable))
    with pytest.raises(AnvilNotFound, match="CHAINTAP_ANVIL"):
        find_anvil()


def test_chaintap_anvil_wins_over_everything(
    anvil_node: AnvilNode, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert anvil_node.binary is not None
    link = tmp_path / "my-anvil"
    link.symlink_to(anvil_node.binary)
    monkeypatch.setenv("CHAINTAP_ANVIL", str(link))
    assert find_anvil() == link


def test_missing_anvil_says_how_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The checkout root is pointed at an empty directory (the real one has anvil)."""
    monkeypatch.delenv("CHAINTAP_ANVIL", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    monkeypatch.setenv("CHAINTAP_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(anvil, "checkout_root", lambda: tmp_path / "checkout")
    with pytest.raises(AnvilNotFound) as caught:
        find_anvil()
    message = str(caught.value)
    assert "npm install" in message
    assert (
        str(tmp_path / "home" / "tools" / "node_modules" / ".bin" / "anvil") in message
    )


def test_tools_dir_under_chaintap_home_is_found(
    anvil_node: AnvilNode, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A plain executable in $CHAINTAP_HOME/tools/node_modules/.bin is used as is."""
    assert anvil_node.binary is not None
    bin_dir = tmp_path / "home" / "tools" / "node_modules" / ".bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "anvil").symlink_to(anvil_node.binary)
    monkeypatch.delenv("CHAINTAP_ANVIL", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    monkeypatch.setenv("CHAINTAP_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(anvil, "checkout_root", lambda: tmp_path / "checkout")
    found = find_anvil()
    assert found.resolve() == anvil_node.binary.resolve()


def test_a_binary_that_exits_fails_start_with_its_output(tmp_path: Path) -> None:
    broken = tmp_path / "anvil"
    broken.write_text("#!/bin/sh\necho 'cannot start: broken on purpose' >&2\nexit 3\n")
    broken.chmod(broken.stat().st_mode | stat.S_IXUSR)
    with pytest.raises(TerminalError, match="broken on purpose"):
        AnvilNode(binary=broken).start()

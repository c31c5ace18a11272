"""`chaintap demo` through the real CLI entry point."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from chaintap.cli.main import cli

pytestmark = pytest.mark.anvil


def test_demo_command_prints_the_summary(anvil_node: object, tmp_path: Path) -> None:
    """`anvil_node` only makes the test skip where anvil is not installed."""
    workdir = tmp_path / "demo"
    result = CliRunner().invoke(
        cli, ["demo", "--workdir", str(workdir), "--transfers", "4"]
    )
    assert result.exit_code == 0, result.output
    assert "erc20 transfers: 6 rows, matches the 6 transfers sent" in result.stdout
    assert "all checks passed" in result.stdout
    assert (workdir / "out" / "erc20_transfers").is_dir()


def test_demo_help_documents_every_option() -> None:
    result = CliRunner().invoke(cli, ["demo", "--help"])
    assert result.exit_code == 0
    for option in ("--workdir", "--transfers", "--verbose"):
        assert option in result.output

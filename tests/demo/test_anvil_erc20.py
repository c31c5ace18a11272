"""ERC-20 transfers from a real local chain, through the runtime, into files.

The expected rows are the workload's: what it *intended* to send (decided before
sending) and what the node's receipts say was emitted. Neither comes from the EVM
source, the runtime or the sink under test.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from chaintap.demo.anvil import AnvilNode
from chaintap.demo.run import MARKER, run_demo
from chaintap.demo.workload import Workload
from chaintap.errors import ConfigError
from chaintap.runtime.runner import SUCCEEDED, run_pipeline
from chaintap.spec.loader import load_pipeline_text

pytestmark = pytest.mark.anvil


def _erc20_pipeline(workload: Workload, out: Path) -> str:
    return f"""
name: test-anvil-erc20
resource_size: xs
job: true
sources:
  transfers:
    type: dataset
    dataset_name: anvil.erc20_transfers
    start_block: {workload.first_block}
    end_block: {workload.last_block}
sinks:
  files:
    type: file
    from: transfers
    path: {out}
    format: parquet
    primary_key: id
"""


def _amount(value: Any) -> int:
    return int.from_bytes(value, "big") if isinstance(value, bytes) else int(value)


@pytest.fixture
def anvil_rpc(anvil_node: AnvilNode, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("CHAINTAP_RPC_ANVIL", anvil_node.url)
    return anvil_node.url


def test_erc20_job_lands_exactly_the_transfers_sent(
    erc20_workload: Workload, anvil_rpc: str, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    spec = load_pipeline_text(_erc20_pipeline(erc20_workload, out), "test.yaml")
    (tmp_path / "home").mkdir()
    summary = run_pipeline(spec, home=tmp_path / "home")

    assert summary.outcome == SUCCEEDED
    assert summary.blocks == erc20_workload.last_block - erc20_workload.first_block + 1
    rows = pq.read_table(sorted(out.rglob("*.parquet"))).to_pylist()
    landed = {
        (
            r["sender"],
            r["recipient"],
            _amount(r["amount"]),
            r["block_number"],
            r["transaction_hash"],
            r["log_index"],
        )
        for r in rows
    }
    assert len(landed) == len(rows)

    # 1. Equal to what the node's receipts say was emitted.
    emitted = {
        (
            t.sender,
            t.recipient,
            t.amount,
            t.block_number,
            t.transaction_hash,
            t.log_index,
        )
        for t in erc20_workload.transfers
    }
    assert landed == emitted

    # 2. Equal to what the workload meant to send, per transaction.
    intended = {
        t.transaction_hash: (t.sender, t.recipient, t.amount)
        for t in erc20_workload.intended
    }
    assert {r[4]: r[:3] for r in landed} == intended
    assert len(rows) == 40 + 2  # SESSION_TRANSFERS transfers + the two mints

    # 3. Columns the receipts also give, and the token address on every row.
    by_key = {(r["transaction_hash"], r["log_index"]): r for r in rows}
    for t in erc20_workload.transfers:
        row = by_key[(t.transaction_hash, t.log_index)]
        assert row["block_hash"] == t.block_hash
        assert row["transaction_index"] == t.transaction_index
        assert row["address"] == erc20_workload.token
        assert row["id"] == f"{t.transaction_hash}_{t.log_index}"


def test_run_demo_end_to_end(anvil_node: AnvilNode, tmp_path: Path) -> None:
    """The demo starts its own node; `anvil_node` only skips where anvil is missing."""
    workdir = tmp_path / "demo"
    before = os.environ.get("CHAINTAP_RPC_ANVIL")
    result = run_demo(workdir, transfers=12)

    assert result.ok, result.render()
    assert os.environ.get("CHAINTAP_RPC_ANVIL") == before
    text = result.render()
    assert "erc20 transfers: 14 rows, matches the 14 transfers sent" in text
    assert "decoded transfers: 14 rows, matches the 14 transfers sent" in text

    # Read the files directly: 12 transfers + 2 mints, blocks 0..last, one row each.
    parquet = sorted((workdir / "out" / "erc20_transfers").rglob("*.parquet"))
    assert pq.read_table(parquet).num_rows == 14
    lines = [
        json.loads(line)
        for path in sorted((workdir / "out" / "decoded_transfers").rglob("*.jsonl"))
        for line in path.read_text().splitlines()
        if line.strip()
    ]
    sent = {t.transaction_hash: t for t in result.workload.intended}
    assert len(lines) == 14
    for line in lines:
        expected = sent[line["transaction_hash"]]
        assert (line["sender"], line["recipient"], int(line["amount"])) == (
            expected.sender,
            expected.recipient,
            expected.amount,
        )
    csv_rows = sum(
        len(path.read_text().splitlines()) - 1
        for path in (workdir / "out" / "blocks").rglob("*.csv")
    )
    assert csv_rows == result.workload.last_block + 1

    # A second run clears the first one's files instead of mixing with them.
    again = run_demo(workdir, transfers=5)
    assert again.ok, again.render()
    assert (
        pq.read_table(
            sorted((workdir / "out" / "erc20_transfers").rglob("*.parquet"))
        ).num_rows
        == 7
    )


def test_run_demo_refuses_a_foreign_directory(tmp_path: Path) -> None:
    (tmp_path / "precious.txt").write_text("keep me")
    with pytest.raises(ConfigError, match="not made by"):
        run_demo(tmp_path, transfers=3)
    assert (tmp_path / "precious.txt").read_text() == "keep me"
    assert not (tmp_path / MARKER).exists()

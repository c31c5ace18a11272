"""`chaintap run` end to end: anvil ERC-20 workload → SQL → a real PostgreSQL table.

Also the restart-safety promises: a run killed with SIGKILL and run again, and a
Postgres that goes away mid-run, both end with the table a clean run produces.
"""

from __future__ import annotations

import signal
import subprocess
import time
from decimal import Decimal
from pathlib import Path

import pytest

from chaintap.demo.anvil import AnvilNode
from chaintap.demo.workload import Workload
from integration.conftest import Cli, query, write_pipeline
from support.postgres_fixtures import PostgresServer
from support.slow_proxy import SlowProxy

PIPELINE = """
name: {name}
resource_size: xs
job: true
sources:
  transfers:
    type: dataset
    dataset_name: anvil.erc20_transfers
    version: 1.2.0
    start_block: 0
    end_block: {end}
    filter: address = '{token}'
transforms:
  moved:
    type: sql
    primary_key: id
    sql: |
      SELECT id, sender, recipient, amount, block_number, transaction_hash,
             log_index, u256_to_string(amount) AS amount_text
      FROM transfers
sinks:
  warehouse:
    type: postgres
    from: moved
    schema: chain
    table: {table}
    primary_key: id
    secret_name: TEST_PG
"""

SELECT_ROWS = (
    "SELECT id, sender, recipient, amount, block_number, transaction_hash, "
    "log_index, amount_text FROM chain.{table} ORDER BY block_number, log_index"
)


def _expected(workload: Workload) -> list[tuple[object, ...]]:
    """The rows the table must hold, from the receipts the workload read back."""
    return [
        (
            f"{t.transaction_hash}_{t.log_index}",
            t.sender,
            t.recipient,
            Decimal(t.amount),
            t.block_number,
            t.transaction_hash,
            t.log_index,
            str(t.amount),
        )
        for t in sorted(workload.transfers, key=lambda t: (t.block_number, t.log_index))
    ]


def _pipeline(tmp_path: Path, workload: Workload, name: str, table: str) -> Path:
    return write_pipeline(
        tmp_path / f"{name}.yaml",
        PIPELINE,
        name=name,
        end=workload.last_block,
        token=workload.token,
        table=table,
    )


def _start_until_first_checkpoint(
    cli: Cli, file: Path, pipeline: str
) -> subprocess.Popen[str]:
    """`chaintap run FILE` in a child, returned once its first batch is committed."""
    child = cli.start("run", str(file))
    deadline = time.monotonic() + 60
    while cli.cursor(pipeline, "transfers") is None:
        assert child.poll() is None, child.communicate()
        assert time.monotonic() < deadline, "no checkpoint within 60 s"
        time.sleep(0.02)
    return child


@pytest.fixture
def env_for(cli: Cli, pg_url: str, anvil_node: AnvilNode) -> Cli:
    cli.env["CHAINTAP_SECRET_TEST_PG"] = pg_url
    cli.env["CHAINTAP_RPC_ANVIL"] = anvil_node.url
    return cli


def test_job_backfills_exact_rows_and_rerun_does_nothing(
    env_for: Cli, pg_url: str, erc20_workload: Workload, tmp_path: Path
) -> None:
    file = _pipeline(tmp_path, erc20_workload, "erc20-job", "transfers")

    first = env_for.run("run", str(file))
    assert first.returncode == 0, first.stderr
    rows = query(pg_url, SELECT_ROWS.format(table="transfers"))
    assert rows == _expected(erc20_workload)
    assert "succeeded" in first.stderr
    assert f"{len(rows):,} rows" in first.stderr

    # The intended transfers (what was sent), not only what receipts reported.
    sent = sorted((t.sender, t.recipient, t.amount) for t in erc20_workload.intended)
    landed = sorted((str(r[1]), str(r[2]), int(str(r[3]))) for r in rows)
    assert landed == sent
    assert any(int(str(r[3])) > 2**64 for r in rows)

    again = env_for.run("run", str(file))
    assert again.returncode == 0, again.stderr
    assert "already finished" in again.stderr
    assert query(pg_url, SELECT_ROWS.format(table="transfers")) == rows

    cleared = env_for.run("run", str(file), "--clear-state")
    assert cleared.returncode == 0, cleared.stderr
    assert query(pg_url, SELECT_ROWS.format(table="transfers")) == rows


def test_sigkill_mid_run_then_rerun_equals_a_clean_run(
    env_for: Cli,
    pg_url: str,
    anvil_node: AnvilNode,
    erc20_workload: Workload,
    tmp_path: Path,
) -> None:
    clean = env_for.run("run", str(_pipeline(tmp_path, erc20_workload, "clean", "a")))
    assert clean.returncode == 0, clean.stderr

    crash_file = _pipeline(tmp_path, erc20_workload, "crashy", "b")
    with SlowProxy(anvil_node.url, delay_s=0.25) as proxy:
        env_for.env["CHAINTAP_RPC_ANVIL"] = proxy.url
        child = _start_until_first_checkpoint(env_for, crash_file, "crashy")
        child.send_signal(signal.SIGKILL)
        child.communicate()

    killed_at = env_for.cursor("crashy", "transfers")
    assert killed_at is not None and killed_at < erc20_workload.last_block

    env_for.env["CHAINTAP_RPC_ANVIL"] = anvil_node.url
    rerun = env_for.run("run", str(crash_file))
    assert rerun.returncode == 0, rerun.stderr
    assert f"resumes after block {killed_at}" in rerun.stderr
    crashed = query(pg_url, SELECT_ROWS.format(table="b"))
    assert crashed == query(pg_url, SELECT_ROWS.format(table="a"))
    assert crashed == _expected(erc20_workload)


def test_postgres_lost_mid_run_fails_clearly_and_keeps_checkpoint_honest(
    env_for: Cli,
    pg_url: str,
    postgres_server: PostgresServer,
    anvil_node: AnvilNode,
    erc20_workload: Workload,
    tmp_path: Path,
) -> None:
    file = _pipeline(tmp_path, erc20_workload, "pg-loss", "c")
    with SlowProxy(anvil_node.url, delay_s=0.25) as proxy:
        env_for.env["CHAINTAP_RPC_ANVIL"] = proxy.url
        child = _start_until_first_checkpoint(env_for, file, "pg-loss")
        postgres_server.stop(mode="immediate")
        try:
            _, stderr = child.communicate(timeout=120)
        finally:
            postgres_server.start()

    assert child.returncode == 1
    error_lines = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(error_lines) == 1, stderr
    assert "pipeline 'pg-loss'" in error_lines[0]
    assert "node 'warehouse'" in error_lines[0]
    assert "blocks " in error_lines[0]

    # Every block at or below the checkpoint has all of its rows in the table.
    cursor = env_for.cursor("pg-loss", "transfers")
    assert cursor is not None
    expected = _expected(erc20_workload)
    stored = query(pg_url, SELECT_ROWS.format(table="c"))
    assert [r for r in stored if int(str(r[4])) <= cursor] == [
        r for r in expected if int(str(r[4])) <= cursor
    ], (cursor, sorted({r[4] for r in stored}), stderr)

    env_for.env["CHAINTAP_RPC_ANVIL"] = anvil_node.url
    rerun = env_for.run("run", str(file))
    assert rerun.returncode == 0, rerun.stderr
    assert query(pg_url, SELECT_ROWS.format(table="c")) == expected

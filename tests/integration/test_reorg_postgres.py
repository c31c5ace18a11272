"""A deployment through a reorg, end to end: anvil → `chaintap run` → PostgreSQL.

The real command runs as a child process following the head of a private anvil
node (the test rewrites its chain). After anvil replaces the last blocks with
other transfers, the table must hold exactly the transfers of the node's chain,
read back by the test with `eth_getLogs`: the orphaned ones deleted, the new ones
inserted. SIGTERM then stops the deployment cleanly.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest

from integration.conftest import Cli, query, write_pipeline
from support.reorg_chain import Chain, fresh_chain

PIPELINE = """
name: follow-reorg
job: false
resource_size: xs
sources:
  transfers:
    type: dataset
    dataset_name: anvil.erc20_transfers
    start_block: 0
    poll_interval: 0.05
transforms:
  everything:
    type: sql
    primary_key: id
    sql: SELECT * FROM transfers
sinks:
  warehouse:
    type: postgres
    from: everything
    schema: chain
    table: transfers
    primary_key: id
    secret_name: TEST_PG
"""

SELECT = (
    "SELECT id, block_number, block_hash, sender, recipient, amount "
    "FROM chain.transfers"
)
# A deployment at the head of anvil writes a new block within a poll or two.
SETTLE_TIMEOUT_S = 15.0


@pytest.fixture
def chain() -> Iterator[Chain]:
    with fresh_chain() as chain:
        yield chain


def _table(pg_url: str) -> dict[str, tuple[object, ...]]:
    try:
        rows = query(pg_url, SELECT)
    except psycopg.errors.UndefinedTable:
        return {}
    return {str(r[0]): tuple(r[1:]) for r in rows}


def _canonical(chain: Chain) -> dict[str, tuple[object, ...]]:
    return {
        t.id: (t.block_number, t.block_hash, t.sender, t.recipient, Decimal(t.amount))
        for t in chain.transfers()
    }


def _until_table_is_canonical(
    pg_url: str, chain: Chain, child: subprocess.Popen[str]
) -> dict[str, tuple[object, ...]]:
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    while True:
        expected, held = _canonical(chain), _table(pg_url)
        if held == expected:
            return held
        assert child.poll() is None, child.communicate()
        assert time.monotonic() < deadline, (
            f"table never matched the chain: missing {set(expected) - set(held)}, "
            f"extra {set(held) - set(expected)}"
        )
        time.sleep(0.05)


def test_a_reorg_deletes_the_orphaned_rows_and_writes_the_new_ones(
    cli: Cli, pg_url: str, chain: Chain, tmp_path: Path
) -> None:
    cli.env["CHAINTAP_SECRET_TEST_PG"] = pg_url
    cli.env["CHAINTAP_RPC_ANVIL"] = chain.url
    child = cli.start("run", str(write_pipeline(tmp_path / "p.yaml", PIPELINE)))
    try:
        _until_table_is_canonical(pg_url, chain, child)
        head = chain.head()
        chain.send_transfers(11, 12, 13)
        before = _until_table_is_canonical(pg_url, chain, child)
        orphaned = {k for k, row in before.items() if int(str(row[0])) > head}
        assert len(orphaned) == 3

        chain.reorg(3, [(0, 8, 21), (2, 9, 22)])
        after = _until_table_is_canonical(pg_url, chain, child)
    finally:
        child.send_signal(signal.SIGTERM)
        stdout, stderr = child.communicate(timeout=30)

    assert child.returncode == 0, stderr
    assert not orphaned & set(after)
    assert len([k for k, row in after.items() if int(str(row[0])) > head]) == 2
    assert "pipeline follow-reorg: stopped" in stdout + stderr
    assert f"blocks {head + 1}..{head + 3} were replaced" in stderr
    assert "(0 upserted or inserted, 3 deleted)" in stderr
    columns = query(
        pg_url,
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = 'chain' AND table_name = 'transfers'",
    )
    assert ("_gs_op",) not in columns


def _until_cursor(cli: Cli, block: int, child: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    while cli.cursor("follow-reorg", "transfers") != block:
        assert child.poll() is None, child.communicate()
        assert time.monotonic() < deadline, f"no checkpoint at block {block}"
        time.sleep(0.05)


def _stop(child: subprocess.Popen[str]) -> str:
    child.send_signal(signal.SIGTERM)
    stdout, stderr = child.communicate(timeout=30)
    assert child.returncode == 0, stderr
    return stdout + stderr


def test_a_reorg_after_a_restart_deletes_rows_written_before_it(
    cli: Cli, pg_url: str, chain: Chain, tmp_path: Path
) -> None:
    """The deployment is stopped at the head and started again; then the chain
    replaces four blocks, three of them written by the first run. Only the
    reorg window kept under CHAINTAP_HOME lets the second run delete those."""
    cli.env["CHAINTAP_SECRET_TEST_PG"] = pg_url
    cli.env["CHAINTAP_RPC_ANVIL"] = chain.url
    pipeline = str(write_pipeline(tmp_path / "p.yaml", PIPELINE))
    head = chain.head()
    chain.send_transfers(11, 12, 13)
    first = cli.start("run", pipeline)
    try:
        before = _until_table_is_canonical(pg_url, chain, first)
        _until_cursor(cli, head + 3, first)
    finally:
        _stop(first)
    orphaned = {k for k, row in before.items() if int(str(row[0])) > head}
    assert len(orphaned) == 3

    second = cli.start("run", pipeline)
    try:
        chain.send_transfers(14)  # block head+4, written by the second run
        _until_table_is_canonical(pg_url, chain, second)
        chain.reorg(4, [(0, 8, 21), (3, 9, 22)])
        after = _until_table_is_canonical(pg_url, chain, second)
    finally:
        output = _stop(second)

    assert not orphaned & set(after)
    assert len([k for k, row in after.items() if int(str(row[0])) > head]) == 2
    assert f"blocks {head + 1}..{head + 4} were replaced" in output

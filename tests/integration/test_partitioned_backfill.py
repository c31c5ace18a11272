"""A job split over worker processes equals a sequential run, and resumes by part."""

from __future__ import annotations

import signal
import sqlite3
import time
from pathlib import Path

from chaintap.demo.anvil import AnvilNode
from chaintap.demo.workload import Workload
from chaintap.runtime.telemetry import read_status
from integration.conftest import Cli, query, write_pipeline
from support.slow_proxy import SlowProxy

PIPELINE = """
name: {name}
resource_size: xs
job: true
sources:
  transfers:
    type: dataset
    dataset_name: anvil.erc20_transfers
    start_block: 0
    end_block: {end}
transforms:
  moved:
    type: sql
    primary_key: id
    sql: SELECT id, sender, recipient, amount, block_number, log_index FROM transfers
sinks:
  warehouse:
    type: postgres
    from: moved
    table: {name_}
    primary_key: id
    secret_name: TEST_PG
  files:
    type: file
    from: moved
    path: {files}
    format: jsonl
"""


def _file(tmp_path: Path, name: str, workload: Workload) -> Path:
    return write_pipeline(
        tmp_path / f"{name}.yaml",
        PIPELINE,
        name=name,
        name_=name.replace("-", "_"),
        end=workload.last_block,
        files=tmp_path / name,
    )


def _table(pg_url: str, name: str) -> list[tuple[object, ...]]:
    return query(
        pg_url,
        f"SELECT id, sender, recipient, amount, block_number, log_index "
        f"FROM public.{name.replace('-', '_')} ORDER BY block_number, log_index",
    )


def _files(directory: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in directory.iterdir()}


def _completed(cli: Cli, pipeline: str) -> int:
    path = cli.home / "state.db"
    if not path.exists():
        return 0
    with sqlite3.connect(path) as db:
        try:
            (count,) = db.execute(
                "SELECT count(*) FROM checkpoints WHERE pipeline = ? "
                "AND partition != '' AND completed = 1",
                (pipeline,),
            ).fetchone()
        except sqlite3.OperationalError:
            return 0
    return int(count)


def test_two_workers_equal_a_sequential_run(
    cli: Cli,
    pg_url: str,
    anvil_node: AnvilNode,
    erc20_workload: Workload,
    tmp_path: Path,
) -> None:
    cli.env["CHAINTAP_SECRET_TEST_PG"] = pg_url
    cli.env["CHAINTAP_RPC_ANVIL"] = anvil_node.url

    sequential = cli.run("run", str(_file(tmp_path, "seq", erc20_workload)))
    assert sequential.returncode == 0, sequential.stderr
    telemetry = tmp_path / "telemetry"
    parallel = cli.run(
        "run",
        str(_file(tmp_path, "par", erc20_workload)),
        "--workers",
        "2",
        "--telemetry-dir",
        str(telemetry),
    )
    assert parallel.returncode == 0, parallel.stderr
    status = read_status(telemetry)
    assert status is not None
    assert status["rows"]["warehouse"] == erc20_workload.transfer_count
    assert status["blocks"] == erc20_workload.last_block + 1

    assert "4 partitions over 2 workers, 0 already done" in parallel.stderr
    assert _table(pg_url, "par") == _table(pg_url, "seq")
    assert len(_table(pg_url, "par")) == erc20_workload.transfer_count
    assert _files(tmp_path / "par") == _files(tmp_path / "seq")
    assert f"{erc20_workload.transfer_count:,} rows" in parallel.stderr

    again = cli.run(
        "run", str(_file(tmp_path, "par", erc20_workload)), "--workers", "2"
    )
    assert "already finished" in again.stderr


def test_a_killed_partitioned_run_redoes_only_unfinished_partitions(
    cli: Cli,
    pg_url: str,
    anvil_node: AnvilNode,
    erc20_workload: Workload,
    tmp_path: Path,
) -> None:
    cli.env["CHAINTAP_SECRET_TEST_PG"] = pg_url
    file = _file(tmp_path, "killed", erc20_workload)

    with SlowProxy(anvil_node.url, delay_s=0.4) as proxy:
        cli.env["CHAINTAP_RPC_ANVIL"] = proxy.url
        child = cli.start("run", str(file), "--workers", "2")
        deadline = time.monotonic() + 60
        while _completed(cli, "killed") < 1:
            assert child.poll() is None, child.communicate()
            assert time.monotonic() < deadline, "no partition completed in 60 s"
            time.sleep(0.02)
        child.send_signal(signal.SIGKILL)
        child.communicate()
    done = _completed(cli, "killed")
    assert 1 <= done < 4

    cli.env["CHAINTAP_RPC_ANVIL"] = anvil_node.url
    rerun = cli.run("run", str(file), "--workers", "2")
    assert rerun.returncode == 0, rerun.stderr
    assert f"4 partitions over 2 workers, {done} already done" in rerun.stderr
    rows = _table(pg_url, "killed")
    expected = sorted(
        (t.block_number, t.log_index, t.amount) for t in erc20_workload.transfers
    )
    assert sorted((r[4], r[5], int(str(r[3]))) for r in rows) == expected

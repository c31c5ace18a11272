"""Metrics, `chaintap get` counters and `chaintap inspect` against real pipelines.

Expected values are computed from the recorded chain data (every log of block
16899757 in its receipts; the Transfer ones by their first topic) and from what
landed in the pipelines' file sinks, never from the code under test.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx

from chaintap.control.inspect import InspectSessions, SampleFollower
from chaintap.control.metrics import render
from chaintap.runtime.telemetry import INSPECT_REQUEST, INSPECT_SAMPLES, STATUS_FILE
from control.helpers import ControlPlane
from support.evm_expected import TRANSFER
from support.evm_replay import EvmReplayServer, load_ethereum_blocks
from support.solana_replay import SolanaReplay

BLOCK = 16899757
SOL_SLOT = 100_000_000  # block.json.gz of the Solana samples
_SAMPLE = re.compile(r"^(?P<name>\w+)(?:\{(?P<labels>[^}]*)\})? (?P<value>\S+)$")
Metrics = dict[tuple[str, frozenset[tuple[str, str]]], float]


def _pipeline_yaml(name: str, rpc_url: str, *, job: bool) -> str:
    """Logs of BLOCK (a job: only BLOCK; a deployment: BLOCK on) into jsonl files,
    and the Transfer logs among them into a blackhole."""
    bounds = f"start_block: {BLOCK}" + (f"\n    end_block: {BLOCK}" if job else "")
    return f"""\
name: {name}
job: {"true" if job else "false"}
sources:
  logs:
    type: dataset
    dataset_name: ethereum.raw_logs
    version: 1.0.0
    {bounds}
    rpc_url: {rpc_url}
transforms:
  transfers:
    type: sql
    primary_key: id
    sql: SELECT id, address, topics FROM logs WHERE topics LIKE '{TRANSFER}%'
sinks:
  files:
    type: file
    from: logs
    path: out-{name}
    format: jsonl
  hole:
    type: blackhole
    from: transfers
"""


def _recorded_logs() -> list[dict[str, object]]:
    receipts = load_ethereum_blocks()[BLOCK]["receipts"]
    return [log for receipt in receipts for log in receipt["logs"]]


def _transfer_ids() -> set[str]:
    return {
        f"{log['transactionHash']}_{int(str(log['logIndex']), 16)}"
        for log in _recorded_logs()
        if log["topics"] and log["topics"][0] == TRANSFER  # type: ignore[index]
    }


def _sink_rows(control: ControlPlane, name: str) -> list[dict[str, object]]:
    files = sorted((control.workdir / f"out-{name}").glob("*.jsonl"))
    return [json.loads(line) for f in files for line in f.read_text().splitlines()]


def _scrape(control: ControlPlane) -> tuple[str, Metrics]:
    answer = httpx.get(f"http://127.0.0.1:{control.port}/metrics", timeout=10)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
    metrics: Metrics = {}
    for line in answer.text.splitlines():
        if line.startswith("#"):
            continue
        match = _SAMPLE.match(line)
        assert match, f"not an exposition line: {line!r}"
        pairs = re.findall(r'(\w+)="([^"]*)"', match["labels"] or "")
        metrics[(match["name"], frozenset(pairs))] = float(match["value"])
    return answer.text, metrics


def _value(metrics: Metrics, name: str, **labels: str) -> float:
    return metrics[(name, frozenset(labels.items()))]


def _wait_until(what: str, check: object, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_metrics_after_a_job_match_what_it_wrote(
    control: ControlPlane, evm_replay: EvmReplayServer
) -> None:
    spec = _pipeline_yaml("logs", evm_replay.url, job=True)
    assert control.apply("logs", spec).code == 0
    view = control.wait_for(
        "logs", lambda p: p["display_status"] == "completed", what="completed"
    )
    logs, transfers = len(_recorded_logs()), len(_transfer_ids())
    assert 0 < transfers < logs
    assert len(_sink_rows(control, "logs")) == logs

    text, metrics = _scrape(control)
    pipeline = {"pipeline": "logs"}
    for node, rows in (("logs", logs), ("transfers", transfers), ("files", logs)):
        assert _value(metrics, "chaintap_rows_total", **pipeline, node=node) == rows
    assert _value(metrics, "chaintap_rows_total", **pipeline, node="hole") == transfers
    cursor = _value(metrics, "chaintap_source_cursor", **pipeline, source="logs")
    assert cursor == BLOCK
    assert _value(metrics, "chaintap_blocks_total", **pipeline) == 1
    assert _value(metrics, "chaintap_batches_total", **pipeline) == 1
    for sink in ("files", "hole"):  # every sink is flushed once per batch
        labels = {**pipeline, "sink": sink}
        assert _value(metrics, "chaintap_sink_flushes_total", **labels) == 1
        last = _value(metrics, "chaintap_sink_flush_seconds_last", **labels)
        spent = _value(metrics, "chaintap_sink_flush_seconds_total", **labels)
        assert 0 <= last == spent < 30
    assert _value(metrics, "chaintap_pipeline_up", **pipeline) == 0
    assert _value(metrics, "chaintap_restarts_total", **pipeline) == 0
    assert _value(metrics, "chaintap_errors_total", **pipeline) == 0
    age = _value(metrics, "chaintap_checkpoint_age_seconds", **pipeline, source="logs")
    assert 0 <= age < time.time() - view["created_at"] + 1
    assert "# TYPE chaintap_rows_total counter" in text
    assert "# TYPE chaintap_source_cursor gauge" in text

    # `get` says the same, per node and for this run.
    nodes = {n["name"]: (n["rows"], n["rows_total"]) for n in view["nodes"]}
    assert nodes == {
        "logs": (logs, logs),
        "transfers": (transfers, transfers),
        "files": (logs, logs),
        "hole": (transfers, transfers),
    }
    shown = control.cli("get", "logs").stdout
    assert re.search(rf"transfers\s+transform\s+{transfers}\s+{transfers}", shown)

    # Nobody inspected: the run kept its status and wrote no samples.
    telemetry = control.home / "pipelines" / "logs" / "telemetry"
    assert (telemetry / STATUS_FILE).exists()
    assert not (telemetry / INSPECT_SAMPLES).exists()
    ended = control.cli("inspect", "logs", "--print")
    assert ended.code == 4 and "is not running" in ended.stderr


def test_metrics_show_the_head_and_lag_of_a_solana_job(
    control: ControlPlane, solana_replay: SolanaReplay
) -> None:
    solana_replay.head = SOL_SLOT + 1000
    spec = f"""\
name: sol
job: true
sources:
  slots:
    type: dataset
    dataset_name: solana.blocks
    version: 1.0.0
    start_block: {SOL_SLOT}
    end_block: {SOL_SLOT}
    rpc_url: {solana_replay.url}
sinks:
  out:
    type: blackhole
    from: slots
"""
    assert control.apply("sol", spec).code == 0
    view = control.wait_for("sol", lambda p: p["display_status"] == "completed")
    source = view["sources"][0]
    assert (source["cursor"], source["head"], source["lag_blocks"]) == (
        SOL_SLOT,
        SOL_SLOT + 1000,
        1000,
    )

    _, metrics = _scrape(control)
    labels = {"pipeline": "sol", "source": "slots"}
    assert _value(metrics, "chaintap_source_head", **labels) == SOL_SLOT + 1000
    assert _value(metrics, "chaintap_source_lag_blocks", **labels) == 1000
    assert _value(metrics, "chaintap_rows_total", pipeline="sol", node="slots") == 1


def test_inspect_prints_rows_that_reach_the_sink(
    control: ControlPlane, evm_replay: EvmReplayServer
) -> None:
    evm_replay.head = BLOCK - 1  # the deployment waits until the test moves it
    spec = _pipeline_yaml("svc", evm_replay.url, job=False)
    assert control.apply("svc", spec).code == 0
    control.wait_for("svc", lambda p: p["status"] == "running", what="running")

    unknown = control.cli("inspect", "svc", "-n", "logs,nope", "--print")
    assert unknown.code == 2
    assert "no source or transform named 'nope'" in unknown.stderr
    assert "its nodes are logs, transfers" in unknown.stderr
    a_sink = control.cli("inspect", "svc", "-n", "hole", "--print")
    assert "sink 'hole' is given what 'transfers' produces" in a_sink.stderr

    inspector = subprocess.Popen(
        [
            *(sys.executable, "-m", "chaintap", "inspect", "svc"),
            *("-n", "logs", "-n", "transfers", "--print", "--limit", "10"),
        ],
        env={**os.environ, **control.env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    telemetry = control.home / "pipelines" / "svc" / "telemetry"
    try:
        _wait_until("the inspect request", (telemetry / INSPECT_REQUEST).exists)
        requested = json.loads((telemetry / INSPECT_REQUEST).read_text())
        assert requested == {"nodes": ["logs", "transfers"]}
        evm_replay.head = BLOCK
        stdout, stderr = inspector.communicate(timeout=30)
    finally:
        if inspector.poll() is None:
            inspector.kill()
            inspector.wait()
    assert inspector.returncode == 0, stderr

    samples = [json.loads(line) for line in stdout.splitlines()]
    assert len(samples) == 10
    landed = _sink_rows(control, "svc")
    assert len(landed) == len(_recorded_logs())
    logs = [s["row"] for s in samples if s["node"] == "logs"]
    transfers = [s["row"] for s in samples if s["node"] == "transfers"]
    assert logs and transfers
    assert all(row in landed for row in logs)  # whole rows, as the sink wrote them
    assert {row["id"] for row in transfers} <= _transfer_ids()

    # The inspector left: the server withdraws the request and the samples.
    _wait_until("the request to go", lambda: not (telemetry / INSPECT_REQUEST).exists())
    assert not (telemetry / INSPECT_SAMPLES).exists()


def test_metrics_text_format() -> None:
    """The exposition rendered from a hand-written view: names, labels, omissions."""
    view = {
        "name": "p-1",
        "status": "running",
        "restarts": 2,
        "totals": {"errors": 1, "batches": 7, "blocks": 70},
        "nodes": [{"name": 'we"ird\\', "rows_total": 5}],
        "sinks": [
            {
                "name": "out",
                "flushes_total": 7,
                "flush_seconds_total": 0.5,
                "last_flush_seconds": None,
            }
        ],
        "sources": [{"name": "src", "cursor": 99, "head": None, "lag_blocks": None}],
        "run": {"updated_at": 1000.0},
        "memory": {"rss_bytes": None, "limit_bytes": 512 * 1024 * 1024},
    }
    text = render([view], now=1012.5)
    lines = text.splitlines()
    assert 'chaintap_rows_total{pipeline="p-1",node="we\\"ird\\\\"} 5' in lines
    assert 'chaintap_pipeline_up{pipeline="p-1"} 1' in lines
    assert 'chaintap_sink_flush_seconds_total{pipeline="p-1",sink="out"} 0.5' in lines
    assert 'chaintap_checkpoint_age_seconds{pipeline="p-1",source="src"} 12.5' in lines
    assert "chaintap_source_head" not in text  # unknown: left out, not zero
    assert "chaintap_sink_flush_seconds_last" not in text
    assert "chaintap_memory_bytes" not in text  # no process: no resident size
    assert 'chaintap_memory_limit_bytes{pipeline="p-1"} 536870912' in lines
    type_at = lines.index("# TYPE chaintap_restarts_total counter")
    assert lines[type_at - 1].startswith("# HELP chaintap_restarts_total ")
    assert lines[type_at + 1] == 'chaintap_restarts_total{pipeline="p-1"} 2'
    assert render([]) == ""


def test_sessions_and_follower_without_a_server(tmp_path: Path) -> None:
    sessions = InspectSessions()
    first = sessions.join(tmp_path, frozenset({"a"}))
    second = sessions.join(tmp_path, frozenset({"b", "a"}))
    request = tmp_path / INSPECT_REQUEST
    assert json.loads(request.read_text()) == {"nodes": ["a", "b"]}
    sessions.leave(tmp_path, second)
    assert json.loads(request.read_text()) == {"nodes": ["a"]}

    samples = tmp_path / INSPECT_SAMPLES
    samples.write_text('{"node": "a", "row": {"n": 0}}\n')
    follower = SampleFollower(tmp_path)  # starts at the end: old samples skipped
    with samples.open("a") as handle:
        handle.write('{"node": "a", "row": {"n": 1}}\n{"node": "a", "ro')
    assert follower.poll() == [{"node": "a", "row": {"n": 1}}]
    with samples.open("a") as handle:
        handle.write('w": {"n": 2}}\n')
    assert follower.poll() == [{"node": "a", "row": {"n": 2}}]
    samples.unlink()  # the runner starts the file over
    samples.write_text('{"node": "a", "row": {"n": 3}}\n')
    assert follower.poll() == [{"node": "a", "row": {"n": 3}}]

    sessions.leave(tmp_path, first)
    assert not request.exists() and not samples.exists()

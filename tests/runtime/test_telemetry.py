"""The status file and inspect samples a run keeps for the control plane."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

from chaintap.runtime.graph import PipelineGraph
from chaintap.runtime.runner import run_pipeline
from chaintap.runtime.telemetry import (
    INSPECT_REQUEST,
    INSPECT_SAMPLES,
    Telemetry,
    read_status,
)
from chaintap.spec.loader import load_pipeline_text
from chaintap.testing import MemorySink, MemorySource
from runtime.test_runner import _batches, _spec
from support.evm_replay import EvmReplayServer


def _run(tmp_path: Path, telemetry: Telemetry) -> None:
    spec = _spec(["src"], {"out": "src"})
    graph = PipelineGraph.of(
        spec,
        {"src": MemorySource(spec.sources["src"], _batches(100, 3))},
        {},
        {"out": MemorySink(spec.sinks["out"])},
    )
    run_pipeline(spec, home=tmp_path, graph=graph, telemetry=telemetry)


def test_status_counts_rows_cursor_and_flushes(tmp_path: Path) -> None:
    directory = tmp_path / "telemetry"
    _run(tmp_path, Telemetry(directory, "memory-test"))

    status = read_status(directory)
    assert status is not None
    rows = len([n for n in range(100, 130) if n % 3 != 1])
    assert status["rows"] == {"src": rows}
    assert status["cursors"] == {"src": 129}
    assert status["batches"] == 3 and status["blocks"] == 30
    assert status["sinks"]["out"]["flushes"] == 3
    assert status["errors"] == 0
    assert not (directory / INSPECT_SAMPLES).exists()


def test_samples_are_written_only_while_someone_watches(tmp_path: Path) -> None:
    directory = tmp_path / "telemetry"
    directory.mkdir()
    (directory / INSPECT_REQUEST).write_text(json.dumps({"nodes": ["src"]}))

    _run(tmp_path, Telemetry(directory, "memory-test"))

    lines = (directory / INSPECT_SAMPLES).read_text().splitlines()
    samples = [json.loads(line) for line in lines]
    assert samples[:2] == [
        {"node": "src", "row": {"number": 101}},
        {"node": "src", "row": {"number": 102}},
    ]
    assert {s["node"] for s in samples} == {"src"}


def test_a_deployment_waiting_at_the_head_keeps_its_status_fresh(
    evm_replay: EvmReplayServer, tmp_path: Path
) -> None:
    spec = load_pipeline_text(
        "name: live\n"
        "sources:\n"
        "  blocks:\n"
        "    type: dataset\n"
        "    dataset_name: ethereum.blocks\n"
        f"    rpc_url: {evm_replay.url}\n"
        f"    start_block: {evm_replay.head}\n"
        "    poll_interval: 30\n"
        "sinks:\n"
        "  nowhere: {type: blackhole, from: blocks}\n"
    )
    directory = tmp_path / "telemetry"
    stop = threading.Event()
    runner = threading.Thread(
        target=run_pipeline,
        args=(spec,),
        kwargs={
            "home": tmp_path,
            "stop": stop,
            "telemetry": Telemetry(directory, "live"),
        },
    )
    runner.start()
    try:
        time.sleep(2.5)  # one batch, then idle at the head for over a second
        status = read_status(directory)
        assert status is not None
        assert status["cursors"] == {"blocks": evm_replay.head}
        assert status["heads"] == {"blocks": evm_replay.head}
        assert time.time() - status["updated_at"] < 1.5
    finally:
        stop.set()
        runner.join(timeout=10)

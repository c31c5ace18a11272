"""A deployment waiting at the chain head stops promptly when asked to."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from chaintap.runtime.runner import STOPPED, RunSummary, run_pipeline
from chaintap.spec.loader import load_pipeline_text
from support.evm_replay import EvmReplayServer

PIPELINE = """
name: follow-head
sources:
  blocks:
    type: dataset
    dataset_name: ethereum.blocks
    rpc_url: {url}
    start_block: {head}
    poll_interval: {poll}
sinks:
  nowhere:
    type: blackhole
    from: blocks
"""


def test_stop_ends_a_wait_at_the_head_well_before_the_poll_interval(
    evm_replay: EvmReplayServer, tmp_path: Path
) -> None:
    spec = load_pipeline_text(
        PIPELINE.format(url=evm_replay.url, head=evm_replay.head, poll=30)
    )
    stop = threading.Event()
    results: list[RunSummary] = []
    runner = threading.Thread(
        target=lambda: results.append(run_pipeline(spec, home=tmp_path, stop=stop))
    )
    runner.start()
    time.sleep(1.0)  # the head block is read; the source now waits 30 s to poll

    asked = time.monotonic()
    stop.set()
    runner.join(timeout=10)

    assert not runner.is_alive()
    assert time.monotonic() - asked < 3
    assert results[0].outcome == STOPPED
    assert results[0].blocks == 1


def test_stop_ends_the_retries_of_a_node_that_went_away(tmp_path: Path) -> None:
    replay = EvmReplayServer()
    replay.start()
    spec = load_pipeline_text(
        PIPELINE.format(url=replay.url, head=replay.head, poll=0.2)
    )
    stop = threading.Event()
    results: list[RunSummary] = []
    runner = threading.Thread(
        target=lambda: results.append(run_pipeline(spec, home=tmp_path, stop=stop))
    )
    runner.start()
    time.sleep(1.0)
    replay.stop()  # the node is gone: the next poll fails and is retried
    time.sleep(0.5)

    asked = time.monotonic()
    stop.set()
    runner.join(timeout=10)

    assert not runner.is_alive()
    assert time.monotonic() - asked < 3
    assert results[0].outcome == STOPPED

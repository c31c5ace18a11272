"""Memory limits: real pipelines on the EVM replay node under a real server.

Resident sizes are checked against `ps` (procps), a measurement independent of
the code under test; the limits per resource_size are the documented table.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import httpx
import pytest

from chaintap.control.memory import memory_limit, tree_rss_bytes
from chaintap.tuning import CONTROL_MEMORY_CHECK_S
from control.helpers import ControlPlane, deployment_yaml, job_yaml
from support.evm_replay import EvmReplayServer

MIB = 1024 * 1024
# The documented limit of each resource_size, in MiB.
DOCUMENTED_MIB = {
    "xs": 512,
    "s": 1024,
    "m": 2048,
    "l": 4096,
    "xl": 8192,
    "xxl": 16384,
}
# The server's override in the test below: far under any Python process running
# pyarrow and DataFusion (a run measures ~150 MiB and more).
TINY_LIMIT_MIB = 20
_USED = re.compile(
    rf"^pipeline (?P<name>\S+) used (?P<mib>\d+) MiB, over the {TINY_LIMIT_MIB} MiB "
)


def _ps_rss_bytes(*pids: int) -> int:
    """Resident size of `pids` as `ps` reports it (KiB), in bytes."""
    listed = ",".join(str(pid) for pid in pids)
    out = subprocess.run(
        ["ps", "-o", "rss=", "-p", listed], capture_output=True, text=True, check=True
    ).stdout
    return sum(int(field) for field in out.split()) * 1024


def _waiting_job(name: str, url: str, have: int) -> str:
    """A job over have..have+1 on a node whose head is `have`: it reads `have`,
    then waits for the next block, so it stays up until something stops it."""
    return job_yaml(name, url, have, have + 1).replace(
        f"    rpc_url: {url}\n", f"    rpc_url: {url}\n    wait_for_head: true\n"
    )


@pytest.mark.parametrize("size", sorted(DOCUMENTED_MIB))
def test_limit_per_resource_size_and_override(size: str) -> None:
    spec = job_yaml("j", "http://127.0.0.1:1", 1, 1) + f"resource_size: {size}\n"
    limit = memory_limit(spec, None)
    assert (limit.resource_size, limit.limit_bytes) == (
        size,
        DOCUMENTED_MIB[size] * MIB,
    )
    assert not limit.overridden
    override = memory_limit(spec, 64)
    assert override.limit_bytes == 64 * MIB and override.overridden


def test_tree_rss_counts_descendants() -> None:
    """A child that starts a grandchild holding 128 MiB: the tree's size includes
    the grandchild's, as `ps` measures both."""
    grandchild = (
        "import sys, time; b = bytearray(128 * 1024 * 1024); "
        "b[::4096] = b'x' * len(b[::4096]); print('ready', flush=True); time.sleep(60)"
    )
    child = (
        "import subprocess, sys; "
        f"p = subprocess.Popen([sys.executable, '-c', {grandchild!r}], "
        "stdout=subprocess.PIPE, text=True); "
        "print(p.pid, p.stdout.readline().strip(), flush=True); p.wait()"
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", child], stdout=subprocess.PIPE, text=True
    )
    grandchild_pid = ""
    try:
        assert parent.stdout is not None
        grandchild_pid, ready = parent.stdout.readline().split()
        assert ready == "ready"
        measured = tree_rss_bytes(parent.pid)
        by_ps = _ps_rss_bytes(parent.pid, int(grandchild_pid))
        assert measured is not None and measured >= 128 * MIB
        # Both processes are idle: the two measurements agree within 10%.
        assert abs(measured - by_ps) <= by_ps // 10, (measured, by_ps)
        own = tree_rss_bytes(int(grandchild_pid))
        assert own is not None and own < measured
    finally:
        if grandchild_pid:
            os.kill(int(grandchild_pid), signal.SIGKILL)
        parent.kill()
        parent.wait()
    assert tree_rss_bytes(parent.pid) is None  # gone: no size


def test_pipelines_over_the_limit_are_stopped(
    control: ControlPlane, evm_replay: EvmReplayServer
) -> None:
    """With the server's limit far under a real run's size, the job is stopped and
    fails (not restarted); the deployment is stopped and restarted, counted."""
    control.stop()
    control.start("--memory-limit-mib", str(TINY_LIMIT_MIB))
    have = max(evm_replay.blocks)
    assert control.apply("big", _waiting_job("big", evm_replay.url, have)).code == 0
    svc = deployment_yaml("svc", evm_replay.url, have)
    assert control.apply("svc", svc).code == 0

    failed = control.wait_for(
        "big", lambda p: p["status"] == "failed", timeout=20, what="failed"
    )
    used = _USED.match(failed["last_error"] or "")
    assert used is not None, failed["last_error"]
    assert used["name"] == "big" and int(used["mib"]) > TINY_LIMIT_MIB
    assert "raise that limit or use smaller batches" in failed["last_error"]
    assert failed["restarts"] == 0 and failed["pid"] is None
    assert [r["status"] for r in failed["runs"]] == ["failed"]
    assert failed["runs"][0]["error"] == failed["last_error"]
    assert failed["memory"]["limit_bytes"] == TINY_LIMIT_MIB * MIB
    assert failed["memory"]["limit_from"] == "server"
    logs = control.cli("logs", "big").stdout
    assert "chaintap: stopped for its memory" in logs

    restarted = control.wait_for(
        "svc", lambda p: p["restarts"] >= 1, timeout=20, what="restarted"
    )
    used = _USED.match(restarted["last_error"] or "")
    assert used is not None and used["name"] == "svc", restarted["last_error"]
    # Longer than the deployment's first backoff: the job still ran only once.
    assert control.cli("logs", "big").stdout.count("chaintap: started pid") == 1


def test_pipeline_under_its_limit_is_left_alone(
    control: ControlPlane, evm_replay: EvmReplayServer
) -> None:
    """Under the default limit (resource_size s) a deployment keeps its process;
    `get` and /metrics show its size, which `ps` confirms, and the limit."""
    head = max(evm_replay.blocks)
    assert control.apply("svc", deployment_yaml("svc", evm_replay.url, head)).code == 0
    first = control.wait_for("svc", lambda p: p["status"] == "running" and p["pid"])
    started = time.monotonic()
    assert first["restarts"] == 0, control.cli("logs", "svc").stdout

    memory = first["memory"]
    assert memory["limit_bytes"] == DOCUMENTED_MIB["s"] * MIB
    assert memory["resource_size"] == "s" and memory["limit_from"] == "resource_size"
    by_ps = _ps_rss_bytes(first["pid"])
    assert memory["rss_bytes"] is not None and by_ps > 0
    # Measured moments apart while the run may still allocate: within 25%.
    assert abs(memory["rss_bytes"] - by_ps) <= by_ps // 4, (memory, by_ps)
    shown = control.cli("get", "svc").stdout
    assert re.search(r"memory: +\d+ MiB of 1024 MiB \(resource_size s\)", shown)

    url = f"http://127.0.0.1:{control.port}/metrics"
    text = httpx.get(url, timeout=10).text
    assert f'chaintap_memory_limit_bytes{{pipeline="svc"}} {1024 * MIB}' in text
    size = re.search(r'^chaintap_memory_bytes\{pipeline="svc"\} (\d+)$', text, re.M)
    assert size is not None and int(size[1]) > 0

    # Two memory checks later the same process still runs.
    time.sleep(max(0.0, 2 * CONTROL_MEMORY_CHECK_S + 0.5 - time.monotonic() + started))
    after = control.pipeline("svc")
    logs = control.cli("logs", "svc").stdout
    assert after["pid"] == first["pid"] and after["restarts"] == 0, logs
    assert after["status"] == "running" and after["last_error"] is None
    assert "stopped for its memory" not in logs

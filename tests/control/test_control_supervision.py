"""The control server supervising real pipelines that read the EVM replay node.

Expected cursors come from the recorded chain data (the replay node's blocks), row
counts from the dataset's definition (`blocks`: one row per block header).
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from control.helpers import JOB_TTL_S, ControlPlane, deployment_yaml, job_yaml
from support.evm_replay import EvmReplayServer

MASK = "**********"


def _cursor(view: dict[str, object], source: str = "blocks") -> int | None:
    for entry in view["sources"]:  # type: ignore[attr-defined]
        if entry["name"] == source:
            return entry["cursor"]  # type: ignore[no-any-return]
    raise AssertionError(f"no source {source} in {view}")


def _rows_in(view: dict[str, object], run: bool = False) -> int:
    """Rows source `blocks` read: over every run, or in the current one."""
    for node in view["nodes"]:  # type: ignore[attr-defined]
        if node["name"] == "blocks":
            return int(node["rows" if run else "rows_total"])
    raise AssertionError(f"no node blocks in {view}")


def _wait_log(control: ControlPlane, name: str, text: str, count: int = 1) -> str:
    deadline = time.monotonic() + 15
    logs = ""
    while time.monotonic() < deadline:
        logs = control.cli("logs", name).stdout
        if logs.count(text) >= count:
            return logs
        time.sleep(0.1)
    raise AssertionError(f"{text!r} x{count} not in the log of {name}:\n{logs}")


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_killed_deployment_is_restarted_and_continues(
    control: ControlPlane, evm_replay: EvmReplayServer
) -> None:
    head = max(evm_replay.blocks)
    assert control.apply("svc", deployment_yaml("svc", evm_replay.url, head)).code == 0
    # The counters trail the checkpoint by up to a second (the status file's
    # interval): wait for the row too, so the killed run's file holds it.
    first = control.wait_for(
        "svc",
        lambda p: _cursor(p) == head and p["status"] == "running" and _rows_in(p),
        what=f"running with cursor {head} and its row counted",
    )
    assert first["restarts"] == 0 and _rows_in(first) == _rows_in(first, run=True) == 1

    os.kill(first["pid"], signal.SIGKILL)
    second = control.wait_for(
        "svc",
        lambda p: (
            p["restarts"] == 1
            and p["status"] == "running"
            and p["pid"] not in (None, first["pid"])
        ),
        what="restarted once",
    )
    assert second["last_error"] == "killed by signal SIGKILL"
    assert _cursor(second) == head
    logs = _wait_log(control, "svc", f"resumes after block {head}")
    # Continued after its checkpoint: the block was not read a second time; the
    # killed run's row is kept in the total, the new run's counts start at zero.
    view = control.pipeline("svc")
    assert _rows_in(view) == 1 and _rows_in(view, run=True) == 0
    assert "chaintap: restarting in 1s" in logs

    # The node URL is a secret of this server's environment: masked everywhere.
    shown = logs + control.cli("get", "svc").stdout + control.cli("list").stdout
    assert evm_replay.url not in shown
    assert MASK in logs and MASK in control.cli("get", "svc").stdout


def test_failing_job_is_not_restarted_and_expires_with_its_state(
    control: ControlPlane, evm_replay: EvmReplayServer
) -> None:
    have = max(evm_replay.blocks)
    missing = have + 1
    # The node claims a head past a block it does not have: the source's rechecks
    # give up and the job fails, after source `early` committed its block.
    evm_replay.head = have + 5
    spec = job_yaml("flaky", evm_replay.url, have, have).replace(
        "sinks:",
        f"""  late:
    type: dataset
    dataset_name: ethereum.blocks
    version: 1.0.0
    start_block: {missing}
    end_block: {missing}
    rpc_url: {evm_replay.url}
sinks:
  late_out:
    type: blackhole
    from: late""",
    )
    assert control.apply("flaky", spec).code == 0

    failed = control.wait_for(
        "flaky", lambda p: p["status"] == "failed", timeout=30, what="failed"
    )
    assert failed["restarts"] == 0 and failed["pid"] is None
    assert "node 'late'" in failed["last_error"]
    assert [r["status"] for r in failed["runs"]] == ["failed"]
    assert [(c.source, c.cursor) for c in control.checkpoints("flaky")] == [
        ("blocks", have)
    ]
    pipeline_dir = control.home / "pipelines" / "flaky"
    assert (pipeline_dir / "logs" / "pipeline.log").exists()
    assert failed["expires_at"] - failed["ended_at"] == JOB_TTL_S
    # Longer than a deployment's first restart backoff (1 s): still one child.
    time.sleep(1.5)
    assert control.cli("logs", "flaky").stdout.count("chaintap: started pid") == 1

    deadline = time.monotonic() + JOB_TTL_S + 10
    while "flaky" in control.names():
        assert time.monotonic() < deadline, "the failed job outlived its TTL"
        time.sleep(0.2)
    assert control.checkpoints("flaky") == []
    assert not pipeline_dir.exists()
    gone = control.cli("get", "flaky")
    assert gone.code == 3 and "no pipeline named 'flaky'" in gone.stderr
    # The rows `blocks` wrote outlive the job.
    assert list((control.workdir / "out-flaky").glob("*.jsonl"))


def test_jobs_conflict_on_reapply_kind_switch_and_deployment_verbs(
    control: ControlPlane, evm_replay: EvmReplayServer
) -> None:
    head = max(evm_replay.blocks)
    job = job_yaml("once", evm_replay.url, head, head)
    assert control.apply("once", job).code == 0
    done = control.wait_for(
        "once", lambda p: p["display_status"] == "completed", what="completed"
    )
    assert done["status"] == "succeeded" and _cursor(done) == head

    again = control.apply("once", job)
    assert again.code == 4 and "delete it first" in again.stderr
    as_deployment = control.apply("once", deployment_yaml("once", evm_replay.url, head))
    assert as_deployment.code == 4
    assert "cannot switch to a deployment" in as_deployment.stderr
    for verb in (["pause"], ["resume"], ["restart"], ["restart", "--clear-state"]):
        refused = control.cli(*verb, "once")
        assert refused.code == 4, (verb, refused.stderr)
        assert f"{verb[0]} works on deployments only" in refused.stderr
        assert refused.stderr.count("\n") <= 2  # one clear line (+ a warning)

    svc = deployment_yaml("svc", evm_replay.url, head)
    assert control.apply("svc", svc).code == 0
    as_job = control.apply("svc", job_yaml("svc", evm_replay.url, head, head))
    assert as_job.code == 4 and "cannot switch to a job" in as_job.stderr

    output_dir = control.workdir / "out-once"
    written = sorted(p.name for p in output_dir.glob("*.jsonl"))
    assert control.cli("delete", "once").code == 0
    assert "once" not in control.names()
    assert sorted(p.name for p in output_dir.glob("*.jsonl")) == written != []


def test_updated_deployment_keeps_its_checkpoint(
    control: ControlPlane, evm_replay: EvmReplayServer
) -> None:
    head = max(evm_replay.blocks)
    v1 = deployment_yaml("svc", evm_replay.url, head)
    assert control.apply("svc", v1).code == 0
    first = control.wait_for(
        "svc", lambda p: _cursor(p) == head and p["status"] == "running"
    )

    v2 = v1 + "description: second version\n"
    updated = control.apply("svc", v2)
    assert updated.code == 0 and "deployment svc updated" in updated.stdout
    second = control.wait_for(
        "svc",
        lambda p: p["pid"] not in (None, first["pid"]) and p["status"] == "running",
        what="running the new spec",
    )
    assert "second version" in control.cli("get", "svc").stdout
    assert _cursor(second) == head and second["restarts"] == 0
    _wait_log(control, "svc", f"resumes after block {head}")
    assert _rows_in(control.pipeline("svc")) == 1

    same = control.apply("svc", v2)
    assert same.code == 0 and "unchanged" in same.stdout
    assert control.pipeline("svc")["pid"] == second["pid"]


def test_pause_resume_and_restart_with_cleared_state(
    control: ControlPlane, evm_replay: EvmReplayServer
) -> None:
    head = max(evm_replay.blocks)
    assert control.apply("svc", deployment_yaml("svc", evm_replay.url, head)).code == 0
    control.wait_for("svc", lambda p: _cursor(p) == head and p["status"] == "running")

    assert control.cli("pause", "svc").code == 0
    paused = control.pipeline("svc")
    assert paused["status"] == "paused" and paused["pid"] is None
    assert control.cli("pause", "svc").code == 0  # pausing twice is harmless
    assert control.cli("resume", "svc").code == 0
    control.wait_for("svc", lambda p: p["status"] == "running" and p["pid"])
    not_paused = control.cli("resume", "svc")
    assert not_paused.code == 4 and "is not paused" in not_paused.stderr

    cleared = control.cli("restart", "svc", "--clear-state")
    assert cleared.code == 0 and "warning: clearing the checkpoints" in cleared.stderr
    # From the beginning: the one block is read again, counted from zero.
    # The run's status file exists from the moment its nodes opened; its counts
    # trail the checkpoint by up to a second.
    again = control.wait_for(
        "svc",
        lambda p: (
            _cursor(p) == head
            and p["status"] == "running"
            and p["run"]
            and p["run"]["blocks"]
        ),
        what="the block read again",
    )
    assert _rows_in(again) == _rows_in(again, run=True) == 1
    assert again["totals"]["blocks"] == again["run"]["blocks"] == 1
    logs = control.cli("logs", "svc").stdout
    assert logs.count(f"resumes after block {head}") == 1  # only the resume


@pytest.mark.parametrize("tail", ["1", "0"])
def test_logs_follow_streams_new_lines(
    control: ControlPlane, evm_replay: EvmReplayServer, tail: str
) -> None:
    # --tail 0 replays nothing: the stream must still stay open for new lines.
    head = max(evm_replay.blocks)
    assert control.apply("svc", deployment_yaml("svc", evm_replay.url, head)).code == 0
    first = control.wait_for("svc", lambda p: p["status"] == "running")

    follower = subprocess.Popen(
        [sys.executable, "-m", "chaintap", "logs", "svc", "--follow", "--tail", tail],
        env={**os.environ, **control.env},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    assert follower.stdout is not None
    stdout = follower.stdout

    def read() -> None:
        for line in stdout:
            lines.put(line)

    threading.Thread(target=read, daemon=True).start()
    try:
        if tail == "1":
            assert lines.get(timeout=15).strip()  # the --tail line, before new ones
        else:
            time.sleep(3)  # nothing to replay: give the client time to connect
        assert control.cli("restart", "svc").code == 0
        new_pid = control.wait_for(
            "svc", lambda p: p["pid"] not in (None, first["pid"])
        )["pid"]
        wanted = f"chaintap: started pid {new_pid}"
        seen: list[str] = []
        deadline = time.monotonic() + 15
        while wanted not in "".join(seen):
            seen.append(lines.get(timeout=max(0.1, deadline - time.monotonic())))
        assert any("chaintap: stopped" in line for line in seen)
        assert follower.poll() is None  # a restart does not end the stream
    finally:
        follower.terminate()
        follower.wait(10)


def test_killed_server_brings_its_deployments_back(
    control: ControlPlane, evm_replay: EvmReplayServer
) -> None:
    head = max(evm_replay.blocks)
    assert control.apply("svc", deployment_yaml("svc", evm_replay.url, head)).code == 0
    before = control.wait_for(
        "svc", lambda p: _cursor(p) == head and p["status"] == "running"
    )

    control.kill()
    control.start()
    after = control.wait_for(
        "svc",
        lambda p: p["status"] == "running" and p["pid"] not in (None, before["pid"]),
        what="brought back",
    )
    assert not _alive(before["pid"]), "the old child outlived its server"
    assert _cursor(after) == head and after["restarts"] == 0
    _wait_log(control, "svc", f"resumes after block {head}")
    assert _rows_in(control.pipeline("svc")) == 1


def test_scheduled_job_runs_again_from_its_checkpoint(
    control: ControlPlane, evm_replay: EvmReplayServer
) -> None:
    head = max(evm_replay.blocks)
    spec = job_yaml("tick", evm_replay.url, head, head) + 'schedule: "* * * * * */2"\n'
    assert control.apply("tick", spec).code == 0
    view = control.wait_for(
        "tick",
        lambda p: (
            [r["status"] for r in p["runs"]] == ["succeeded", "succeeded"]
            and p["status"] == "succeeded"
        ),
        timeout=20,
        what="two successful runs",
    )
    assert view["expires_at"] is None and view["next_run_at"] is not None
    # The second run resumed after the first one's checkpoint: nothing re-read.
    assert _cursor(view) == head and _rows_in(view) == 1
    assert _rows_in(view, run=True) == 0  # the second run's own count
    assert view["totals"]["blocks"] == 1
    _wait_log(control, "tick", f"resumes after block {head}")


def test_reapplying_a_failed_deployment_starts_it_again(
    control: ControlPlane, evm_replay: EvmReplayServer, pg_url: str
) -> None:
    head = max(evm_replay.blocks)
    sink = (
        "  db:\n    type: postgres\n    from: blocks\n    table: heads\n"
        "    primary_key: id\n    secret_name: QA_PG\n"
    )
    text = deployment_yaml("svc", evm_replay.url, head, sink)
    assert control.cli("secret", "create", "QA_PG", "--value", pg_url).code == 0
    assert control.apply("svc", text).code == 0
    control.wait_for("svc", lambda p: p["status"] == "running")

    # The secret goes away and the deployment fails for good (exit 2 is not retried).
    assert control.cli("secret", "delete", "QA_PG").code == 0
    assert control.cli("restart", "svc").code == 0
    control.wait_for("svc", lambda p: p["status"] == "failed")

    # Fixing the cause and applying the same file starts it again.
    assert control.cli("secret", "create", "QA_PG", "--value", pg_url).code == 0
    again = control.apply("svc", text)
    assert again.code == 0 and "unchanged" not in again.stdout
    view = control.wait_for("svc", lambda p: p["status"] == "running")
    assert view["last_error"] is None

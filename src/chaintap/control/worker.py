"""One supervised pipeline: a thread that runs its child process, again and again.

The child is `python -m chaintap run <pipeline.yaml> --no-progress --telemetry-dir
<dir>`, started through `chaintap.control.child` so it dies with the server. Its
stdout and stderr go, line by line and timestamped, into the pipeline's log
(`logfile`), with every secret value masked. Its counters come from the status
file it keeps in the telemetry directory: when a child exits, and again before the
next one starts (for a run a killed server never saw end), the worker folds that
file into the pipeline's totals (`chaintap.control.stats`).

What happens when the child exits:
- a job is never restarted: exit 0 → succeeded, otherwise failed. A scheduled job
  then waits for its next cron time and runs again from its last checkpoint;
- the status is deploying until the run writes its status file (it does so right
  after every node opened), then running;
- every CONTROL_MEMORY_CHECK_S the worker measures the resident memory of the
  child's process tree (`chaintap.control.memory`). Above the pipeline's limit it
  stops the child as `halt()` would and records the overuse as the last error; the
  run counts as failed (a job fails, a deployment restarts with the backoff);
- a deployment that fails is restarted after a capped exponential backoff, counting
  restarts and keeping the last stderr line as the last error. Exit 2 (an invalid
  file or configuration, e.g. a missing secret) is not retried: nothing changes
  until the user fixes it. Exit 0 (every source bounded and read) ends it: stopped.

`halt()` stops the loop: the child gets SIGTERM (it finishes its batch), then
SIGKILL after the grace period. Killing is safe: checkpoints trail flushed data.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO

from croniter import croniter

from chaintap.cli.output import EXIT_INVALID
from chaintap.control import store as st
from chaintap.control.logfile import LogWriter
from chaintap.control.memory import MemoryLimit, memory_limit, tree_rss_bytes
from chaintap.control.redact import Redactor
from chaintap.control.stats import Counters, spec_shape
from chaintap.runtime.telemetry import STATUS_FILE, read_status
from chaintap.state.checkpoints import CheckpointStore
from chaintap.tuning import (
    CONTROL_CHILD_SETTLE_S,
    CONTROL_MEMORY_CHECK_S,
    CONTROL_RESTART_BACKOFF_INITIAL_S,
    CONTROL_RESTART_BACKOFF_MAX_S,
    CONTROL_RESTART_STABLE_S,
)

log = logging.getLogger(__name__)

# How often the worker looks at its child (exit, settle, halt); a fraction of a
# second keeps stop and restart prompt at no measurable cost.
_WATCH_S = 0.1


class PipelineDir:
    """`CHAINTAP_HOME/pipelines/<name>/`: the applied spec, logs and telemetry."""

    def __init__(self, home: Path, name: str) -> None:
        self.root = home / "pipelines" / name
        self.spec_path = self.root / "pipeline.yaml"
        self.logs = self.root / "logs"
        self.telemetry = self.root / "telemetry"

    def write_spec(self, text: str) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.spec_path.with_suffix(".yaml.tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, self.spec_path)


def next_run(schedule: str, after: float) -> float:
    """The first time `schedule` (cron, 5 or 6 fields) fires after `after`."""
    start = datetime.fromtimestamp(after).astimezone()
    return float(croniter(schedule, start).get_next(float))


def child_command(spec_path: Path, telemetry_dir: Path) -> list[str]:
    """The child's argv: the death-tied launcher, then `chaintap run`."""
    launcher = [sys.executable, "-m", "chaintap.control.child", str(os.getpid())]
    run = [sys.executable, "-m", "chaintap", "run", str(spec_path), "--no-progress"]
    return [*launcher, "--", *run, "--telemetry-dir", str(telemetry_dir)]


@dataclass(frozen=True)
class ChildExit:
    """How one child ended.

    `code` is its exit code, None when `halt()` stopped it; `error` its last
    stderr line, or why the worker stopped it; `over_memory` is True when the
    worker stopped it for using more memory than its limit (a failure, whatever
    the exit code of the stopped child).
    """

    code: int | None
    error: str | None
    over_memory: bool = False

    @property
    def failed(self) -> bool:
        return self.over_memory or self.code not in (None, 0)


class Worker(threading.Thread):
    """Runs one pipeline's children until `halt()`; see the module docstring."""

    def __init__(
        self,
        home: Path,
        store: st.ControlStore,
        record: st.PipelineRecord,
        stop_grace_s: float,
        redactor: Callable[[], Redactor],
        memory_limit_mib: int | None = None,
    ) -> None:
        """`memory_limit_mib` replaces the limit of the pipeline's resource_size
        (the server's --memory-limit-mib); None keeps the profile's."""
        super().__init__(name=f"pipeline-{record.name}", daemon=True)
        self.home = home
        self.store = store
        self.pipeline = record.name
        self.kind = record.kind
        self.schedule = record.schedule
        self.workdir = record.workdir
        self.spec_text = record.spec_text
        self.stop_grace_s = stop_grace_s
        self.memory: MemoryLimit = memory_limit(record.spec_text, memory_limit_mib)
        self.files = PipelineDir(home, record.name)
        self._redactor = redactor
        self._halt = threading.Event()
        self.pid: int | None = None

    def halt(self) -> None:
        """Ask the loop to stop its child and end; `join()` waits for it."""
        self._halt.set()

    def run(self) -> None:
        writer = LogWriter(self.files.logs)
        try:
            if self.kind == st.JOB:
                self._run_job(writer)
            else:
                self._run_deployment(writer)
        except Exception as err:
            log.exception("pipeline %s: supervisor failure", self.pipeline)
            self.store.set_state(
                self.pipeline,
                status=st.FAILED,
                last_error=f"supervisor failure: {type(err).__name__}: {err}",
            )
        finally:
            writer.close()

    def _run_job(self, writer: LogWriter) -> None:
        """Run once; with a schedule, run again at every cron time after the end.

        The first run starts at once (on apply, and on every server start while
        the job should run), later ones at the schedule's times.
        """
        # Missing: cron times that pass while the server is down or a run is still
        # going are skipped, not caught up; a schedule faster than its runs simply
        # runs back to back.
        first = True
        while not self._halt.is_set():
            if self.schedule is not None:
                if not first:
                    due = next_run(self.schedule, time.time())
                    if self._halt.wait(max(0.0, due - time.time())):
                        return
                # Every run continues after the last one's checkpoints.
                self._forget_finished()
            first = False

            run_id = self.store.start_run(self.pipeline)
            self.store.set_state(self.pipeline, status=st.DEPLOYING, ended=False)
            ended = self._run_child(writer)
            if ended.code is None:
                self.store.end_run(run_id, st.STOPPED, None, None)
                return
            outcome = st.FAILED if ended.failed else st.SUCCEEDED
            error = ended.error if ended.failed else None
            self.store.end_run(run_id, outcome, ended.code, error)
            self.store.set_state(
                self.pipeline,
                status=outcome,
                desired=None if self.schedule else st.WANT_DONE,
                last_error=error,
                clear_error=not ended.failed,
                ended=True,
            )
            if self.schedule is None:
                return

    def _run_deployment(self, writer: LogWriter) -> None:
        """Run until halted; restart after failures with a capped backoff.

        A child stopped for its memory is restarted whatever its exit code: when
        stopped, a deployment exits 0 as if its sources were done.
        """
        failures = 0
        while not self._halt.is_set():
            started = time.monotonic()
            ended = self._run_child(writer)
            code, error = ended.code, ended.error
            if code is None:
                return
            if not ended.over_memory and code in (0, EXIT_INVALID):
                status = st.STOPPED if code == 0 else st.FAILED
                self.store.set_state(
                    self.pipeline,
                    status=status,
                    desired=st.WANT_DONE,
                    last_error=error if code else None,
                    ended=True,
                )
                return

            if time.monotonic() - started >= CONTROL_RESTART_STABLE_S:
                failures = 0
            failures += 1
            delay = min(
                CONTROL_RESTART_BACKOFF_MAX_S,
                CONTROL_RESTART_BACKOFF_INITIAL_S * 2 ** (failures - 1),
            )
            self.store.count_restart(self.pipeline, error)
            writer.write("ctl", f"restarting in {delay:g}s")
            log.warning(
                "pipeline %s: child exited with %s (%s); restarting in %gs",
                self.pipeline,
                code,
                error,
                delay,
            )
            if self._halt.wait(delay):
                return

    def _run_child(self, writer: LogWriter) -> ChildExit:
        """1. fold the counters of an earlier run a killed server never saw end
        (which also removes its status file); 2. start; 3. pump its output;
        4. watch until exit, halt or memory overuse; 5. reap and fold its counters
        into the totals.
        """
        self._fold_last_run(start_over=True)
        redactor = self._redactor()
        workdir = self.workdir if Path(self.workdir).is_dir() else str(self.home)
        env = dict(os.environ, CHAINTAP_HOME=str(self.home), PYTHONUNBUFFERED="1")
        launched_at = time.time()
        child = subprocess.Popen(
            child_command(self.files.spec_path, self.files.telemetry),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=workdir,
            env=env,
            start_new_session=True,
        )
        self.pid = child.pid
        self.store.set_pid(self.pipeline, child.pid)
        writer.write("ctl", f"started pid {child.pid}")

        last_error: list[str] = []
        assert child.stdout is not None and child.stderr is not None
        pumps = [
            threading.Thread(
                target=self._pump,
                args=(child.stdout, "out", writer, redactor, None),
                daemon=True,
            ),
            threading.Thread(
                target=self._pump,
                args=(child.stderr, "err", writer, redactor, last_error),
                daemon=True,
            ),
        ]
        for pump in pumps:
            pump.start()

        halted, over_memory = self._watch(child, launched_at, writer)
        for pump in pumps:
            pump.join()
        self.pid = None
        self.store.set_pid(self.pipeline, None)
        self._fold_last_run(start_over=False)
        return self._exit(child.returncode, halted, over_memory, last_error, writer)

    def _exit(
        self,
        code: int,
        halted: bool,
        over_memory: str | None,
        last_error: list[str],
        writer: LogWriter,
    ) -> ChildExit:
        """How the reaped child ended, also written to the pipeline's log."""
        if halted:
            writer.write("ctl", f"stopped (exit code {code})")
            return ChildExit(None, None)
        if over_memory is not None:
            writer.write("ctl", f"stopped for its memory (exit code {code})")
            return ChildExit(code, over_memory, over_memory=True)
        writer.write("ctl", f"exited with code {code}")
        if code < 0:
            return ChildExit(code, f"killed by signal {signal.Signals(-code).name}")
        if code != 0 and not last_error:
            return ChildExit(code, f"exited with code {code} and no message")
        return ChildExit(code, last_error[0] if last_error else None)

    def _watch(
        self, child: subprocess.Popen[bytes], launched_at: float, writer: LogWriter
    ) -> tuple[bool, str | None]:
        """Wait for the child to exit; returns (halted, memory error).

        `halted` is True when `halt()` stopped it; the memory error is set when
        the worker stopped it for its memory. The status turns running when the
        child's run writes its status file, or, should it never come, once the
        child stayed up for CONTROL_CHILD_SETTLE_S.
        """
        since = time.monotonic()
        settled = False
        next_check = since + CONTROL_MEMORY_CHECK_S
        while child.poll() is None:
            if self._halt.wait(_WATCH_S):
                self._terminate(child)
                return True, None
            now = time.monotonic()
            if not settled and (
                now - since >= CONTROL_CHILD_SETTLE_S or self._opened(launched_at)
            ):
                settled = True
                self.store.set_state(self.pipeline, status=st.RUNNING)

            if now >= next_check:
                next_check = now + CONTROL_MEMORY_CHECK_S
                error = self._over_memory(child.pid)
                if error is not None:
                    writer.write("ctl", error)
                    self._terminate(child)
                    return False, error
        return False, None

    def _opened(self, launched_at: float) -> bool:
        """True once the child's run wrote its status file: right after every node
        opened. A file from an earlier run (started before this child) does not
        count, nor one that already counts an error (a run that failed opening
        writes the file on its way out)."""
        # Missing: a partitioned job writes no status file, so it shows deploying
        # until CONTROL_CHILD_SETTLE_S has passed (or it ends).
        status = read_status(self.files.telemetry)
        if status is None:
            return False
        started_at = float(status.get("started_at") or 0.0)
        return started_at >= launched_at and not status.get("errors")

    def _over_memory(self, pid: int) -> str | None:
        """The error to record when the child's process tree uses more than the
        limit, else None."""
        rss = tree_rss_bytes(pid)
        if rss is None or rss <= self.memory.limit_bytes:
            return None
        error = self.memory.exceeded(self.pipeline, rss)
        log.warning("%s; stopping child %d", error, pid)
        return error

    def _terminate(self, child: subprocess.Popen[bytes]) -> None:
        # A deployment waiting at the chain head does not notice SIGTERM until its
        # next batch, so today stopping one costs the whole grace period.
        try:
            child.send_signal(signal.SIGTERM)
            child.wait(self.stop_grace_s)
        except subprocess.TimeoutExpired:
            log.warning(
                "pipeline %s: child %d ignored SIGTERM for %gs; killing it",
                self.pipeline,
                child.pid,
                self.stop_grace_s,
            )
            child.kill()
            child.wait()

    def _pump(
        self,
        stream: IO[bytes],
        label: str,
        writer: LogWriter,
        redactor: Redactor,
        last_error: list[str] | None,
    ) -> None:
        """Copy one output stream into the log, line by line, masked."""
        for raw in iter(stream.readline, b""):
            line = redactor.scrub(raw.decode("utf-8", errors="replace").rstrip())
            writer.write(label, line)
            if last_error is not None and line.strip():
                last_error[:] = [line.removeprefix("error: ").strip()]
        stream.close()

    def _fold_last_run(self, *, start_over: bool) -> None:
        """Add the last run's status to the totals (once); with `start_over`, also
        remove the file, so the next run's counters show from zero."""
        status = read_status(self.files.telemetry)
        if status is None:
            return
        counters = Counters.of_status(status, spec_shape(self.spec_text).sink_inputs)
        started_at = float(status.get("started_at") or 0.0)
        self.store.fold_run(self.pipeline, started_at, counters)
        if start_over:
            (self.files.telemetry / STATUS_FILE).unlink(missing_ok=True)

    def _forget_finished(self) -> None:
        checkpoints = CheckpointStore(self.home / "state.db")
        try:
            checkpoints.forget_finished(self.pipeline)
        finally:
            checkpoints.close()

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
- the status is deploying until the runner logs that every node opened, then
  running;
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
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import IO

from croniter import croniter

from chaintap.cli.output import EXIT_INVALID
from chaintap.control import store as st
from chaintap.control.logfile import LogWriter
from chaintap.control.redact import Redactor
from chaintap.control.stats import Counters, spec_shape
from chaintap.runtime.telemetry import STATUS_FILE, read_status
from chaintap.state.checkpoints import CheckpointStore
from chaintap.tuning import (
    CONTROL_CHILD_SETTLE_S,
    CONTROL_RESTART_BACKOFF_INITIAL_S,
    CONTROL_RESTART_BACKOFF_MAX_S,
    CONTROL_RESTART_STABLE_S,
)

log = logging.getLogger(__name__)

# The runner's line after every node opened: the child is running from then on.
# (The status file cannot tell: a run writes it only after its first batch.)
_STARTED_LINE = re.compile(r"pipeline \S+: started, targets")
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


class Worker(threading.Thread):
    """Runs one pipeline's children until `halt()`; see the module docstring."""

    def __init__(
        self,
        home: Path,
        store: st.ControlStore,
        record: st.PipelineRecord,
        stop_grace_s: float,
        redactor: Callable[[], Redactor],
    ) -> None:
        super().__init__(name=f"pipeline-{record.name}", daemon=True)
        self.home = home
        self.store = store
        self.pipeline = record.name
        self.kind = record.kind
        self.schedule = record.schedule
        self.workdir = record.workdir
        self.spec_text = record.spec_text
        self.stop_grace_s = stop_grace_s
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
            code, error = self._run_child(writer)
            if code is None:
                self.store.end_run(run_id, st.STOPPED, None, None)
                return
            outcome = st.SUCCEEDED if code == 0 else st.FAILED
            self.store.end_run(run_id, outcome, code, error if code else None)
            self.store.set_state(
                self.pipeline,
                status=outcome,
                desired=None if self.schedule else st.WANT_DONE,
                last_error=error if code else None,
                clear_error=code == 0,
                ended=True,
            )
            if self.schedule is None:
                return

    def _run_deployment(self, writer: LogWriter) -> None:
        """Run until halted; restart after failures with a capped backoff."""
        failures = 0
        while not self._halt.is_set():
            started = time.monotonic()
            code, error = self._run_child(writer)
            if code is None:
                return
            if code == 0 or code == EXIT_INVALID:
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
                "pipeline %s: child exited with %s; restarting in %gs",
                self.pipeline,
                code,
                delay,
            )
            if self._halt.wait(delay):
                return

    def _run_child(self, writer: LogWriter) -> tuple[int | None, str | None]:
        """1. fold the counters of an earlier run a killed server never saw end;
        2. start; 3. pump its output; 4. watch until exit or halt; 5. reap and
        fold its counters into the totals.

        Returns (exit code, last stderr line); the code is None when halted.
        """
        self._fold_last_run(start_over=True)
        redactor = self._redactor()
        workdir = self.workdir if Path(self.workdir).is_dir() else str(self.home)
        env = dict(os.environ, CHAINTAP_HOME=str(self.home), PYTHONUNBUFFERED="1")
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
        started = threading.Event()
        assert child.stdout is not None and child.stderr is not None
        pumps = [
            threading.Thread(
                target=self._pump,
                args=(child.stdout, "out", writer, redactor, None, started),
                daemon=True,
            ),
            threading.Thread(
                target=self._pump,
                args=(child.stderr, "err", writer, redactor, last_error, started),
                daemon=True,
            ),
        ]
        for pump in pumps:
            pump.start()

        halted = self._watch(child, started)
        for pump in pumps:
            pump.join()
        self.pid = None
        self.store.set_pid(self.pipeline, None)
        self._fold_last_run(start_over=False)
        code = child.returncode
        if halted:
            writer.write("ctl", f"stopped (exit code {code})")
            return None, None
        writer.write("ctl", f"exited with code {code}")
        if code < 0:
            return code, f"killed by signal {signal.Signals(-code).name}"
        if code != 0 and not last_error:
            return code, f"exited with code {code} and no message"
        return code, last_error[0] if last_error else None

    def _watch(self, child: subprocess.Popen[bytes], opened: threading.Event) -> bool:
        """Wait for the child to exit; True when it was stopped by `halt()`.

        The status turns running when the runner says every node opened, or, should
        that line never come, once the child stayed up for CONTROL_CHILD_SETTLE_S.
        """
        since = time.monotonic()
        settled = False
        while child.poll() is None:
            if self._halt.wait(_WATCH_S):
                self._terminate(child)
                return True
            waited = time.monotonic() - since
            if not settled and (opened.is_set() or waited >= CONTROL_CHILD_SETTLE_S):
                settled = True
                self.store.set_state(self.pipeline, status=st.RUNNING)
        return False

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
        opened: threading.Event,
    ) -> None:
        """Copy one output stream into the log, line by line, masked."""
        for raw in iter(stream.readline, b""):
            line = redactor.scrub(raw.decode("utf-8", errors="replace").rstrip())
            writer.write(label, line)
            if last_error is not None and line.strip():
                last_error[:] = [line.removeprefix("error: ").strip()]
            if not opened.is_set() and _STARTED_LINE.search(line):
                opened.set()
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

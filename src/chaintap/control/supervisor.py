"""The desired state of every pipeline, and the reconciling that makes it so.

`Supervisor` owns the control database and one `Worker` thread per pipeline that
should run. Every operation (apply, pause, resume, restart, delete) holds one lock,
so two requests never interleave on the same pipeline; each stops the pipeline's
worker first when it has to, changes the record, then starts a new worker.

A tick thread deletes jobs whose TTL ran out since they ended (record, checkpoints,
logs). `start()` brings back, from their checkpoints, every pipeline whose desired
state is running — after stopping any child a killed server left behind.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from croniter import croniter

from chaintap.control import store as st
from chaintap.control.errors import PipelineConflict, PipelineNotFound, SpecRejected
from chaintap.control.redact import Redactor
from chaintap.control.views import display_status
from chaintap.control.worker import PipelineDir, Worker
from chaintap.runtime.telemetry import STATUS_FILE
from chaintap.spec.loader import PipelineInvalid, load_pipeline_text
from chaintap.spec.model import PipelineSpec
from chaintap.state.checkpoints import CheckpointStore
from chaintap.tuning import CONTROL_JOB_TTL_S, CONTROL_STOP_GRACE_S, CONTROL_TICK_S

log = logging.getLogger(__name__)

CREATED = "created"
UPDATED = "updated"
UNCHANGED = "unchanged"


@dataclass(frozen=True)
class SupervisorSettings:
    """Server settings: how long ended jobs are kept, how long a stop may take, and
    the memory limit (MiB) that replaces every resource_size's (None: keep them)."""

    job_ttl_s: float = CONTROL_JOB_TTL_S
    stop_grace_s: float = CONTROL_STOP_GRACE_S
    memory_limit_mib: int | None = None


class Supervisor:
    """Reconciles the pipelines under `home`; see the module docstring."""

    def __init__(self, home: Path, settings: SupervisorSettings | None = None) -> None:
        self.home = home
        self.settings = settings or SupervisorSettings()
        self.store = st.ControlStore(home / "control.db")
        self._workers: dict[str, Worker] = {}
        self._lock = threading.RLock()
        self._closing = threading.Event()
        self._ticker = threading.Thread(target=self._tick, name="ttl", daemon=True)

    def redactor(self) -> Redactor:
        return Redactor.load(self.home)

    def start(self) -> None:
        """1. stop orphaned children; 2. start what should run; 3. start the tick."""
        with self._lock:
            for record in self.store.all():
                if record.pid is not None:
                    self._stop_orphan(record)
            self.store.end_dangling_runs()
            for record in self.store.all():
                if record.desired == st.WANT_RUNNING:
                    self.store.set_state(record.name, status=st.DEPLOYING)
                    self._start(record.name)
        self._ticker.start()
        log.info("supervisor: %d pipeline(s) running", len(self._workers))

    def shutdown(self) -> None:
        """Stop every child (desired states stay, so the next start resumes them)."""
        self._closing.set()
        with self._lock:
            workers = list(self._workers.values())
            for worker in workers:
                worker.halt()
            for worker in workers:
                worker.join()
                record = self.store.get(worker.pipeline)
                if record is not None and record.status not in st.ENDED_STATUSES:
                    self.store.set_state(worker.pipeline, status=st.STOPPED)
            self._workers.clear()
        if self._ticker.is_alive():
            self._ticker.join()
        self.store.close()

    def apply(self, spec_text: str, workdir: str) -> tuple[str, st.PipelineRecord]:
        """Create or update the pipeline in `spec_text`; returns (action, record).

        1. validate (SpecRejected); 2. refuse what conflicts: a job that exists
        (delete it first) or a change of kind; 3. an unchanged deployment is left
        alone unless it failed (then applying it again starts it: the cause, a
        missing secret say, may be fixed); 4. a changed one is stopped, rewritten
        and started again with its checkpoints kept; a new pipeline is recorded
        and started.
        """
        spec = _validate(spec_text)
        kind = st.JOB if spec.job else st.DEPLOYMENT
        with self._lock:
            existing = self.store.get(spec.name)
            if existing is not None:
                _check_update(existing, kind)
                same = existing.spec_text == spec_text and existing.workdir == workdir
                if same and existing.status != st.FAILED:
                    return UNCHANGED, existing
                self._stop(spec.name)
                PipelineDir(self.home, spec.name).write_spec(spec_text)
                self.store.replace_spec(spec.name, spec_text, workdir, spec.schedule)
                if existing.desired == st.WANT_PAUSED:
                    self.store.set_state(
                        spec.name, status=st.PAUSED, desired=st.WANT_PAUSED
                    )
                else:
                    self.store.set_state(
                        spec.name,
                        status=st.DEPLOYING,
                        desired=st.WANT_RUNNING,
                        clear_error=True,
                        ended=False,
                    )
                    self._start(spec.name)
                log.info("pipeline %s: updated, restarted with the new spec", spec.name)
                return UPDATED, self._get(spec.name)

            PipelineDir(self.home, spec.name).write_spec(spec_text)
            record = self.store.create(
                spec.name, kind, spec_text, workdir, spec.schedule
            )
            self._start(spec.name)
            log.info("pipeline %s: created (%s)", spec.name, kind)
            return CREATED, record

    def delete(self, name: str) -> None:
        """1. stop; 2. forget the record; 3. clear checkpoints; 4. remove files.

        Data already written to sinks stays where it is.
        """
        with self._lock:
            self._get(name)
            self._stop(name)
            self.store.delete(name)
            checkpoints = CheckpointStore(self.home / "state.db")
            try:
                removed = checkpoints.clear(name)
            finally:
                checkpoints.close()
            shutil.rmtree(PipelineDir(self.home, name).root, ignore_errors=True)
            # The sources' own state (a deployment's reorg window) goes with it.
            shutil.rmtree(self.home / "sources" / name, ignore_errors=True)
        log.info("pipeline %s: deleted with %d checkpoint(s)", name, removed)

    def pause(self, name: str) -> st.PipelineRecord:
        """Stop a deployment's child and keep it down until `resume`."""
        with self._lock:
            _deployment_only(self._get(name), "pause")
            self._stop(name)
            self.store.set_state(name, status=st.PAUSED, desired=st.WANT_PAUSED)
            return self._get(name)

    def resume(self, name: str) -> st.PipelineRecord:
        """Start a paused deployment again, from its checkpoints."""
        with self._lock:
            record = self._get(name)
            _deployment_only(record, "resume")
            if record.desired != st.WANT_PAUSED:
                raise PipelineConflict(
                    f"deployment {name!r} is not paused (status {record.status}); "
                    "only a paused deployment can be resumed"
                )
            self.store.set_state(name, status=st.DEPLOYING, desired=st.WANT_RUNNING)
            self._start(name)
            return self._get(name)

    def restart(self, name: str, clear_state: bool) -> st.PipelineRecord:
        """Stop and start a deployment; with `clear_state`, from the beginning."""
        with self._lock:
            _deployment_only(self._get(name), "restart")
            self._stop(name)
            if clear_state:
                checkpoints = CheckpointStore(self.home / "state.db")
                try:
                    checkpoints.clear(name)
                finally:
                    checkpoints.close()
                # Its counters start over with it.
                self.store.reset_totals(name)
                telemetry = PipelineDir(self.home, name).telemetry
                (telemetry / STATUS_FILE).unlink(missing_ok=True)
            self.store.set_state(
                name,
                status=st.DEPLOYING,
                desired=st.WANT_RUNNING,
                clear_error=True,
                ended=False,
            )
            self._start(name)
            return self._get(name)

    def get(self, name: str) -> st.PipelineRecord:
        return self._get(name)

    def is_active(self, name: str) -> bool:
        """True while a worker runs (or waits to restart) the pipeline."""
        worker = self._workers.get(name)
        return worker is not None and worker.is_alive()

    def _get(self, name: str) -> st.PipelineRecord:
        record = self.store.get(name)
        if record is None:
            raise PipelineNotFound(
                f"no pipeline named {name!r}; `chaintap list` shows the pipelines"
            )
        return record

    def _start(self, name: str) -> None:
        record = self._get(name)
        worker = Worker(
            self.home,
            self.store,
            record,
            self.settings.stop_grace_s,
            self.redactor,
            memory_limit_mib=self.settings.memory_limit_mib,
        )
        self._workers[name] = worker
        worker.start()

    def _stop(self, name: str) -> None:
        worker = self._workers.pop(name, None)
        if worker is not None:
            worker.halt()
            worker.join()

    def _stop_orphan(self, record: st.PipelineRecord) -> None:
        """Stop a child of a previous server still running this pipeline's spec."""
        assert record.pid is not None
        spec_path = str(PipelineDir(self.home, record.name).spec_path)
        try:
            cmdline = Path(f"/proc/{record.pid}/cmdline").read_bytes()
        except OSError:
            cmdline = b""
        if spec_path.encode() in cmdline.split(b"\0"):
            log.warning(
                "pipeline %s: stopping child %d left by a previous server",
                record.name,
                record.pid,
            )
            _signal_and_wait(record.pid, self.settings.stop_grace_s)
        self.store.set_pid(record.name, None)

    def _tick(self) -> None:
        """Delete jobs (without a schedule) whose TTL ran out since they ended."""
        while not self._closing.wait(CONTROL_TICK_S):
            now = time.time()
            for record in self.store.all():
                expired = (
                    record.is_job
                    and record.schedule is None
                    and record.ended_at is not None
                    and now - record.ended_at >= self.settings.job_ttl_s
                )
                if expired and not self._closing.is_set():
                    log.info("job %s: TTL ran out; deleting it", record.name)
                    with contextlib.suppress(PipelineNotFound):
                        self.delete(record.name)


def _validate(spec_text: str) -> PipelineSpec:
    """The spec, or SpecRejected with every problem (a schedule croniter refuses
    included, since the loader checks only the shape of cron fields)."""
    try:
        spec = load_pipeline_text(spec_text, "pipeline.yaml")
    except PipelineInvalid as invalid:
        problems = [p.format() for p in invalid.problems]
        raise SpecRejected(
            f"the pipeline file has {len(problems)} problem(s); nothing was applied",
            problems,
        ) from invalid
    if spec.schedule is not None and not croniter.is_valid(spec.schedule):
        raise SpecRejected(
            f"schedule {spec.schedule!r} is not a valid cron expression; nothing "
            "was applied",
            [f"schedule: {spec.schedule!r} has a field out of range"],
        )
    return spec


def _check_update(existing: st.PipelineRecord, kind: str) -> None:
    name = existing.name
    if existing.kind != kind:
        raise PipelineConflict(
            f"pipeline {name!r} exists as a {existing.kind}; a pipeline cannot "
            f"switch to a {kind}: delete it first (`chaintap delete {name}`) or "
            "pick another name"
        )
    if existing.is_job:
        raise PipelineConflict(
            f"job {name!r} already exists (status {display_status(existing)}); "
            f"jobs are not updated in place: delete it first "
            f"(`chaintap delete {name}`)"
        )


def _deployment_only(record: st.PipelineRecord, verb: str) -> None:
    if record.is_job:
        raise PipelineConflict(
            f"{record.name!r} is a job: {verb} works on deployments only; a job "
            f"runs to its end (delete it with `chaintap delete {record.name}` and "
            "apply it again to rerun it)"
        )


def _signal_and_wait(pid: int, grace_s: float) -> None:
    """SIGTERM a process that is not our child, SIGKILL it after `grace_s`."""
    for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5.0)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            if not _alive(pid):
                return
            time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    # A zombie (state Z) has exited; only its parent's wait is missing.
    return status.rsplit(")", 1)[-1].split()[0] != "Z"

"""Figure 4: one job run with 1 and with 2 worker processes.

Each job is `chaintap run FILE --workers N --no-progress` in a child process with
a fresh CHAINTAP_HOME, timed from start to exit (interpreter start and imports
included, in both; with 2 workers the partitioned backfill of
src/chaintap/runtime/partitions.py spawns the workers). Runs alternate 1, 2, 1,
2, ... and each time is the median of `runs`.

speedup = time(1 worker) / time(2 workers); efficiency = speedup / 2. On a
2-core machine 2.0x is the ceiling, and anything else running (anvil itself,
for the node job) takes from it.
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

WORKERS = (1, 2)
# A run may take this long before the suite gives up on it.
RUN_TIMEOUT_S = 600


def figure_scaling(jobs: dict[str, tuple[str, int]], runs: int) -> dict[str, Any]:
    """Figure 4 for each job: name → (pipeline YAML text, source rows it reads)."""
    chaintap = str(Path(sys.executable).parent / "chaintap")
    results: dict[str, Any] = {"runs_per_point": runs, "workers": list(WORKERS)}
    for name, (text, rows) in jobs.items():
        print(f"  {name} ...", file=sys.stderr)
        times: dict[int, list[float]] = {n: [] for n in WORKERS}
        cpu: dict[int, list[tuple[float, float]]] = {n: [] for n in WORKERS}
        with tempfile.TemporaryDirectory(prefix="chaintap-bench-scale-") as scratch:
            path = Path(scratch) / "job.yaml"
            path.write_text(text)
            for attempt in range(runs):
                for workers in WORKERS:
                    home = Path(scratch) / f"home-{workers}-{attempt}"
                    seconds, used = _timed_run(chaintap, path, workers, home)
                    times[workers].append(seconds)
                    cpu[workers].append(used)

        one, two = (statistics.median(times[n]) for n in WORKERS)
        speedup = one / two
        results[name] = {
            "source_rows": rows,
            "seconds": {str(n): statistics.median(times[n]) for n in WORKERS},
            "rows_per_s": {str(n): rows / statistics.median(times[n]) for n in WORKERS},
            "speedup": speedup,
            "efficiency": speedup / WORKERS[-1],
            # CPU seconds (user, system) of the run with all its processes.
            "cpu_user_s": {str(n): _median(cpu[n], 0) for n in WORKERS},
            "cpu_system_s": {str(n): _median(cpu[n], 1) for n in WORKERS},
            "runs": {str(n): times[n] for n in WORKERS},
        }
    return results


def _median(pairs: list[tuple[float, float]], index: int) -> float:
    return statistics.median(pair[index] for pair in pairs)


def _timed_run(
    chaintap: str, path: Path, workers: int, home: Path
) -> tuple[float, tuple[float, float]]:
    """(wall seconds, (user, system) CPU seconds) of one `chaintap run`.

    The CPU times are those of every process the run waited for (the workers
    are children of the run), read from this process's children usage.
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    command = [chaintap, "run", str(path), "--workers", str(workers), "--no-progress"]
    env = {**os.environ, "CHAINTAP_HOME": str(home)}
    started = time.perf_counter()
    done = subprocess.run(
        command, env=env, capture_output=True, text=True,
        timeout=RUN_TIMEOUT_S, check=False,
    )  # fmt: skip
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(
            f"`chaintap run --workers {workers}` failed ({done.returncode}): "
            f"{done.stderr[-2000:]}"
        )
    used = (after.ru_utime - before.ru_utime, after.ru_stime - before.ru_stime)
    return seconds, used

"""One run of a pipeline at a time per CHAINTAP_HOME.

Two runs of the same pipeline would both read the whole range and race on its
checkpoints. A run holds an exclusive `flock` on `CHAINTAP_HOME/locks/<name>.lock`
for its lifetime; the kernel releases it when the process dies, kill -9 included,
so a crashed run never leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from chaintap.errors import ConflictError
from chaintap.state.home import chaintap_home


@contextmanager
def pipeline_lock(pipeline: str, home: Path | None = None) -> Iterator[None]:
    """Hold the run lock of `pipeline`; ConflictError when another run holds it."""
    directory = (home or chaintap_home()) / "locks"
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = directory / f"{pipeline}.lock"
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = path.read_text().strip() or "unknown"
            raise ConflictError(
                f"pipeline {pipeline!r} is already running (pid {holder}) with "
                f"CHAINTAP_HOME {directory.parent}; wait for it to end or stop it "
                f"first"
            ) from None
        os.ftruncate(descriptor, 0)
        os.write(descriptor, str(os.getpid()).encode())
        yield
    finally:
        os.close(descriptor)

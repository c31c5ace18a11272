"""Memory of a supervised pipeline: its process tree's resident size, and its limit.

A pipeline's limit is the `memory_mib` of its `resource_size` profile, unless the
server overrides it for every pipeline (`chaintap server --memory-limit-mib`). What
counts against it is the resident set (VmRSS) of the pipeline's process and every
process below it: a partitioned job runs its partitions in worker processes, and
their memory is the pipeline's too.

The sum counts pages shared between processes of the tree (libraries mapped by
each worker) once per process, so it errs on the high side, never the low side.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from chaintap.control.stats import load_spec
from chaintap.tuning import profile_for

_MIB = 1024 * 1024
_PROC = Path("/proc")


@dataclass(frozen=True)
class MemoryLimit:
    """The memory one pipeline may use, and where that number comes from."""

    mib: int
    resource_size: str
    # True when the server's --memory-limit-mib replaced the profile's value.
    overridden: bool

    @property
    def limit_bytes(self) -> int:
        return self.mib * _MIB

    def exceeded(self, pipeline: str, rss_bytes: int) -> str:
        """The error recorded when `pipeline` used `rss_bytes`, over this limit."""
        used = f"pipeline {pipeline} used {rss_bytes // _MIB} MiB"
        if self.overridden:
            return (
                f"{used}, over the {self.mib} MiB the server allows every pipeline "
                "(chaintap server --memory-limit-mib); raise that limit or use "
                "smaller batches"
            )
        return (
            f"{used}, over the {self.mib} MiB of resource_size {self.resource_size}; "
            "use a larger resource_size or smaller batches"
        )


def memory_limit(spec_text: str, override_mib: int | None) -> MemoryLimit:
    """The limit of the pipeline in `spec_text`; `override_mib` replaces any
    profile's. A stored spec that no longer loads gets the default profile's."""
    spec = load_spec(spec_text)
    profile = profile_for(spec.resource_size if spec is not None else None)
    if override_mib is not None:
        return MemoryLimit(override_mib, profile.size, overridden=True)
    return MemoryLimit(profile.memory_mib, profile.size, overridden=False)


def tree_rss_bytes(pid: int) -> int | None:
    """Resident memory of process `pid` plus all its descendants, in bytes.

    None when `pid` is not running (or has exited and awaits its parent's wait),
    and wherever /proc is missing: only Linux is measured.
    """
    # Missing: a measurement outside Linux (no /proc); there the server enforces no
    # memory limit and `get` shows no resident size.
    own = _rss_bytes(pid)
    if own is None:
        return None
    children = _children_by_parent()
    total, pending = own, list(children.get(pid, ()))
    while pending:
        descendant = pending.pop()
        total += _rss_bytes(descendant) or 0
        pending += children.get(descendant, ())
    return total


def _rss_bytes(pid: int) -> int | None:
    """VmRSS of one process; None when it is gone or a zombie (no VmRSS line)."""
    try:
        text = (_PROC / str(pid) / "status").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("VmRSS:"):
            # "VmRSS:    123456 kB"
            return int(line.split()[1]) * 1024
    return None


def _children_by_parent() -> dict[int, list[int]]:
    """Every running process's pid under its parent's pid, from /proc/<pid>/stat."""
    children: dict[int, list[int]] = {}
    try:
        entries = [e for e in _PROC.iterdir() if e.name.isdigit()]
    except OSError:
        return children
    for entry in entries:
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # ended while we looked
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses.
        fields = stat.rsplit(")", 1)[-1].split()
        if len(fields) >= 2:
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    return children

"""Every constant that tunes behaviour, in one place, each with the reason for it.

`resource_size` in a pipeline file picks one `ResourceProfile`; connectors read their
batch sizes and concurrency from it rather than hard-coding numbers.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ResourceProfile:
    """Concurrency and batch sizes for one `resource_size`."""

    size: str
    # Blocks fetched per source batch. Small enough that a batch of busy mainnet
    # blocks (~500 logs each) stays a few MiB of Arrow data; large enough that
    # per-batch overhead (SQL planning, one COPY, one checkpoint) is amortised.
    blocks_per_batch: int
    # JSON-RPC requests in flight at once. A local node saturates around 8-16;
    # hosted providers rate-limit beyond that.
    rpc_concurrency: int
    # Calls packed into one JSON-RPC batch request. Most providers cap at 100-1000.
    rpc_batch_size: int
    # Parallel worker processes for partitioned backfills.
    workers: int
    # Rows a sink buffers before it writes, bounding memory per sink.
    sink_batch_rows: int


RESOURCE_PROFILES: dict[str, ResourceProfile] = {
    "xs": ResourceProfile("xs", 10, 2, 20, 1, 10_000),
    "s": ResourceProfile("s", 50, 4, 50, 1, 50_000),
    "m": ResourceProfile("m", 100, 8, 100, 2, 100_000),
    "l": ResourceProfile("l", 200, 12, 100, 4, 200_000),
    "xl": ResourceProfile("xl", 400, 16, 200, 8, 400_000),
    "xxl": ResourceProfile("xxl", 800, 24, 200, 16, 800_000),
}

DEFAULT_RESOURCE_SIZE = "s"

# JSON-RPC retries: 6 attempts with exponential backoff from 0.25 s, capped at 8 s,
# rides out a provider's short rate-limit window (~10 s) without hanging a job on a
# node that is really gone.
RPC_MAX_ATTEMPTS = 6
RPC_BACKOFF_INITIAL_S = 0.25
RPC_BACKOFF_MAX_S = 8.0
# One HTTP request may take this long before it counts as a timeout and is retried.
RPC_TIMEOUT_S = 30.0
# A node that refuses an eth_getLogs range is asked again with halves; below this
# many blocks the refusal is final (a single block cannot be split).
RPC_MIN_LOG_RANGE = 1

# Sink connections: retries on a dropped connection before the run fails.
SINK_MAX_ATTEMPTS = 3
SINK_BACKOFF_INITIAL_S = 0.5


def profile_for(size: str | None) -> ResourceProfile:
    """The profile for a `resource_size`, the default one when `size` is None."""
    return RESOURCE_PROFILES[size or DEFAULT_RESOURCE_SIZE]

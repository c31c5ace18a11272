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
    # Resident memory (MiB) the control plane lets the pipeline's processes use
    # together before it stops them. A run of one busy block peaked at 140-185 MiB
    # (each partition worker is another such process); doubling with the batches
    # and workers that drive memory, the limit leaves room for busy batches while a
    # runaway pipeline cannot take the whole machine.
    # Profiles built by hand (tests, benchmarks) get the default size's value.
    memory_mib: int = 1024


RESOURCE_PROFILES: dict[str, ResourceProfile] = {
    "xs": ResourceProfile("xs", 10, 2, 20, 1, 10_000, 512),
    "s": ResourceProfile("s", 50, 4, 50, 1, 50_000, 1024),
    "m": ResourceProfile("m", 100, 8, 100, 2, 100_000, 2048),
    "l": ResourceProfile("l", 200, 12, 100, 4, 200_000, 4096),
    "xl": ResourceProfile("xl", 400, 16, 200, 8, 400_000, 8192),
    "xxl": ResourceProfile("xxl", 800, 24, 200, 16, 800_000, 16384),
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
# An EVM node may answer null for a block at or below the head it reported, or give
# receipts or logs that disagree with the block header (a load balancer spreading
# calls over backends a block apart, a reorg between two calls). The range is
# fetched again after 0.5 s, 1 s and 2 s: time for a lagging backend to catch up,
# yet a node that really lacks the block fails the run within seconds.
EVM_RECHECK_ATTEMPTS = 4
EVM_RECHECK_BACKOFF_S = 0.5
# A source that follows the chain head asks the node for its head this often: well
# under Ethereum's 12 s block time, and a negligible load on the node.
EVM_POLL_INTERVAL_S = 2.0
# A source that follows the head remembers the hashes and rows of the last 128
# blocks it emitted, so it can retract them when a reorg replaces them. Ethereum
# finalizes after two epochs (64 blocks) and its reorgs are 1-2 blocks deep, so 128
# covers finality twice over. It also bounds memory: 128 busy mainnet blocks
# (block 16899757: 520 logs) measured ~50 MB of raw_logs rows, ~11 MB of
# erc20_transfers. A deeper reorg is not retracted: the source waits and warns.
EVM_REORG_WINDOW_BLOCKS = 128
# While a source following the head cannot go on (its node is below the blocks it
# remembers, or a reorg goes deeper than them) it warns this often: visible in a
# log tail within a minute, without a line at every poll.
EVM_HEAD_STALL_LOG_S = 30.0
# A full Solana mainnet getBlock answer is 1-5 MB of JSON. More than a few per HTTP
# request makes single answers tens of MB: slow to parse, and over the response
# limits of hosted providers. The Solana source sends at most this many per request
# (and never more than the profile's rpc_batch_size).
SOLANA_BLOCKS_PER_REQUEST = 4
# Solana produces a slot about every 400 ms; a source waiting for the head asks
# getSlot this often, so it trails the chain by about one slot without busy polling.
SOLANA_HEAD_POLL_S = 0.4

# A partitioned backfill cuts its range into this many partitions per worker: a
# worker that draws short (empty) partitions picks up more instead of idling,
# while each partition stays long enough to amortise opening the pipeline.
PARTITIONS_PER_WORKER = 4

# Sink connections: attempts on a dropped connection before the run fails. With
# the backoff doubling from 0.5 s that is 7.5 s of waiting: a database restart
# (a few seconds) is ridden out, a database that is really down fails the run.
SINK_MAX_ATTEMPTS = 5
SINK_BACKOFF_INITIAL_S = 0.5


def profile_for(size: str | None) -> ResourceProfile:
    """The profile for a `resource_size`, the default one when `size` is None."""
    return RESOURCE_PROFILES[size or DEFAULT_RESOURCE_SIZE]


# Control plane (the local server that supervises pipelines).
# Default port of the local control server: unused by common dev tools, and the
# same on every machine so the CLI finds its server without configuration.
CONTROL_DEFAULT_PORT = 4750
# A failed deployment is restarted after 1 s, then 2 s, 4 s ... at most 60 s: a
# crash from a passing hiccup recovers at once, a crash loop costs one try a minute.
CONTROL_RESTART_BACKOFF_INITIAL_S = 1.0
CONTROL_RESTART_BACKOFF_MAX_S = 60.0
# A child that ran this long before failing counts as healthy: the backoff starts
# again at its initial value, so one crash a day is not treated as a crash loop.
CONTROL_RESTART_STABLE_S = 120.0
# A child moves from deploying to running when its run writes its status file
# (right after every node opened); should that never come, after staying up this
# long (a slow node can take seconds to answer its first calls, so earlier would
# often be premature).
CONTROL_CHILD_SETTLE_S = 15.0
# The worker measures its child's memory (the resident size of its process tree)
# this often: one scan of /proc measured 0.9 ms with 70 processes running (~13 us
# per process), negligible at this interval. Between two checks a pipeline may
# grow past its limit unseen: this is a budget, not a hard cap (that stays the
# kernel's OOM killer).
CONTROL_MEMORY_CHECK_S = 2.0
# A stopped child gets this long to finish its batch after SIGTERM before SIGKILL.
# Killing is safe (checkpoints trail flushed data) but costs the unfinished batch.
CONTROL_STOP_GRACE_S = 10.0
# Ended jobs are deleted (record, checkpoints, logs) this long after they end:
# long enough to read their status and logs, short enough not to pile up.
CONTROL_JOB_TTL_S = 3600.0
# How often the supervisor looks for expired jobs and due schedules.
CONTROL_TICK_S = 0.5
# `logs --follow` looks for new lines this often: prompt for a person watching,
# and a negligible cost (one stat per follower).
CONTROL_LOG_POLL_S = 0.25
# While someone runs `chaintap inspect`, the server refreshes the pipeline's inspect
# request this often and sends a heartbeat when no sample came: well inside the
# runner's 10 s request TTL, and a client that left is noticed within two beats.
CONTROL_INSPECT_TOUCH_S = 1.0
# A pipeline's log file is rotated past this size, keeping one previous file, so
# a chatty deployment cannot fill the disk.
CONTROL_LOG_ROTATE_BYTES = 32 * 1024 * 1024
# The CLI waits this long for a server it started to answer its health check.
CONTROL_SERVER_START_TIMEOUT_S = 20.0
# One API request from the CLI may take this long (apply waits for a child to stop).
CONTROL_REQUEST_TIMEOUT_S = 60.0

# SQL transforms (DataFusion). One partition keeps rows in input order through
# projections and filters (an upsert sink applies the later of two rows with one
# key), and the on-chain functions run in Python under the GIL: two partitions
# measured no less CPU for decoding 1M logs, only less deterministic output.
SQL_TARGET_PARTITIONS = 1
# Rows per DataFusion batch. Each Python function is called once per batch; at
# 65,536 rows decoding took ~20% less CPU than at DataFusion's 8,192, and a batch
# of raw_logs that size is ~30 MB.
SQL_BATCH_ROWS = 65_536
# Parsed event ABIs kept per process, keyed by the ABI text. A pipeline names a
# handful of ABIs (one per decode call in its SQL); 128 also covers a column of
# per-contract ABIs for a modest contract set, without unbounded growth.
ABI_CACHE_SIZE = 128

# Postgres sink. COPY payload format: "binary" or "csv", both exact for u256. For
# 100k ERC-20-shaped rows binary COPY ran ~2x the rows/s of csv (~380k vs ~190k
# rows/s, encoding included) and ~1.4x psql's \copy of the same rows
# (tests/sinks/bench_postgres_copy.py).
POSTGRES_COPY_FORMAT = "binary"
# Rows encoded per COPY chunk: bounds the temporary buffers of one encode step
# (~35 MB for ERC-20-shaped rows) while per-chunk overhead stays negligible.
POSTGRES_COPY_CHUNK_ROWS = 65_536
# Session settings of a sink's connection. The TEMP staging table lives in
# temp_buffers (default 8 MB): a 100k-row ERC-20 flush stages ~50 MB and spilled to
# disk at the default. work_mem lets DISTINCT ON sort such a flush in memory.
# Both are ceilings used on demand, per sink connection.
POSTGRES_SESSION_SETTINGS = {"temp_buffers": "128MB", "work_mem": "64MB"}
# A connection attempt to the sink's server counts as failed (and is retried)
# after this long; long enough for a server across a WAN.
POSTGRES_CONNECT_TIMEOUT_S = 10

# Archive source. Rows decoded from Parquet per read step: ~8 MiB of raw_logs
# rows. Measured on a 2M-row archive, 16k-row steps peak ~190 MiB lower in RSS
# than 64k-row steps (the reader's buffers scale with the step) at the same speed;
# per-step overhead (conversion, masks) is still amortised.
ARCHIVE_READ_ROWS = 16_384
# Batches an archive source reads ahead in a background thread while the current
# one is transformed and written. Parquet decoding and the SQL engine both release
# the GIL, so one batch ahead overlaps them; two absorbs uneven batch costs. Each
# costs one batch of memory.
ARCHIVE_PREFETCH_BATCHES = 2

# Rows per block in the column-at-a-time u256 conversions (chaintap.u256_vector).
# A block's working arrays (a few uint64 arrays of this many rows) then stay in the
# CPU cache between numpy steps. For 1M ERC-20 amounts, blocks of 4k/16k/64k/1M
# rows parsed in 83/83/107/203 ms and printed in 90/79/80/149 ms.
U256_VECTOR_BLOCK_ROWS = 16_384

"""`EvmRpcSource`: one dataset of one EVM chain, read from a JSON-RPC node."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import pyarrow as pa

from chaintap import tuning
from chaintap.datasets import evm
from chaintap.errors import ConfigError, TerminalError
from chaintap.sources.base import Source, SourceBatch
from chaintap.sources.evm.fetch import LogQuery, RangeFetcher
from chaintap.sources.jsonrpc import JsonRpcClient, RpcCallError, resolve_rpc_url
from chaintap.spec.filters import Pushdown, analyze_filter, block_column
from chaintap.spec.model import BlockRange, SourceSpec
from chaintap.tuning import ResourceProfile

log = logging.getLogger(__name__)

_LOG_DATASETS = ("raw_logs", "erc20_transfers")


class EvmRpcSource(Source):
    """Reads `blocks`, `raw_transactions`, `raw_logs` or `erc20_transfers` of a chain.

    Endpoint: the source's `rpc_url`, else `CHAINTAP_RPC_<CHAIN>`.

    Bounds, all inclusive: the first block is `start_block` or the filter's lower
    block bound, else 0 for `start_at: earliest`, else the node's head when `open`
    runs (`latest`, also the default); the last is `end_block`. Block bounds the
    `filter` implies narrow both.
    `open(cursor)` resumes at `cursor + 1`. A bounded source whose end is past the
    node's head fails at `open`, unless the option `wait_for_head: true` makes it
    wait for the node. A source without an end follows the head, asking the node
    every `poll_interval` seconds (option, default `tuning.EVM_POLL_INTERVAL_S`).

    Batches cover `profile.blocks_per_batch` blocks (fewer at the end and at the
    head); `profile.rpc_concurrency` ranges are fetched at once and yielded in
    block order. Rows are exactly those of `chaintap.sources.evm.fetch`; the
    filter's addresses and topics only narrow `eth_getLogs`, the runtime applies
    the full predicate.

    `target` is None when unbounded, and also once nothing is left to read.
    """

    def __init__(self, spec: SourceSpec, profile: ResourceProfile) -> None:
        super().__init__(spec, profile)
        self._dataset = spec.dataset.dataset.name
        if self._dataset not in evm.SCHEMAS:
            raise ConfigError(
                f"source {spec.name!r}: {spec.dataset.qualified_name} is not an EVM "
                f"dataset; use one of " + ", ".join(sorted(evm.SCHEMAS))
            )
        if spec.block_ranges:
            # Several windows per source are not read by EVM sources yet; a user
            # needs one source per window until they are.
            raise ConfigError(
                f"source {spec.name!r}: block_ranges is not supported for EVM "
                f"chains; use start_block / end_block (one source per window)"
            )
        if spec.start_at not in (None, "earliest", "latest"):
            raise ConfigError(
                f"source {spec.name!r}: start_at must be earliest or latest, "
                f"not {spec.start_at!r}"
            )

        self._wait_for_head = _bool_option(spec, "wait_for_head", default=False)
        self._poll_interval_s = _seconds_option(
            spec, "poll_interval", default=tuning.EVM_POLL_INTERVAL_S
        )
        self._pushdown = (
            analyze_filter(spec.filter, block_column(spec.dataset))
            if spec.filter
            else Pushdown()
        )

        self._client: JsonRpcClient | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._fetcher: RangeFetcher | None = None
        self._closed = threading.Event()
        self._head = -1
        self._end: int | None = None
        self._next = 0  # the first block not yet handed to the pool
        self._emitted = -1  # the last block whose rows were yielded

    def open(self, cursor: int | None) -> None:
        """Connect, read the node's head and plan the range (see the class doc).

        Steps: 1. connect and read chain id and head; 2. resolve the inclusive
        range; 3. refuse a bounded range past the head (unless `wait_for_head`);
        4. start the fetch pool.
        """
        self.close()
        self._closed.clear()
        url = resolve_rpc_url(self.spec.chain, self.spec.rpc_url)
        client = self._client = JsonRpcClient(url, chain=self.spec.chain)
        chain_id, self._head = self._chain_id_and_head(client)

        start, self._end = self._plan(self._head, cursor)
        self._next, self._emitted = start, start - 1
        end = self._end
        past_head = end is not None and start <= end and end > self._head
        if past_head and not self._wait_for_head:
            raise TerminalError(
                f"source {self.name!r}: end block {end} is past the head "
                f"{self._head} of {self.spec.chain} node {client.node}; lower "
                f"end_block, wait until the node has synced, or set "
                f"wait_for_head: true to wait for it"
            )

        self._fetcher = RangeFetcher(
            client,
            self._dataset,
            batch_size=self.profile.rpc_batch_size,
            log_query=self._log_query(),
        )
        self._pool = ThreadPoolExecutor(
            max_workers=max(1, self.profile.rpc_concurrency),
            thread_name_prefix=f"chaintap-{self.name}",
        )
        if self._end is None:
            reading = f"blocks {start}.. following the head"
        elif start > self._end:
            reading = f"nothing: the cursor is at the end block {self._end}"
        else:
            reading = f"blocks {start}..{self._end}"
        log.info(
            "source %s: %s node %s (chain id %d, head %d), reading %s",
            self.name,
            self.spec.chain,
            client.node,
            chain_id,
            self._head,
            reading,
            extra={"source": self.name},
        )

    def _plan(self, head: int, cursor: int | None) -> tuple[int, int | None]:
        """The first block to read and the last (None: follow the head)."""
        spec, pushdown = self.spec, self._pushdown
        floor = max(spec.start_block or 0, pushdown.min_block or 0)
        end = spec.end_block
        if pushdown.max_block is not None:
            end = pushdown.max_block if end is None else min(end, pushdown.max_block)

        if cursor is not None:
            return max(floor, cursor + 1), end
        # A lower block bound in the filter is a start, like start_block; only an
        # explicit `start_at: latest` or no start at all means the head.
        implicit = spec.start_block is None and pushdown.min_block is None
        latest = spec.start_at == "latest" or (implicit and spec.start_at is None)
        start = max(floor, head) if latest else floor
        if end is not None and start > end:
            origin = f"head {head} (start_at: latest)" if latest else f"{start}"
            raise ConfigError(
                f"source {self.name!r}: nothing to read: it starts at block "
                f"{origin} but ends at block {end} (end_block and the filter's "
                f"block bounds); set start_block, start_at: earliest, or a later end"
            )
        return start, end

    def _log_query(self) -> LogQuery | None:
        """The pushed-down `eth_getLogs` filter, for the log datasets only."""
        if self._dataset not in _LOG_DATASETS:
            return None
        pushdown = self._pushdown
        addresses = pushdown.addresses
        return LogQuery(
            addresses=None if addresses is None else tuple(sorted(addresses)),
            topics=tuple(
                None if t is None else tuple(sorted(t)) for t in pushdown.topics
            ),
        )

    @property
    def target(self) -> BlockRange | None:
        if self._end is None or self._emitted >= self._end:
            return None
        return BlockRange(self._emitted + 1, self._end)

    def read(self) -> Iterator[SourceBatch]:
        """Batches in block order until the end (bounded) or `close`.

        After `close` the iterator ends without another batch. An iterator dropped
        early (or failed) leaves the source at its last yielded block, so a new
        `read()` continues right after it.
        """
        pool, fetcher = self._pool, self._fetcher
        if pool is None or fetcher is None:
            raise RuntimeError(f"source {self.name!r}: call open() before read()")
        try:
            yield from self._read(pool, fetcher)
        finally:
            # Ranges fetched but not yielded are fetched again by the next read().
            self._next = self._emitted + 1

    def _read(
        self, pool: ThreadPoolExecutor, fetcher: RangeFetcher
    ) -> Iterator[SourceBatch]:
        window = max(1, self.profile.rpc_concurrency)
        in_flight: deque[tuple[BlockRange, Future[tuple[pa.Table, float]]]] = deque()
        head = self._head

        while not self._closed.is_set():
            # 1. Keep `window` ranges in flight, as far as the node's head allows.
            while len(in_flight) < window and (blocks := self._next_range(head)):
                in_flight.append((blocks, pool.submit(_timed, fetcher, blocks)))

            # 2. Hand out the oldest range once fetched, so batches leave in order.
            if in_flight:
                blocks, future = in_flight.popleft()
                yield self._batch(blocks, *future.result())
                continue

            # 3. Nothing in flight: either the end is reached or the head must move.
            if self._end is not None and self._next > self._end:
                return
            # Reorgs are not handled yet: a block emitted near the head is never
            # revisited, so if the chain replaces it the rows of the orphaned
            # block stay downstream. Needs parent-hash tracking or a finality lag.
            waited = self._await_head(self._next)
            if waited is None:
                return
            head = waited

    def _next_range(self, head: int) -> BlockRange | None:
        """The next range to fetch, up to the end and the head; None when none."""
        last = head if self._end is None else min(self._end, head)
        if self._next > last:
            return None
        blocks = BlockRange(
            self._next, min(self._next + self.profile.blocks_per_batch - 1, last)
        )
        self._next = blocks.end + 1
        return blocks

    def _batch(
        self, blocks: BlockRange, table: pa.Table, seconds: float
    ) -> SourceBatch:
        self._emitted = blocks.end
        log.info(
            "source %s: blocks %s, %d rows in %.2fs",
            self.name,
            blocks,
            table.num_rows,
            seconds,
            extra={"source": self.name, "blocks": str(blocks)},
        )
        return SourceBatch(table, blocks)

    def _await_head(self, block: int) -> int | None:
        """Poll until the node's head reaches `block`; None once closed."""
        client = self._client
        announced = False
        while client is not None and not self._closed.is_set():
            head = _read_head(client)
            if head >= block:
                return head
            if self._end is not None and not announced:
                log.info(
                    "source %s: waiting for node %s to reach block %d (head %d)",
                    self.name,
                    client.node,
                    block,
                    head,
                )
                announced = True
            if self._closed.wait(self._poll_interval_s):
                break
        return None

    def _chain_id_and_head(self, client: JsonRpcClient) -> tuple[int, int]:
        answers = client.batch([("eth_chainId", []), ("eth_blockNumber", [])])
        for method, answer in zip(
            ("eth_chainId", "eth_blockNumber"), answers, strict=True
        ):
            if isinstance(answer, RpcCallError) or not isinstance(answer, str):
                raise TerminalError(
                    f"source {self.name!r}: {self.spec.chain} node {client.node} "
                    f"answered {method} with {answer!r}; check that rpc_url is an "
                    f"Ethereum JSON-RPC endpoint"
                )
        return int(answers[0], 16), int(answers[1], 16)

    def request_stop(self) -> None:
        """End a running `read()` at its next wait for the head (thread-safe)."""
        self._closed.set()

    def close(self) -> None:
        """Stop following the head, wait for in-flight fetches, close the client."""
        self._closed.set()
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        if self._client is not None:
            self._client.close()
            self._client = None
        self._fetcher = None


def _timed(fetcher: RangeFetcher, blocks: BlockRange) -> tuple[pa.Table, float]:
    started = time.monotonic()
    table = fetcher.fetch(blocks)
    return table, time.monotonic() - started


def _read_head(client: JsonRpcClient) -> int:
    try:
        answer = client.call("eth_blockNumber", [])
        return int(answer, 16)
    except (RpcCallError, TypeError, ValueError) as err:
        raise TerminalError(
            f"{client.chain} node {client.node} gave no usable eth_blockNumber "
            f"({err}); check that rpc_url is an Ethereum JSON-RPC endpoint"
        ) from err


def _bool_option(spec: SourceSpec, key: str, *, default: bool) -> bool:
    value: Any = spec.options.get(key, default)
    if not isinstance(value, bool):
        raise ConfigError(f"source {spec.name!r}: {key} must be true or false")
    return value


def _seconds_option(spec: SourceSpec, key: str, *, default: float) -> float:
    value: Any = spec.options.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ConfigError(f"source {spec.name!r}: {key} must be a positive number")
    return float(value)

"""`EvmRpcSource`: one dataset of one EVM chain, read from a JSON-RPC node."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from chaintap import tuning
from chaintap.datasets import evm
from chaintap.datasets.catalog import EVM_CHAIN_IDS
from chaintap.datasets.ops import DELETE_OP, INSERT_OP, OP_FIELD
from chaintap.errors import ConfigError, TerminalError
from chaintap.sources.base import Source, SourceBatch
from chaintap.sources.evm.fetch import LogQuery, RangeFetcher
from chaintap.sources.evm.follow import HeadWatch, Probe
from chaintap.sources.evm.reorg import EmittedWindow, Header, with_op
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
    block bound, else 0 for `start_at: earliest`, else the readable head when
    `open` runs (`latest`, also the default); the last is `end_block`. Block bounds
    the `filter` implies narrow both. The readable head is the node's head minus
    the option `confirmations` (default 0): only blocks at least that deep are
    read, so reorgs shallower than `confirmations` never reach the sinks.
    `open(cursor)` resumes at `cursor + 1`. A bounded source whose end is past the
    readable head fails at `open`, unless the option `wait_for_head: true` makes it
    wait for the node. A source without an end follows the head, asking the node
    every `poll_interval` seconds (option, default `tuning.EVM_POLL_INTERVAL_S`).

    Following the head (no end), the schema gets a trailing column `_gs_op`
    (utf8): 'i' on every row read, 'd' on rows retracted after a reorg. Every
    block within `tuning.EVM_REORG_WINDOW_BLOCKS` of the head is checked to extend
    the last one emitted (by parent hash), and the node is asked, while waiting
    for new blocks, whether it still holds the last one. When the chain replaced
    emitted blocks, the source walks back to the common ancestor and yields one
    retraction batch: the rows emitted for the orphaned blocks (all columns, so
    filters and transforms treat them as before) with `_gs_op = 'd'`, `blocks` the
    orphaned range and `cursor` the ancestor; then it reads the new chain onward.
    A reorg deeper than the remembered blocks, or a node whose head falls below
    them (resyncing), deletes nothing: the source warns every
    `tuning.EVM_HEAD_STALL_LOG_S` and waits until the node holds a remembered
    block again. Bounded sources keep the plain dataset schema and check nothing.

    Deletes reach a sink only as rows with `_gs_op = 'd'`: a SQL transform must
    keep the column (`SELECT *`, or list `_gs_op`), and a postgres sink needs a
    primary key to delete by.

    Batches cover `profile.blocks_per_batch` blocks (fewer at the end and at the
    head); `profile.rpc_concurrency` ranges are fetched at once and yielded in
    block order. Rows are exactly those of `chaintap.sources.evm.fetch`; the
    filter's addresses and topics only narrow `eth_getLogs`, the runtime applies
    the full predicate.

    `target` is None when unbounded, and also once nothing is left to read.
    """

    # NOTE: nothing checks that a chain of SQL transforms keeps `_gs_op` from a
    # source that follows the head. A projection that drops it turns the rows of a
    # retraction batch into ordinary rows, which an upsert sink writes back instead
    # of deleting them: the orphaned rows then stay. `chaintap validate` also plans
    # SQL against the plain dataset schema (runtime/preflight.py), so listing
    # `_gs_op` by name fails validation while `SELECT *` passes, and a postgres
    # sink without primary_key passes validation but fails at open (it cannot
    # delete); `follows_head(spec)` tells preflight which sources carry `_gs_op`.
    # NOTE: the blocks remembered for reorgs survive a restart only when the
    # runtime sets `state_dir` (see `reorg`); without it a reorg of blocks emitted
    # before the restart is not retracted and their rows stay in the sinks.

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
        self._confirmations = _count_option(spec, "confirmations", default=0)
        self._pushdown = (
            analyze_filter(spec.filter, block_column(spec.dataset))
            if spec.filter
            else Pushdown()
        )
        self._follows_head = follows_head(spec)
        self._window = self._new_window()

        self._client: JsonRpcClient | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._fetcher: RangeFetcher | None = None
        self._watch: HeadWatch | None = None
        self._closed = threading.Event()
        self._head = -1
        self._end: int | None = None
        self._next = 0  # the first block not yet handed to the pool
        self._emitted = -1  # the last block whose rows were yielded

    @property
    def schema(self) -> pa.Schema:
        """The dataset's schema, plus `_gs_op` when following the head."""
        plain = self.spec.dataset.dataset.schema
        return plain.append(OP_FIELD) if self._follows_head else plain

    def _new_window(self) -> EmittedWindow:
        stored = self.state_dir is not None and self._follows_head
        return EmittedWindow(
            tuning.EVM_REORG_WINDOW_BLOCKS,
            self.spec.dataset.dataset.schema,
            block_column(self.spec.dataset),
            self.state_dir / "reorg-window" if self.state_dir and stored else None,
        )

    def open(self, cursor: int | None) -> None:
        """Connect, read the node's head and plan the range (see the class doc).

        Steps: 1. connect and read chain id and head; 2. resolve the inclusive
        range; 3. refuse a bounded range past the readable head (unless
        `wait_for_head`); 4. start the fetch pool. Following the head with a
        `state_dir`, the blocks remembered for reorgs are reloaded up to `cursor`
        (see `EmittedWindow.load`); otherwise they are forgotten.
        """
        self.close()
        self._closed.clear()
        self._window = self._new_window()
        url = resolve_rpc_url(self.spec.chain, self.spec.rpc_url)
        client = self._client = JsonRpcClient(
            url, chain=self.spec.chain, stop=self._closed
        )
        chain_id, self._head = self._chain_id_and_head(client)
        expected = EVM_CHAIN_IDS.get(self.spec.chain)
        if expected is not None and chain_id != expected:
            raise ConfigError(
                f"source {self.name!r}: {self.spec.dataset.qualified_name} is chain "
                f"id {expected}, but node {client.node} serves chain id {chain_id}; "
                f"point rpc_url (or CHAINTAP_RPC_{self.spec.chain.upper()}) at a "
                f"{self.spec.chain} node, or name the chain of that node (any "
                f"other EVM chain name works with an endpoint)"
            )

        readable = self._readable(self._head)
        start, self._end = self._plan(readable, cursor)
        self._next, self._emitted = start, start - 1
        self._window.load(cursor)
        if self._window.last not in (None, start - 1):
            self._window.forget()  # start_block moved past the checkpoint
        end = self._end
        past_head = end is not None and start <= end and end > readable
        if past_head and not self._wait_for_head:
            deep = f" minus {self._confirmations} confirmations"
            raise TerminalError(
                f"source {self.name!r}: end block {end} is past the head "
                f"{self._head}{deep if self._confirmations else ''} of "
                f"{self.spec.chain} node {client.node}; lower end_block, wait "
                f"until the node has synced, or set wait_for_head: true to wait "
                f"for it"
            )

        self._fetcher = RangeFetcher(
            client,
            self._dataset,
            batch_size=self.profile.rpc_batch_size,
            log_query=self._log_query(),
        )
        if self._follows_head:
            self._watch = HeadWatch(
                self.name,
                client,
                self._window,
                batch_size=self.profile.rpc_batch_size,
                poll_interval_s=self._poll_interval_s,
                closed=self._closed,
                read_head=_read_head,
            )
        self._pool = ThreadPoolExecutor(
            max_workers=max(1, self.profile.rpc_concurrency),
            thread_name_prefix=f"chaintap-{self.name}",
        )
        if self._end is None:
            reading = (
                f"blocks {start}.. following the head ({self._confirmations} "
                f"confirmations, reorgs retracted up to {self._window.size} "
                f"blocks deep)"
            )
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
    def head(self) -> int | None:
        """The node's head when last asked (at open, and on every poll)."""
        return None if self._head < 0 else self._head

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
        in_flight: deque[tuple[BlockRange, Future[_Fetched]]] = deque()

        while not self._closed.is_set():
            # 1. Keep `window` ranges in flight, as far as the readable head allows.
            while len(in_flight) < window and (blocks := self._next_range()):
                linked = self._checks(blocks)
                in_flight.append((blocks, pool.submit(_timed, fetcher, blocks, linked)))

            # 2. Hand out the oldest range once fetched, so batches leave in order,
            # unless it does not extend what was emitted: then retract a reorg.
            if in_flight:
                blocks, future = in_flight.popleft()
                fetched = future.result()
                headers = fetched.headers
                if headers is None or self._window.links(headers[0]):
                    yield self._batch(blocks, fetched)
                    continue
                in_flight.clear()  # fetched on top of the block that was replaced
                self._next = self._emitted + 1
                if (retraction := self._retract()) is not None:
                    yield retraction
                continue

            # 3. Nothing in flight: either the end is reached or the head must move.
            if self._end is not None and self._next > self._end:
                return
            reorg = self._await_head(self._next)
            if reorg is None:
                return
            if reorg and (retraction := self._retract()) is not None:
                yield retraction

    def _readable(self, head: int) -> int:
        """The last block deep enough to read at node head `head`."""
        return head - self._confirmations

    def _checks(self, blocks: BlockRange) -> bool:
        """Whether `blocks` are close enough to the head to be checked for reorgs."""
        return self._follows_head and blocks.end > self._head - self._window.size

    def _next_range(self) -> BlockRange | None:
        """The next range to fetch, up to the end and the readable head, or None."""
        last = self._readable(self._head)
        if self._end is not None:
            last = min(self._end, last)
        if self._next > last:
            return None
        blocks = BlockRange(
            self._next, min(self._next + self.profile.blocks_per_batch - 1, last)
        )
        self._next = blocks.end + 1
        return blocks

    def _batch(self, blocks: BlockRange, fetched: _Fetched) -> SourceBatch:
        """The batch of one fetched range; remembered for reorgs when following."""
        self._emitted = blocks.end
        table = fetched.table
        if self._follows_head:
            if fetched.headers is None:
                self._window.forget()  # settled: too deep for any reorg we retract
            else:
                self._window.record(blocks, fetched.headers, table)
            table = with_op(table, INSERT_OP)
        log.info(
            "source %s: blocks %s, %d rows in %.2fs",
            self.name,
            blocks,
            table.num_rows,
            fetched.seconds,
            extra={"source": self.name, "blocks": str(blocks)},
        )
        return SourceBatch(table, blocks)

    def _await_head(self, block: int) -> bool | None:
        """Poll until the readable head reaches `block`; None once closed.

        Returns False when it did (`self._head` is the new head). Following the
        head, each poll also probes the node (`HeadWatch.probe`) and returns True
        at once when it no longer holds the last emitted block: a reorg to
        retract. While its head is below the remembered blocks, polling goes on.
        """
        client = self._client
        announced = False
        while client is not None and not self._closed.is_set():
            self._head = _read_head(client)
            if self._readable(self._head) >= block:
                if self._watch is not None:
                    self._watch.caught_up(self._head)
                return False
            if self._watch is not None and self._watch.probe(self._head) is Probe.REORG:
                return True
            if self._end is not None and not announced:
                log.info(
                    "source %s: waiting for node %s to reach block %d (head %d)",
                    self.name,
                    client.node,
                    block + self._confirmations,
                    self._head,
                )
                announced = True
            if self._closed.wait(self._poll_interval_s):
                break
        return None

    def _retract(self) -> SourceBatch | None:
        """The retraction batch for emitted blocks the node's chain no longer holds.

        Steps: 1. find the common ancestor (`HeadWatch.common_ancestor`: it waits,
        deleting nothing, while the node holds no remembered block); 2. forget the
        blocks above it; 3. return their rows with `_gs_op = 'd'`, `blocks` the
        orphaned range and `cursor` the ancestor. None once closed, or when the
        node holds every emitted block after all (its answers disagreed briefly).
        """
        watch, window = self._watch, self._window
        ancestor = None if watch is None else watch.common_ancestor()
        last = window.last
        if watch is None or ancestor is None or last is None or ancestor == last:
            return None
        self._head = watch.head

        rows = window.retract(ancestor)
        self._emitted, self._next = ancestor, ancestor + 1
        log.warning(
            "source %s: reorg on %s node %s: blocks %d..%d were replaced; "
            "retracting their %d rows, back to block %d (the common ancestor)",
            self.name,
            self.spec.chain,
            watch.client.node,
            ancestor + 1,
            last,
            rows.num_rows,
            ancestor,
            extra={"source": self.name, "blocks": f"{ancestor + 1}..{last}"},
        )
        return SourceBatch(
            with_op(rows, DELETE_OP), BlockRange(ancestor + 1, last), cursor=ancestor
        )

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
        self._watch = None


@dataclass(frozen=True)
class _Fetched:
    """One fetched range: its rows, its headers when checked for reorgs, the time."""

    table: pa.Table
    headers: list[Header] | None
    seconds: float


def follows_head(spec: SourceSpec) -> bool:
    """Whether an EVM source of `spec` has no end: it then follows the chain head,
    retracts reorgs and emits the `_gs_op` column. Known without asking a node.

    An unparsable `filter` raises `SqlSyntaxError` (validation reports it first).
    """
    if spec.end_block is not None:
        return False
    if not spec.filter:
        return True
    return analyze_filter(spec.filter, block_column(spec.dataset)).max_block is None


def _timed(fetcher: RangeFetcher, blocks: BlockRange, linked: bool) -> _Fetched:
    started = time.monotonic()
    if linked:
        table, headers = fetcher.fetch_linked(blocks)
        return _Fetched(table, headers, time.monotonic() - started)
    return _Fetched(fetcher.fetch(blocks), None, time.monotonic() - started)


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


def _count_option(spec: SourceSpec, key: str, *, default: int) -> int:
    value: Any = spec.options.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"source {spec.name!r}: {key} must be a whole number >= 0")
    return value


def _seconds_option(spec: SourceSpec, key: str, *, default: float) -> float:
    value: Any = spec.options.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ConfigError(f"source {spec.name!r}: {key} must be a positive number")
    return float(value)

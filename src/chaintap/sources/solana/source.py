"""The Solana JSON-RPC source: `getBlock` per slot, rows of one Solana dataset.

Reading plan (all ranges inclusive):
- `block_ranges`: the windows in order; `start_block`/`end_block`: one window. A
  bounded source ends after its last window. Between windows the batch ranges jump
  (the slots between are not part of the job).
- no end: follow the head from `start_block`, else from the cursor, else from
  `start_at` (`latest` = the node's head, `earliest` = its first available block).
- resume: windows ending at or before the cursor are skipped, the window holding
  it starts at `cursor + 1`.

Each batch covers up to `profile.blocks_per_batch` slots. Its slots are fetched in
parallel (`profile.rpc_concurrency` threads, a few slots per JSON-RPC batch
request), and the batch is emitted only when all are in, so batches leave in slot
order whatever `in_order` says.

Node answers per slot: a block → rows; errors -32007 / -32009 ("slot was skipped,
or missing ...") and a null result (older nodes) → a skipped slot (a `blocks` row
with `skipped = true`, no rows elsewhere); -32004 / -32014 ("block not available",
"block status not yet available") → asked again with backoff, then
`BlockUnavailable`; any other error → `TerminalError` naming slot and node.

The head is the node's `getSlot` at the source's commitment. A bounded range that
ends past the head fails in `open` with `HeadBehind` unless `wait_for_head` is set;
then the source reads up to the head and polls until the chain reaches the end.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from chaintap.errors import ConfigError, TerminalError
from chaintap.sources.base import Source, SourceBatch
from chaintap.sources.jsonrpc import JsonRpcClient, RpcCallError, resolve_rpc_url
from chaintap.sources.solana.config import SolanaSourceOptions
from chaintap.sources.solana.errors import BlockUnavailable, HeadBehind, MalformedBlock
from chaintap.sources.solana.extract import ExtractStats, extract
from chaintap.spec.model import BlockRange, SourceSpec
from chaintap.tuning import (
    RPC_BACKOFF_INITIAL_S,
    RPC_BACKOFF_MAX_S,
    SOLANA_BLOCKS_PER_REQUEST,
    ResourceProfile,
)

log = logging.getLogger(__name__)

# "Slot N was skipped, or missing due to ledger jump to recent snapshot" and
# "Slot N was skipped, or missing in long-term storage": no block will ever exist.
SKIPPED_SLOT_CODES = frozenset({-32007, -32009})
# "Block not available for slot N", "Block status not yet available": ask again.
NOT_YET_CODES = frozenset({-32004, -32014})


class SolanaRpcSource(Source):
    """Rows of `solana.<dataset>` read from a Solana JSON-RPC node (see module doc).

    Options are checked in the constructor (`ConfigError` listing every problem);
    `open` connects, plans the windows and checks the head.
    """

    def __init__(self, spec: SourceSpec, profile: ResourceProfile) -> None:
        super().__init__(spec, profile)
        self.options = SolanaSourceOptions.from_spec(spec)
        self._dataset = spec.dataset.dataset.name
        self._client: JsonRpcClient | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._closed = threading.Event()
        # Bounded: the windows still to read. Unbounded: None, and `_follow_from`.
        self._windows: list[BlockRange] | None = None
        self._follow_from = 0
        self._span: BlockRange | None = None
        self._head = -1
        self._request = {
            "encoding": self.options.encoding,
            "maxSupportedTransactionVersion": 0,
            "transactionDetails": "full",
            "rewards": True,
            "commitment": self.options.commitment,
        }

    @property
    def node(self) -> str:
        """The node's URL with credentials masked, for messages."""
        return self._rpc().node

    def open(self, cursor: int | None) -> None:
        """1. connect; 2. plan windows (or the follow start) after `cursor`;
        3. for a bounded source, check its end against the head."""
        url = resolve_rpc_url(self.spec.chain, self.spec.rpc_url)
        self._client = JsonRpcClient(
            url,
            chain=self.spec.chain,
            max_attempts=self.options.rpc_max_attempts,
            stop=self._closed,
        )
        self._pool = ThreadPoolExecutor(
            max_workers=self.profile.rpc_concurrency,
            thread_name_prefix=f"solana-{self.name}",
        )

        planned = self._planned_windows()
        if planned is None:
            self._follow_from = self._follow_start(cursor)
            return
        self._span = BlockRange(planned[0].start, planned[-1].end)
        self._windows = _after_cursor(planned, cursor)

        if self._windows and not self.options.wait_for_head:
            end = self._windows[-1].end
            if end > self._refresh_head():
                raise HeadBehind(
                    f"solana source {self.name!r}: the range ends at slot {end}, "
                    f"past the head of node {self.node} (slot {self._head} at "
                    f"commitment {self.options.commitment}); lower the end slot, or "
                    f"set wait_for_head: true to wait for the chain to get there"
                )

    @property
    def target(self) -> BlockRange | None:
        """The inclusive slots still to read (the whole configured span when none
        are left); None when following the head."""
        if self._windows is None:
            return None
        if not self._windows:
            return self._span
        return BlockRange(self._windows[0].start, self._windows[-1].end)

    @property
    def head(self) -> int | None:
        """The slot of the node's last `getSlot` answer (at the source's
        commitment); None before the source asked. The source asks when it needs
        slots past the last head it knew, so between batches this can trail the
        chain."""
        return None if self._head < 0 else self._head

    def read(self) -> Iterator[SourceBatch]:
        """Batches in slot order; see the module docstring for the plan."""
        if self._windows is None:
            yield from self._read_from(self._follow_from, None)
            return
        for window in list(self._windows):
            yield from self._read_from(window.start, window.end)

    def request_stop(self) -> None:
        """End a running `read()` at its next wait for the head (thread-safe)."""
        self._closed.set()

    def close(self) -> None:
        """Stop waiting for the head, cancel queued fetches, close connections.

        May be called from another thread to stop a source that waits for the head:
        its `read()` then ends without another batch."""
        self._closed.set()
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        if self._client is not None:
            self._client.close()
            self._client = None

    def _read_from(self, start: int, last: int | None) -> Iterator[SourceBatch]:
        """Batches from `start` to `last` (inclusive), or on forever when None."""
        # Not done: the next batch is not fetched while the runtime processes this
        # one, so fetch and downstream work alternate instead of overlapping.
        while last is None or start <= last:
            wanted = start + self.profile.blocks_per_batch - 1
            end = self._available(start, wanted if last is None else min(wanted, last))
            if end is None:
                return
            yield self._batch(start, end)
            start = end + 1

    def _available(self, start: int, end: int) -> int | None:
        """`end`, or less when the head is below it; waits while the head is below
        `start`. None when the source was closed (from any thread) while waiting."""
        if end <= self._head:
            return end
        self._refresh_head()
        while self._head < start:
            if self._closed.wait(self.options.head_poll_interval_s):
                return None
            try:
                self._refresh_head()
            except Exception:
                # close() from another thread shut the client mid-call: stop.
                if self._closed.is_set():
                    return None
                raise
        return min(end, self._head)

    def _batch(self, start: int, end: int) -> SourceBatch:
        slots = list(range(start, end + 1))
        blocks = self._fetch(slots)
        stats = ExtractStats()
        table = extract(self._dataset, list(zip(slots, blocks, strict=True)), stats)
        log.debug(
            "solana source %s: slots %d..%d, %d skipped, %d transactions, %d rows, "
            "%d transactions whose token movements do not match balance deltas",
            self.name,
            start,
            end,
            stats.skipped,
            stats.transactions,
            table.num_rows,
            stats.unreconciled,
        )
        return SourceBatch(table, BlockRange(start, end))

    def _fetch(self, slots: Sequence[int]) -> list[dict[str, Any] | None]:
        """The getBlock result of every slot (None when skipped), in slot order."""
        if self._pool is None:
            raise TerminalError(f"solana source {self.name!r}: read before open")
        size = max(1, min(self.profile.rpc_batch_size, SOLANA_BLOCKS_PER_REQUEST))
        chunks = [slots[i : i + size] for i in range(0, len(slots), size)]
        out: list[dict[str, Any] | None] = []
        for part in self._pool.map(self._fetch_chunk, chunks):
            out.extend(part)
        return out

    def _fetch_chunk(self, slots: Sequence[int]) -> list[dict[str, Any] | None]:
        """1. ask for all pending slots in one batch request; 2. keep blocks and
        skipped slots; 3. back off and ask again for "not available yet" ones."""
        found: dict[int, dict[str, Any] | None] = {}
        pending = list(slots)
        delay = RPC_BACKOFF_INITIAL_S
        last_message = ""
        for attempt in range(1, self.options.rpc_max_attempts + 1):
            calls = [("getBlock", [slot, self._request]) for slot in pending]
            answers = self._rpc().batch(calls)
            retry: list[int] = []
            for slot, answer in zip(pending, answers, strict=True):
                if not self._keep(slot, answer, found):
                    retry.append(slot)
                    last_message = str(answer)
            pending = retry
            if not pending:
                return [found[slot] for slot in slots]

            if attempt < self.options.rpc_max_attempts:
                log.warning(
                    "solana node %s: %d slot(s) from %d not available yet; "
                    "retry %d/%d in %.2fs",
                    self.node,
                    len(pending),
                    pending[0],
                    attempt,
                    self.options.rpc_max_attempts - 1,
                    delay,
                )
                if self._closed.wait(delay):
                    break
                delay = min(delay * 2, RPC_BACKOFF_MAX_S)

        raise BlockUnavailable(
            f"solana node {self.node} still has no block for slot {pending[0]} "
            f"after {self.options.rpc_max_attempts} attempts ({last_message}); the "
            f"node may lag behind or lack this part of the ledger: check its "
            f"health, or point rpc_url at a node with full history"
        )

    def _keep(self, slot: int, answer: Any, found: dict[int, Any]) -> bool:
        """Record `answer` for `slot` in `found`; False when it must be asked again."""
        if isinstance(answer, RpcCallError):
            if answer.code in NOT_YET_CODES:
                return False
            if answer.code not in SKIPPED_SLOT_CODES:
                raise TerminalError(
                    f"solana node {self.node} refused getBlock for slot {slot} "
                    f"(JSON-RPC error {answer.code}: {answer.message}); check that "
                    f"the node serves this slot and supports the source's options "
                    f"(encoding {self.options.encoding}, transaction version 0)"
                )
            found[slot] = None
        elif answer is None or isinstance(answer, dict):
            found[slot] = answer
        else:
            raise MalformedBlock(
                f"solana node {self.node} answered getBlock for slot {slot} with a "
                f"{type(answer).__name__}, not a block object; check rpc_url "
                f"points at a Solana node"
            )
        return True

    def _planned_windows(self) -> list[BlockRange] | None:
        """The configured windows, None when the source has no end."""
        spec = self.spec
        if spec.block_ranges:
            # Between two windows the next batch starts past the previous one's
            # end + 1: the runtime sees a gap in the slot ranges it checkpoints.
            return list(spec.block_ranges)
        if spec.end_block is None:
            return None
        start = spec.start_block
        if start is None:
            start = self._start_at()
        if start > spec.end_block:
            raise ConfigError(
                f"sources.{self.name}.end_block: {spec.end_block} is before the "
                f"start slot {start} that start_at {spec.start_at or 'latest'} "
                f"resolved to on node {self.node}; set start_block"
            )
        return [BlockRange(start, spec.end_block)]

    def _follow_start(self, cursor: int | None) -> int:
        if cursor is not None:
            return cursor + 1
        if self.spec.start_block is not None:
            return self.spec.start_block
        return self._start_at()

    def _start_at(self) -> int:
        """The slot `start_at` names: the node's first available block or head."""
        if self.spec.start_at == "earliest":
            return int(self._call("getFirstAvailableBlock", []))
        return self._refresh_head()

    def _refresh_head(self) -> int:
        commitment = {"commitment": self.options.commitment}
        self._head = int(self._call("getSlot", [commitment]))
        return self._head

    def _call(self, method: str, params: list[Any]) -> Any:
        try:
            return self._rpc().call(method, params)
        except RpcCallError as err:
            raise TerminalError(
                f"solana node {self.node} refused {method} ({err}); check that "
                f"rpc_url points at a Solana JSON-RPC node"
            ) from err

    def _rpc(self) -> JsonRpcClient:
        if self._client is None:
            raise TerminalError(f"solana source {self.name!r}: used before open")
        return self._client


def _after_cursor(windows: list[BlockRange], cursor: int | None) -> list[BlockRange]:
    """The parts of `windows` after slot `cursor` (all of them when None)."""
    if cursor is None:
        return windows
    left: list[BlockRange] = []
    for window in windows:
        if window.end <= cursor:
            continue
        left.append(BlockRange(max(window.start, cursor + 1), window.end))
    return left

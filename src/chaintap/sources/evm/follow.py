"""Watching the node for a source that follows the chain head: reorgs and stalls.

`HeadWatch` compares the blocks a source emitted (its `EmittedWindow`) with the
chain its node holds now:

- `probe(head)`, while the source waits for new blocks: does the node still hold
  the last emitted block (one `eth_getBlockByNumber`)?
- `common_ancestor()`, after a mismatch: walk back from the last emitted block,
  asking for the node's blocks by number in JSON-RPC batches, to the highest one
  it still holds. While it holds none (a reorg deeper than the window, or a node
  whose head fell below it) this waits, polling, and never gives up on its own.

Both situations where the source cannot go on (below the window, deeper than it)
are logged as a warning at once and then every `tuning.EVM_HEAD_STALL_LOG_S`, with
one line when they end. Nothing here deletes or yields rows; the source does.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from enum import Enum

from chaintap import tuning
from chaintap.sources.evm.reorg import EmittedWindow, Header
from chaintap.sources.jsonrpc import JsonRpcClient, RpcCallError

log = logging.getLogger(__name__)


class Probe(Enum):
    """What `HeadWatch.probe` found."""

    SAME = "same"  # the node holds the last emitted block (or cannot tell yet)
    REORG = "reorg"  # the node's block at that height has another hash
    BEHIND = "behind"  # the node's head is below every remembered block


class _Stall:
    """A situation that is warned about at once, then every EVM_HEAD_STALL_LOG_S."""

    def __init__(self) -> None:
        self.since: float | None = None
        self._next_at = 0.0

    def due(self) -> bool:
        """Start the clock when not started; True when a warning is due now."""
        now = time.monotonic()
        if self.since is None:
            self.since = now
        if now < self._next_at:
            return False
        self._next_at = now + tuning.EVM_HEAD_STALL_LOG_S
        return True

    def seconds(self) -> float:
        return 0.0 if self.since is None else time.monotonic() - self.since


class HeadWatch:
    """Checks what source `source` emitted against the chain of its node.

    `read_head` asks the node for its head (raising as the source does);
    `closed` ends any wait. Not thread-safe: the source's reading thread uses it.
    """

    def __init__(
        self,
        source: str,
        client: JsonRpcClient,
        window: EmittedWindow,
        *,
        batch_size: int,
        poll_interval_s: float,
        closed: threading.Event,
        read_head: Callable[[JsonRpcClient], int],
    ) -> None:
        self.source = source
        self.client = client
        self.window = window
        self.head = -1
        self._batch_size = max(1, batch_size)
        self._poll_interval_s = poll_interval_s
        self._closed = closed
        self._read_head = read_head
        self._behind = _Stall()

    def probe(self, head: int) -> Probe:
        """Whether the node, at head `head`, still holds the last emitted block.

        Compares the node's block at min(head, last emitted) with the remembered
        hash. A node with no answer for it (an error, null) counts as SAME: the
        next poll asks again. Logs the BEHIND warning, and its end.
        """
        self.head = head
        window = self.window
        if window.last is None:
            return self._settled(Probe.SAME)
        number = min(head, window.last)
        known = window.hash_of(number)
        if known is None:
            if self._behind.due():
                self._warn_behind()
            return Probe.BEHIND
        try:
            answer = self.client.call("eth_getBlockByNumber", [hex(number), False])
            found = Header.of(answer) if isinstance(answer, dict) else None
        except (RpcCallError, KeyError, TypeError, ValueError) as err:
            log.debug("source %s: no header of block %d: %s", self.source, number, err)
            return self._settled(Probe.SAME)
        same = found is None or found.hash == known
        return self._settled(Probe.SAME if same else Probe.REORG)

    def caught_up(self, head: int) -> None:
        """The node has new blocks to read: ends (and logs the end of) a BEHIND."""
        self.head = head
        self._settled(Probe.SAME)

    def common_ancestor(self) -> int | None:
        """The highest remembered block the node holds; waits while there is none.

        Asks again every poll interval, with the warnings of the module docstring.
        None once `closed` is set. `head` is the node's head when it returns.
        """
        stall = _Stall()
        while not self._closed.is_set():
            self.head = self._read_head(self.client)
            ancestor = self._walk_back()
            if ancestor is not None:
                if stall.since is not None:
                    self._log_resumed(stall, f"holds block {ancestor} again")
                return ancestor
            if stall.due():
                if self.window.base is not None and self.head < self.window.base:
                    self._warn_behind(stall)
                else:
                    self._warn_deep(stall)
            if self._closed.wait(self._poll_interval_s):
                break
        return None

    def _walk_back(self) -> int | None:
        """One walk from min(head, last) down to the base, a batch at a time."""
        window = self.window
        if window.base is None or window.last is None:
            return None
        number = min(self.head, window.last)
        while number >= window.base:
            numbers = range(max(window.base, number - self._batch_size + 1), number + 1)
            answers = self.client.batch(
                [("eth_getBlockByNumber", [hex(n), False]) for n in numbers]
            )
            canonical = {
                n: str(a.get("hash")).lower() if isinstance(a, dict) else None
                for n, a in zip(numbers, answers, strict=True)
            }
            ancestor = window.common_ancestor(canonical)
            if ancestor is not None:
                return ancestor
            number = numbers.start - 1
        return None

    def _settled(self, probe: Probe) -> Probe:
        """`probe`, after logging the end of a BEHIND stall if one was going on."""
        if self._behind.since is not None:
            self._log_resumed(self._behind, f"is back at head {self.head}")
            self._behind = _Stall()
        return probe

    def _log_resumed(self, stall: _Stall, what: str) -> None:
        log.info(
            "source %s: node %s %s after %.0fs; reading goes on",
            self.source,
            self.client.node,
            what,
            stall.seconds(),
        )

    def _warn_behind(self, stall: _Stall | None = None) -> None:
        window = self.window
        log.warning(
            "source %s: node %s is at head %d, below the blocks %d..%d this source "
            "emitted last (for %.0fs; resyncing, or a load balancer's backend "
            "behind the others); waiting for it to catch up, nothing is retracted",
            self.source,
            self.client.node,
            self.head,
            (window.base or 0) + 1,
            window.last,
            (stall or self._behind).seconds(),
        )

    def _warn_deep(self, stall: _Stall) -> None:
        window = self.window
        base, last = window.base or 0, window.last or 0
        log.warning(
            "source %s: node %s holds none of the blocks %d..%d this source emitted "
            "last (for %.0fs): a reorg deeper than the %d blocks it remembers. "
            "Nothing is retracted; reading waits until the node holds one of them "
            "again. If the node's chain is right, the sinks may hold rows of "
            "orphaned blocks up to %d: delete them, then run the pipeline again "
            "from below block %d (start_block, --clear-state)",
            self.source,
            self.client.node,
            base,
            last,
            stall.seconds(),
            window.size,
            last,
            base,
        )

"""The fetch plans of the EVM source: which JSON-RPC calls produce one block range.

`RangeFetcher.fetch(blocks)` returns the rows of every block of the inclusive range
`blocks`, all or nothing (never the rows of part of a block):

- `blocks`: `eth_getBlockByNumber(n, false)` for each block;
- `raw_transactions`: `eth_getBlockByNumber(n, true)` for each block, then each
  block's receipts with `eth_getBlockReceipts(n)`; a node without that method is
  asked `eth_getTransactionReceipt` per transaction instead, for the rest of the run;
- `raw_logs`, `erc20_transfers`: one `eth_getLogs` over the range with the
  pushed-down addresses and topics, the range halved (recursively, down to one
  block) while the node refuses it as too large; then the headers of the blocks
  that have logs, for their timestamps and hashes.

`RangeFetcher.fetch_linked(blocks)` also returns the header of every block of the
range, checked to chain one to the next (each block's parent hash is the hash of
the block before it); the source's reorg detection builds on them. For the block
datasets they come with the blocks; for the log datasets every block's header is
asked for, not only those of blocks with logs.

Calls for many blocks are packed into JSON-RPC batch requests of `batch_size`.

Consistency: a block the node answers null for, receipts that do not match the
block's transactions one to one and in order, or a log whose `blockHash` is not the
header's hash, or headers that do not chain (a lagging backend, a reorg between
two calls) make the whole range be
fetched again after a pause (`tuning.EVM_RECHECK_*`); if it persists, `TerminalError`
names node, range and what disagreed.
"""

from __future__ import annotations

import itertools
import logging
import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from chaintap import tuning
from chaintap.errors import TerminalError
from chaintap.sources.evm import extract
from chaintap.sources.evm.extract import quantity
from chaintap.sources.evm.reorg import Header
from chaintap.sources.jsonrpc import JsonRpcClient, RpcCallError, is_too_large
from chaintap.spec.model import BlockRange

log = logging.getLogger(__name__)

JsonObject = dict[str, Any]

# How nodes say they do not implement a method (geth, erigon, nethermind, providers).
_UNSUPPORTED_TEXT = re.compile(
    r"method not found|not supported|unsupported|does not exist|not available",
    re.IGNORECASE,
)
# How nodes say they do not have a block (yet); worth asking again shortly.
_NOT_YET_TEXT = re.compile(
    r"(header|block|receipts?) not found|unknown block", re.IGNORECASE
)


@dataclass(frozen=True)
class LogQuery:
    """The `eth_getLogs` filter pushed down to the node.

    `addresses` are the allowed log addresses, None for any. `topics[i]` are the
    values allowed at position i (any of them matches), None for any value. An
    empty tuple in either place allows nothing: no log can match the query.
    """

    addresses: tuple[str, ...] | None = None
    topics: tuple[tuple[str, ...] | None, ...] = ()

    @property
    def matches_nothing(self) -> bool:
        """True when some position allows no value at all."""
        return any(allowed == () for allowed in (self.addresses, *self.topics))

    def params(self, blocks: BlockRange) -> JsonObject:
        """The filter object for the inclusive range `blocks`."""
        params: JsonObject = {
            "fromBlock": hex(blocks.start),
            "toBlock": hex(blocks.end),
        }
        if self.addresses is not None:
            addresses = sorted(self.addresses)
            params["address"] = addresses[0] if len(addresses) == 1 else addresses
        topics: list[Any] = [
            None if allowed is None else sorted(allowed) for allowed in self.topics
        ]
        while topics and topics[-1] is None:
            topics.pop()
        if topics:
            params["topics"] = topics
        return params


class _Recheck(Exception):
    """Internal: the node's answers for a range disagree; fetch the range again."""


class RangeFetcher:
    """Fetches the rows of one dataset for inclusive block ranges (thread-safe)."""

    def __init__(
        self,
        client: JsonRpcClient,
        dataset: str,
        *,
        batch_size: int,
        log_query: LogQuery | None = None,
    ) -> None:
        if dataset not in ("blocks", "raw_transactions", "raw_logs", "erc20_transfers"):
            raise ValueError(f"no fetch plan for EVM dataset {dataset!r}")
        self._client = client
        self._dataset = dataset
        self._batch_size = max(1, batch_size)
        query = log_query or LogQuery()
        if dataset == "erc20_transfers":
            query = LogQuery(query.addresses, _with_transfer_topic(query.topics))
        self._log_query = query
        # Learned once per run: the node lacks eth_getBlockReceipts.
        self._per_tx_receipts = False
        self._fallback_lock = threading.Lock()

    def fetch(self, blocks: BlockRange) -> pa.Table:
        """All rows of the blocks in `blocks` (inclusive); see the module docstring."""
        table, _ = self._fetch(blocks, linked=False)
        return table

    def fetch_linked(self, blocks: BlockRange) -> tuple[pa.Table, list[Header]]:
        """`fetch`, and the headers of every block in `blocks`, chained in order."""
        table, headers = self._fetch(blocks, linked=True)
        assert headers is not None
        return table, headers

    def _fetch(
        self, blocks: BlockRange, *, linked: bool
    ) -> tuple[pa.Table, list[Header] | None]:
        """One range, fetched again while the node's answers disagree."""
        attempts = tuning.EVM_RECHECK_ATTEMPTS
        delay = tuning.EVM_RECHECK_BACKOFF_S
        reason = "no attempt was made"
        for attempt in range(1, attempts + 1):
            try:
                return self._fetch_once(blocks, linked)
            except _Recheck as problem:
                reason = str(problem)
            if attempt < attempts:
                log.warning(
                    "node %s, blocks %s: %s; fetching the range again in %.1fs",
                    self._client.node,
                    blocks,
                    reason,
                    delay,
                )
                time.sleep(delay)
                delay *= 2

        raise TerminalError(
            f"{self._client.chain} node {self._client.node}, blocks {blocks}: "
            f"{reason}, still after {attempts} attempts; check that the node is "
            f"synced and keeps this history (an archive node for old blocks), or "
            f"point rpc_url at one that does"
        )

    def _fetch_once(
        self, blocks: BlockRange, linked: bool
    ) -> tuple[pa.Table, list[Header] | None]:
        numbers = range(blocks.start, blocks.end + 1)
        try:
            if self._dataset == "blocks":
                found = self._blocks(numbers, full=False)
                table = extract.blocks_table(found)
            elif self._dataset == "raw_transactions":
                found = self._blocks(numbers, full=True)
                table = extract.transactions_table(found, self._receipts(found))
            else:
                logs, found = self._logs(blocks, every_header=linked)
                timestamps = {
                    int(b["number"], 16): int(b["timestamp"], 16) for b in found
                }
                if self._dataset == "raw_logs":
                    table = extract.logs_table(logs, timestamps)
                else:
                    table = extract.erc20_transfers_table(logs, timestamps)
            return table, _chained([Header.of(b) for b in found]) if linked else None
        except (KeyError, TypeError, ValueError) as err:
            raise TerminalError(
                f"{self._client.chain} node {self._client.node} answered a malformed "
                f"object for blocks {blocks} ({err!r}); the node or provider is not "
                f"a standard Ethereum JSON-RPC node, point rpc_url at one that is"
            ) from err

    def _batch(self, calls: Sequence[tuple[str, list[Any]]]) -> list[Any]:
        """Results of `calls` in order, sent in batch requests of `batch_size`."""
        results: list[Any] = []
        for first in range(0, len(calls), self._batch_size):
            results.extend(self._client.batch(calls[first : first + self._batch_size]))
        return results

    def _refused(self, method: str, what: str, err: RpcCallError) -> Exception:
        """The error for a call the node answered with an error object."""
        if _NOT_YET_TEXT.search(err.message):
            return _Recheck(
                f"the node answered {method} for {what} with {err.message!r}"
            )
        return TerminalError(
            f"{self._client.chain} node {self._client.node} refused {method} for "
            f"{what}: {err.message} (code {err.code}); check that the node serves "
            f"this method and keeps this history"
        )

    def _blocks(self, numbers: Sequence[int], *, full: bool) -> list[JsonObject]:
        """The blocks `numbers`, headers only or with full transactions."""
        calls = [("eth_getBlockByNumber", [hex(n), full]) for n in numbers]
        found: list[JsonObject] = []
        for number, result in zip(numbers, self._batch(calls), strict=True):
            if isinstance(result, RpcCallError):
                raise self._refused("eth_getBlockByNumber", f"block {number}", result)
            if result is None:
                raise _Recheck(f"the node answered null for block {number}")
            if not isinstance(result, dict) or quantity(result["number"]) != number:
                raise ValueError(f"eth_getBlockByNumber({number}) is not that block")
            found.append(result)
        return found

    def _receipts(self, blocks: Sequence[JsonObject]) -> list[list[JsonObject]]:
        """Each block's receipts, checked against its transactions."""
        if not self._per_tx_receipts:
            receipts = self._block_receipts(blocks)
            if receipts is not None:
                _check_receipts(blocks, receipts)
                return receipts

        receipts = self._receipts_per_transaction(blocks)
        _check_receipts(blocks, receipts)
        return receipts

    def _block_receipts(
        self, blocks: Sequence[JsonObject]
    ) -> list[list[JsonObject]] | None:
        """Receipts by `eth_getBlockReceipts`; None when the node lacks the method."""
        busy = [b for b in blocks if b["transactions"]]
        calls = [("eth_getBlockReceipts", [hex(int(b["number"], 16))]) for b in busy]
        by_hash: dict[str, list[JsonObject]] = {}
        for block, result in zip(busy, self._batch(calls), strict=True):
            number = quantity(block["number"])
            if isinstance(result, RpcCallError):
                if result.code == -32601 or _UNSUPPORTED_TEXT.search(result.message):
                    self._fall_back(result)
                    return None
                raise self._refused("eth_getBlockReceipts", f"block {number}", result)
            if not isinstance(result, list):
                raise _Recheck(f"the node answered null receipts for block {number}")
            by_hash[block["hash"]] = result
        return [by_hash.get(b["hash"], []) for b in blocks]

    def _fall_back(self, err: RpcCallError) -> None:
        with self._fallback_lock:
            if self._per_tx_receipts:
                return
            self._per_tx_receipts = True
        log.warning(
            "node %s does not serve eth_getBlockReceipts (%s); asking for each "
            "transaction's receipt instead for the rest of the run",
            self._client.node,
            err.message,
        )

    def _receipts_per_transaction(
        self, blocks: Sequence[JsonObject]
    ) -> list[list[JsonObject]]:
        """Receipts by `eth_getTransactionReceipt`, grouped by block."""
        hashes = [tx["hash"] for block in blocks for tx in block["transactions"]]
        calls = [("eth_getTransactionReceipt", [h]) for h in hashes]
        results = iter(zip(hashes, self._batch(calls), strict=True))

        grouped: list[list[JsonObject]] = []
        for block in blocks:
            receipts = []
            for _ in block["transactions"]:
                tx_hash, result = next(results)
                if isinstance(result, RpcCallError):
                    what = f"transaction {tx_hash}"
                    raise self._refused("eth_getTransactionReceipt", what, result)
                if result is None:
                    raise _Recheck(f"the node has no receipt for transaction {tx_hash}")
                receipts.append(result)
            grouped.append(receipts)
        return grouped

    def _logs(
        self, blocks: BlockRange, *, every_header: bool
    ) -> tuple[list[JsonObject], list[JsonObject]]:
        """The range's logs in block order, and the headers of their blocks.

        With `every_header` the headers of every block in the range come back,
        else only those of blocks that have logs. Every log is checked against its
        block's header, so a log of a block that a reorg replaced between the
        calls is never emitted. With `every_header` the headers are read first and
        the last one again after `eth_getLogs`: a block hash commits to all its
        ancestors, so an unchanged last hash means the logs (or their absence)
        belong to the chain of those headers.
        """
        if self._log_query.matches_nothing and not every_header:
            return [], []
        every = (
            self._blocks(range(blocks.start, blocks.end + 1), full=False)
            if every_header
            else []
        )
        # Without every_header only blocks that have logs are looked up, so a node
        # that lacks a block below its head (and so reports no logs for it) goes
        # unnoticed here; the block datasets do catch it. Checking every header
        # would cost one call per block on sparse filters.
        logs = [] if self._log_query.matches_nothing else self._get_logs(blocks)
        for entry in logs:
            number = quantity(entry["blockNumber"])
            if number is None or not blocks.start <= number <= blocks.end:
                raise ValueError(f"eth_getLogs({blocks}) returned a log of {number}")
            if entry.get("removed"):
                raise _Recheck(f"a log of block {number} was removed (a reorg)")
        logs.sort(key=lambda e: (int(e["blockNumber"], 16), int(e["logIndex"], 16)))

        if every_header:
            found = every
            _same_block(every[-1], self._blocks([blocks.end], full=False)[0])
        else:
            found = self._blocks(
                sorted({int(e["blockNumber"], 16) for e in logs}), full=False
            )
        headers = {int(h["number"], 16): h for h in found}
        for entry in logs:
            number = int(entry["blockNumber"], 16)
            block_hash = str(headers[number]["hash"]).lower()
            if str(entry["blockHash"]).lower() != block_hash:
                raise _Recheck(
                    f"a log of block {number} has blockHash {entry['blockHash']} "
                    f"but the block's hash is {block_hash}"
                )
        return logs, found

    def _get_logs(self, blocks: BlockRange) -> list[JsonObject]:
        """`eth_getLogs` over `blocks`, halving the range while the node refuses it.

        The split is not remembered: on a node with a small range cap every batch
        first spends one refused call on its whole range.
        """
        params = self._log_query.params(blocks)
        try:
            found = self._client.call("eth_getLogs", [params])
        except RpcCallError as err:
            if not (is_too_large(err.message) or _has_range_hint(err)):
                raise self._refused("eth_getLogs", f"blocks {blocks}", err) from err
            if len(blocks) <= tuning.RPC_MIN_LOG_RANGE:
                raise TerminalError(
                    f"{self._client.chain} node {self._client.node} refuses "
                    f"eth_getLogs even for blocks {blocks} ({err.message}); narrow "
                    f"the source filter (address, topics) or use a node without a "
                    f"log-result cap"
                ) from err
            middle = blocks.start + len(blocks) // 2 - 1
            log.debug(
                "node %s refused eth_getLogs for blocks %s (%s); splitting in halves",
                self._client.node,
                blocks,
                err.message,
            )
            return self._get_logs(BlockRange(blocks.start, middle)) + self._get_logs(
                BlockRange(middle + 1, blocks.end)
            )

        if not isinstance(found, list) or not all(isinstance(e, dict) for e in found):
            raise ValueError(f"eth_getLogs({blocks}) did not answer a list of logs")
        return found


def _with_transfer_topic(
    topics: tuple[tuple[str, ...] | None, ...],
) -> tuple[tuple[str, ...] | None, ...]:
    """`topics` with topic0 narrowed to the Transfer event.

    A pushed-down topic0 that excludes Transfer leaves an empty set: the node then
    returns no logs, which is the right answer.
    """
    allowed = topics[0] if topics else None
    if allowed is None:
        topic0: tuple[str, ...] = (extract.TRANSFER_TOPIC,)
    else:
        lowered = {t.lower() for t in allowed}
        topic0 = (extract.TRANSFER_TOPIC,) if extract.TRANSFER_TOPIC in lowered else ()
    return (topic0, *topics[1:])


def _same_block(before: JsonObject, after: JsonObject) -> None:
    """Raise `_Recheck` when two answers for one block number differ in hash."""
    if str(before["hash"]).lower() != str(after["hash"]).lower():
        raise _Recheck(
            f"block {int(after['number'], 16)} changed from {before['hash']} to "
            f"{after['hash']} while its range was read (a reorg)"
        )


def _chained(headers: list[Header]) -> list[Header]:
    """`headers`, once checked that each one's parent is the one before it."""
    for before, after in itertools.pairwise(headers):
        if after.parent_hash != before.hash:
            raise _Recheck(
                f"block {after.number} has parent hash {after.parent_hash}, but "
                f"block {before.number} has hash {before.hash} (a reorg between "
                f"two calls)"
            )
    return headers


def _has_range_hint(err: RpcCallError) -> bool:
    """A -32005 refusal whose data suggests a smaller range (Infura's shape)."""
    data = err.data
    return err.code == -32005 and isinstance(data, dict) and "to" in data


def _check_receipts(
    blocks: Sequence[JsonObject], receipts: Sequence[Sequence[JsonObject]]
) -> None:
    """Raise `_Recheck` unless receipts match each block's transactions in order."""
    for block, block_receipts in zip(blocks, receipts, strict=True):
        number = quantity(block["number"])
        transactions = block["transactions"]
        if len(block_receipts) != len(transactions):
            raise _Recheck(
                f"block {number} has {len(transactions)} transactions but the node "
                f"gave {len(block_receipts)} receipts"
            )
        block_hash = str(block["hash"]).lower()
        for tx, receipt in zip(transactions, block_receipts, strict=True):
            if str(receipt["transactionHash"]).lower() != str(tx["hash"]).lower():
                raise _Recheck(
                    f"block {number}: receipt for {receipt['transactionHash']} where "
                    f"transaction {tx['hash']} stands"
                )
            if str(receipt["blockHash"]).lower() != block_hash:
                raise _Recheck(
                    f"block {number}: the receipt of {tx['hash']} belongs to block "
                    f"hash {receipt['blockHash']}, not {block['hash']}"
                )

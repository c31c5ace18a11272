"""Reorgs on a real anvil node, the chain read back independently, and helpers.

- `Chain`: the calls a reorg test makes on anvil: send token transfers (one block
  each, automine), replace the last blocks with other transfers (`anvil_reorg`),
  snapshot / revert, and the canonical ERC-20 transfers read back with
  `eth_getLogs` and parsed here, without chaintap's extract code.
- `HeadCapProxy`: a loopback proxy in front of the node that can pretend the node
  went far back (a resyncing node): `eth_blockNumber` answers at most `cap`, and
  blocks above `cap` are null. The chain behind it is anvil's, untouched.
- `Puller`: advances a source's `read()` one batch at a time from a helper thread,
  so a test decides when the source reads and never hangs on a source that waits.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from chaintap.demo.anvil import AnvilNode
from chaintap.demo.token import call_data, encode_address, encode_uint
from chaintap.demo.workload import run_workload
from chaintap.sources.base import Source, SourceBatch
from chaintap.sources.jsonrpc import JsonRpcClient
from support.anvil_fixtures import anvil_binary
from support.slow_proxy import SlowProxy

# keccak256("Transfer(address,address,uint256)"), the well-known event signature.
TRANSFER = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"
TOKEN_CALL_GAS = 120_000


@dataclass(frozen=True)
class Transfer:
    """One ERC-20 Transfer log as the node reports it (lowercase hex)."""

    id: str
    block_number: int
    block_hash: str
    sender: str
    recipient: str
    amount: int


class Chain:
    """A test's handle on one anvil node that holds the demo token."""

    def __init__(self, url: str, token: str, accounts: tuple[str, ...]) -> None:
        self.url = url
        self.client = JsonRpcClient(url, chain="anvil")
        self.token = token
        self.accounts = accounts

    def head(self) -> int:
        return int(self.client.call("eth_blockNumber", []), 16)

    def transfer_tx(self, recipient: int, amount: int) -> dict[str, Any]:
        """A token transfer of `amount` from account 0 to account `recipient`."""
        data = call_data(
            "transfer(address,uint256)",
            encode_address(self.accounts[recipient]),
            encode_uint(amount),
        )
        return {
            "from": self.accounts[0],
            "to": self.token,
            "data": data,
            "gas": hex(TOKEN_CALL_GAS),
        }

    def send_transfers(self, *amounts: int) -> None:
        """One block per transfer (anvil automines), each to account 7; waits for
        every receipt (anvil answers eth_sendTransaction before it seals)."""
        hashes = [
            self.client.call("eth_sendTransaction", [self.transfer_tx(7, amount)])
            for amount in amounts
        ]
        deadline = time.monotonic() + 10
        while self.client.batch(
            [("eth_getTransactionReceipt", [h]) for h in hashes]
        ).count(None):
            if time.monotonic() > deadline:
                raise AssertionError("anvil did not mine the transfers within 10 s")
            time.sleep(0.005)

    def reorg(self, depth: int, transfers: list[tuple[int, int, int]]) -> None:
        """Replace the last `depth` blocks (same height) by blocks holding
        `transfers`: (block offset from the first new block, recipient, amount)."""
        txs = [
            [self.transfer_tx(to, amount), offset] for offset, to, amount in transfers
        ]
        self.client.call("anvil_reorg", [depth, txs])

    def mine(self, blocks: int) -> None:
        self.client.call("anvil_mine", [hex(blocks)])

    def snapshot(self) -> str:
        return str(self.client.call("evm_snapshot", []))

    def revert(self, snapshot: str) -> None:
        if self.client.call("evm_revert", [snapshot]) is not True:
            raise AssertionError(f"anvil could not revert to snapshot {snapshot}")

    def block_hash(self, number: int) -> str:
        block = self.client.call("eth_getBlockByNumber", [hex(number), False])
        return str(block["hash"]).lower()

    def transfers(self, last: int | None = None) -> list[Transfer]:
        """The token's Transfer logs on the node's chain now, blocks 0..last."""
        query = {
            "fromBlock": "0x0",
            "toBlock": "latest" if last is None else hex(last),
            "address": self.token,
            "topics": [TRANSFER],
        }
        found = []
        for entry in self.client.call("eth_getLogs", [query]):
            topics = entry["topics"]
            tx_hash = entry["transactionHash"].lower()
            found.append(
                Transfer(
                    id=f"{tx_hash}_{int(entry['logIndex'], 16)}",
                    block_number=int(entry["blockNumber"], 16),
                    block_hash=entry["blockHash"].lower(),
                    sender="0x" + topics[1][-40:].lower(),
                    recipient="0x" + topics[2][-40:].lower(),
                    amount=int(entry["data"], 16),
                )
            )
        return sorted(found, key=lambda t: t.id)

    def close(self) -> None:
        self.client.close()


@contextmanager
def fresh_chain(transfers: int = 6) -> Iterator[Chain]:
    """A private anvil node (reorg tests rewrite its chain, so never the session's
    node) holding the demo token and `transfers` transfers. Skips without anvil,
    fails instead under CI=true, like the session fixture."""
    with AnvilNode(binary=anvil_binary()) as node:
        workload = run_workload(node.url, transfers=transfers)
        chain = Chain(node.url, workload.token, workload.accounts)
        try:
            yield chain
        finally:
            chain.close()


class HeadCapProxy(SlowProxy):
    """Forwards JSON-RPC POSTs to `upstream`; with `cap` set, hides blocks above it."""

    def __init__(self, upstream: str) -> None:
        self.cap: int | None = None
        super().__init__(upstream)

    def rewrite(self, body: bytes, answer: bytes) -> bytes:
        cap = self.cap
        if cap is None:
            return answer
        calls, answers = json.loads(body), json.loads(answer)
        if isinstance(calls, list):
            by_id = {c.get("id"): c for c in calls}
            answers = [self._capped(by_id.get(a.get("id")), a, cap) for a in answers]
        else:
            answers = self._capped(calls, answers, cap)
        return json.dumps(answers).encode()

    @staticmethod
    def _capped(call: Any, answer: dict[str, Any], cap: int) -> dict[str, Any]:
        if not isinstance(call, dict) or "result" not in answer:
            return answer
        method, params = call.get("method"), call.get("params") or []
        if method == "eth_blockNumber":
            return {**answer, "result": hex(min(int(answer["result"], 16), cap))}
        number = str(params[0]) if params else ""
        above = number.startswith("0x") and int(number, 16) > cap
        if method == "eth_getBlockByNumber" and above:
            return {**answer, "result": None}
        return answer


class Puller:
    """Pulls batches from `source.read()` on request, from a helper thread."""

    def __init__(self, source: Source) -> None:
        self.source = source
        self.batches: list[SourceBatch] = []
        self._batches = source.read()
        self._requests: queue.Queue[bool] = queue.Queue()
        self._answers: queue.Queue[tuple[str, Any]] = queue.Queue()
        self._pending = False
        self._thread = threading.Thread(target=self._work, daemon=True)
        self._thread.start()

    def _work(self) -> None:
        while self._requests.get():
            try:
                self._answers.put(("batch", next(self._batches)))
            except StopIteration:
                self._answers.put(("end", None))
                return
            except Exception as err:  # handed to the test thread
                self._answers.put(("error", err))
                return

    def next(self, timeout: float = 10.0) -> SourceBatch | None:
        """The next batch; None when it did not come within `timeout` seconds."""
        if not self._pending:
            self._requests.put(True)
            self._pending = True
        try:
            kind, value = self._answers.get(timeout=timeout)
        except queue.Empty:
            return None
        self._pending = False
        if kind == "error":
            raise value
        if kind == "end":
            raise AssertionError("the source ended its read()")
        self.batches.append(value)
        return value  # type: ignore[no-any-return]

    def until_cursor(self, block: int, timeout: float = 10.0) -> list[SourceBatch]:
        """Pull until a batch leaves the source at `block`; the batches pulled."""
        pulled = []
        while True:
            batch = self.next(timeout)
            if batch is None:
                raise AssertionError(f"the source did not reach block {block}")
            pulled.append(batch)
            if batch.next_cursor == block:
                return pulled
            if batch.next_cursor > block:
                raise AssertionError(f"the source went past block {block}: {batch}")

    def close(self) -> None:
        self.source.close()
        self._requests.put(False)
        self._thread.join(timeout=10)


def apply_ops(batches: list[SourceBatch]) -> dict[str, dict[str, Any]]:
    """The rows a keyed sink holds after `batches`: 'i' upserts, 'd' deletes by id."""
    rows: dict[str, dict[str, Any]] = {}
    for batch in batches:
        for row in batch.records.to_pylist():
            if row["_gs_op"] == "d":
                rows.pop(row["id"], None)
            else:
                rows[row["id"]] = row
    return rows

"""A real Ethereum JSON-RPC server on 127.0.0.1 that replays recorded mainnet blocks.

It serves `ethereum-mainnet/*.json.gz` of the shared chain data over HTTP (a
threaded `http.server` on an ephemeral port), answering as a node does:
`eth_chainId`, `eth_blockNumber` (the highest block it has, or `head` when a test
sets it), `eth_getBlockByNumber` (hashes or full transactions),
`eth_getBlockReceipts`, `eth_getTransactionReceipt` and `eth_getLogs` (block range
or `blockHash`, address and topic filters with OR-lists and nulls), single calls
and batches. A block it does not have, or one above `head`, is `null`.

Fault switches, set by tests at any time (each counter is used up one at a time):
`fail_429` / `fail_500` answer the next N HTTP requests with that status;
`truncate` cuts the next N response bodies in half; `logs_max_range` refuses
`eth_getLogs` over more blocks than that, `logs_max_results` refuses one that would
return more logs than that (with Infura's -32005 message and range hint);
`block_receipts_supported = False` answers `eth_getBlockReceipts` with -32601;
`wrong_log_hash` gives the first log of the next N non-empty `eth_getLogs` answers
a wrong `blockHash`. `requests` counts HTTP requests, `calls` JSON-RPC calls by
method, `log_filters` keeps every `eth_getLogs` filter object received.
"""

from __future__ import annotations

import functools
import gzip
import json
import os
import threading
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

Json = dict[str, Any]


def chaindata_dir() -> Path:
    """`CHAINTAP_CHAINDATA`, else `shared/chaindata` next to the repository."""
    configured = os.environ.get("CHAINTAP_CHAINDATA")
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parents[3] / "shared" / "chaindata"


@functools.cache
def load_ethereum_blocks() -> dict[int, Json]:
    """Every recorded block: number → {"block", "receipts", "traces"} as stored."""
    folder = chaindata_dir() / "ethereum-mainnet"
    files = sorted(folder.glob("*.json.gz"))
    if not files:
        raise FileNotFoundError(
            f"no Ethereum chain data in {folder}; set CHAINTAP_CHAINDATA to the "
            f"folder holding ethereum-mainnet/"
        )
    blocks: dict[int, Json] = {}
    for path in files:
        with gzip.open(path, "rt") as handle:
            recorded = json.load(handle)
        blocks[int(recorded["block"]["number"], 16)] = recorded
    return blocks


class RpcFailure(Exception):
    """A JSON-RPC error object to answer for one call."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data


class EvmReplayServer:
    """The replay node; `start()` it, point a client at `url`, `stop()` it."""

    def __init__(self, port: int = 0) -> None:
        self.blocks = load_ethereum_blocks()
        self.head = max(self.blocks)
        self.fail_429 = 0
        self.fail_500 = 0
        self.truncate = 0
        self.logs_max_range: int | None = None
        self.logs_max_results: int | None = None
        self.block_receipts_supported = True
        self.wrong_log_hash = 0
        self.requests = 0
        self.calls: Counter[str] = Counter()
        self.log_filters: list[Json] = []

        self._lock = threading.Lock()
        self._receipts: dict[str, Json] = {
            r["transactionHash"]: r
            for recorded in self.blocks.values()
            for r in recorded["receipts"]
        }
        self._by_hash = {r["block"]["hash"]: n for n, r in self.blocks.items()}
        self._httpd = ThreadingHTTPServer(("127.0.0.1", port), _Handler)
        self._httpd.daemon_threads = True
        self._httpd.replay = self  # type: ignore[attr-defined]
        self._thread: threading.Thread | None = None
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}/"

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.02},  # stop() returns within that
            name="evm-replay",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join()

    def _take(self, knob: str) -> bool:
        """Use up one count of a fault counter; True when one was left."""
        with self._lock:
            left = getattr(self, knob)
            if left > 0:
                setattr(self, knob, left - 1)
                return True
            return False

    def answer(self, body: bytes) -> tuple[int, bytes]:
        """The HTTP status and body for one POSTed request body."""
        with self._lock:
            self.requests += 1
        if self._take("fail_429"):
            return 429, b"Too Many Requests"
        if self._take("fail_500"):
            return 500, b"Internal Server Error"

        try:
            request = json.loads(body)
        except ValueError:
            payload: Any = _error(None, RpcFailure(-32700, "parse error"))
        else:
            if isinstance(request, list):
                payload = [self._one(r) for r in request] or _error(
                    None, RpcFailure(-32600, "empty batch")
                )
            else:
                payload = self._one(request)

        text = json.dumps(payload).encode()
        if self._take("truncate"):
            text = text[: len(text) // 2]
        return 200, text

    def _one(self, request: Any) -> Json:
        if not isinstance(request, dict) or "method" not in request:
            return _error(None, RpcFailure(-32600, "invalid request"))
        method, params = request["method"], request.get("params") or []
        with self._lock:
            self.calls[method] += 1
        handler = self._methods().get(method)
        try:
            if handler is None:
                raise RpcFailure(
                    -32601, f"the method {method} does not exist/is not available"
                )
            result = handler(*params)
        except RpcFailure as failure:
            return _error(request.get("id"), failure)
        except (TypeError, ValueError, KeyError) as err:
            return _error(
                request.get("id"), RpcFailure(-32602, f"invalid argument: {err}")
            )
        return {"jsonrpc": "2.0", "id": request.get("id"), "result": result}

    def _methods(self) -> dict[str, Callable[..., Any]]:
        return {
            "eth_chainId": lambda: "0x1",
            "eth_blockNumber": lambda: hex(self.head),
            "eth_getBlockByNumber": self._get_block,
            "eth_getBlockReceipts": self._get_block_receipts,
            "eth_getTransactionReceipt": self._get_receipt,
            "eth_getLogs": self._get_logs,
        }

    def _number(self, tag: str) -> int:
        if tag in ("latest", "pending", "safe", "finalized"):
            return self.head
        if tag == "earliest":
            return 0
        return int(tag, 16)

    def _recorded(self, tag: str) -> Json | None:
        number = self._by_hash.get(tag) if len(tag) == 66 else self._number(tag)
        if number is None or number > self.head:
            return None
        return self.blocks.get(number)

    def _get_block(self, tag: str, full: bool) -> Json | None:
        recorded = self._recorded(tag)
        if recorded is None:
            return None
        block: Json = recorded["block"]
        if full:
            return block
        return {**block, "transactions": [tx["hash"] for tx in block["transactions"]]}

    def _get_block_receipts(self, tag: str) -> list[Json] | None:
        if not self.block_receipts_supported:
            raise RpcFailure(
                -32601,
                "the method eth_getBlockReceipts does not exist/is not available",
            )
        recorded = self._recorded(tag)
        return None if recorded is None else recorded["receipts"]

    def _get_receipt(self, tx_hash: str) -> Json | None:
        receipt = self._receipts.get(tx_hash.lower())
        if receipt is None or int(receipt["blockNumber"], 16) > self.head:
            return None
        return receipt

    def _get_logs(self, query: Json) -> list[Json]:
        with self._lock:
            self.log_filters.append(query)
        if "blockHash" in query:
            first = last = self._by_hash[query["blockHash"]]
        else:
            first = self._number(query.get("fromBlock", "latest"))
            last = min(self._number(query.get("toBlock", "latest")), self.head)
        if first > last:
            raise RpcFailure(-32602, "invalid block range params")
        if self.logs_max_range is not None and last - first + 1 > self.logs_max_range:
            raise RpcFailure(
                -32000, f"exceed maximum block range: {self.logs_max_range}"
            )

        found = [
            entry
            for number in sorted(self.blocks)
            if first <= number <= last
            for receipt in self.blocks[number]["receipts"]
            for entry in receipt["logs"]
            if _log_matches(entry, query.get("address"), query.get("topics") or [])
        ]
        limit = self.logs_max_results
        if limit is not None and len(found) > limit:
            raise RpcFailure(
                -32005,
                f"query returned more than {limit} results. Try with this block "
                f"range [{hex(first)}, {hex(first + (last - first) // 2)}].",
                {"from": hex(first), "to": hex(first + (last - first) // 2)},
            )
        if found and self._take("wrong_log_hash"):
            found[0] = {**found[0], "blockHash": "0x" + "ab" * 32}
        return found


def _log_matches(entry: Json, address: Any, topics: list[Any]) -> bool:
    """The `eth_getLogs` filter rules, as geth applies them."""
    if address:
        allowed = [address] if isinstance(address, str) else address
        if entry["address"].lower() not in {a.lower() for a in allowed}:
            return False
    if len(topics) > len(entry["topics"]):
        return False
    for wanted, actual in zip(topics, entry["topics"], strict=False):
        if not wanted:
            continue  # null or [] matches anything at this position
        options = [wanted] if isinstance(wanted, str) else wanted
        if actual.lower() not in {o.lower() for o in options}:
            return False
    return True


def _error(request_id: Any, failure: RpcFailure) -> Json:
    error: Json = {"code": failure.code, "message": failure.message}
    if failure.data is not None:
        error["data"] = failure.data
    return {"jsonrpc": "2.0", "id": request_id, "error": error}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; with Nagle on, each small answer
    # waits ~40 ms for the client's delayed ACK.
    disable_nagle_algorithm = True

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        status, body = self.server.replay.answer(self.rfile.read(length))  # type: ignore[attr-defined]
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: the test output stays readable."""


def main() -> None:
    """`PYTHONPATH=tests python -m support.evm_replay [PORT]`: serve until Ctrl-C."""
    import sys

    server = EvmReplayServer(int(sys.argv[1]) if len(sys.argv) > 1 else 8545)
    server.start()
    blocks = ", ".join(str(n) for n in sorted(server.blocks))
    sys.stderr.write(f"replaying Ethereum blocks {blocks} at {server.url}\n")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()

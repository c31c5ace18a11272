"""A loopback Solana JSON-RPC node that replays the captured mainnet `getBlock` samples.

It is a real HTTP server (127.0.0.1, ephemeral port, one thread per request) that
speaks JSON-RPC 2.0, single and batch requests, so sources exercise their real
client. The samples are `../shared/chaindata/solana-mainnet/*.json.gz` (override
the folder with CHAINTAP_CHAINDATA); see their README: trimmed blocks, some slots
inferred.

Slots. Every sample is served at its manifest slot, except one: two samples share
slot 100000000, and `transaction_err.json.gz` only got that slot by inference from
its `parentSlot`, so it is served at `REMAPPED_SLOT` (100000005), leaving
100000001..100000004 free to play skipped slots. Its body is served as captured
(`parentSlot` 99999999, and the same blockhash and several of the same signatures as
`block.json.gz`), so rows of the two slots share transaction ids.

Methods:
- `getBlock(slot, config)`: a sample in the encoding it was stored in. A `json`
  sample asked for in `jsonParsed` is converted the way a node renders programs it
  cannot parse (key objects with `source`, loaded keys appended to the key list,
  instructions with `programId` / account addresses / base58 data, no
  `meta.loadedAddresses`); no instruction gets a `parsed` form. A `jsonParsed`
  sample asked for in `json` is refused with -32602, since raw instruction data
  cannot be rebuilt from parsed info. Without `maxSupportedTransactionVersion` a
  block holding a v0 transaction is refused with -32015, as a node does.
  Slots past the head and slots the replay has no sample for answer -32004
  ("block not available"), except those inside `skipped` ranges, which answer
  `skipped_code` (-32009 by default, or -32007) like a skipped slot.
- `getSlot`: `head` (default: the highest sample slot); each call then advances
  the head by `head_step` (default 0), so a test can watch the chain move.
- `getBlockHeight`: the height of the highest sample; `getFirstAvailableBlock`:
  the lowest sample slot.

Fault knobs: `fail_next(status, count)` answers the next `count` HTTP requests
with that status (429, 500, ...); `not_available[slot] = n` answers -32004 for
that slot `n` times before serving it. `calls` records every call (method, params)
and `request_sizes` the number of calls per HTTP request. `reset()` restores all.
"""

from __future__ import annotations

import contextlib
import copy
import gzip
import json
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

CHAINDATA = Path(
    os.environ.get(
        "CHAINTAP_CHAINDATA",
        Path(__file__).resolve().parents[2].parent / "shared" / "chaindata",
    )
)
SOLANA_DIR = CHAINDATA / "solana-mainnet"
REMAPPED_FILE = "transaction_err.json.gz"
REMAPPED_SLOT = 100_000_005

SKIPPED_MESSAGES = {
    -32007: "Slot {slot} was skipped, or missing due to ledger jump to recent snapshot",
    -32009: "Slot {slot} was skipped, or missing in long-term storage",
}


@dataclass(frozen=True)
class Sample:
    """One captured block and the slot the replay serves it at."""

    file: str
    slot: int
    encoding: str
    block: dict[str, Any]
    manifest_slot: int


def load_samples() -> list[Sample]:
    """Every Solana sample with its served slot, ordered by slot."""
    manifest = json.loads((SOLANA_DIR / "manifest.json").read_text())
    samples: list[Sample] = []
    for entry in manifest:
        name = Path(entry["file"]).name
        with gzip.open(SOLANA_DIR / name, "rt") as handle:
            block = json.load(handle)
        slot = REMAPPED_SLOT if name == REMAPPED_FILE else int(entry["slot"])
        samples.append(Sample(name, slot, entry["encoding"], block, int(entry["slot"])))
    slots = [s.slot for s in samples]
    assert len(set(slots)) == len(slots), f"replay slots collide: {sorted(slots)}"
    return sorted(samples, key=lambda s: s.slot)


class RpcError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class SolanaReplay:
    """The replay node; `start()` it, use `url`, `stop()` it (see module doc)."""

    def __init__(self, samples: list[Sample] | None = None) -> None:
        self.samples = {s.slot: s for s in samples or load_samples()}
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.reset()

    def reset(self) -> None:
        """Every knob back to its default, logs emptied."""
        with self._lock:
            self.head = max(self.samples)
            self.head_step = 0
            self.skipped: list[tuple[int, int]] = []
            self.skipped_code = -32009
            self.not_available: dict[int, int] = {}
            self._failures: list[int] = []
            self.calls: list[tuple[str, list[Any]]] = []
            self.request_sizes: list[int] = []

    def fail_next(self, status: int, count: int = 1) -> None:
        """Answer the next `count` HTTP requests with HTTP `status`."""
        with self._lock:
            self._failures.extend([status] * count)

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the replay first"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> SolanaReplay:
        replay = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                status, body = replay.handle(self.rfile.read(length))
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                # The client may hang up first (a source closed mid-request).
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep test output quiet

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="solana-replay", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def handle(self, raw: bytes) -> tuple[int, bytes]:
        """HTTP status and body for one request body."""
        with self._lock:
            if self._failures:
                status = self._failures.pop(0)
                return status, json.dumps({"error": f"HTTP {status}"}).encode()
        try:
            payload = json.loads(raw)
        except ValueError:
            error = {"code": -32700, "message": "Parse error"}
            return 200, json.dumps(
                {"jsonrpc": "2.0", "id": None, "error": error}
            ).encode()

        requests = payload if isinstance(payload, list) else [payload]
        with self._lock:
            self.request_sizes.append(len(requests))
        answers = [self._answer(r) for r in requests]
        out = answers if isinstance(payload, list) else answers[0]
        return 200, json.dumps(out).encode()

    def _answer(self, request: Mapping[str, Any]) -> dict[str, Any]:
        method = request.get("method", "")
        params = list(request.get("params") or [])
        with self._lock:
            self.calls.append((method, params))
        reply: dict[str, Any] = {"jsonrpc": "2.0", "id": request.get("id")}
        try:
            reply["result"] = self._dispatch(method, params)
        except RpcError as err:
            reply["error"] = {"code": err.code, "message": err.message}
        return reply

    def _dispatch(self, method: str, params: list[Any]) -> Any:
        if method == "getSlot":
            with self._lock:
                head = self.head
                self.head += self.head_step
            return head
        if method == "getBlockHeight":
            return self.samples[max(self.samples)].block.get("blockHeight")
        if method == "getFirstAvailableBlock":
            return min(self.samples)
        if method == "getBlock":
            config = params[1] if len(params) > 1 else {}
            return self._block(int(params[0]), config)
        raise RpcError(-32601, "Method not found")

    def _block(self, slot: int, config: Mapping[str, Any]) -> Any:
        with self._lock:
            head = self.head
            skipped = any(a <= slot <= b for a, b in self.skipped)
            if self.not_available.get(slot, 0) > 0:
                self.not_available[slot] -= 1
                raise RpcError(-32004, f"Block not available for slot {slot}")
        sample = self.samples.get(slot)
        if slot > head or (sample is None and not skipped):
            raise RpcError(-32004, f"Block not available for slot {slot}")
        if sample is None:
            code = self.skipped_code
            raise RpcError(code, SKIPPED_MESSAGES[code].format(slot=slot))
        if config.get("transactionDetails", "full") != "full":
            raise RpcError(-32602, "replay serves transactionDetails=full only")

        versioned = any(t.get("version", "legacy") != "legacy" for t in _txs(sample))
        if versioned and config.get("maxSupportedTransactionVersion") is None:
            raise RpcError(
                -32015,
                "Transaction version (0) is not supported by the requesting client. "
                "Please try the request again with the following configuration "
                'parameter: "maxSupportedTransactionVersion": 0',
            )

        wanted = config.get("encoding", "json")
        if wanted == sample.encoding:
            return sample.block
        if wanted == "jsonParsed" and sample.encoding == "json":
            return to_json_parsed(sample.block)
        raise RpcError(
            -32602,
            f"replay: slot {slot} is stored only in {sample.encoding} encoding; "
            f"its raw instruction data cannot be rebuilt for {wanted}",
        )

    def __enter__(self) -> SolanaReplay:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _txs(sample: Sample) -> list[dict[str, Any]]:
    return list(sample.block.get("transactions") or [])


def to_json_parsed(block: Mapping[str, Any]) -> dict[str, Any]:
    """A `json` block as a node renders it in `jsonParsed` when it parses no
    program: see the module docstring."""
    out = copy.deepcopy(dict(block))
    for tx in out["transactions"]:
        meta = tx.get("meta") or {}
        msg = tx["transaction"]["message"]
        static = list(msg["accountKeys"])
        loaded = meta.pop("loadedAddresses", None) or {}
        keys = (
            static
            + list(loaded.get("writable") or [])
            + list(loaded.get("readonly") or [])
        )

        header = msg["header"]
        signers = header["numRequiredSignatures"]
        writable_signers = signers - header["numReadonlySignedAccounts"]
        writable_unsigned = len(static) - header["numReadonlyUnsignedAccounts"]
        entries = []
        for i, key in enumerate(static):
            writable = i < writable_signers or signers <= i < writable_unsigned
            entries.append(
                {
                    "pubkey": key,
                    "signer": i < signers,
                    "writable": writable,
                    "source": "transaction",
                }
            )
        for key in loaded.get("writable") or []:
            entries.append(
                {
                    "pubkey": key,
                    "signer": False,
                    "writable": True,
                    "source": "lookupTable",
                }
            )
        for key in loaded.get("readonly") or []:
            entries.append(
                {
                    "pubkey": key,
                    "signer": False,
                    "writable": False,
                    "source": "lookupTable",
                }
            )
        msg["accountKeys"] = entries

        msg["instructions"] = [_raw_form(i, keys) for i in msg["instructions"]]
        for group in meta.get("innerInstructions") or []:
            group["instructions"] = [_raw_form(i, keys) for i in group["instructions"]]
    return out


def _raw_form(instruction: Mapping[str, Any], keys: list[str]) -> dict[str, Any]:
    return {
        "programId": keys[instruction["programIdIndex"]],
        "accounts": [keys[i] for i in instruction["accounts"]],
        "data": instruction["data"],
        "stackHeight": instruction.get("stackHeight"),
    }

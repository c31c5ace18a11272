"""A JSON-RPC 2.0 client that behaves like a production client.

It packs calls into batch requests, retries what may pass (HTTP 429 and 5xx,
timeouts, dropped connections, truncated or unparseable bodies, rate-limit error
objects) with capped exponential backoff, and gives up with one clear error that
names the node and the method. Per-call JSON-RPC errors that are not rate limits are
returned (batch) or raised (call) as `RpcCallError`, so each source decides what a
given error means (a skipped Solana slot, an `eth_getLogs` range that is too large).

The client is safe to share between threads: httpx's connection pool is.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import re
import threading
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from chaintap.errors import ConfigError, TransientError
from chaintap.tuning import (
    RPC_BACKOFF_INITIAL_S,
    RPC_BACKOFF_MAX_S,
    RPC_MAX_ATTEMPTS,
    RPC_TIMEOUT_S,
)

log = logging.getLogger(__name__)

# JSON-RPC error codes and message fragments providers use for "slow down".
_RATE_LIMIT_CODES = frozenset({-32005, -32029, 429})
_RATE_LIMIT_TEXT = re.compile(
    r"rate.?limit|too many requests|exceeded .*(capacity|quota)|request limit",
    re.IGNORECASE,
)
_RETRY_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
# Refusals of a request that asks for too much at once (an eth_getLogs range with
# too many results or blocks). Some providers send these with -32005, their
# rate-limit code, but waiting does not help: the caller must ask for less.
_TOO_LARGE_TEXT = re.compile(
    r"more than [\d,]+ results|response size|too many (results|logs|blocks)"
    r"|block range (is )?too|range (is )?too (large|wide|big)|maximum block range"
    r"|block range limit|limited to (a )?[\d,]+ (block )?range",
    re.IGNORECASE,
)


class RpcCallError(Exception):
    """One JSON-RPC error object answered for one call."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(f"JSON-RPC error {code}: {message}")
        self.code = code
        self.message = message
        self.data = data


def _call_error(error: Any) -> RpcCallError:
    """An error member as `RpcCallError`, also when a node sends a bare string."""
    if not isinstance(error, dict):
        return RpcCallError(-32000, str(error))
    try:
        code = int(error.get("code", 0))
    except (TypeError, ValueError):
        code = -32000
    return RpcCallError(code, str(error.get("message", "")), error.get("data"))


class RpcUnavailable(TransientError):
    """The node kept failing after every retry; the message names node and method."""


class RpcStopped(TransientError):
    """The owner asked to stop while the client waited to retry."""


class _Retry(Exception):
    """Internal: this attempt failed in a way worth retrying."""


def mask_url(url: str) -> str:
    """The URL without credentials, query string or path secrets (API keys)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        port = parts.port
    except ValueError:
        port = None
        host += ":<invalid port>"
    if port:
        host = f"{host}:{port}"
    path = parts.path if len(parts.path) <= 1 else "/…"
    return urlunsplit((parts.scheme, host, path, "", ""))


def resolve_rpc_url(chain: str, rpc_url: str | None) -> str:
    """The endpoint for `chain`: the source option, else `CHAINTAP_RPC_<CHAIN>`."""
    if rpc_url:
        return rpc_url
    variable = "CHAINTAP_RPC_" + chain.upper().replace("-", "_")
    value = os.environ.get(variable)
    if value:
        return value
    raise ConfigError(
        f"no JSON-RPC endpoint for chain {chain!r}: set rpc_url on the source "
        f"or export {variable}=http://your-node:8545"
    )


def _check_url(url: str, chain: str, masked: str) -> None:
    """ConfigError for an endpoint that cannot be an HTTP JSON-RPC URL."""
    parts = urlsplit(url)
    try:
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError as err:
        problem = str(err)
    else:
        ok = parts.scheme in ("http", "https") and bool(parts.hostname)
        problem = "" if ok else "it needs http:// or https:// and a host"
    if problem:
        raise ConfigError(
            f"the {chain} JSON-RPC endpoint {masked} is not a usable URL "
            f"({problem}); fix rpc_url or CHAINTAP_RPC_{chain.upper()}"
        )


def is_too_large(message: str) -> bool:
    """True when an error says the request asked for too much (ask for less)."""
    return bool(_TOO_LARGE_TEXT.search(message))


def is_rate_limit(code: int, message: str) -> bool:
    if is_too_large(message):
        return False
    return code in _RATE_LIMIT_CODES or bool(_RATE_LIMIT_TEXT.search(message))


class JsonRpcClient:
    """Calls one JSON-RPC endpoint with batching and retries (see module docstring)."""

    def __init__(
        self,
        url: str,
        *,
        chain: str,
        timeout_s: float = RPC_TIMEOUT_S,
        max_attempts: int = RPC_MAX_ATTEMPTS,
        stop: threading.Event | None = None,
    ) -> None:
        self.url = url
        # Set by the owner to end waits between retries at once (a stopping run).
        self._stop = stop
        self.chain = chain
        self.node = mask_url(url)
        _check_url(url, chain, self.node)
        self.max_attempts = max_attempts
        self._http = httpx.Client(
            timeout=timeout_s,
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=32),
            headers={"Content-Type": "application/json"},
        )
        self._ids = itertools.count(1)
        self._id_lock = threading.Lock()

    def call(self, method: str, params: list[Any]) -> Any:
        """One call; raises `RpcCallError` for a (non rate-limit) error answer."""
        result = self.batch([(method, params)])[0]
        if isinstance(result, RpcCallError):
            raise result
        return result

    def batch(self, calls: Sequence[tuple[str, list[Any]]]) -> list[Any]:
        """Send `calls` as one batch; results (or `RpcCallError`s) in call order.

        Calls answered with a rate-limit error are sent again, alone, after backoff.
        """
        if not calls:
            return []
        results: list[Any] = [None] * len(calls)
        pending = list(range(len(calls)))
        delay = RPC_BACKOFF_INITIAL_S
        last_problem = ""

        # 1. Send what is pending; 2. keep answers, collect rate-limited calls;
        # 3. back off and resend only those, until none is left or attempts run out.
        for attempt in range(1, self.max_attempts + 1):
            try:
                answers = self._send([calls[i] for i in pending])
            except _Retry as problem:
                last_problem = str(problem)
            else:
                still: list[int] = []
                for index, answer in zip(pending, answers, strict=True):
                    if isinstance(answer, RpcCallError) and is_rate_limit(
                        answer.code, answer.message
                    ):
                        still.append(index)
                        last_problem = answer.message
                    else:
                        results[index] = answer
                pending = still
                if not pending:
                    return results

            if attempt < self.max_attempts:
                log.warning(
                    "node %s: %s; retry %d/%d in %.2fs",
                    self.node,
                    last_problem,
                    attempt,
                    self.max_attempts - 1,
                    delay,
                )
                if self._stop is not None and self._stop.wait(delay):
                    raise RpcStopped(
                        f"{self.chain} node {self.node}: stopped while retrying "
                        f"{calls[0][0]} ({last_problem})"
                    )
                if self._stop is None:
                    time.sleep(delay)
                delay = min(delay * 2, RPC_BACKOFF_MAX_S)

        method = calls[pending[0]][0] if pending else calls[0][0]
        raise RpcUnavailable(
            f"{self.chain} node {self.node} failed {method} after "
            f"{self.max_attempts} attempts ({last_problem}); check that the node is "
            f"up and not rate-limiting, or lower resource_size to send fewer "
            f"requests at once"
        )

    def _send(self, calls: Sequence[tuple[str, list[Any]]]) -> list[Any]:
        """One HTTP request; raises `_Retry` for anything worth another attempt."""
        with self._id_lock:
            ids = [next(self._ids) for _ in calls]
        body = [
            {"jsonrpc": "2.0", "id": i, "method": m, "params": p}
            for i, (m, p) in zip(ids, calls, strict=True)
        ]

        try:
            response = self._http.post(self.url, content=json.dumps(body))
        except httpx.TimeoutException as err:
            raise _Retry(f"timeout after {self._http.timeout.read}s") from err
        except httpx.TransportError as err:
            raise _Retry(f"connection problem: {err}") from err
        if response.status_code in _RETRY_STATUS:
            raise _Retry(f"HTTP {response.status_code}")
        if response.status_code >= 400:
            raise RpcUnavailable(
                f"{self.chain} node {self.node} answered HTTP "
                f"{response.status_code} to {calls[0][0]}; check the URL and "
                f"credentials"
            )

        try:
            payload = response.json()
        except ValueError as err:
            raise _Retry("unparseable or truncated JSON body") from err
        return self._match(payload, ids)

    def _match(self, payload: Any, ids: list[int]) -> list[Any]:
        """Order a batch answer by request id; a malformed answer is retried."""
        if isinstance(payload, dict):
            # Some nodes answer a whole batch with one error object.
            error = payload.get("error")
            if error is not None:
                failure = _call_error(error)
                if is_rate_limit(failure.code, failure.message):
                    raise _Retry(failure.message or "rate limited")
                return [failure for _ in ids]
            payload = [payload]
        if not isinstance(payload, list):
            raise _Retry("answer is not a JSON-RPC response")

        by_id: dict[Any, Any] = {}
        for item in payload:
            if isinstance(item, dict) and "id" in item:
                by_id[item["id"]] = item
        if any(i not in by_id for i in ids):
            raise _Retry(f"batch answer has {len(by_id)} of {len(ids)} responses")

        out: list[Any] = []
        for request_id in ids:
            item = by_id[request_id]
            error = item.get("error")
            if error is not None:
                out.append(_call_error(error))
            else:
                out.append(item.get("result"))
        return out

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> JsonRpcClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

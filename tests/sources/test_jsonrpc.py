"""The JSON-RPC client against nodes that answer badly (a loopback test server)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from chaintap.errors import ConfigError
from chaintap.sources.jsonrpc import JsonRpcClient, RpcCallError


class _Answers:
    """Answers every call of a request with `error` as its error member."""

    def __init__(self, error: Any) -> None:
        answers = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                calls = body if isinstance(body, list) else [body]
                reply = json.dumps(
                    [
                        {"jsonrpc": "2.0", "id": c["id"], "error": answers.error}
                        for c in calls
                    ]
                ).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.error = error
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def node() -> Iterator[_Answers]:
    answers = _Answers("boom")
    yield answers
    answers.server.shutdown()
    answers.server.server_close()


@pytest.mark.parametrize(
    ("error", "code", "message"),
    [
        ("boom", -32000, "boom"),
        ({"code": "x", "message": "odd code"}, -32000, "odd code"),
        ({"code": -32601, "message": "method not found"}, -32601, "method not found"),
    ],
)
def test_error_members_of_any_shape_become_call_errors(
    node: _Answers, error: Any, code: int, message: str
) -> None:
    node.error = error
    with (
        JsonRpcClient(node.url, chain="ethereum") as client,
        pytest.raises(RpcCallError) as caught,
    ):
        client.call("eth_blockNumber", [])
    assert (caught.value.code, caught.value.message) == (code, message)


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:notaport/", "ftp://127.0.0.1/", "127.0.0.1:8545"]
)
def test_an_unusable_url_is_a_config_error_naming_the_setting(url: str) -> None:
    with pytest.raises(ConfigError, match="CHAINTAP_RPC_ETHEREUM"):
        JsonRpcClient(url, chain="ethereum")

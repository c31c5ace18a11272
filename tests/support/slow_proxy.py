"""A loopback HTTP proxy in front of a real JSON-RPC node, slowed down on purpose.

Crash tests need a run that is still going when they kill it. Rather than putting
test hooks in the product, the run reads through this proxy, which forwards every
POST to the real node (anvil or the replay server) after `delay_s`. It listens on
127.0.0.1 only and forwards only to the loopback URL it was given.
"""

from __future__ import annotations

import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit


class SlowProxy:
    """Forwards JSON-RPC POSTs to `upstream` after `delay_s` seconds each.

    Subclasses may change answers by overriding `rewrite`.
    """

    def __init__(self, upstream: str, delay_s: float = 0.0) -> None:
        host = urlsplit(upstream).hostname
        if host not in ("127.0.0.1", "localhost"):
            raise ValueError(
                f"{type(self).__name__} only forwards to loopback, not {host}"
            )
        self.upstream = upstream
        self.delay_s = delay_s
        self.requests = 0
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                proxy.requests += 1
                time.sleep(proxy.delay_s)
                request = urllib.request.Request(
                    proxy.upstream,
                    data=body,
                    headers={"Content-Type": "application/json"},
                )
                with urllib.request.urlopen(request, timeout=30) as response:
                    answer = proxy.rewrite(body, response.read())
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}/"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()

    def rewrite(self, body: bytes, answer: bytes) -> bytes:
        """The answer to send back for request `body`; unchanged by default."""
        return answer

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> SlowProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

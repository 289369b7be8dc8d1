"""Stripe's API over real HTTP for a whole stack: the replay of its recorded answers (see
tests/api/payments/stripe_replay.py) served on a loopback port, which the api reaches through
the official library with ``STICKY_STRIPE_API_BASE``. Stripe's servers are out of reach here."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

from tests.api.payments.stripe_replay import AdaptingStripeReplay


@contextmanager
def serving_stripe(replay: AdaptingStripeReplay) -> Iterator[str]:
    """Serve ``replay`` until the block ends; yields its base URL."""
    lock = threading.Lock()  # the replay keeps the account's state: one request at a time

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _answer(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            request = httpx.Request(
                self.command,
                f"http://stripe.test{self.path}",
                headers=list(self.headers.items()),
                content=body,
            )
            with lock:
                response = replay.answer(request)
            self.send_response(response.status_code)
            for name, value in response.headers.items():
                if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(response.content)))
            self.end_headers()
            self.wfile.write(response.content)

        do_GET = do_POST = do_DELETE = _answer

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()

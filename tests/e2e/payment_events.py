"""For the reactors' end-to-end tests: merchants' receivers, and payment events recorded as a
service, shaped exactly as the payments code records them."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

from tests.api.reactors.platform import payment_events, refund_event
from tests.stack_fixture import RunningStack


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    at: float

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """A merchant's webhook receiver: records requests, answers ``status`` after ``delay``."""

    status: int = 200
    delay: float = 0.0
    url: str = ""
    received: list[Received] = field(default_factory=list)

    def wait_for(self, count: int, timeout: float = 20.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while len(self.received) < count:
            assert time.monotonic() < deadline, f"{len(self.received)} of {count} arrived"
            time.sleep(0.02)
        return list(self.received)


@contextmanager
def receiving(*receivers: Receiver) -> Iterator[None]:
    servers = []
    for receiver in receivers:

        class Handler(BaseHTTPRequestHandler):
            target = receiver

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                headers = {k.lower(): v for k, v in self.headers.items()}
                self.target.received.append(Received(headers, body, time.monotonic()))
                time.sleep(self.target.delay)
                try:
                    self.send_response(self.target.status)
                    self.send_header("Content-Type", "application/json")
                    self.end_headers()
                    self.wfile.write(b'{"received": true}')
                except OSError:
                    pass  # the sender gave up waiting

            def log_message(self, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hooks"
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
    try:
        yield
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()


def service_headers(stack: RunningStack) -> dict[str, str]:
    answer = httpx.post(
        f"{stack.base_url}/v1/auth/service-token",
        json={"service": "api", "serviceKey": stack.settings.service_key},
    )
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['accessToken']}"}


def record_payment(
    stack: RunningStack,
    user_id: str,
    *,
    application_id: str | None,
    thing_id: str | None = None,
    email: str | None = None,
    outcome: str = "SESSION_CART_PAY",
    refund: int | None = None,
) -> str:
    """Record a payment's events in its stream, as the api's payments code would; its id."""
    stream, events = payment_events(
        user_id,
        application_id=application_id,
        thing_id=thing_id,
        email=email,
        outcome=outcome,
        session_id="ses_e2e",
    )
    if refund is not None:
        events.append(refund_event(events[-1], refund, refund))
    answer = httpx.post(
        f"{stack.base_url}/v1/streams/{stream}",
        json={"expectedVersion": -1, "events": events},
        headers=service_headers(stack),
    )
    assert answer.status_code == 201, answer.text
    return str(events[0]["paymentId"])

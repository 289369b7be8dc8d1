"""A real HTTP server that receives payhooks the way the api's ``/v2/payhook/{gateway}`` will.

It verifies each body with the named gateway, refuses what is forged or stale with 400,
acknowledges repeats of an event id without recording them twice, and can be told to fail
(503) or to be away, so the senders' retries are exercised over real sockets.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from sticky.api.payments.gateways import CallbackRefused, GatewayEvent, PaymentGateway
from tests.conftest import free_port


@dataclass
class Delivery:
    body: bytes
    headers: dict[str, str]


@dataclass
class PayhookReceiver:
    port: int
    gateways: dict[str, PaymentGateway] = field(default_factory=dict)
    events: list[GatewayEvent] = field(default_factory=list)
    accepted: list[Delivery] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    repeats: int = 0
    attempts: int = 0
    fail_next: int = 0  # answer 503 to this many requests first
    _arrived: asyncio.Condition = field(default_factory=asyncio.Condition)

    def url(self, gateway: str) -> str:
        return f"http://127.0.0.1:{self.port}/v2/payhook/{gateway}"

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/v2/payhook/{gateway}", self._payhook, methods=["POST"])])

    async def _payhook(self, request: Request) -> PlainTextResponse:
        self.attempts += 1
        if self.fail_next > 0:
            self.fail_next -= 1
            return PlainTextResponse("try later", status_code=503)
        gateway = self.gateways.get(request.path_params["gateway"])
        if gateway is None:
            return PlainTextResponse("no such gateway", status_code=404)
        body = await request.body()
        try:
            event = gateway.verify_callback(body, request.headers, time.time())
        except CallbackRefused as exc:
            self.refused.append(f"{type(exc).__name__}: {exc}")
            return PlainTextResponse(str(exc), status_code=400)
        self.accepted.append(Delivery(body, dict(request.headers)))
        if event is not None:
            if any(e.event_id == event.event_id for e in self.events):
                self.repeats += 1
            else:
                async with self._arrived:
                    self.events.append(event)
                    self._arrived.notify_all()
        return PlainTextResponse("ok")

    async def wait_for(self, reference: str, count: int = 1, timeout: float = 30.0) -> GatewayEvent:
        """The ``count``-th event about ``reference``, once it has arrived."""

        def about() -> list[GatewayEvent]:
            return [e for e in self.events if e.reference == reference]

        async with self._arrived:
            await asyncio.wait_for(
                self._arrived.wait_for(lambda: len(about()) >= count), timeout=timeout
            )
        return about()[count - 1]


@contextlib.asynccontextmanager
async def serving(receiver: PayhookReceiver) -> AsyncIterator[PayhookReceiver]:
    """The receiver on its port, in this event loop, until the block ends."""
    config = uvicorn.Config(
        receiver.app(), host="127.0.0.1", port=receiver.port, log_level="warning", lifespan="off"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield receiver
    finally:
        server.should_exit = True
        await task


@contextlib.asynccontextmanager
async def payhook_receiver() -> AsyncIterator[PayhookReceiver]:
    async with serving(PayhookReceiver(free_port())) as receiver:
        yield receiver

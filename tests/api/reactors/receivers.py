"""Merchants' webhook receivers for the tests: real HTTP servers (uvicorn) on free ports.

Each records what it receives and answers as told: a status, after a delay (longer than the
sender's timeout makes a dead endpoint).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import orjson
import uvicorn


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    at: float  # time.monotonic() when it arrived

    def json(self) -> Any:
        return orjson.loads(self.body)


@dataclass
class Receiver:
    url: str = ""
    status: int = 200
    delay: float = 0.0
    answer: bytes = b'{"received": true}'
    received: list[Received] = field(default_factory=list)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        assert scope["type"] == "http"
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        self.received.append(Received(headers, body, time.monotonic()))
        if self.delay:
            await asyncio.sleep(self.delay)
        await send(
            {
                "type": "http.response.start",
                "status": self.status,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": self.answer})

    async def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while len(self.received) < count:
            assert time.monotonic() < deadline, f"{len(self.received)} of {count} arrived"
            await asyncio.sleep(0.01)
        return self.received


@contextlib.asynccontextmanager
async def serving(*receivers: Receiver) -> AsyncIterator[None]:
    """Each receiver on its own port, ``url`` set, for the duration of the block."""
    servers = []
    for receiver in receivers:
        # Bound here, not picked free and bound later: two receivers picked one after the
        # other could be given the same port, and another process could take it meanwhile.
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        receiver.url = f"http://127.0.0.1:{sock.getsockname()[1]}/hooks"
        config = uvicorn.Config(receiver, log_config=None, lifespan="off")
        server = uvicorn.Server(config)
        task = asyncio.create_task(server.serve(sockets=[sock]))
        servers.append((server, task))
    for server, task in servers:
        while not server.started:
            assert not task.done(), "a receiver did not start"
            await asyncio.sleep(0.01)
    try:
        yield
    finally:
        for server, _ in servers:
            server.should_exit = True
            server.force_exit = True
        await asyncio.gather(*(task for _, task in servers), return_exceptions=True)

"""Run one service's ASGI app in the foreground under uvicorn."""

from __future__ import annotations

import gc
import socket
from typing import Any

import uvicorn


def serve(app: Any, host: str, port: int, *, graceful_seconds: int = 10) -> None:
    """Serve until SIGTERM/SIGINT, then finish in-flight requests before exiting."""
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        proxy_headers=True,
        forwarded_allow_ips="127.0.0.1,::1",
        timeout_graceful_shutdown=graceful_seconds,
        server_header=False,
        lifespan="on",
    )
    _Server(config).run()


class _Server(uvicorn.Server):
    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        """Once the app has started, what it built (routes, models, clients, caches) lives as
        long as the process: out of the garbage collector's sight, so that a full collection
        walks only what requests made since. In the api under load, that took each one from
        ~7 ms of CPU, every few seconds on the event loop's thread, to ~2.5 ms."""
        await super().startup(sockets)
        gc.collect()
        gc.freeze()

"""Run one service's ASGI app in the foreground under uvicorn."""

from __future__ import annotations

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
    uvicorn.Server(config).run()

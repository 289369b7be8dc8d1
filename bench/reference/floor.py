"""The least a Python service can do for a tap: a bare ASGI app under uvicorn, configured as
Sticky's services are (``sticky.kernel.server``: uvloop and httptools), answering every
request with the same 302, reading and writing nothing. Run by ``bench/tap_reference.py``
behind the same gateway: what it costs is the floor under any tap a Python service answers.
Not a product.

    python bench/reference/floor.py <port> <location>
"""

from __future__ import annotations

import sys
from typing import Any

import uvicorn


def redirecting(location: str) -> Any:
    headers = [
        (b"location", location.encode()),
        (b"set-cookie", b"sticky-sessionid=ses_floor; HttpOnly; SameSite=Lax; Path=/"),
        (b"content-length", b"0"),
    ]

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 302, "headers": headers})
        await send({"type": "http.response.body", "body": b""})

    return app


if __name__ == "__main__":
    port, location = int(sys.argv[1]), sys.argv[2]
    uvicorn.run(
        redirecting(location),
        host="127.0.0.1",
        port=port,
        log_config=None,
        access_log=False,
        server_header=False,
        lifespan="off",
    )

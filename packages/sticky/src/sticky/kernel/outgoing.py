"""The HTTP client services use to call each other, propagating request id and trace."""

from __future__ import annotations

import httpx

from sticky.kernel import tracing


async def _propagate(request: httpx.Request) -> None:
    for name, value in tracing.outgoing_headers().items():
        request.headers.setdefault(name, value)


def service_client(base_url: str, timeout: float = 5.0) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` for another service; every request carries the trace."""
    return httpx.AsyncClient(
        base_url=base_url,
        timeout=timeout,
        event_hooks={"request": [_propagate]},
        headers={"User-Agent": "sticky-service"},
    )

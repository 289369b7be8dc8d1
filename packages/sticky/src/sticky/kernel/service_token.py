"""A service's own access token, from auth's ``/v1/auth/service-token``, reused until near expiry.

Services call each other with these (the api appending events, reactors reading them); auth
issues them for ``STICKY_SERVICE_KEY``, and every service verifies them like any other token.
"""

from __future__ import annotations

import asyncio
import time

import httpx

from sticky.kernel.outgoing import service_client
from sticky.kernel.settings import Settings

_MARGIN_SECONDS = 30.0  # renew this long before expiry, so a token never dies in flight


class ServiceTokenError(Exception):
    """Auth did not issue a service token (down, or the service key is wrong)."""


class ServiceToken:
    def __init__(self, settings: Settings, service: str) -> None:
        self._settings = settings
        self._service = service
        self._token: str | None = None
        self._renew_at = 0.0
        self._lock = asyncio.Lock()

    async def header(self) -> dict[str, str]:
        """``{"Authorization": "Bearer …"}`` with a token valid for at least half a minute."""
        return {"Authorization": f"Bearer {await self.token()}"}

    async def token(self) -> str:
        if self._token is not None and time.monotonic() < self._renew_at:
            return self._token
        async with self._lock:
            if self._token is None or time.monotonic() >= self._renew_at:
                await self._fetch()
            assert self._token is not None
            return self._token

    def forget(self) -> None:
        """Drop the token (the callee refused it, e.g. after a signing-key rotation)."""
        self._token = None

    async def _fetch(self) -> None:
        body = {"service": self._service, "serviceKey": self._settings.service_key}
        try:
            async with service_client(self._settings.internal_url("auth")) as client:
                response = await client.post("/v1/auth/service-token", json=body)
        except httpx.HTTPError as exc:
            raise ServiceTokenError(f"auth unreachable: {type(exc).__name__}: {exc}") from exc
        if not response.is_success:
            raise ServiceTokenError(f"auth answered {response.status_code}: {response.text[:300]}")
        issued = response.json()
        self._token = str(issued["accessToken"])
        lifetime = float(issued["expiresIn"])
        self._renew_at = time.monotonic() + max(lifetime - _MARGIN_SECONDS, lifetime / 2)

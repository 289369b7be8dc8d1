"""``AsyncSticky``: the asynchronous twin of :mod:`sticky_sdk._client`, line for line."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from types import TracebackType
from typing import TypeVar

import httpx

from sticky_sdk._base_client import DEFAULT_MAX_RETRIES, DEFAULT_TIMEOUT, BaseClient
from sticky_sdk._calls import Call
from sticky_sdk._credentials import exchange_call, refresh_call
from sticky_sdk._exceptions import (
    AuthenticationError,
    StickyError,
    TokenExpiredError,
    connection_error,
    error_from_response,
)
from sticky_sdk._models import TokenPair
from sticky_sdk._pagination import AsyncPager, Page
from sticky_sdk._resources.applications import AsyncApplications
from sticky_sdk._resources.auth import AsyncAuth
from sticky_sdk._resources.categories import AsyncCategories
from sticky_sdk._resources.events import AsyncEvents
from sticky_sdk._resources.keys import AsyncKeys
from sticky_sdk._resources.payments import AsyncPayments
from sticky_sdk._resources.products import AsyncProducts
from sticky_sdk._resources.sessions import AsyncSessions
from sticky_sdk._resources.streams import AsyncStreams
from sticky_sdk._resources.team_members import AsyncTeamMembers
from sticky_sdk._resources.things import AsyncThings
from sticky_sdk._resources.users import AsyncUsers
from sticky_sdk._resources.webhook_endpoints import AsyncWebhookEndpoints
from sticky_sdk._streaming import AsyncStream

T = TypeVar("T")


class AsyncSticky(BaseClient):
    """An asynchronous client of the Sticky platform; safe to share between tasks.

    Takes the same arguments as :class:`~sticky_sdk.Sticky`, with an async ``transport``
    and an async ``sleep``.
    """

    def __init__(
        self,
        base_url: str | None = None,
        *,
        key: str | None = None,
        access_token: str | None = None,
        refresh_token: str | None = None,
        session_id: str | None = None,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        transport: httpx.AsyncBaseTransport | None = None,
        headers: Mapping[str, str] | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        super().__init__(
            base_url,
            key=key,
            access_token=access_token,
            refresh_token=refresh_token,
            session_id=session_id,
            max_retries=max_retries,
            headers=headers,
        )
        self._http = httpx.AsyncClient(
            base_url=self.base_url, timeout=timeout, transport=transport, headers=self._headers
        )
        self._lock = asyncio.Lock()
        self._sleep = sleep
        self.auth = AsyncAuth(self)
        self.users = AsyncUsers(self)
        self.keys = AsyncKeys(self)
        self.team_members = AsyncTeamMembers(self)
        self.events = AsyncEvents(self)
        self.streams = AsyncStreams(self)
        self.things = AsyncThings(self)
        self.applications = AsyncApplications(self)
        self.products = AsyncProducts(self)
        self.categories = AsyncCategories(self)
        self.sessions = AsyncSessions(self)
        self.payments = AsyncPayments(self)
        self.webhooks = AsyncWebhookEndpoints(self)

    async def aclose(self) -> None:
        """Close the connections; the client cannot be used afterwards."""
        await self._http.aclose()

    async def __aenter__(self) -> AsyncSticky:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    # The request core, used by every resource.

    async def _call(self, call: Call[T]) -> T:
        return self._decode(call, await self._send(call, stream=False))

    async def _call_binary(self, call: Call[T]) -> T:
        """Send ``call`` and read its answer's bytes, not JSON (images, PDFs), with its parser."""
        return call.parse((await self._send(call, stream=False)).content)

    async def _stream(self, call: Call[T]) -> AsyncStream[T]:
        return AsyncStream(await self._send(call, stream=True), call.parse)

    def _paginate(self, page_call: Callable[[str | None], Call[Page[T]]]) -> AsyncPager[T]:
        async def fetch(cursor: str | None) -> Page[T]:
            return await self._call(page_call(cursor))

        return AsyncPager(fetch)

    async def _send(self, call: Call[T], *, stream: bool) -> httpx.Response:
        idempotency_key = self._idempotency_key(call)
        renewed = False
        while True:
            token = await self._current_token() if call.authenticated else None
            request = self._build_request(self._http, call, token, idempotency_key)
            response = await self._send_with_retries(request, stream=stream)
            if response.is_success:
                return response
            try:
                await response.aread()
            except httpx.RequestError as exc:
                raise connection_error(exc) from exc
            finally:
                await response.aclose()
            error = error_from_response(response)
            if isinstance(error, TokenExpiredError) and call.authenticated and not renewed:
                renewed = await self._renew_rejected(token)
                if renewed:
                    continue
            raise error

    async def _send_with_retries(self, request: httpx.Request, *, stream: bool) -> httpx.Response:
        attempt = 0
        while True:
            try:
                response = await self._http.send(request, stream=stream)
            except httpx.RequestError as exc:
                delay = self._retry.after_exception(exc, request, attempt)
                if delay is None:
                    raise connection_error(exc) from exc
            else:
                delay = self._retry.after_response(response, attempt)
                if delay is None:
                    return response
                await response.aclose()
            await self._sleep(delay)
            attempt += 1

    # Credentials: renewals are single-flight, under one lock.

    async def _current_token(self) -> str | None:
        if self._credentials.needs_renewal():
            async with self._lock:
                if self._credentials.needs_renewal():
                    await self._renew()
        return self._credentials.access_token

    async def _renew_rejected(self, rejected: str | None) -> bool:
        """Renew after the platform said ``rejected`` expired; False if there is no way to."""
        async with self._lock:
            current = self._credentials.access_token
            if current is not None and current != rejected:
                return True
            if not self._credentials.renewable:
                return False
            await self._renew()
            return True

    async def _renew(self) -> None:
        if self._credentials.refresh_token is not None:
            await self._refresh_locked()
        elif self._credentials.key is not None:
            token = await self._call(exchange_call(self._credentials.key))
            self._credentials.use_access_token(token)

    async def _refresh_locked(self) -> TokenPair:
        refresh_token = self._credentials.refresh_token
        if refresh_token is None:
            raise StickyError("There is no refresh token to refresh with: sign in first.")
        try:
            pair = await self._call(refresh_call(refresh_token))
        except AuthenticationError:
            self._credentials.forget_session()
            raise
        self._credentials.use_session(pair)
        return pair

    async def _refresh(self) -> TokenPair:
        async with self._lock:
            return await self._refresh_locked()

    async def _use_session(self, pair: TokenPair) -> None:
        async with self._lock:
            self._credentials.use_session(pair)

    async def _adopt_rotated_key(self, key: str | None) -> None:
        async with self._lock:
            self._credentials.adopt_rotated(key)

    async def _forget_credentials(self) -> str | None:
        """Forget every credential; answer the refresh token there was, to revoke it."""
        async with self._lock:
            refresh_token = self._credentials.refresh_token
            self._credentials.forget_all()
            return refresh_token

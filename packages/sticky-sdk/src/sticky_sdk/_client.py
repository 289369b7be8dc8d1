"""``Sticky``: the synchronous client. Its async twin is :mod:`sticky_sdk._async_client`."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
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
from sticky_sdk._pagination import Page, Pager
from sticky_sdk._resources.applications import Applications
from sticky_sdk._resources.auth import Auth
from sticky_sdk._resources.categories import Categories
from sticky_sdk._resources.events import Events
from sticky_sdk._resources.keys import Keys
from sticky_sdk._resources.payments import Payments
from sticky_sdk._resources.products import Products
from sticky_sdk._resources.sessions import Sessions
from sticky_sdk._resources.streams import Streams
from sticky_sdk._resources.team_members import TeamMembers
from sticky_sdk._resources.things import Things
from sticky_sdk._resources.users import Users
from sticky_sdk._resources.webhook_endpoints import WebhookEndpoints
from sticky_sdk._streaming import Stream

T = TypeVar("T")


class Sticky(BaseClient):
    """A client of the Sticky platform; safe to share between threads.

    ``Sticky(base_url=None, *, key=None, access_token=None, refresh_token=None)``: the URL
    defaults to ``STICKY_URL`` then ``http://localhost:8080``; without credentials the key
    in ``STICKY_KEY`` is used. ``Sticky(session_id="ses_...")`` acts as a consumer session
    instead. ``sleep`` is how the client waits between retries.
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
        transport: httpx.BaseTransport | None = None,
        headers: Mapping[str, str] | None = None,
        sleep: Callable[[float], None] = time.sleep,
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
        self._http = httpx.Client(
            base_url=self.base_url, timeout=timeout, transport=transport, headers=self._headers
        )
        self._lock = threading.Lock()
        self._sleep = sleep
        self.auth = Auth(self)
        self.users = Users(self)
        self.keys = Keys(self)
        self.team_members = TeamMembers(self)
        self.events = Events(self)
        self.streams = Streams(self)
        self.things = Things(self)
        self.applications = Applications(self)
        self.products = Products(self)
        self.categories = Categories(self)
        self.sessions = Sessions(self)
        self.payments = Payments(self)
        self.webhooks = WebhookEndpoints(self)

    def close(self) -> None:
        """Close the connections; the client cannot be used afterwards."""
        self._http.close()

    def __enter__(self) -> Sticky:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # The request core, used by every resource.

    def _call(self, call: Call[T]) -> T:
        return self._decode(call, self._send(call, stream=False))

    def _call_binary(self, call: Call[T]) -> T:
        """Send ``call`` and read its answer's bytes, not JSON (images, PDFs), with its parser."""
        return call.parse(self._send(call, stream=False).content)

    def _stream(self, call: Call[T]) -> Stream[T]:
        return Stream(self._send(call, stream=True), call.parse)

    def _paginate(self, page_call: Callable[[str | None], Call[Page[T]]]) -> Pager[T]:
        return Pager(lambda cursor: self._call(page_call(cursor)))

    def _send(self, call: Call[T], *, stream: bool) -> httpx.Response:
        idempotency_key = self._idempotency_key(call)
        renewed = False
        while True:
            token = self._current_token() if call.authenticated else None
            request = self._build_request(self._http, call, token, idempotency_key)
            response = self._send_with_retries(request, stream=stream)
            if response.is_success:
                return response
            try:
                response.read()
            except httpx.RequestError as exc:
                raise connection_error(exc) from exc
            finally:
                response.close()
            error = error_from_response(response)
            if isinstance(error, TokenExpiredError) and call.authenticated and not renewed:
                renewed = self._renew_rejected(token)
                if renewed:
                    continue
            raise error

    def _send_with_retries(self, request: httpx.Request, *, stream: bool) -> httpx.Response:
        attempt = 0
        while True:
            try:
                response = self._http.send(request, stream=stream)
            except httpx.RequestError as exc:
                delay = self._retry.after_exception(exc, request, attempt)
                if delay is None:
                    raise connection_error(exc) from exc
            else:
                delay = self._retry.after_response(response, attempt)
                if delay is None:
                    return response
                response.close()
            self._sleep(delay)
            attempt += 1

    # Credentials: renewals are single-flight, under one lock.

    def _current_token(self) -> str | None:
        if self._credentials.needs_renewal():
            with self._lock:
                if self._credentials.needs_renewal():
                    self._renew()
        return self._credentials.access_token

    def _renew_rejected(self, rejected: str | None) -> bool:
        """Renew after the platform said ``rejected`` expired; False if there is no way to."""
        with self._lock:
            current = self._credentials.access_token
            if current is not None and current != rejected:
                return True
            if not self._credentials.renewable:
                return False
            self._renew()
            return True

    def _renew(self) -> None:
        if self._credentials.refresh_token is not None:
            self._refresh_locked()
        elif self._credentials.key is not None:
            self._credentials.use_access_token(self._call(exchange_call(self._credentials.key)))

    def _refresh_locked(self) -> TokenPair:
        refresh_token = self._credentials.refresh_token
        if refresh_token is None:
            raise StickyError("There is no refresh token to refresh with: sign in first.")
        try:
            pair = self._call(refresh_call(refresh_token))
        except AuthenticationError:
            self._credentials.forget_session()
            raise
        self._credentials.use_session(pair)
        return pair

    def _refresh(self) -> TokenPair:
        with self._lock:
            return self._refresh_locked()

    def _use_session(self, pair: TokenPair) -> None:
        with self._lock:
            self._credentials.use_session(pair)

    def _adopt_rotated_key(self, key: str | None) -> None:
        with self._lock:
            self._credentials.adopt_rotated(key)

    def _forget_credentials(self) -> str | None:
        """Forget every credential; answer the refresh token there was, to revoke it."""
        with self._lock:
            refresh_token = self._credentials.refresh_token
            self._credentials.forget_all()
            return refresh_token

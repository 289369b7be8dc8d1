"""What the sync and async clients share: configuration, requests, answers, credentials.

Everything here is free of I/O; :mod:`sticky_sdk._client` and
:mod:`sticky_sdk._async_client` only add the sending, the waiting and the locking.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Mapping
from typing import TypeVar

import httpx

from sticky_sdk._calls import Call
from sticky_sdk._credentials import SESSION_HEADER, Credentials
from sticky_sdk._exceptions import APIResponseValidationError, StickyError
from sticky_sdk._retries import RetryPolicy
from sticky_sdk._version import __version__

T = TypeVar("T")

DEFAULT_BASE_URL = "http://localhost:8080"
DEFAULT_TIMEOUT = 10.0
DEFAULT_MAX_RETRIES = 2
USER_AGENT = f"sticky-sdk-python/{__version__}"


def resolve_base_url(base_url: str | None) -> str:
    """The argument, else ``STICKY_URL``, else the local gateway."""
    url = base_url or os.environ.get("STICKY_URL") or DEFAULT_BASE_URL
    if not url.startswith(("http://", "https://")):
        raise StickyError(f"The Sticky URL must start with http:// or https://, not {url!r}.")
    return url.rstrip("/")


def resolve_credentials(
    key: str | None,
    access_token: str | None,
    refresh_token: str | None,
    session_id: str | None = None,
) -> Credentials:
    """The credentials given, else the key in ``STICKY_KEY`` (read only when none is given)."""
    if key is None and access_token is None and refresh_token is None and session_id is None:
        key = os.environ.get("STICKY_KEY") or None
    return Credentials(
        key=key, access_token=access_token, refresh_token=refresh_token, session_id=session_id
    )


class BaseClient:
    """Configuration and the I/O-free half of sending a :class:`Call`."""

    def __init__(
        self,
        base_url: str | None,
        *,
        key: str | None,
        access_token: str | None,
        refresh_token: str | None,
        session_id: str | None = None,
        max_retries: int,
        headers: Mapping[str, str] | None,
    ) -> None:
        if max_retries < 0:
            raise StickyError(f"max_retries must be 0 or more, not {max_retries}.")
        self.base_url = resolve_base_url(base_url)
        self._credentials = resolve_credentials(key, access_token, refresh_token, session_id)
        self._retry = RetryPolicy(max_retries=max_retries)
        self._headers = {
            "User-Agent": USER_AGENT,
            "Accept": "application/json",
            **(headers or {}),
        }

    @property
    def access_token(self) -> str | None:
        """The access token the client currently holds (to keep a session between processes)."""
        return self._credentials.access_token

    @property
    def refresh_token(self) -> str | None:
        """The refresh token the client currently holds; it changes at every refresh."""
        return self._credentials.refresh_token

    @property
    def session_id(self) -> str | None:
        """The consumer session the client acts as (``Sticky(session_id=...)``), else None."""
        return self._credentials.session_id

    @staticmethod
    def _idempotency_key(call: Call[T]) -> str | None:
        if call.idempotency_key is not None:
            return call.idempotency_key
        if call.method == "POST" and call.replayable:
            return str(uuid.uuid4())
        return None

    def _build_request(
        self,
        http: httpx.Client | httpx.AsyncClient,
        call: Call[T],
        token: str | None,
        idempotency_key: str | None,
    ) -> httpx.Request:
        headers = dict(call.headers)
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        elif call.authenticated and self._credentials.session_id is not None:
            headers[SESSION_HEADER] = self._credentials.session_id
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        request = http.build_request(
            call.method,
            call.path,
            json=call.json,
            params=call.query() or None,
            headers=headers,
        )
        if call.read_timeout is not None:
            timeout = dict(request.extensions.get("timeout", {}))
            request.extensions["timeout"] = {**timeout, "read": call.read_timeout}
        return request

    @staticmethod
    def _decode(call: Call[T], response: httpx.Response) -> T:
        """Read a successful answer with the call's parser."""
        data: object = None
        if response.content:
            try:
                data = json.loads(response.content)
            except ValueError:
                raise APIResponseValidationError(
                    f"{call.method} {call.path} answered {response.status_code} with a body"
                    " that is not JSON."
                ) from None
        try:
            return call.parse(data)
        except (KeyError, TypeError, ValueError) as exc:
            raise APIResponseValidationError(
                f"{call.method} {call.path} answered in an unexpected shape ({exc})."
            ) from exc

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(base_url={self.base_url!r},"
            f" credentials={self._credentials.describe()!r})"
        )

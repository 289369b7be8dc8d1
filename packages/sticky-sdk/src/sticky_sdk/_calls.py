"""A call: one API operation described as data, executed alike by the sync and async clients.

Resources build :class:`Call` values (method, path, body, how to read the answer); the
clients send them, with credentials, retries and error translation. Adding an operation is
writing one small function that returns a ``Call``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar
from urllib.parse import quote

T = TypeVar("T")

QueryValue = str | int | bool


@dataclass(frozen=True)
class Call(Generic[T]):
    """One request to the platform, and how to turn its JSON answer into a ``T``.

    ``authenticated`` calls carry the client's access token (obtaining or renewing it first);
    the others carry none. POSTs get an ``Idempotency-Key`` (``idempotency_key``, or a fresh
    one per call) unless ``replayable`` is False: a call the platform must never see twice
    (spending a refresh token) has no key, so it is not retried once it may have been sent.
    For streamed calls ``parse`` reads one NDJSON line at a time; ``read_timeout`` replaces
    the client's for a call whose answer may be idle for a while (a followed stream).
    """

    method: str
    path: str
    parse: Callable[[Any], T]
    json: object = field(default=None, repr=False)
    params: Mapping[str, QueryValue | None] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    authenticated: bool = True
    idempotency_key: str | None = None
    replayable: bool = True
    read_timeout: float | None = None

    def query(self) -> dict[str, QueryValue]:
        """The query parameters that have a value."""
        return {name: value for name, value in self.params.items() if value is not None}


def path(template: str, *segments: str) -> str:
    """``template`` with each ``{}`` filled by a URL-escaped segment (ids cannot add paths)."""
    return template.format(*(quote(segment, safe="") for segment in segments))


def nothing(_: object) -> None:
    """The reading of an answer with no body (204) or one the caller does not need."""
    return None

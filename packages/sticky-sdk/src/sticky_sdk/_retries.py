"""Which failed requests are tried again, and how long to wait before each new attempt.

A request is retried (at most ``max_retries`` times, 2 by default) when:

- it could not be sent at all (``ConnectError``, ``ConnectTimeout``, ``PoolTimeout``):
  any method, since the platform never saw it;
- the answer is 429 or 503: any method, since the platform refused it without acting. A
  ``Retry-After`` up to ``max_retry_after`` (20 s) is waited exactly; a longer one is not
  waited at all, the error is raised at once with its ``retry_after``;
- the answer is 502 or 504, or the connection failed after the request went out (read or
  write timeout, connection reset, the server hanging up): only when replaying is safe,
  that is for GET, HEAD, PUT, DELETE and OPTIONS, or a request with an ``Idempotency-Key``.

Everything else (any other status, or a replay that is not safe) is answered at once.
Between attempts the wait grows exponentially (0.5 s, 1 s, 2 s … capped at 8 s) with jitter.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
MAYBE_SENT = (
    httpx.ReadTimeout,
    httpx.WriteTimeout,
    httpx.ReadError,
    httpx.WriteError,
    httpx.RemoteProtocolError,
)
REFUSED_STATUSES = frozenset({429, 503})
GATEWAY_STATUSES = frozenset({502, 504})


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    if seconds != seconds:  # NaN
        return None
    return max(0.0, seconds)


def replay_is_safe(request: httpx.Request) -> bool:
    """Whether sending ``request`` twice has the same effect as sending it once."""
    return request.method in IDEMPOTENT_METHODS or "idempotency-key" in request.headers


@dataclass(frozen=True)
class RetryPolicy:
    """The retry rules above, as numbers; ``attempt`` counts retries already made."""

    max_retries: int = 2
    initial_delay: float = 0.5
    max_delay: float = 8.0
    max_retry_after: float = 20.0

    def backoff(self, attempt: int) -> float:
        delay = min(self.max_delay, self.initial_delay * 2.0**attempt)
        return delay * random.uniform(0.75, 1.0)

    def after_exception(
        self, exc: httpx.RequestError, request: httpx.Request, attempt: int
    ) -> float | None:
        """Seconds to wait before retrying after ``exc``, or None to give up."""
        if attempt >= self.max_retries:
            return None
        if isinstance(exc, NOT_SENT):
            return self.backoff(attempt)
        if isinstance(exc, MAYBE_SENT) and replay_is_safe(request):
            return self.backoff(attempt)
        return None

    def after_response(self, response: httpx.Response, attempt: int) -> float | None:
        """Seconds to wait before retrying after ``response``, or None to keep it."""
        status = response.status_code
        if attempt >= self.max_retries:
            return None
        if status in REFUSED_STATUSES:
            retry_after = parse_retry_after(response.headers.get("retry-after"))
            if retry_after is None:
                return self.backoff(attempt)
            return retry_after if retry_after <= self.max_retry_after else None
        if status in GATEWAY_STATUSES and replay_is_safe(response.request):
            return self.backoff(attempt)
        return None

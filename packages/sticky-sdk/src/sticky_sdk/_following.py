"""Following the event log: the I/O-free half of ``events.subscribe``, shared by both clients.

A subscription is one long NDJSON answer. When it ends (the connection drops, the platform
restarts, a gateway times it out) the client connects again with ``after`` set to the
position of the last event it yielded, so no event is yielded twice and none is skipped:
positions only grow, and the platform sends every event after the one asked for. Only
whole lines count: a line cut off by a dropped connection is discarded and read again
after reconnecting.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

from sticky_sdk._calls import Call, QueryValue
from sticky_sdk._exceptions import (
    APIConnectionError,
    APIResponseValidationError,
    InternalServerError,
    StickyError,
)
from sticky_sdk._models import Event
from sticky_sdk._retries import RetryPolicy

NDJSON = "application/x-ndjson"
# The platform sends a keep-alive line every 15 s; three missed ones mean the link is dead.
IDLE_TIMEOUT = 45.0
# What makes a subscription reconnect rather than raise: the platform may come back.
RECOVERABLE = (APIConnectionError, InternalServerError)


class LineBuffer:
    """Splits bytes into whole lines; what follows the last newline waits for more bytes."""

    def __init__(self) -> None:
        self._pending = b""

    def feed(self, chunk: bytes) -> list[bytes]:
        *lines, self._pending = (self._pending + chunk).split(b"\n")
        return lines


def parse_line(line: bytes) -> Event | None:
    """The event on one line; None for a keep-alive (blank, or an SSE-style ``:`` comment)."""
    text = line.strip()
    if not text or text.startswith(b":"):
        return None
    try:
        data = json.loads(text)
    except ValueError:
        raise APIResponseValidationError(
            f"A subscription line is not JSON: {text[:80]!r}"
        ) from None
    return Event.from_json(data)


@dataclass
class Resumption:
    """Where a subscription has got to, and how to ask for the rest."""

    filters: Mapping[str, QueryValue | None]
    after: int | None
    subscription: str | None
    max_reconnects: int | None
    policy: RetryPolicy
    last_position: int | None = None
    failures: int = field(default=0)  # reconnections in a row without a new event

    def call(self) -> Call[Event]:
        params = dict(self.filters)
        if self.last_position is None:
            params.update(after=self.after, subscription=self.subscription)
        else:
            params["after"] = self.last_position
        return Call(
            "GET",
            "/v1/events/subscribe",
            Event.from_json,
            params=params,
            headers={"Accept": NDJSON},
            read_timeout=IDLE_TIMEOUT,
        )

    def fresh(self, event: Event) -> bool:
        """Whether to yield ``event``: yes unless it is at or before one already yielded."""
        if self.last_position is not None and event.position <= self.last_position:
            return False
        self.last_position = event.position
        self.failures = 0
        return True

    def reconnect_delay(self, error: StickyError | None) -> float:
        """Seconds to wait before connecting again; raises when it is time to give up.

        ``error`` is why the answer ended (None: the platform closed it cleanly).
        """
        if self.max_reconnects is not None and self.failures >= self.max_reconnects:
            if error is not None:
                raise error
            raise APIConnectionError(
                f"The subscription ended {self.failures + 1} times in a row without a new"
                f" event (the last one yielded is at position {self.last_position})."
            )
        delay = self.policy.backoff(self.failures)
        self.failures += 1
        return delay

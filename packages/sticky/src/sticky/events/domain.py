"""What the events service stores and answers, independent of storage and HTTP.

Vocabulary (as in EventStoreDB and the ``eventsourcing`` library): an **event** is a fact
that happened; the **log** holds every event in one global order, its **position**; a
**stream** (``payment-<id>``) is the events of one thing, each with a **version** starting
at 0; an append names an **expected version** for optimistic concurrency; a **checkpoint**
is where a named durable subscription has got to; a **projection** is a read model kept up
to date from the log (here: counts and sums per hour and per day, the rollups).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

STREAM_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,127}$"
EVENT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_\-]{0,63}$"

NO_STREAM = -1  # expectedVersion: the stream must not exist yet
MAX_POSITION = 2**63 - 1  # positions and versions are stored as 64-bit integers


@dataclass(frozen=True)
class NewEvent:
    """An event to append. ``id`` is the caller's (for idempotent retries) or generated."""

    id: str
    type: str
    user_id: str
    created_at: datetime
    application_id: str | None = None
    thing_id: str | None = None
    session_id: str | None = None
    payment_id: str | None = None
    federated_user_id: str | None = None
    custom_data: dict[str, Any] = field(default_factory=dict)
    stream: str | None = None
    expected_version: int | None = None  # None: any; NO_STREAM: must not exist; n: last is n
    fresh_id: bool = False
    """``id`` was generated for this append (~102 random bits): nothing stored can have it,
    so the writer does not look it up for an idempotent retry."""


@dataclass(frozen=True)
class StoredEvent:
    """An event in the log."""

    position: int
    id: str
    type: str
    user_id: str
    created_at: datetime
    application_id: str | None
    thing_id: str | None
    session_id: str | None
    payment_id: str | None
    federated_user_id: str | None
    custom_data: dict[str, Any]
    stream: str | None
    version: int | None


@dataclass(frozen=True)
class Appended:
    """The outcome of one event of an append: where it is, and whether it was already there."""

    id: str
    position: int
    stream: str | None
    version: int | None
    duplicate: bool


@dataclass(frozen=True)
class EventFilter:
    """Which events to read. Every read is scoped to one user unless ``user_id`` is None
    (only the platform's own services read across users)."""

    user_id: str | None
    types: tuple[str, ...] = ()
    application_id: str | None = None
    thing_id: str | None = None
    session_id: str | None = None
    payment_id: str | None = None
    federated_user_id: str | None = None
    created_from: datetime | None = None  # inclusive
    created_to: datetime | None = None  # exclusive
    after: int = 0  # positions strictly greater than this


@dataclass(frozen=True)
class StatsQuery:
    """Counts and sums from the rollups."""

    user_id: str
    group_by: tuple[str, ...]  # any of: day, hour, type, thing, application
    types: tuple[str, ...] = ()
    application_id: str | None = None
    thing_id: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None


@dataclass(frozen=True)
class StatsRow:
    key: dict[str, Any]  # {"day": "2026-12-04", "type": "SESSION_READ", ...}
    count: int
    total: int  # sum of customData.total (integer minor units) where present


class EventsError(Exception):
    """Root of the events service's domain errors."""


class WrongExpectedVersion(EventsError):
    def __init__(self, stream: str, expected: int, actual: int) -> None:
        self.stream, self.expected, self.actual = stream, expected, actual
        super().__init__(f"stream {stream!r} is at version {actual}, not the expected {expected}")


class DuplicateEventConflict(EventsError):
    """An event id already stored with different content."""

    def __init__(self, event_id: str) -> None:
        self.event_id = event_id
        super().__init__(f"event {event_id!r} was already appended with different content")

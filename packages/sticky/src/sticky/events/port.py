"""The event store's port: what the service needs from storage, whatever the backend.

Two adapters implement it (SQLite and PostgreSQL) and one contract test suite runs against
both. Appends are atomic per call; positions are assigned in commit order, so a reader that
asks for ``after=p`` never misses an event committed later with a smaller position.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Protocol

from sticky.events.domain import (
    Appended,
    EventFilter,
    NewEvent,
    StatsQuery,
    StatsRow,
    StoredEvent,
)


class EventStore(Protocol):
    async def append(self, events: Sequence[NewEvent]) -> list[Appended]:
        """Append atomically (all or nothing). An event whose (user, id) is already stored
        with the same content is not stored again and is answered ``duplicate=True``; with
        different content raises DuplicateEventConflict. A stream whose last version is not
        the event's ``expected_version`` raises WrongExpectedVersion. Both write nothing."""
        ...

    async def read(self, where: EventFilter, limit: int) -> list[StoredEvent]:
        """Up to ``limit`` events matching ``where``, in position order."""
        ...

    def export(self, where: EventFilter) -> AsyncIterator[bytes]:
        """Every matching event as NDJSON lines (``b'{...}\\n'``, the wire form), in position
        order, in constant memory, in chunks; the database work runs off the event loop."""
        ...

    async def read_stream(
        self, user_id: str, stream: str, after_version: int, limit: int
    ) -> list[StoredEvent]:
        """Events of one stream with version > ``after_version``, in version order."""
        ...

    async def last_position(self) -> int:
        """The highest position committed (0 for an empty log)."""
        ...

    async def get_checkpoint(self, name: str) -> int | None: ...

    async def set_checkpoint(self, name: str, position: int) -> None: ...

    async def stats(self, query: StatsQuery) -> list[StatsRow]:
        """From the rollups (counts per hour and per day), never by scanning the log."""
        ...

    async def rebuild_projections(self) -> int:
        """Recompute every projection from the log; returns the events read."""
        ...

    async def close(self) -> None: ...

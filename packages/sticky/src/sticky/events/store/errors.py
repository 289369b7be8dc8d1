"""The store's own error: the database could not answer (driver errors stop here)."""

from __future__ import annotations

from sticky.events.domain import EventsError


class StoreUnavailable(EventsError):
    """The events database is unreachable or not migrated; the caller may retry."""

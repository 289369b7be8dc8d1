"""What the events tests share: a migrated store on each backend."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from sticky.events.store import SqlEventStore, open_store
from sticky.kernel.migrations import upgrade


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[SqlEventStore]:
    """The events store on ``database_url`` (SQLite, or PostgreSQL where available), migrated."""
    await asyncio.to_thread(upgrade, "sticky.events", database_url)
    store = open_store(database_url)
    try:
        yield store
    finally:
        await store.close()

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from sticky.kernel.database import create_engine
from sticky.kernel.migrations import upgrade


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """The api's database, migrated to head, on SQLite and on PostgreSQL."""
    await asyncio.to_thread(upgrade, "sticky.api", database_url)
    engine = create_engine(database_url)
    yield engine
    await engine.dispose()

"""The api's writers take turns on SQLite (in arrival order, never in SQLite's busy handler)
and write side by side on PostgreSQL."""

from __future__ import annotations

import asyncio

import sqlalchemy as sa

from tests.api.support import RunningApi


async def test_writers_take_turns_on_sqlite_only(api: RunningApi) -> None:
    store = api.state.store
    active, most, order = 0, 0, []

    async def write(n: int) -> None:
        nonlocal active, most
        async with store.transaction() as tx:
            active += 1
            most = max(most, active)
            order.append(n)
            await tx.conn.execute(sa.text("SELECT 1"))
            await asyncio.sleep(0.01)
            active -= 1

    await asyncio.gather(*(write(n) for n in range(12)))
    if store.url.startswith("sqlite"):
        assert most == 1 and order == list(range(12))  # one at a time, first come first served
    else:
        assert most > 1

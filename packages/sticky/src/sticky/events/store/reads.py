"""Reading the log: filtered pages, one stream, and exports that stream stored bodies."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.ext.asyncio import AsyncEngine

from sticky.events.domain import EventFilter, StoredEvent
from sticky.events.store.tables import events
from sticky.events.store.wire import stored_event

# Everything but the stored wire form, which only exports need.
FIELDS = [column for column in events.c if column.name != "body"]
# The log's head: the primary key's last entry (SQLite and PostgreSQL both answer max() of
# an indexed column from the end of its B-tree, not by a scan).
HEAD = sa.select(sa.func.max(events.c.position))
# Rows per query of an export: each becomes one chunk of NDJSON (about 2 MiB). Exports
# taking turns at the database while others wait read smaller pages: shorter turns.
EXPORT_BATCH = 5000
SHARED_EXPORT_BATCH = 2000


class Turns:
    """Exports that take turns at the database: one page query at a time, in arrival order
    (a page of each in turn), with smaller pages while more than one is running."""

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.running = 0

    @contextlib.asynccontextmanager
    async def exporting(self) -> AsyncIterator[None]:
        """While one export runs (its pages are read with ``export(..., turns)``)."""
        self.running += 1
        try:
            yield
        finally:
            self.running -= 1

    def page_size(self) -> int:
        return EXPORT_BATCH if self.running <= 1 else SHARED_EXPORT_BATCH


def matching(where: EventFilter, after: int) -> list[sa.ColumnElement[bool]]:
    c = events.c
    conditions = [c.position > after]
    if where.user_id is not None:
        conditions.append(c.user_id == where.user_id)
    if len(where.types) == 1:
        conditions.append(c.type == where.types[0])
    elif where.types:
        conditions.append(c.type.in_(where.types))
    for column, value in (
        (c.application_id, where.application_id),
        (c.thing_id, where.thing_id),
        (c.session_id, where.session_id),
        (c.payment_id, where.payment_id),
        (c.federated_user_id, where.federated_user_id),
    ):
        if value is not None:
            conditions.append(column == value)
    if where.created_from is not None:
        conditions.append(c.created_at >= where.created_from)
    if where.created_to is not None:
        conditions.append(c.created_at < where.created_to)
    return conditions


async def read(engine: AsyncEngine, where: EventFilter, limit: int) -> list[StoredEvent]:
    statement = (
        sa.select(*FIELDS)
        .where(*matching(where, where.after))
        .order_by(events.c.position)
        .limit(limit)
    )
    async with engine.connect() as conn:
        rows = (await conn.execute(statement)).all()
    return [stored_event(row._mapping) for row in rows]


async def last_position(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int(await conn.scalar(HEAD) or 0)


async def read_stream(
    engine: AsyncEngine, user_id: str, stream: str, after_version: int, limit: int
) -> list[StoredEvent]:
    c = events.c
    statement = (
        sa.select(*FIELDS)
        .where(c.user_id == user_id, c.stream == stream, c.version > after_version)
        .order_by(c.version)
        .limit(limit)
    )
    async with engine.connect() as conn:
        rows = (await conn.execute(statement)).all()
    return [stored_event(row._mapping) for row in rows]


async def export(
    engine: AsyncEngine, where: EventFilter, turns: Turns | None = None
) -> AsyncIterator[bytes]:
    """NDJSON chunks of stored bodies, a keyset page at a time, holding no connection
    between pages (a slow client must not pin one).

    With ``turns``, exports sharing them take turns at the database, a page each, instead
    of scanning side by side (run each inside ``turns.exporting()``); without, the export
    has turns of its own: full pages, a lock nobody else waits for.
    """
    turns = turns or Turns()
    after = where.after
    postgres = engine.dialect.name == "postgresql"
    while True:
        size = turns.page_size()
        page = (
            sa.select(events.c.position, events.c.body)
            .where(*matching(where, after))
            .order_by(events.c.position)
            .limit(size)
        )
        async with turns.lock, engine.connect() as conn:
            if postgres:
                # The server joins the page: one value to decode, not a row per event.
                joined = page.subquery()
                row = (
                    await conn.execute(
                        sa.select(
                            sa.func.count(),
                            sa.func.max(joined.c.position),
                            sa.func.string_agg(
                                joined.c.body,
                                aggregate_order_by(sa.literal("\n"), joined.c.position),
                            ),
                        )
                    )
                ).one()
                count, last, text = int(row[0]), row[1], row[2]
            else:
                rows = (await conn.execute(page)).all()
                count = len(rows)
                last = rows[-1][0] if rows else None
                text = "\n".join([r[1] for r in rows])
        if not count:
            return
        yield (text + "\n").encode()
        if count < size:
            return
        after = last

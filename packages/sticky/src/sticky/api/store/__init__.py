"""The api service's store: one database (SQLite by default, PostgreSQL by URL)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from sticky.api.store.inline import InlineWriter
from sticky.api.store.outbox import EventOutbox, outbox_rows
from sticky.api.store.owned import Cursor, InvalidCursor, Owned, PageOf, Row, json_list_has
from sticky.api.store.sessions import Sessions, SessionSeen, seen_upsert
from sticky.api.store.tables import (
    accounts,
    application_versions,
    applications,
    categories,
    event_outbox,
    products,
    things,
)
from sticky.kernel.database import create_engine, create_sync_engine, is_sqlite
from sticky.kernel.migrations import current_revision, head_revision

__all__ = ["Cursor", "InvalidCursor", "PageOf", "Row", "Store", "Transaction"]


@dataclass
class Transaction:
    conn: AsyncConnection

    def __post_init__(self) -> None:
        self.things = Owned(things, self.conn)
        self.applications = Owned(applications, self.conn)
        self.products = Owned(products, self.conn)
        self.categories = Owned(categories, self.conn)
        self.sessions = Sessions(self.conn)
        self.outbox = EventOutbox(self.conn)

    async def versions(self, application_id: str) -> list[Row]:
        t = application_versions
        result = await self.conn.execute(
            sa.select(t).where(t.c.application_id == application_id).order_by(t.c.version.desc())
        )
        return [dict(row._mapping) for row in result]

    async def version(self, application_id: str, version: int) -> Row | None:
        t = application_versions
        result = await self.conn.execute(
            sa.select(t).where(t.c.application_id == application_id, t.c.version == version)
        )
        row = result.first()
        return dict(row._mapping) if row else None

    async def add_version(self, row: Row) -> None:
        await self.conn.execute(application_versions.insert().values(**row))

    async def unlink_things(self, user_id: str, column: str, id_: str, now: datetime) -> None:
        """Clear ``column`` (``application_id``, ``product_id``) of the things naming ``id_``."""
        t = things
        await self.conn.execute(
            t.update()
            .where(t.c.user_id == user_id, t.c[column] == id_)
            .values({column: None, "updated_at": now})
        )

    async def unlink_category(self, user_id: str, category_id: str, now: datetime) -> None:
        """Take ``category_id`` out of the categories of the products naming it."""
        t = products
        sqlite = self.conn.dialect.name == "sqlite"
        naming = json_list_has(t.c.categories, category_id, sqlite=sqlite)
        result = await self.conn.execute(
            sa.select(t.c.id, t.c.categories).where(t.c.user_id == user_id, naming)
        )
        for product_id, listed in result.all():
            kept = [c for c in listed if c != category_id]
            await self.conn.execute(
                t.update()
                .where(t.c.user_id == user_id, t.c.id == product_id)
                .values(categories=kept, updated_at=now)
            )

    async def claim_account(self, user_id: str, now: sa.ColumnElement[object] | object) -> bool:
        """Mark ``user_id`` as set up; False when another request already did."""
        t = accounts
        exists = await self.conn.execute(sa.select(t.c.user_id).where(t.c.user_id == user_id))
        if exists.first() is not None:
            return False
        await self.conn.execute(t.insert().values(user_id=user_id, created_at=now))
        return True


def _relaxed_sqlite(dbapi_connection: Any, _: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


class Store:
    def __init__(self, url: str) -> None:
        self.url = url
        self.engine: AsyncEngine = create_engine(url)
        self._sync: sa.Engine | None = None
        self._inline: InlineWriter | None = None
        # SQLite has one writer at a time. The api's own transactions and the taps' group
        # commit take turns here, in arrival order, instead of sleeping in SQLite's busy
        # handler (whose back-off, up to 100 ms a try, made the tail of payments under load
        # seconds long). Writers on the raw engine (idempotency keys, webhook deliveries,
        # checkpoints) still meet them in the busy handler. PostgreSQL writers need no turn.
        self._turn: asyncio.Lock | None = asyncio.Lock() if is_sqlite(url) else None

    @contextlib.asynccontextmanager
    async def writing(self) -> AsyncIterator[None]:
        """This process's turn to write (SQLite); at once on PostgreSQL. Not reentrant."""
        if self._turn is None:
            yield
            return
        async with self._turn:
            yield

    def record_sync(
        self,
        seen: list[SessionSeen],
        events: list[tuple[str, str]],
        now: datetime,
        delivered_through: int | None = None,
    ) -> None:
        """Write a group of taps in one transaction, from a worker thread.

        The group commit's whole write is one call off the event loop: done through the
        async engine it would wait for the (busy) loop between every statement. Its commit
        survives the api process dying at any moment, not the machine losing power in the
        next instant: SQLite's ``synchronous=NORMAL`` in WAL mode (the WAL is synced at
        checkpoints, not at each commit), PostgreSQL's ``synchronous_commit=off`` (the WAL
        writer flushes within ``wal_writer_delay``, 200 ms by default). A tap waits for no
        disk flush; everything else the api writes keeps the full settings.

        ``delivered_through`` removes the outbox rows the events service has acknowledged, in
        the same writer, so the deliverer never waits on the taps' write lock (nor they on
        its). Losing such a removal to a power cut only means sending those events again,
        which the events service acknowledges without storing them twice.
        """
        _record(self._threads(), seen, events, now, delivered_through)

    def record_now(
        self,
        seen: list[SessionSeen],
        events: list[tuple[str, str]],
        now: datetime,
        delivered_through: int | None = None,
    ) -> bool:
        """``record_sync`` on the calling thread (the event loop's), on SQLite, when the write
        lock is free at once; False, with nothing written, when it is not (another connection
        is writing) or on PostgreSQL, whose every statement is a round trip.

        A group of taps takes SQLite well under a millisecond; from a worker thread it took
        several, waiting for the GIL and the busy event loop, while its taps waited on it.
        This connection never waits in SQLite's busy handler and never checkpoints (the
        checkpoint's fsyncs would stall the loop): call ``checkpoint_sync`` from a thread
        every so many rows written here.
        """
        if self._turn is None:
            return False
        if self._inline is None:
            self._inline = InlineWriter(self.url)
        return self._inline.write(seen, events, now, delivered_through)

    def checkpoint_sync(self) -> int:
        """Copy the WAL into the database file (SQLite's ``PASSIVE`` checkpoint: it waits for
        no reader or writer), from a worker thread; the pages the WAL holds."""
        with self._threads().connect() as conn:
            _, pages, _ = conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)").one()
        return int(pages)

    def _threads(self) -> sa.Engine:
        """The synchronous engine for group writes from worker threads."""
        if self._sync is None:
            self._sync = create_sync_engine(self.url)
            if self._sync.dialect.name == "sqlite":
                event.listen(self._sync, "connect", _relaxed_sqlite)
        return self._sync

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        async with self.writing(), self.engine.begin() as conn:
            yield Transaction(conn)

    @contextlib.asynccontextmanager
    async def reading(self) -> AsyncIterator[Transaction]:
        async with self.engine.connect() as conn:
            yield Transaction(conn)

    async def readiness(self) -> tuple[bool, str]:
        current = await current_revision(self.engine)
        head = head_revision("sticky.api")
        if current != head:
            return False, f"schema at {current}, expected {head}: run `sticky migrate`"
        return True, f"schema at {head}"

    async def close(self) -> None:
        await self.engine.dispose()
        if self._sync is not None:
            self._sync.dispose()
        if self._inline is not None:
            self._inline.close()


def _record(
    engine: sa.Engine,
    seen: list[SessionSeen],
    events: list[tuple[str, str]],
    now: datetime,
    delivered_through: int | None,
) -> None:
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("SET LOCAL synchronous_commit TO OFF")
        if seen:
            conn.execute(*seen_upsert(conn.dialect.name, seen))
        if events:
            conn.execute(event_outbox.insert(), outbox_rows(events, now))
        if delivered_through is not None:
            conn.execute(event_outbox.delete().where(event_outbox.c.seq <= delivered_through))

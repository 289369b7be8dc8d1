"""The event store over SQLAlchemy Core: SQLite by default, PostgreSQL by URL.

One adapter serves both backends; where they differ (the write lock, upserts) the dialect
decides. Appends go through one group-commit writer per process; reads go straight to the
database. Driver errors stop here and become :class:`StoreUnavailable`.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from sticky.events.domain import (
    Appended,
    EventFilter,
    NewEvent,
    StatsQuery,
    StatsRow,
    StoredEvent,
)
from sticky.events.store import projection, reads
from sticky.events.store.errors import StoreUnavailable
from sticky.events.store.stats import stats as answer_stats
from sticky.events.store.tables import checkpoints, metadata
from sticky.events.store.writer import GroupWriter
from sticky.kernel.database import add_sqlite_pragmas, create_engine, is_sqlite, sync_url
from sticky.kernel.migrations import current_revision, head_revision

__all__ = ["SqlEventStore", "StoreUnavailable", "metadata", "open_store"]


# synchronous_commit=on: an append is acknowledged only once its commit is flushed to disk
# (the server default, stated so that a server configured otherwise cannot weaken it).
# force_custom_plan: psycopg prepares a statement after a few runs, and PostgreSQL may then
# plan it once for any values; the writer's id lookups and the filtered reads need plans
# made for their actual values (a generic plan turned a 10 ms lookup into a 1 s scan).
_POSTGRES_SESSION = {"options": "-c synchronous_commit=on -c plan_cache_mode=force_custom_plan"}
# The writer's page cache: the log's nine indexes take inserts at random places (ids,
# sessions), and a cache that holds their upper levels saves a read per insert.
_WRITER_CACHE_KIB = 64 * 1024


def _writer_engine(url: str) -> sa.Engine:
    """The synchronous engine the writer's thread uses (the kernel's connection settings)."""
    if not is_sqlite(url):
        return sa.create_engine(
            sync_url(url), connect_args=_POSTGRES_SESSION, pool_size=2, pool_pre_ping=True
        )
    engine = sa.create_engine(sync_url(url), connect_args={"check_same_thread": False})
    add_sqlite_pragmas(engine)

    # SQLite has one writer: taking its lock when the transaction starts (not at its first
    # write) makes writers queue on busy_timeout instead of failing with SQLITE_BUSY.
    @event.listens_for(engine, "connect")
    def _no_driver_transactions(dbapi_connection: Any, _: Any) -> None:
        dbapi_connection.isolation_level = None
        dbapi_connection.execute(f"PRAGMA cache_size=-{_WRITER_CACHE_KIB}")

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


@contextlib.contextmanager
def _translated() -> Any:
    try:
        yield
    except (DBAPIError, OSError) as exc:
        raise StoreUnavailable(f"the events database is unavailable: {exc}") from exc


class SqlEventStore:
    """The :class:`~sticky.events.port.EventStore` on SQLite or PostgreSQL."""

    def __init__(self, reads_engine: AsyncEngine, writes_engine: sa.Engine) -> None:
        self._reads = reads_engine
        self.writer = GroupWriter(writes_engine)

    @classmethod
    def open(cls, url: str) -> SqlEventStore:
        if is_sqlite(url):
            reads_engine = create_engine(url)
        else:
            reads_engine = create_engine(url, connect_args=_POSTGRES_SESSION)
        return cls(reads_engine, _writer_engine(url))

    async def close(self) -> None:
        await self.writer.stop()
        await self._reads.dispose()

    async def append(self, events: Sequence[NewEvent]) -> list[Appended]:
        return await self.writer.append(events)

    async def read(self, where: EventFilter, limit: int) -> list[StoredEvent]:
        with _translated():
            return await reads.read(self._reads, where, limit)

    async def export(self, where: EventFilter) -> AsyncIterator[bytes]:
        with _translated():
            async for chunk in reads.export(self._reads, where):
                yield chunk

    async def read_stream(
        self, user_id: str, stream: str, after_version: int, limit: int
    ) -> list[StoredEvent]:
        with _translated():
            return await reads.read_stream(self._reads, user_id, stream, after_version, limit)

    async def last_position(self) -> int:
        with _translated():
            return await reads.last_position(self._reads)

    async def get_checkpoint(self, name: str) -> int | None:
        with _translated():
            async with self._reads.connect() as conn:
                position = await conn.scalar(
                    sa.select(checkpoints.c.position).where(checkpoints.c.name == name)
                )
        return None if position is None else int(position)

    async def set_checkpoint(self, name: str, position: int) -> None:
        def save(conn: sa.Connection) -> None:
            insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
            statement = insert(checkpoints).values(
                name=name, position=position, updated_at=datetime.now(UTC)
            )
            conn.execute(
                statement.on_conflict_do_update(
                    index_elements=["name"],
                    set_={
                        "position": statement.excluded.position,
                        "updated_at": statement.excluded.updated_at,
                    },
                )
            )

        with _translated():
            await self.writer.run(save)

    async def stats(self, query: StatsQuery) -> list[StatsRow]:
        with _translated():
            async with self._reads.connect() as conn:
                return await answer_stats(conn, query)

    async def rebuild_projections(self) -> int:
        # Under the log's write lock, so no append lands between the scan and the swap.
        with _translated():
            return await self.writer.run(projection.rebuild, log_lock=True)

    async def readiness(self) -> tuple[bool, str]:
        """Reachable, and migrated to the head of the events history."""
        head = head_revision("sticky.events")
        with _translated():
            current = await current_revision(self._reads)
        if current != head:
            return False, f"database at revision {current}, code expects {head}"
        return True, f"database at revision {head}"


def open_store(url: str) -> SqlEventStore:
    """The event store at ``url``; ``close()`` it when done (that stops its writer)."""
    return SqlEventStore.open(url)

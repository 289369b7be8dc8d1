"""The taps' group commit on SQLite, written on the event loop's thread over one raw connection.

For a group of a few taps, SQLAlchemy's engine costs several times SQLite's own work: a pool
checkout and return, an execution context and every value through its type, per statement
(about 90 µs of the api's one busy core per tap at saturation). Here the statements are
compiled once by SQLAlchemy from the same table definitions, each value goes through its
column type's own bind processor, so the rows are stored exactly as the engine would store
them, and the group runs on the DBAPI connection in one transaction.

The connection never waits for a lock (``busy_timeout=0``: ``BEGIN IMMEDIATE`` fails at once
while another connection writes, and the caller writes the group from a thread instead) and
never checkpoints (``wal_autocheckpoint=0``: its fsyncs would stall the loop).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.pool import PoolProxiedConnection
from sqlalchemy.sql.compiler import SQLCompiler

from sticky.api.store.outbox import OUTBOX_COLUMNS
from sticky.api.store.sessions import SEEN_COLUMNS, SessionSeen, seen_statement
from sticky.api.store.tables import event_outbox
from sticky.kernel.database import create_sync_engine

_SQLITE_BUSY = 5

Processor = Callable[[Any], Any] | None


class _Compiled:
    """A statement's SQL for the dialect, and the bind processor of each of its parameters."""

    def __init__(
        self, statement: sa.ClauseElement, dialect: sa.Dialect, names: Sequence[str], **kw: Any
    ) -> None:
        compiled = statement.compile(dialect=dialect, **kw)
        assert isinstance(compiled, SQLCompiler)
        # SQLite's parameters are positional: the writer builds its rows in this order.
        if compiled.positiontup != list(names):
            raise RuntimeError(f"expected parameters {names}, got {compiled.positiontup}")
        self.sql = compiled.string
        binds = compiled.binds
        self.processors: dict[str, Processor] = {
            name: binds[name].type.dialect_impl(dialect).bind_processor(dialect) for name in names
        }

    def processor(self, name: str) -> Callable[[Any], Any]:
        process = self.processors[name]
        return (lambda value: value) if process is None else process


def _inline_sqlite(dbapi_connection: Any, _: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=0")
    cursor.execute("PRAGMA wal_autocheckpoint=0")
    cursor.close()


def _busy(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    return isinstance(code, int) and code & 0xFF == _SQLITE_BUSY


class InlineWriter:
    """Writes a group of taps at once or not at all; for the event loop's thread only."""

    def __init__(self, url: str) -> None:
        self._engine = create_sync_engine(url, pool_size=1)
        event.listen(self._engine, "connect", _inline_sqlite)
        dialect = self._engine.dialect
        self._seen = _Compiled(seen_statement(dialect.name), dialect, SEEN_COLUMNS)
        self._outbox = _Compiled(
            event_outbox.insert(), dialect, OUTBOX_COLUMNS, column_keys=OUTBOX_COLUMNS
        )
        through = event_outbox.c.seq <= sa.bindparam("through")
        self._delivered = _Compiled(event_outbox.delete().where(through), dialect, ["through"])
        self._no_sector = self._seen.processor("cross_user_sector")({})
        self._seen_at = self._seen.processor("created_at")
        self._outbox_at = self._outbox.processor("created_at")
        self._through = self._delivered.processor("through")
        self._held: PoolProxiedConnection | None = None  # the pool's one connection, kept
        self._connection: sqlite3.Connection | None = None

    def write(
        self,
        seen: list[SessionSeen],
        events: list[tuple[str, str]],
        now: datetime,
        delivered_through: int | None,
    ) -> bool:
        """The group in one transaction; False, with nothing written, while another
        connection holds SQLite's write lock. Any other failure rolls back and raises."""
        connection = self._connection
        if connection is None:
            self._held = self._engine.raw_connection()
            connection = self._connection = self._held.driver_connection
            assert isinstance(connection, sqlite3.Connection)
        try:
            connection.execute("BEGIN IMMEDIATE")
            if seen:
                connection.executemany(self._seen.sql, self._session_rows(seen))
            if events:
                at = self._outbox_at(now)
                connection.executemany(self._outbox.sql, [(i, b, at, 0) for i, b in events])
            if delivered_through is not None:
                connection.execute(self._delivered.sql, (self._through(delivered_through),))
            connection.commit()
        except BaseException as exc:
            if connection.in_transaction:
                connection.rollback()
            if isinstance(exc, sqlite3.OperationalError) and _busy(exc):
                return False
            raise
        return True

    def _session_rows(self, seen: list[SessionSeen]) -> list[tuple[Any, ...]]:
        stamps: dict[datetime, Any] = {}  # a burst's taps often share their instant
        rows = []
        for s in seen:
            at = stamps.get(s.at)
            if at is None:
                at = stamps[s.at] = self._seen_at(s.at)
            rows.append((s.id, s.user_id, s.application_id, s.thing_id, self._no_sector, at, at))
        return rows

    def close(self) -> None:
        if self._held is not None:
            self._held.close()
            self._held = self._connection = None
        self._engine.dispose()

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

from sticky.api.store.outbox import OUTBOX_COLUMNS, outbox_rows
from sticky.api.store.sessions import SessionSeen, seen_rows, seen_statement
from sticky.api.store.tables import event_outbox
from sticky.kernel.database import create_sync_engine

_SQLITE_BUSY = 5

Processor = Callable[[Any], Any] | None


class _Compiled:
    """A statement's SQL for the dialect, and the bind processors of its parameters in order."""

    def __init__(self, statement: sa.ClauseElement, dialect: sa.Dialect, **kw: Any) -> None:
        compiled = statement.compile(dialect=dialect, **kw)
        assert isinstance(compiled, SQLCompiler)
        assert compiled.positiontup is not None  # SQLite's paramstyle is positional
        self.sql = compiled.string
        self.names = list(compiled.positiontup)
        binds = compiled.binds
        self.processors: list[Processor] = [
            binds[name].type.dialect_impl(dialect).bind_processor(dialect) for name in self.names
        ]

    def rows(self, rows: Sequence[dict[str, Any]]) -> list[tuple[Any, ...]]:
        pairs = list(zip(self.names, self.processors, strict=True))
        return [
            tuple(row[name] if process is None else process(row[name]) for name, process in pairs)
            for row in rows
        ]


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
        self._seen = _Compiled(seen_statement(dialect.name), dialect)
        self._outbox = _Compiled(event_outbox.insert(), dialect, column_keys=OUTBOX_COLUMNS)
        self._delivered = _Compiled(
            event_outbox.delete().where(event_outbox.c.seq <= sa.bindparam("through")), dialect
        )
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
        except sqlite3.OperationalError as exc:
            if _busy(exc):
                return False
            raise
        try:
            if seen:
                connection.executemany(self._seen.sql, self._seen.rows(seen_rows(seen)))
            if events:
                rows = self._outbox.rows(outbox_rows(events, now))
                connection.executemany(self._outbox.sql, rows)
            if delivered_through is not None:
                connection.execute(
                    self._delivered.sql, self._delivered.rows([{"through": delivered_through}])[0]
                )
            connection.commit()
        except BaseException as exc:
            connection.rollback()
            if isinstance(exc, sqlite3.OperationalError) and _busy(exc):
                return False
            raise
        return True

    def close(self) -> None:
        if self._held is not None:
            self._held.close()
            self._held = self._connection = None
        self._engine.dispose()

"""Database engines for a service's own store: SQLite by default, PostgreSQL by URL.

Every service owns one database. The URL a user writes (``sqlite:///path`` or
``postgresql://...``) is mapped to the drivers Sticky uses: aiosqlite and psycopg (async) for
the service, the synchronous twins for migrations.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, Dialect, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

# How long a SQLite connection waits for a lock before it answers "database is locked".
BUSY_TIMEOUT_MS = 10_000


class DatabaseURLError(ValueError):
    """The URL names a database Sticky cannot use."""


def _normalise(url: str) -> URL:
    try:
        parsed = make_url(url)
    except Exception as exc:
        raise DatabaseURLError(f"{url!r} is not a database URL") from exc
    backend = parsed.get_backend_name()
    if backend in ("postgres", "postgresql"):
        return parsed.set(drivername="postgresql")
    if backend == "sqlite":
        return parsed.set(drivername="sqlite")
    raise DatabaseURLError(
        f"{parsed.drivername!r} databases are not supported: use sqlite:/// or postgresql://"
    )


def async_url(url: str) -> URL:
    parsed = _normalise(url)
    if parsed.get_backend_name() == "postgresql":
        return parsed.set(drivername="postgresql+psycopg")
    return parsed.set(drivername="sqlite+aiosqlite")


def sync_url(url: str) -> URL:
    parsed = _normalise(url)
    if parsed.get_backend_name() == "postgresql":
        return parsed.set(drivername="postgresql+psycopg")
    return parsed.set(drivername="sqlite+pysqlite")


def is_sqlite(url: str) -> bool:
    return _normalise(url).get_backend_name() == "sqlite"


def ensure_sqlite_directory(url: str) -> None:
    parsed = _normalise(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)


def _sqlite_pragmas(dbapi_connection: Any, _: Any) -> None:
    # WAL lets readers run beside the writer; synchronous=FULL makes an acknowledged
    # commit survive a crash of the machine, not only of the process.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cursor.close()


def create_engine(url: str, **options: Any) -> AsyncEngine:
    """An async engine for ``url`` with Sticky's connection settings."""
    target = async_url(url)
    if target.get_backend_name() == "sqlite":
        ensure_sqlite_directory(url)
        engine = create_async_engine(target, **options)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    options.setdefault("pool_size", 10)
    options.setdefault("max_overflow", 10)
    options.setdefault("pool_pre_ping", True)
    return create_async_engine(target, **options)


def create_sync_engine(url: str, **options: Any) -> sa.Engine:
    """A synchronous engine for ``url`` with the same connection settings, for work done in
    one call from a thread (a group commit) rather than statement by statement."""
    target = sync_url(url)
    if target.get_backend_name() == "sqlite":
        ensure_sqlite_directory(url)
        engine = sa.create_engine(target, **options)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    options.setdefault("pool_size", 2)
    options.setdefault("pool_pre_ping", True)
    return sa.create_engine(target, **options)


def add_sqlite_pragmas(sync_engine: Any) -> None:
    event.listen(sync_engine, "connect", _sqlite_pragmas)


class UTCDateTime(sa.TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, on SQLite as on PostgreSQL."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are ambiguous; pass an aware UTC datetime")
        value = value.astimezone(UTC)
        # SQLite compares timestamps as text: store one naive UTC format so order holds.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

"""Auth's store: SQLAlchemy Core over SQLite or PostgreSQL, one repository per table group.

Every use of the database is a transaction: ``async with store.transaction() as tx:`` gives
the repositories (``tx.users``, ``tx.refresh_tokens``, …) bound to one connection, committed
together or not at all. Driver errors stop here: constraint violations become the domain
errors the repositories name, and a database that cannot be reached (or is not migrated)
becomes :class:`~sticky.auth.errors.StoreUnavailable`.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import event
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from sticky.auth.errors import StoreUnavailable
from sticky.auth.store.counters import Counters
from sticky.auth.store.keys import ApiKey, ApiKeys, TeamMember, TeamMembers
from sticky.auth.store.outbox import Outbox, OutboxMessage
from sticky.auth.store.sessions import RefreshToken, RefreshTokens
from sticky.auth.store.signing import SigningKeyRecord, SigningKeys
from sticky.auth.store.tables import metadata
from sticky.auth.store.users import OneTimeTokens, User, Users, reset_tokens, verification_tokens
from sticky.kernel.database import create_engine, is_sqlite
from sticky.kernel.migrations import current_revision, head_revision

__all__ = [
    "ApiKey",
    "OutboxMessage",
    "RefreshToken",
    "SigningKeyRecord",
    "Store",
    "TeamMember",
    "Tx",
    "User",
    "metadata",
]


class Tx:
    """The repositories of one transaction."""

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn
        self.users = Users(conn)
        self.verification_tokens: OneTimeTokens = verification_tokens(conn)
        self.reset_tokens: OneTimeTokens = reset_tokens(conn)
        self.api_keys = ApiKeys(conn)
        self.team_members = TeamMembers(conn)
        self.refresh_tokens = RefreshTokens(conn)
        self.signing_keys = SigningKeys(conn)
        self.outbox = Outbox(conn)
        self.counters = Counters(conn)


def _begin_immediate(engine: AsyncEngine) -> None:
    # SQLite's default deferred transactions fail at once (SQLITE_BUSY) when one that has read
    # tries to write after another connection wrote; taking the write lock up front makes
    # concurrent transactions wait their turn (busy_timeout) instead.
    @event.listens_for(engine.sync_engine, "connect")
    def _no_driver_transactions(dbapi_connection: Any, _: Any) -> None:
        dbapi_connection.isolation_level = None

    @event.listens_for(engine.sync_engine, "begin")
    def _begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


class Store:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    @classmethod
    def open(cls, url: str) -> Store:
        engine = create_engine(url)
        if is_sqlite(url):
            _begin_immediate(engine)
        return cls(engine)

    async def close(self) -> None:
        await self.engine.dispose()

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Tx]:
        try:
            async with self.engine.begin() as conn:
                yield Tx(conn)
        except IntegrityError:
            # A constraint the repositories did not expect is a bug, not an outage.
            raise
        except DBAPIError as exc:
            raise StoreUnavailable(
                "The auth database is unavailable or not migrated; try again shortly."
            ) from exc
        except OSError as exc:
            raise StoreUnavailable("The auth database cannot be reached.") from exc

    async def readiness(self) -> tuple[bool, str]:
        """Reachable, and migrated to the head of auth's history."""
        head = head_revision("sticky.auth")
        current = await current_revision(self.engine)
        if current != head:
            return False, f"database at revision {current}, code expects {head}"
        return True, f"database at revision {head}"

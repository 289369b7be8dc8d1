"""Consumer sessions and their sectors (cross-user, per user, per application)."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from sticky.api.store.owned import Row
from sticky.api.store.tables import session_sectors, sessions

USER_SECTOR = ""  # the application_id of a user sector row


@dataclass(frozen=True)
class SessionSeen:
    """A session that tapped: created if new, else pointed at the merchant it tapped."""

    id: str
    user_id: str
    application_id: str | None
    thing_id: str | None
    at: datetime


SEEN_COLUMNS = (
    "id",
    "user_id",
    "application_id",
    "thing_id",
    "cross_user_sector",
    "created_at",
    "updated_at",
)


@functools.cache
def seen_statement(dialect: str) -> sa.Insert:
    """Create a session or repoint it: one statement per dialect, built once (its ``excluded``
    columns cost more to build than a small group of taps takes to write)."""
    insert = sqlite.insert(sessions) if dialect == "sqlite" else postgresql.insert(sessions)
    return insert.on_conflict_do_update(
        index_elements=[sessions.c.id],
        set_={
            "user_id": insert.excluded.user_id,
            "application_id": insert.excluded.application_id,
            "thing_id": insert.excluded.thing_id,
            "updated_at": insert.excluded.updated_at,
        },
    )


def seen_rows(seen: Sequence[SessionSeen]) -> list[dict[str, Any]]:
    return [
        {
            "id": s.id,
            "user_id": s.user_id,
            "application_id": s.application_id,
            "thing_id": s.thing_id,
            "cross_user_sector": {},
            "created_at": s.at,
            "updated_at": s.at,
        }
        for s in seen
    ]


def seen_upsert(
    dialect: str, seen: Sequence[SessionSeen]
) -> tuple[sa.Insert, list[dict[str, Any]]]:
    """One statement, many rows: create each session or repoint it (``executemany``)."""
    return seen_statement(dialect), seen_rows(seen)


class Sessions:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def get(self, session_id: str) -> Row | None:
        result = await self._conn.execute(sa.select(sessions).where(sessions.c.id == session_id))
        row = result.first()
        return dict(row._mapping) if row else None

    async def seen(self, seen: Sequence[SessionSeen]) -> None:
        """Create each session, or point an existing one at the merchant it just tapped."""
        if seen:
            await self._conn.execute(*seen_upsert(self._conn.dialect.name, seen))

    async def sector(self, session_id: str, user_id: str, application_id: str) -> dict[str, Any]:
        t = session_sectors
        result = await self._conn.execute(
            sa.select(t.c.data).where(
                t.c.session_id == session_id,
                t.c.user_id == user_id,
                t.c.application_id == application_id,
            )
        )
        data = result.scalar()
        return dict(data) if data else {}

    async def put_sector(
        self,
        session_id: str,
        user_id: str,
        application_id: str,
        data: dict[str, Any],
        now: datetime,
    ) -> None:
        t = session_sectors
        where = (
            t.c.session_id == session_id,
            t.c.user_id == user_id,
            t.c.application_id == application_id,
        )
        result = await self._conn.execute(
            t.update().where(*where).values(data=data, updated_at=now)
        )
        if not result.rowcount:
            await self._conn.execute(
                t.insert().values(
                    session_id=session_id,
                    user_id=user_id,
                    application_id=application_id,
                    data=data,
                    updated_at=now,
                )
            )

    async def put_cross_user(self, session_id: str, data: dict[str, Any], now: datetime) -> None:
        await self._conn.execute(
            sessions.update()
            .where(sessions.c.id == session_id)
            .values(cross_user_sector=data, updated_at=now)
        )

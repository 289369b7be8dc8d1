"""API keys (one public and one private per user) and team members with their own keys."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from sticky.auth.errors import TeamMemberExists
from sticky.auth.store.tables import api_keys, team_members


@dataclass(frozen=True)
class ApiKey:
    id: str
    user_id: str
    type: str  # "public" or "private"
    key: str | None  # only the publishable key is kept in clear
    key_hash: str
    last4: str
    created_at: datetime


@dataclass(frozen=True)
class TeamMember:
    id: str
    user_id: str
    name: str
    email: str
    permissions: tuple[str, ...]
    key_hash: str
    key_last4: str
    created_at: datetime


def _api_key(row: sa.Row[tuple[object, ...]]) -> ApiKey:
    m = row._mapping
    return ApiKey(
        m["id"], m["user_id"], m["type"], m["key"], m["key_hash"], m["last4"], m["created_at"]
    )


def _team_member(row: sa.Row[tuple[object, ...]]) -> TeamMember:
    m = row._mapping
    return TeamMember(
        id=m["id"],
        user_id=m["user_id"],
        name=m["name"],
        email=m["email"],
        permissions=tuple(m["permissions"]),
        key_hash=m["key_hash"],
        key_last4=m["key_last4"],
        created_at=m["created_at"],
    )


class ApiKeys:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def add(self, key: ApiKey) -> None:
        await self._conn.execute(
            api_keys.insert().values(
                id=key.id,
                user_id=key.user_id,
                type=key.type,
                key=key.key,
                key_hash=key.key_hash,
                last4=key.last4,
                created_at=key.created_at,
            )
        )

    async def replace(self, key: ApiKey) -> None:
        """Put ``key`` in place of the user's key of its type: the old one stops working."""
        await self._conn.execute(
            api_keys.update()
            .where(api_keys.c.user_id == key.user_id, api_keys.c.type == key.type)
            .values(
                id=key.id,
                key=key.key,
                key_hash=key.key_hash,
                last4=key.last4,
                created_at=key.created_at,
            )
        )

    async def for_user(self, user_id: str) -> list[ApiKey]:
        rows = await self._conn.execute(
            api_keys.select().where(api_keys.c.user_id == user_id).order_by(api_keys.c.type)
        )
        return [_api_key(row) for row in rows]

    async def by_hash(self, key_hash: str) -> ApiKey | None:
        query = api_keys.select().where(api_keys.c.key_hash == key_hash)
        row = (await self._conn.execute(query)).first()
        return _api_key(row) if row else None


class TeamMembers:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def add(self, member: TeamMember) -> None:
        try:
            await self._conn.execute(
                team_members.insert().values(
                    id=member.id,
                    user_id=member.user_id,
                    name=member.name,
                    email=member.email,
                    permissions=list(member.permissions),
                    key_hash=member.key_hash,
                    key_last4=member.key_last4,
                    created_at=member.created_at,
                    updated_at=member.created_at,
                )
            )
        except IntegrityError as exc:
            raise TeamMemberExists(
                f"{member.email} is a team member of this account already."
            ) from exc

    async def get(self, user_id: str, member_id: str) -> TeamMember | None:
        query = team_members.select().where(
            team_members.c.user_id == user_id, team_members.c.id == member_id
        )
        row = (await self._conn.execute(query)).first()
        return _team_member(row) if row else None

    async def by_key_hash(self, key_hash: str) -> TeamMember | None:
        query = team_members.select().where(team_members.c.key_hash == key_hash)
        row = (await self._conn.execute(query)).first()
        return _team_member(row) if row else None

    async def page(
        self, user_id: str, limit: int, after: tuple[datetime, str] | None
    ) -> Sequence[TeamMember]:
        """Up to ``limit`` members, oldest first, strictly after the ``(created_at, id)`` given."""
        t = team_members
        query = t.select().where(t.c.user_id == user_id)
        if after is not None:
            at, member_id = after
            query = query.where(
                sa.or_(t.c.created_at > at, sa.and_(t.c.created_at == at, t.c.id > member_id))
            )
        query = query.order_by(t.c.created_at, t.c.id).limit(limit)
        return [_team_member(row) for row in await self._conn.execute(query)]

    async def update(
        self,
        user_id: str,
        member_id: str,
        now: datetime,
        name: str | None = None,
        permissions: Sequence[str] | None = None,
        key: tuple[str, str] | None = None,
    ) -> bool:
        """Change the fields given (``key`` is ``(hash, last4)``); False when there is none."""
        values: dict[str, object] = {"updated_at": now}
        if name is not None:
            values["name"] = name
        if permissions is not None:
            values["permissions"] = list(permissions)
        if key is not None:
            values["key_hash"], values["key_last4"] = key
        result = await self._conn.execute(
            team_members.update()
            .where(team_members.c.user_id == user_id, team_members.c.id == member_id)
            .values(**values)
        )
        return result.rowcount == 1

    async def delete(self, user_id: str, member_id: str) -> bool:
        result = await self._conn.execute(
            team_members.delete().where(
                team_members.c.user_id == user_id, team_members.c.id == member_id
            )
        )
        return result.rowcount == 1

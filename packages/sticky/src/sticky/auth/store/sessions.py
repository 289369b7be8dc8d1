"""Refresh tokens: hashed, single use, grouped in families (one family per sign-in)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from sticky.auth.store.tables import refresh_tokens


@dataclass(frozen=True)
class RefreshToken:
    id: str
    token_hash: str
    user_id: str
    family_id: str
    parent_id: str | None
    access_token_id: str
    created_at: datetime
    expires_at: datetime
    spent_at: datetime | None = None
    revoked_at: datetime | None = None


def _refresh_token(row: sa.Row[tuple[object, ...]]) -> RefreshToken:
    m = row._mapping
    return RefreshToken(
        id=m["id"],
        token_hash=m["token_hash"],
        user_id=m["user_id"],
        family_id=m["family_id"],
        parent_id=m["parent_id"],
        access_token_id=m["access_token_id"],
        created_at=m["created_at"],
        expires_at=m["expires_at"],
        spent_at=m["spent_at"],
        revoked_at=m["revoked_at"],
    )


class RefreshTokens:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def add(self, token: RefreshToken) -> None:
        await self._conn.execute(
            refresh_tokens.insert().values(
                id=token.id,
                token_hash=token.token_hash,
                user_id=token.user_id,
                family_id=token.family_id,
                parent_id=token.parent_id,
                access_token_id=token.access_token_id,
                created_at=token.created_at,
                expires_at=token.expires_at,
                spent_at=token.spent_at,
                revoked_at=token.revoked_at,
            )
        )

    async def by_hash(self, token_hash: str) -> RefreshToken | None:
        query = refresh_tokens.select().where(refresh_tokens.c.token_hash == token_hash)
        row = (await self._conn.execute(query)).first()
        return _refresh_token(row) if row else None

    async def family(self, family_id: str) -> list[RefreshToken]:
        query = (
            refresh_tokens.select()
            .where(refresh_tokens.c.family_id == family_id)
            .order_by(refresh_tokens.c.created_at)
        )
        return [_refresh_token(row) for row in await self._conn.execute(query)]

    async def spend(self, token_id: str, now: datetime) -> bool:
        """Mark the token spent; False when it was spent or revoked already (a race lost)."""
        t = refresh_tokens
        result = await self._conn.execute(
            t.update()
            .where(t.c.id == token_id, t.c.spent_at.is_(None), t.c.revoked_at.is_(None))
            .values(spent_at=now)
        )
        return result.rowcount == 1

    async def revoke_family(self, family_id: str, now: datetime) -> None:
        t = refresh_tokens
        await self._conn.execute(
            t.update()
            .where(t.c.family_id == family_id, t.c.revoked_at.is_(None))
            .values(revoked_at=now)
        )

    async def revoke_user(
        self, user_id: str, now: datetime, keep_family: str | None = None
    ) -> None:
        """Revoke every family of the user, except ``keep_family`` when given."""
        t = refresh_tokens
        query = t.update().where(t.c.user_id == user_id, t.c.revoked_at.is_(None))
        if keep_family is not None:
            query = query.where(t.c.family_id != keep_family)
        await self._conn.execute(query.values(revoked_at=now))

    async def family_of_access_token(self, access_token_id: str) -> str | None:
        t = refresh_tokens
        family = await self._conn.scalar(
            sa.select(t.c.family_id).where(t.c.access_token_id == access_token_id)
        )
        return str(family) if family is not None else None

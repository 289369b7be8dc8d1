"""Users, and the one-time tokens (email verification, password reset) sent to them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from sticky.auth.errors import EmailTaken
from sticky.auth.store.tables import email_verification_tokens, password_reset_tokens, users


@dataclass(frozen=True)
class User:
    id: str
    name: str
    email: str
    password_hash: str
    email_verified_at: datetime | None
    created_at: datetime

    @property
    def email_verified(self) -> bool:
        return self.email_verified_at is not None


def _user(row: sa.Row[tuple[object, ...]]) -> User:
    m = row._mapping
    return User(
        id=m["id"],
        name=m["name"],
        email=m["email"],
        password_hash=m["password_hash"],
        email_verified_at=m["email_verified_at"],
        created_at=m["created_at"],
    )


class Users:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def add(self, user: User) -> None:
        """Insert ``user``; :class:`EmailTaken` when the email is registered already."""
        try:
            await self._conn.execute(
                users.insert().values(
                    id=user.id,
                    name=user.name,
                    email=user.email,
                    password_hash=user.password_hash,
                    email_verified_at=user.email_verified_at,
                    created_at=user.created_at,
                    updated_at=user.created_at,
                )
            )
        except IntegrityError as exc:
            raise EmailTaken(f"An account with the email {user.email} exists already.") from exc

    async def get(self, user_id: str) -> User | None:
        row = (await self._conn.execute(users.select().where(users.c.id == user_id))).first()
        return _user(row) if row else None

    async def by_email(self, email: str) -> User | None:
        row = (await self._conn.execute(users.select().where(users.c.email == email))).first()
        return _user(row) if row else None

    async def rename(self, user_id: str, name: str, now: datetime) -> None:
        await self._update(user_id, name=name, updated_at=now)

    async def set_password_hash(self, user_id: str, password_hash: str, now: datetime) -> None:
        await self._update(user_id, password_hash=password_hash, updated_at=now)

    async def mark_verified(self, user_id: str, now: datetime) -> None:
        await self._conn.execute(
            users.update()
            .where(users.c.id == user_id, users.c.email_verified_at.is_(None))
            .values(email_verified_at=now, updated_at=now)
        )

    async def _update(self, user_id: str, **values: object) -> None:
        await self._conn.execute(users.update().where(users.c.id == user_id).values(**values))


class OneTimeTokens:
    """Hashed, expiring, single-use tokens of one purpose (its own table)."""

    def __init__(self, conn: AsyncConnection, table: sa.Table) -> None:
        self._conn = conn
        self._table = table

    async def add(
        self, token_hash: str, user_id: str, created_at: datetime, expires_at: datetime
    ) -> None:
        await self._conn.execute(
            self._table.insert().values(
                token_hash=token_hash,
                user_id=user_id,
                created_at=created_at,
                expires_at=expires_at,
            )
        )

    async def holder(self, token_hash: str, now: datetime) -> str | None:
        """The user id of the token when it is unused and unexpired, without spending it."""
        t = self._table
        user_id = await self._conn.scalar(
            sa.select(t.c.user_id).where(
                t.c.token_hash == token_hash, t.c.used_at.is_(None), t.c.expires_at > now
            )
        )
        return str(user_id) if user_id is not None else None

    async def consume(self, token_hash: str, now: datetime) -> str | None:
        """Spend the token if it is unused and unexpired; answer its user id, else None."""
        t = self._table
        spent = await self._conn.execute(
            t.update()
            .where(t.c.token_hash == token_hash, t.c.used_at.is_(None), t.c.expires_at > now)
            .values(used_at=now)
        )
        if spent.rowcount != 1:
            return None
        user_id = await self._conn.scalar(
            sa.select(t.c.user_id).where(t.c.token_hash == token_hash)
        )
        return str(user_id)

    async def void_for_user(self, user_id: str, now: datetime) -> None:
        """Spend every outstanding token of the user: only the newest email should work."""
        t = self._table
        await self._conn.execute(
            t.update().where(t.c.user_id == user_id, t.c.used_at.is_(None)).values(used_at=now)
        )


def verification_tokens(conn: AsyncConnection) -> OneTimeTokens:
    return OneTimeTokens(conn, email_verification_tokens)


def reset_tokens(conn: AsyncConnection) -> OneTimeTokens:
    return OneTimeTokens(conn, password_reset_tokens)

"""Signing keys, numbered by generation: the newest generation signs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from sticky.auth.errors import SigningKeyConflict
from sticky.auth.store.tables import signing_keys


@dataclass(frozen=True)
class SigningKeyRecord:
    kid: str
    generation: int
    private_key: str  # PEM, encrypted with the secret key
    public_jwk: dict[str, Any]
    created_at: datetime


class SigningKeys:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def add(self, key: SigningKeyRecord) -> None:
        """Insert ``key``; :class:`SigningKeyConflict` when its generation exists already."""
        try:
            await self._conn.execute(
                signing_keys.insert().values(
                    kid=key.kid,
                    generation=key.generation,
                    private_key=key.private_key,
                    public_jwk=key.public_jwk,
                    created_at=key.created_at,
                )
            )
        except IntegrityError as exc:
            raise SigningKeyConflict(
                f"a signing key of generation {key.generation} exists already"
            ) from exc

    async def latest_generation(self) -> int:
        latest = await self._conn.scalar(sa.select(sa.func.max(signing_keys.c.generation)))
        return int(latest or 0)

    async def all(self) -> list[SigningKeyRecord]:
        """Every key, oldest generation first."""
        rows = await self._conn.execute(signing_keys.select().order_by(signing_keys.c.generation))
        return [
            SigningKeyRecord(
                kid=row.kid,
                generation=row.generation,
                private_key=row.private_key,
                public_jwk=dict(row.public_jwk),
                created_at=row.created_at,
            )
            for row in rows
        ]

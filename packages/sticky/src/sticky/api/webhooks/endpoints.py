"""Webhook endpoints: where a user wants events sent, which types, and the secret that signs them.

Secrets are stored encrypted (a key derived from ``STICKY_SECRET_KEY``): the platform must sign
with them, so it cannot keep only a hash, and a copy of the database alone does not let anyone
forge deliveries. A secret is shown once, when it is made. After a rotation the previous one
stays valid for a day, and deliveries carry a signature for each.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from sticky.api.webhooks.tables import webhook_attempts, webhook_deliveries, webhook_endpoints
from sticky.kernel import crypto
from sticky.kernel.ids import new_id
from sticky.kernel.webhook_signing import new_secret

_PURPOSE = "webhook-endpoint-secret"
ANY_TYPE = "*"


@dataclass(frozen=True)
class Endpoint:
    id: str
    user_id: str
    url: str
    description: str
    event_types: tuple[str, ...]
    enabled: bool
    disabled_reason: str | None
    disabled_at: datetime | None
    notify_email: str | None
    failing_since: datetime | None
    previous_secret_expires_at: datetime | None
    created_at: datetime
    updated_at: datetime

    def wants(self, event_type: str) -> bool:
        return ANY_TYPE in self.event_types or event_type in self.event_types


def _endpoint(row: Any) -> Endpoint:
    m = row._mapping
    return Endpoint(
        id=m["id"],
        user_id=m["user_id"],
        url=m["url"],
        description=m["description"],
        event_types=tuple(m["event_types"]),
        enabled=m["enabled"],
        disabled_reason=m["disabled_reason"],
        disabled_at=m["disabled_at"],
        notify_email=m["notify_email"],
        failing_since=m["failing_since"],
        previous_secret_expires_at=m["previous_secret_expires_at"],
        created_at=m["created_at"],
        updated_at=m["updated_at"],
    )


@dataclass(frozen=True)
class SigningKeys:
    """What one attempt needs: where to send, and the secrets to sign with (newest first)."""

    url: str
    secrets: tuple[str, ...]


class EndpointStore:
    """Endpoints, always scoped by their owner's id; another user's endpoint is not found."""

    def __init__(self, engine: AsyncEngine, secret_key: str) -> None:
        self._engine = engine
        self._secret_key = secret_key

    def _seal(self, secret: str) -> str:
        return crypto.encrypt(self._secret_key, _PURPOSE, secret.encode())

    def _open(self, sealed: str) -> str:
        return crypto.decrypt(self._secret_key, _PURPOSE, sealed).decode()

    async def create(
        self,
        user_id: str,
        *,
        url: str,
        event_types: Iterable[str],
        description: str,
        notify_email: str | None,
        now: datetime,
    ) -> tuple[Endpoint, str]:
        """A new, enabled endpoint and its secret (the only time the secret is given out)."""
        secret = new_secret()
        endpoint_id = new_id("whe")
        values = {
            "id": endpoint_id,
            "user_id": user_id,
            "url": url,
            "description": description,
            "event_types": list(event_types),
            "enabled": True,
            "notify_email": notify_email,
            "secret": self._seal(secret),
            "created_at": now,
            "updated_at": now,
        }
        async with self._engine.begin() as conn:
            await conn.execute(webhook_endpoints.insert().values(**values))
            endpoint = await self._get(conn, user_id, endpoint_id)
        assert endpoint is not None
        return endpoint, secret

    async def get(self, user_id: str, endpoint_id: str) -> Endpoint | None:
        async with self._engine.connect() as conn:
            return await self._get(conn, user_id, endpoint_id)

    @staticmethod
    async def _get(conn: AsyncConnection, user_id: str, endpoint_id: str) -> Endpoint | None:
        t = webhook_endpoints
        row = (
            await conn.execute(sa.select(t).where(t.c.user_id == user_id, t.c.id == endpoint_id))
        ).first()
        return _endpoint(row) if row else None

    async def page(
        self, user_id: str, *, limit: int, after: tuple[datetime, str] | None
    ) -> tuple[list[Endpoint], bool]:
        """Oldest first; ``after`` is the (created_at, id) of the last one already seen."""
        t = webhook_endpoints
        query = sa.select(t).where(t.c.user_id == user_id)
        if after is not None:
            created_at, id_ = after
            query = query.where(
                sa.or_(
                    t.c.created_at > created_at,
                    sa.and_(t.c.created_at == created_at, t.c.id > id_),
                )
            )
        query = query.order_by(t.c.created_at, t.c.id).limit(limit + 1)
        async with self._engine.connect() as conn:
            rows = [_endpoint(row) for row in await conn.execute(query)]
        return rows[:limit], len(rows) > limit

    async def update(
        self, user_id: str, endpoint_id: str, changes: Mapping[str, Any], now: datetime
    ) -> Endpoint | None:
        """Change url, event_types, description, notify_email and enabled (a switch by hand)."""
        values = dict(changes)
        if "enabled" in values:
            enabled = bool(values["enabled"])
            # Enabling starts afresh: the failures that disabled it are history.
            values.update(
                disabled_reason=None if enabled else "manual",
                disabled_at=None if enabled else now,
                failing_since=None,
            )
        values["updated_at"] = now
        t = webhook_endpoints
        async with self._engine.begin() as conn:
            current = await self._get(conn, user_id, endpoint_id)
            if current is None:
                return None
            if "enabled" in changes and bool(changes["enabled"]) == current.enabled:
                # Already so: keep when and why it was disabled.
                for key in ("disabled_reason", "disabled_at", "failing_since"):
                    values.pop(key, None)
            await conn.execute(
                t.update().where(t.c.user_id == user_id, t.c.id == endpoint_id).values(**values)
            )
            return await self._get(conn, user_id, endpoint_id)

    async def rotate(
        self, user_id: str, endpoint_id: str, now: datetime, keep_previous_for: timedelta
    ) -> tuple[Endpoint, str] | None:
        """A new secret; the current one keeps signing beside it for ``keep_previous_for``."""
        t = webhook_endpoints
        secret = new_secret()
        async with self._engine.begin() as conn:
            row = (
                await conn.execute(
                    sa.select(t.c.secret).where(t.c.user_id == user_id, t.c.id == endpoint_id)
                )
            ).first()
            if row is None:
                return None
            await conn.execute(
                t.update()
                .where(t.c.user_id == user_id, t.c.id == endpoint_id)
                .values(
                    secret=self._seal(secret),
                    previous_secret=row.secret,
                    previous_secret_expires_at=now + keep_previous_for,
                    updated_at=now,
                )
            )
            endpoint = await self._get(conn, user_id, endpoint_id)
        assert endpoint is not None
        return endpoint, secret

    async def delete(self, user_id: str, endpoint_id: str) -> bool:
        """Remove the endpoint, its deliveries and their log.

        Rows are locked in the order the sender's ``record`` locks them (a delivery, then its
        endpoint): taking the endpoint first deadlocked with an attempt being recorded, on
        PostgreSQL. Waiting on the deliveries also lets that attempt land first, so its log
        line goes with them.
        """
        t, d = webhook_endpoints, webhook_deliveries
        async with self._engine.begin() as conn:
            mine = t.c.user_id == user_id, t.c.id == endpoint_id
            if await conn.scalar(sa.select(t.c.id).where(*mine)) is None:
                return False
            ids = sa.select(d.c.id).where(d.c.endpoint_id == endpoint_id)
            await conn.execute(ids.with_for_update())
            await conn.execute(
                webhook_attempts.delete().where(webhook_attempts.c.delivery_id.in_(ids))
            )
            await conn.execute(d.delete().where(d.c.endpoint_id == endpoint_id))
            gone = await conn.execute(t.delete().where(*mine))
        return bool(gone.rowcount)

    async def enabled_for(self, user_ids: Iterable[str]) -> dict[str, list[Endpoint]]:
        """The enabled endpoints of each of ``user_ids`` (users without any are left out)."""
        wanted = sorted(set(user_ids))
        if not wanted:
            return {}
        t = webhook_endpoints
        query = sa.select(t).where(t.c.user_id.in_(wanted), t.c.enabled.is_(True))
        found: dict[str, list[Endpoint]] = {}
        async with self._engine.connect() as conn:
            for row in await conn.execute(query):
                endpoint = _endpoint(row)
                found.setdefault(endpoint.user_id, []).append(endpoint)
        return found

    async def wanted_types(self) -> frozenset[str]:
        """Every type some enabled endpoint of any user wants (with ``*`` if one wants all)."""
        t = webhook_endpoints
        # As text: PostgreSQL's json has no equality, so DISTINCT needs its text form.
        lists = sa.select(sa.cast(t.c.event_types, sa.Text)).where(t.c.enabled.is_(True))
        async with self._engine.connect() as conn:
            rows = (await conn.execute(lists.distinct())).scalars().all()
        return frozenset(name for text in rows for name in orjson.loads(text))

    async def signing_keys(self, endpoint_id: str, now: datetime) -> SigningKeys | None:
        t = webhook_endpoints
        query = sa.select(
            t.c.url, t.c.secret, t.c.previous_secret, t.c.previous_secret_expires_at
        ).where(t.c.id == endpoint_id)
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).first()
        if row is None:
            return None
        secrets = [self._open(row.secret)]
        expires = row.previous_secret_expires_at
        if row.previous_secret is not None and expires is not None and expires > now:
            secrets.append(self._open(row.previous_secret))
        return SigningKeys(row.url, tuple(secrets))

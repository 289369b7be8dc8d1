"""Webhook deliveries: queued once per (endpoint, event), claimed with a lease, and logged.

A delivery is ``pending`` until an attempt is answered with a 2xx (``succeeded``) or its retries
run out (``failed``). Workers claim a due delivery with a conditional ``UPDATE`` (the lease);
the outcome is recorded only while that lease is still held, so a replica that stalled past
its lease cannot overwrite the work of the one that took over.
"""

from __future__ import annotations

import secrets
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from sticky.api.webhooks.policy import WebhookPolicy
from sticky.api.webhooks.tables import webhook_attempts, webhook_deliveries, webhook_endpoints
from sticky.kernel.ids import new_id

ERROR_CHARS = 500
EXCERPT_CHARS = 1024


class Status(StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@dataclass(frozen=True)
class NewDelivery:
    endpoint_id: str
    user_id: str
    event_id: str
    event_type: str
    body: bytes


@dataclass(frozen=True)
class Due:
    id: str
    endpoint_id: str
    failing: bool  # the endpoint's last attempt failed


@dataclass(frozen=True)
class Claimed:
    id: str
    endpoint_id: str
    event_id: str
    body: bytes
    attempt: int  # the number of the attempt about to be made (1 for the first)
    retries_from: int
    lease: str

    @property
    def manual(self) -> bool:
        """This attempt was asked for by someone (a redelivery), not by the schedule."""
        return self.retries_from > 0 and self.attempt == self.retries_from + 1


@dataclass(frozen=True)
class Outcome:
    ok: bool
    status_code: int | None
    latency_ms: float | None
    excerpt: str | None
    error: str | None


@dataclass(frozen=True)
class Disabled:
    """An endpoint this attempt's failure disabled, for the email to its owner."""

    endpoint_id: str
    user_id: str
    url: str
    notify_email: str | None
    failing_since: datetime
    disabled_at: datetime
    last_error: str


def _insert_ignoring_duplicates(conn: AsyncConnection) -> Any:
    dialect = sqlite if conn.dialect.name == "sqlite" else postgresql
    return dialect.insert(webhook_deliveries).on_conflict_do_nothing(
        index_elements=["endpoint_id", "event_id"]
    )


class DeliveryStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def enqueue(self, items: Sequence[NewDelivery], now: datetime) -> int:
        """Queue each delivery due now, unless that endpoint already has that event."""
        if not items:
            return 0
        rows = [
            {
                "id": new_id("whd"),
                "endpoint_id": item.endpoint_id,
                "user_id": item.user_id,
                "event_id": item.event_id,
                "event_type": item.event_type,
                "body": item.body.decode(),
                "status": Status.PENDING.value,
                "attempts": 0,
                "retries_from": 0,
                "next_attempt_at": now,
                "created_at": now,
                "updated_at": now,
            }
            for item in items
        ]
        async with self._engine.begin() as conn:
            statement = _insert_ignoring_duplicates(conn).returning(webhook_deliveries.c.id)
            result = await conn.execute(statement, rows)
            return len(result.all())

    def _due(self, now: datetime) -> sa.ColumnElement[bool]:
        d, e = webhook_deliveries, webhook_endpoints
        return sa.and_(
            d.c.status == Status.PENDING.value,
            d.c.next_attempt_at <= now,
            sa.or_(d.c.locked_until.is_(None), d.c.locked_until <= now),
            sa.exists().where(e.c.id == d.c.endpoint_id, e.c.enabled.is_(True)),
        )

    async def due(self, now: datetime, *, skip: Collection[str], limit: int) -> list[Due]:
        """Deliveries due now, soonest first, to enabled endpoints not in ``skip``."""
        d, e = webhook_deliveries, webhook_endpoints
        failing = sa.select(e.c.failing_since.is_not(None)).where(e.c.id == d.c.endpoint_id)
        query = sa.select(d.c.id, d.c.endpoint_id, failing.scalar_subquery().label("failing"))
        query = query.where(self._due(now))
        if skip:
            query = query.where(d.c.endpoint_id.not_in(list(skip)))
        query = query.order_by(d.c.next_attempt_at).limit(limit)
        async with self._engine.connect() as conn:
            rows = await conn.execute(query)
            return [Due(row.id, row.endpoint_id, bool(row.failing)) for row in rows]

    async def next_due_at(self, *, skip: Collection[str]) -> datetime | None:
        """When the soonest pending delivery to an enabled endpoint not in ``skip`` comes due."""
        d, e = webhook_deliveries, webhook_endpoints
        query = sa.select(sa.func.min(d.c.next_attempt_at)).where(
            d.c.status == Status.PENDING.value,
            sa.exists().where(e.c.id == d.c.endpoint_id, e.c.enabled.is_(True)),
        )
        if skip:
            query = query.where(d.c.endpoint_id.not_in(list(skip)))
        async with self._engine.connect() as conn:
            value: datetime | None = (await conn.execute(query)).scalar_one_or_none()
        return value

    async def claim(self, delivery_id: str, now: datetime, policy: WebhookPolicy) -> Claimed | None:
        """Lease one due delivery; None when someone else has it (or it is no longer due)."""
        d = webhook_deliveries
        lease = secrets.token_hex(16)
        statement = (
            d.update()
            .where(d.c.id == delivery_id, self._due(now))
            .values(lease=lease, locked_until=now + policy.lease)
            .returning(
                d.c.id,
                d.c.endpoint_id,
                d.c.event_id,
                d.c.body,
                d.c.attempts,
                d.c.retries_from,
            )
        )
        async with self._engine.begin() as conn:
            row = (await conn.execute(statement)).first()
        if row is None:
            return None
        return Claimed(
            id=row.id,
            endpoint_id=row.endpoint_id,
            event_id=row.event_id,
            body=row.body.encode(),
            attempt=row.attempts + 1,
            retries_from=row.retries_from,
            lease=lease,
        )

    async def record(
        self, claimed: Claimed, outcome: Outcome, now: datetime, policy: WebhookPolicy
    ) -> Disabled | None:
        """Log the attempt and move the delivery on; answer the endpoint it disabled, if any."""
        d, e = webhook_deliveries, webhook_endpoints
        error = outcome.error[:ERROR_CHARS] if outcome.error else None
        values: dict[str, Any] = {
            "attempts": claimed.attempt,
            "lease": None,
            "locked_until": None,
            "last_status_code": outcome.status_code,
            "last_error": error,
            "updated_at": now,
        }
        given_up = False
        if outcome.ok:
            values.update(status=Status.SUCCEEDED.value, next_attempt_at=None, delivered_at=now)
        else:
            wait = policy.retry_after(claimed.attempt - claimed.retries_from)
            given_up = wait is None
            if wait is None:
                values.update(status=Status.FAILED.value, next_attempt_at=None)
            else:
                values.update(next_attempt_at=now + wait)
        async with self._engine.begin() as conn:
            moved = await conn.execute(
                d.update().where(d.c.id == claimed.id, d.c.lease == claimed.lease).values(**values)
            )
            if not moved.rowcount:
                return None  # the lease ran out and another attempt has taken over
            await conn.execute(
                webhook_attempts.insert().values(
                    delivery_id=claimed.id,
                    attempt=claimed.attempt,
                    at=now,
                    ok=outcome.ok,
                    status_code=outcome.status_code,
                    latency_ms=outcome.latency_ms,
                    response_excerpt=(outcome.excerpt or "")[:EXCERPT_CHARS] or None,
                    error=error,
                    manual=claimed.manual,
                )
            )
            endpoint = e.c.id == claimed.endpoint_id
            if outcome.ok:
                await conn.execute(e.update().where(endpoint).values(failing_since=None))
                return None
            await conn.execute(
                e.update().where(endpoint, e.c.failing_since.is_(None)).values(failing_since=now)
            )
            if not given_up:
                return None
            return await self._disable_if_failing(conn, claimed, now, policy, error or "")

    @staticmethod
    async def _disable_if_failing(
        conn: AsyncConnection,
        claimed: Claimed,
        now: datetime,
        policy: WebhookPolicy,
        error: str,
    ) -> Disabled | None:
        e = webhook_endpoints
        disabled = await conn.execute(
            e.update()
            .where(
                e.c.id == claimed.endpoint_id,
                e.c.enabled.is_(True),
                e.c.failing_since <= now - policy.disable_after,
            )
            .values(enabled=False, disabled_reason="failing", disabled_at=now, updated_at=now)
            .returning(e.c.user_id, e.c.url, e.c.notify_email, e.c.failing_since)
        )
        row = disabled.first()
        if row is None:
            return None
        return Disabled(
            endpoint_id=claimed.endpoint_id,
            user_id=row.user_id,
            url=row.url,
            notify_email=row.notify_email,
            failing_since=row.failing_since,
            disabled_at=now,
            last_error=error,
        )

    async def redeliver(
        self, user_id: str, endpoint_id: str, delivery_id: str, now: datetime
    ) -> bool:
        """Make the delivery due now, with a fresh retry schedule; False if there is none."""
        d = webhook_deliveries
        async with self._engine.begin() as conn:
            moved = await conn.execute(
                d.update()
                .where(
                    d.c.id == delivery_id, d.c.endpoint_id == endpoint_id, d.c.user_id == user_id
                )
                .values(
                    status=Status.PENDING.value,
                    retries_from=d.c.attempts,
                    next_attempt_at=now,
                    updated_at=now,
                )
            )
        return bool(moved.rowcount)

    async def page(
        self,
        user_id: str,
        endpoint_id: str,
        *,
        limit: int,
        before: tuple[datetime, str] | None,
        status: str | None = None,
    ) -> tuple[list[dict[str, Any]], bool]:
        """Newest first; each row carries its attempts (``log``), oldest first."""
        d = webhook_deliveries
        query = sa.select(d).where(d.c.user_id == user_id, d.c.endpoint_id == endpoint_id)
        if status is not None:
            query = query.where(d.c.status == status)
        if before is not None:
            created_at, id_ = before
            query = query.where(
                sa.or_(
                    d.c.created_at < created_at,
                    sa.and_(d.c.created_at == created_at, d.c.id < id_),
                )
            )
        query = query.order_by(d.c.created_at.desc(), d.c.id.desc()).limit(limit + 1)
        async with self._engine.connect() as conn:
            rows = [dict(row._mapping) for row in await conn.execute(query)]
            await self._attach_log(conn, rows[:limit])
        return rows[:limit], len(rows) > limit

    async def get(self, user_id: str, endpoint_id: str, delivery_id: str) -> dict[str, Any] | None:
        d = webhook_deliveries
        query = sa.select(d).where(
            d.c.id == delivery_id, d.c.endpoint_id == endpoint_id, d.c.user_id == user_id
        )
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).first()
            if row is None:
                return None
            found = [dict(row._mapping)]
            await self._attach_log(conn, found)
        return found[0]

    @staticmethod
    async def _attach_log(conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        a = webhook_attempts
        query = (
            sa.select(a)
            .where(a.c.delivery_id.in_([row["id"] for row in rows]))
            .order_by(a.c.delivery_id, a.c.attempt)
        )
        log: dict[str, list[dict[str, Any]]] = {row["id"]: [] for row in rows}
        for attempt in await conn.execute(query):
            log[attempt.delivery_id].append(dict(attempt._mapping))
        for row in rows:
            row["log"] = log[row["id"]]

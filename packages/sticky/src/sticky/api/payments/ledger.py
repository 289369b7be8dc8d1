"""The payments projection in the api's database, written with its events in one transaction.

Every change to a payment appends events to its stream and updates its row at once: the row
moves from version ``n`` to ``n + k`` only if it is still at ``n`` (optimistic concurrency),
and the events go to the api's event outbox in the same transaction, so the projection and
the events service never disagree and nothing is lost while the events service is down.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from sticky.api.payments.projection import Row, apply
from sticky.api.payments.tables import payhook_events, payment_settings, payments
from sticky.api.recorder import Writes
from sticky.api.store import Cursor, PageOf
from sticky.api.store.outbox import EventOutbox


class Ledger:
    """Payments seen through one connection (inside ``Store.transaction()`` to write)."""

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def get(self, user_id: str, payment_id: str) -> Row | None:
        t = payments
        result = await self._conn.execute(
            sa.select(t).where(t.c.user_id == user_id, t.c.id == payment_id)
        )
        row = result.first()
        return dict(row._mapping) if row else None

    async def find(self, payment_id: str) -> Row | None:
        """Any user's payment: only for payhooks, whose signature names the payment."""
        result = await self._conn.execute(sa.select(payments).where(payments.c.id == payment_id))
        row = result.first()
        return dict(row._mapping) if row else None

    async def by_reference(self, gateway: str, reference: str) -> Row | None:
        t = payments
        result = await self._conn.execute(
            sa.select(t).where(t.c.gateway == gateway, t.c.charge_reference == reference).limit(1)
        )
        row = result.first()
        return dict(row._mapping) if row else None

    async def by_idempotency_key(self, user_id: str, key: str) -> Row | None:
        t = payments
        result = await self._conn.execute(
            sa.select(t).where(t.c.user_id == user_id, t.c.idempotency_key == key)
        )
        row = result.first()
        return dict(row._mapping) if row else None

    async def page(
        self,
        user_id: str,
        *,
        limit: int,
        cursor: Cursor | None = None,
        where: Sequence[sa.ColumnElement[bool]] = (),
    ) -> PageOf:
        """Oldest first; ``cursor`` continues after the row it names."""
        t = payments
        query = sa.select(t).where(t.c.user_id == user_id, *where)
        if cursor is not None:
            query = query.where(
                sa.or_(
                    t.c.created_at > cursor.created_at,
                    sa.and_(t.c.created_at == cursor.created_at, t.c.id > cursor.id),
                )
            )
        query = query.order_by(t.c.created_at, t.c.id).limit(limit + 1)
        rows = [dict(row._mapping) for row in await self._conn.execute(query)]
        return PageOf(rows[:limit], len(rows) > limit)

    async def user_ids(self) -> list[str]:
        result = await self._conn.execute(sa.select(payments.c.user_id).distinct())
        return [str(value) for value in result.scalars()]

    async def create(self, event: Mapping[str, Any], operational: Mapping[str, Any]) -> Row:
        """Insert the payment that ``PAYMENT_CREATED`` projects to, with its event."""
        row = {**apply(None, event), **operational}
        await self._conn.execute(payments.insert().values(**row))
        await self._outbox([event], row["updated_at"])
        return row

    async def append(
        self,
        current: Row,
        events: Sequence[Mapping[str, Any]],
        now: datetime,
        operational: Mapping[str, Any] | None = None,
    ) -> Row | None:
        """Apply ``events`` to ``current`` and record them; None if the row moved meanwhile."""
        row = dict(current)
        for event in events:
            row = apply(row, event)
        row.update(operational or {})
        row["updated_at"] = now
        changed = {k: v for k, v in row.items() if k != "id" and v != current.get(k)}
        t = payments
        result = await self._conn.execute(
            t.update()
            .where(t.c.id == current["id"], t.c.version == current["version"])
            .values(**changed)
        )
        if not result.rowcount:
            return None
        await self._outbox(list(events), now)
        return row

    async def set_operational(self, current: Row, values: Mapping[str, Any]) -> bool:
        """Change columns the events do not decide, if the row is still at its version."""
        t = payments
        result = await self._conn.execute(
            t.update()
            .where(t.c.id == current["id"], t.c.version == current["version"])
            .values(**values)
        )
        return bool(result.rowcount)

    async def reserve_refund(self, payment_id: str, amount: int, now: datetime) -> bool:
        """Hold ``amount`` for a refund in flight, if that much is still refundable."""
        t = payments
        result = await self._conn.execute(
            t.update()
            .where(
                t.c.id == payment_id,
                t.c.status.in_(("paid",)),
                t.c.refunded_total + t.c.refund_reserved + amount <= t.c.total,
            )
            .values(refund_reserved=t.c.refund_reserved + amount, updated_at=now)
        )
        return bool(result.rowcount)

    async def release_refund(self, payment_id: str, amount: int) -> None:
        t = payments
        await self._conn.execute(
            t.update()
            .where(t.c.id == payment_id)
            .values(refund_reserved=t.c.refund_reserved - amount)
        )

    async def first_sight(
        self, gateway: str, event_id: str, payment_id: str | None, now: datetime
    ) -> bool:
        """Remember a gateway event; False when it was seen before (a replay or redelivery)."""
        dialect = self._conn.dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        statement = (
            insert(payhook_events)
            .values(gateway=gateway, event_id=event_id, payment_id=payment_id, received_at=now)
            .on_conflict_do_nothing(index_elements=["gateway", "event_id"])
            .returning(payhook_events.c.event_id)
        )
        result = await self._conn.execute(statement)
        return result.first() is not None

    async def settings(self, user_id: str) -> Row | None:
        t = payment_settings
        result = await self._conn.execute(sa.select(t).where(t.c.user_id == user_id))
        row = result.first()
        return dict(row._mapping) if row else None

    async def put_settings(self, user_id: str, values: Mapping[str, Any], now: datetime) -> None:
        t = payment_settings
        result = await self._conn.execute(
            t.update().where(t.c.user_id == user_id).values(**values, updated_at=now)
        )
        if not result.rowcount:
            await self._conn.execute(t.insert().values(user_id=user_id, updated_at=now, **values))

    async def _outbox(self, events: list[Mapping[str, Any]], now: datetime) -> None:
        if self._conn.dialect.name == "postgresql":
            # The deliverer removes the outbox through the highest ``seq`` it sent: rows must
            # become visible in ``seq`` order, so outbox writers take turns (the tap's group
            # commit waits only for this short tail of a payment's transaction).
            await self._conn.exec_driver_sql("LOCK TABLE event_outbox IN SHARE ROW EXCLUSIVE MODE")
        rows = Writes().add_events([dict(e) for e in events]).events
        await EventOutbox(self._conn).add(rows, now)

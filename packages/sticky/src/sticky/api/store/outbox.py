"""The event outbox: events recorded by the api, waiting in its own database for delivery.

Rows leave in ``seq`` order. One replica at a time delivers: it holds the single
``outbox_lease`` row (taken with one conditional ``UPDATE``, so two replicas never both win)
until ``locked_until``, renewing it while it works; a replica that dies loses it within the
lease. Delivery is by event id, which the events service stores once: a batch resent after a
crash is acknowledged again without being stored twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from sticky.api.store.tables import event_outbox, outbox_lease


@dataclass(frozen=True)
class PendingEvent:
    seq: int
    event_id: str
    body: str  # JSON, as the events service takes it
    attempts: int


def outbox_rows(rows: list[tuple[str, str]], now: datetime) -> list[dict[str, object]]:
    return [{"event_id": i, "body": b, "created_at": now, "attempts": 0} for i, b in rows]


class EventOutbox:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def add(self, rows: list[tuple[str, str]], now: datetime) -> None:
        """``rows``: (event id, JSON body) in the order they happened."""
        if rows:
            await self._conn.execute(event_outbox.insert(), outbox_rows(rows, now))

    async def take_lease(self, holder: str, now: datetime, lease: timedelta) -> bool:
        t = outbox_lease
        result = await self._conn.execute(
            t.update()
            .where(
                t.c.id == 1,
                sa.or_(t.c.holder == holder, t.c.locked_until.is_(None), t.c.locked_until < now),
            )
            .values(holder=holder, locked_until=now + lease)
        )
        if result.rowcount:
            return True
        exists = await self._conn.execute(sa.select(t.c.id).where(t.c.id == 1))
        if exists.first() is None:
            await self._conn.execute(
                t.insert().values(id=1, holder=holder, locked_until=now + lease)
            )
            return True
        return False

    async def release_lease(self, holder: str) -> None:
        t = outbox_lease
        await self._conn.execute(
            t.update().where(t.c.id == 1, t.c.holder == holder).values(locked_until=None)
        )

    async def head(self, limit: int) -> list[PendingEvent]:
        t = event_outbox
        result = await self._conn.execute(
            sa.select(t.c.seq, t.c.event_id, t.c.body, t.c.attempts).order_by(t.c.seq).limit(limit)
        )
        return [PendingEvent(r.seq, r.event_id, r.body, r.attempts) for r in result]

    async def note_failure(self, seqs: list[int], error: str) -> None:
        t = event_outbox
        await self._conn.execute(
            t.update()
            .where(t.c.seq.in_(seqs))
            .values(attempts=t.c.attempts + 1, last_error=error[:1000])
        )

    async def remove(self, seqs: list[int]) -> None:
        await self._conn.execute(event_outbox.delete().where(event_outbox.c.seq.in_(seqs)))

    async def size(self) -> int:
        result = await self._conn.execute(sa.select(sa.func.count()).select_from(event_outbox))
        return int(result.scalar_one())

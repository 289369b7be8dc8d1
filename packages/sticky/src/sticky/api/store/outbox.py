"""The event outbox: events recorded by the api, waiting in its own database for delivery.

Rows leave in ``seq`` order. One replica at a time delivers: it holds the single
``outbox_lease`` row (taken with one conditional ``UPDATE``, so two replicas never both win)
until ``locked_until``, renewing it while it works; a replica that dies loses it within the
lease. Delivery is by event id, which the events service stores once: a batch resent after a
crash is acknowledged again without being stored twice.

An event the events service refuses for good is *set aside*: moved, whole, to
``outbox_dead_letters`` with the refusal, so the events behind it are not held up forever.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from sticky.api.store.tables import event_outbox, outbox_dead_letters, outbox_lease
from sticky.kernel.database import UTCDateTime

_ERROR_CHARS = 1000


@dataclass(frozen=True)
class PendingEvent:
    seq: int
    event_id: str
    body: str  # JSON, as the events service takes it
    attempts: int


@dataclass(frozen=True)
class DeadLetter:
    """An event the events service refused for good, as it waited in the outbox."""

    seq: int
    event_id: str
    body: str
    created_at: datetime
    attempts: int
    status_code: int
    error: str
    refused_at: datetime


OUTBOX_COLUMNS = ("event_id", "body", "created_at", "attempts")


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
            .values(attempts=t.c.attempts + 1, last_error=error[:_ERROR_CHARS])
        )

    async def remove(self, seqs: list[int]) -> None:
        await self._conn.execute(event_outbox.delete().where(event_outbox.c.seq.in_(seqs)))

    async def size(self) -> int:
        result = await self._conn.execute(sa.select(sa.func.count()).select_from(event_outbox))
        return int(result.scalar_one())

    async def set_aside(self, seq: int, status_code: int, error: str, now: datetime) -> bool:
        """Move the outbox row ``seq`` to the dead letters; False when it is gone already.

        The insert comes first so that, on SQLite, the transaction takes the write lock with
        its first statement instead of upgrading a read snapshot another writer overtook.
        """
        t = event_outbox
        refused = sa.select(
            t.c.seq,
            t.c.event_id,
            t.c.body,
            t.c.created_at,
            t.c.attempts + 1,
            sa.literal(status_code, sa.Integer()),
            sa.literal(error[:_ERROR_CHARS], sa.Text()),
            sa.literal(now, UTCDateTime()),
        ).where(t.c.seq == seq)
        columns = [
            "seq",
            "event_id",
            "body",
            "created_at",
            "attempts",
            "status_code",
            "error",
            "refused_at",
        ]
        moved = await self._conn.execute(outbox_dead_letters.insert().from_select(columns, refused))
        await self._conn.execute(t.delete().where(t.c.seq == seq))
        return bool(moved.rowcount)

    async def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        """The events set aside, oldest refusal first."""
        d = outbox_dead_letters
        result = await self._conn.execute(sa.select(d).order_by(d.c.id).limit(limit))
        return [
            DeadLetter(
                r.seq,
                r.event_id,
                r.body,
                r.created_at,
                r.attempts,
                r.status_code,
                r.error,
                r.refused_at,
            )
            for r in result
        ]

    async def dead_letter_count(self) -> int:
        d = outbox_dead_letters
        result = await self._conn.execute(sa.select(sa.func.count()).select_from(d))
        return int(result.scalar_one())

    async def redrive(self, event_ids: Sequence[str] | None, now: datetime) -> int:
        """Queue dead letters again at the end of the outbox, oldest refusal first (all of
        them, or those of ``event_ids``); answer how many were queued. An event already
        waiting in the outbox is not queued twice; its dead letters go all the same."""
        d, o = outbox_dead_letters, event_outbox
        query = sa.select(d.c.id, d.c.event_id, d.c.body).order_by(d.c.id)
        if event_ids is not None:
            query = query.where(d.c.event_id.in_(list(event_ids)))
        letters = (await self._conn.execute(query)).all()
        if not letters:
            return 0
        named = list({letter.event_id for letter in letters})
        waiting = set(
            (await self._conn.execute(sa.select(o.c.event_id).where(o.c.event_id.in_(named))))
            .scalars()
            .all()
        )
        latest = {letter.event_id: letter for letter in letters}  # the last refusal's body
        again = [
            {"event_id": e, "body": latest[e].body, "created_at": now, "attempts": 0}
            for e in sorted(latest, key=lambda e: latest[e].id)
            if e not in waiting
        ]
        await self._conn.execute(d.delete().where(d.c.id.in_([letter.id for letter in letters])))
        if again:
            await self._conn.execute(o.insert(), again)
        return len(again)

"""The mail outbox: messages written beside the change that causes them, delivered later."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from sticky.auth.store.tables import mail_outbox


@dataclass(frozen=True)
class OutboxMessage:
    id: str
    recipient: str
    template: str
    payload: str  # encrypted JSON of the template data; empty once delivered
    created_at: datetime
    attempts: int = 0
    sent_at: datetime | None = None
    failed_at: datetime | None = None
    last_error: str | None = None


def _message(row: sa.Row[tuple[object, ...]]) -> OutboxMessage:
    m = row._mapping
    return OutboxMessage(
        id=m["id"],
        recipient=m["recipient"],
        template=m["template"],
        payload=m["payload"],
        created_at=m["created_at"],
        attempts=m["attempts"],
        sent_at=m["sent_at"],
        failed_at=m["failed_at"],
        last_error=m["last_error"],
    )


class Outbox:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def add(self, message: OutboxMessage) -> None:
        await self._conn.execute(
            mail_outbox.insert().values(
                id=message.id,
                recipient=message.recipient,
                template=message.template,
                payload=message.payload,
                created_at=message.created_at,
                attempts=0,
                next_attempt_at=message.created_at,
            )
        )

    async def for_recipient(self, recipient: str) -> list[OutboxMessage]:
        """The messages to ``recipient``, oldest first."""
        t = mail_outbox
        query = t.select().where(t.c.recipient == recipient).order_by(t.c.created_at, t.c.id)
        return [_message(row) for row in await self._conn.execute(query)]

    async def get(self, message_id: str) -> OutboxMessage | None:
        row = (
            await self._conn.execute(mail_outbox.select().where(mail_outbox.c.id == message_id))
        ).first()
        return _message(row) if row else None

    async def due(self, now: datetime, limit: int) -> list[str]:
        """Ids of messages waiting for an attempt and not leased by a live worker."""
        t = mail_outbox
        query = (
            sa.select(t.c.id)
            .where(
                t.c.sent_at.is_(None),
                t.c.failed_at.is_(None),
                t.c.next_attempt_at <= now,
                sa.or_(t.c.leased_until.is_(None), t.c.leased_until < now),
            )
            .order_by(t.c.next_attempt_at)
            .limit(limit)
        )
        return [str(row.id) for row in await self._conn.execute(query)]

    async def claim(
        self, message_id: str, lease_id: str, now: datetime, lease: timedelta
    ) -> OutboxMessage | None:
        """Lease the message for ``lease``; None when another worker holds it or it is done."""
        t = mail_outbox
        claimed = await self._conn.execute(
            t.update()
            .where(
                t.c.id == message_id,
                t.c.sent_at.is_(None),
                t.c.failed_at.is_(None),
                sa.or_(t.c.leased_until.is_(None), t.c.leased_until < now),
            )
            .values(leased_until=now + lease, lease_id=lease_id)
        )
        if claimed.rowcount != 1:
            return None
        return await self.get(message_id)

    async def mark_sent(self, message_id: str, lease_id: str, now: datetime) -> None:
        t = mail_outbox
        await self._conn.execute(
            t.update()
            .where(t.c.id == message_id, t.c.lease_id == lease_id)
            .values(
                sent_at=now,
                payload="",
                attempts=t.c.attempts + 1,
                leased_until=None,
                last_error=None,
            )
        )

    async def mark_attempt_failed(
        self,
        message_id: str,
        lease_id: str,
        error: str,
        now: datetime,
        retry_at: datetime | None,
    ) -> None:
        """Record a failed attempt: retry at ``retry_at``, or give up when it is None."""
        t = mail_outbox
        values: dict[str, object] = {
            "attempts": t.c.attempts + 1,
            "leased_until": None,
            "last_error": error[:1000],
        }
        if retry_at is None:
            values["failed_at"] = now
            values["payload"] = ""
        else:
            values["next_attempt_at"] = retry_at
        await self._conn.execute(
            t.update().where(t.c.id == message_id, t.c.lease_id == lease_id).values(**values)
        )

    async def purge_delivered(self, before: datetime) -> int:
        """Forget messages delivered (or given up) before ``before``."""
        t = mail_outbox
        result = await self._conn.execute(
            t.delete().where(
                sa.or_(
                    sa.and_(t.c.sent_at.is_not(None), t.c.sent_at < before),
                    sa.and_(t.c.failed_at.is_not(None), t.c.failed_at < before),
                )
            )
        )
        return int(result.rowcount)

"""The outbox: messages waiting to be sent, and the log of every delivery attempt.

Replicas share one database. A worker *claims* a due message with a single conditional
``UPDATE … RETURNING`` that sets a lease (``locked_until`` and a random ``lease`` token), so two
workers never hold the same message; it records the attempt only while it still holds that
lease. Bodies are encrypted at rest: they carry sign-in links and one-time codes.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import and_, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from sticky.kernel.crypto import DecryptionError, decrypt, encrypt
from sticky.kernel.cursors import decode_cursor, encode_cursor
from sticky.mail.errors import DeliveryFailed, InvalidCursor, MessageNotFound
from sticky.mail.schema import deliveries, messages

_BODY_PURPOSE = "mail-body"


class MessageStatus(StrEnum):
    QUEUED = "queued"
    SENT = "sent"
    FAILED = "failed"


@dataclass(frozen=True)
class NewMessage:
    id: str
    to: str
    template: str
    subject: str
    text: str
    html: str
    fingerprint: str
    created_at: datetime
    idempotency_key: str | None = None


@dataclass(frozen=True)
class MessageRecord:
    id: str
    to: str
    template: str
    subject: str
    status: MessageStatus
    attempts: int
    last_error: str | None
    created_at: datetime
    next_attempt_at: datetime | None
    sent_at: datetime | None
    fingerprint: str


@dataclass(frozen=True)
class ClaimedMessage:
    """A message this worker holds the lease on, to send as attempt ``attempt``."""

    id: str
    to: str
    subject: str
    sealed_text: str
    sealed_html: str
    created_at: datetime
    attempt: int
    lease: str


@dataclass(frozen=True)
class DeliveryRecord:
    attempt: int
    at: datetime
    ok: bool
    duration_ms: int
    response: str


_PUBLIC = (
    messages.c.id,
    messages.c.to_address,
    messages.c.template,
    messages.c.subject,
    messages.c.status,
    messages.c.attempts,
    messages.c.last_error,
    messages.c.created_at,
    messages.c.next_attempt_at,
    messages.c.sent_at,
    messages.c.fingerprint,
)


def _record(row: Any) -> MessageRecord:
    return MessageRecord(
        id=row.id,
        to=row.to_address,
        template=row.template,
        subject=row.subject,
        status=MessageStatus(row.status),
        attempts=row.attempts,
        last_error=row.last_error,
        created_at=row.created_at,
        next_attempt_at=row.next_attempt_at,
        sent_at=row.sent_at,
        fingerprint=row.fingerprint,
    )


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        return decode_cursor(cursor)
    except ValueError as exc:
        raise InvalidCursor("the cursor is not one this service wrote") from exc


class MailStore:
    """Messages and deliveries in the mail service's own database."""

    def __init__(self, engine: AsyncEngine, secret_key: str) -> None:
        self.engine = engine
        self._secret_key = secret_key

    def _seal(self, body: str) -> str:
        return encrypt(self._secret_key, _BODY_PURPOSE, body.encode())

    def bodies(self, claimed: ClaimedMessage) -> tuple[str, str]:
        """The text and HTML bodies of a claimed message, decrypted."""
        try:
            return (
                decrypt(self._secret_key, _BODY_PURPOSE, claimed.sealed_text).decode(),
                decrypt(self._secret_key, _BODY_PURPOSE, claimed.sealed_html).decode(),
            )
        except DecryptionError as exc:
            raise DeliveryFailed(
                "the message body cannot be decrypted: STICKY_SECRET_KEY changed since it was"
                " queued",
                permanent=True,
            ) from exc

    async def add(self, new: NewMessage) -> tuple[MessageRecord, bool]:
        """Queue ``new``; if its idempotency key is taken, the message holding it and False."""
        values = {
            "id": new.id,
            "idempotency_key": new.idempotency_key,
            "fingerprint": new.fingerprint,
            "to_address": new.to,
            "template": new.template,
            "subject": new.subject,
            "text_body": self._seal(new.text),
            "html_body": self._seal(new.html),
            "status": MessageStatus.QUEUED.value,
            "attempts": 0,
            "created_at": new.created_at,
            "next_attempt_at": new.created_at,
        }
        try:
            async with self.engine.begin() as conn:
                await conn.execute(insert(messages).values(values))
        except IntegrityError:
            if new.idempotency_key is None:
                raise
            existing = await self._by_key(new.idempotency_key)
            if existing is None:
                raise
            return existing, False
        return await self.get(new.id), True

    async def _by_key(self, key: str) -> MessageRecord | None:
        async with self.engine.connect() as conn:
            query = select(*_PUBLIC).where(messages.c.idempotency_key == key)
            row = (await conn.execute(query)).first()
        return _record(row) if row else None

    async def get(self, message_id: str) -> MessageRecord:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(*_PUBLIC).where(messages.c.id == message_id))).first()
        if row is None:
            raise MessageNotFound(message_id)
        return _record(row)

    async def page(
        self, *, status: MessageStatus | None, limit: int, cursor: str | None
    ) -> tuple[list[MessageRecord], str | None]:
        """Newest first; the cursor (or None) of the next page."""
        query = select(*_PUBLIC)
        if status is not None:
            query = query.where(messages.c.status == status.value)
        if cursor is not None:
            created, message_id = _decode_cursor(cursor)
            query = query.where(
                or_(
                    messages.c.created_at < created,
                    and_(messages.c.created_at == created, messages.c.id < message_id),
                )
            )
        query = query.order_by(messages.c.created_at.desc(), messages.c.id.desc()).limit(limit + 1)
        async with self.engine.connect() as conn:
            records = [_record(row) for row in await conn.execute(query)]
        if len(records) > limit:
            last = records[limit - 1]
            return records[:limit], encode_cursor(last.created_at, last.id)
        return records, None

    async def deliveries_of(self, message_id: str) -> list[DeliveryRecord]:
        query = (
            select(deliveries)
            .where(deliveries.c.message_id == message_id)
            .order_by(deliveries.c.attempt)
        )
        async with self.engine.connect() as conn:
            rows = await conn.execute(query)
            return [
                DeliveryRecord(row.attempt, row.at, row.ok, row.duration_ms, row.response)
                for row in rows
            ]

    async def claim(self, now: datetime, lease_for: timedelta) -> ClaimedMessage | None:
        """Lease the message due soonest, or None when nothing is due (or all are leased)."""
        due = and_(
            messages.c.status == MessageStatus.QUEUED.value,
            messages.c.next_attempt_at <= now,
            or_(messages.c.locked_until.is_(None), messages.c.locked_until <= now),
        )
        # SKIP LOCKED (PostgreSQL; SQLite serialises writers anyway) lets replicas claim
        # different messages at once instead of queueing behind each other's row locks.
        soonest = (
            select(messages.c.id)
            .where(due)
            .order_by(messages.c.next_attempt_at)
            .limit(1)
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
        lease = secrets.token_hex(16)
        claim = (
            update(messages)
            .where(messages.c.id == soonest, due)
            .values(lease=lease, locked_until=now + lease_for)
            .returning(
                messages.c.id,
                messages.c.to_address,
                messages.c.subject,
                messages.c.text_body,
                messages.c.html_body,
                messages.c.created_at,
                messages.c.attempts,
            )
        )
        async with self.engine.begin() as conn:
            row = (await conn.execute(claim)).first()
        if row is None:
            return None
        return ClaimedMessage(
            id=row.id,
            to=row.to_address,
            subject=row.subject,
            sealed_text=row.text_body,
            sealed_html=row.html_body,
            created_at=row.created_at,
            attempt=row.attempts + 1,
            lease=lease,
        )

    async def record_attempt(
        self,
        claimed: ClaimedMessage,
        delivery: DeliveryRecord,
        *,
        status: MessageStatus,
        next_attempt_at: datetime | None = None,
    ) -> bool:
        """Log the attempt and settle the message; False if the lease was lost meanwhile."""
        values: dict[str, Any] = {
            "status": status.value,
            "attempts": claimed.attempt,
            "lease": None,
            "locked_until": None,
            "next_attempt_at": next_attempt_at if status is MessageStatus.QUEUED else None,
            "last_error": None if delivery.ok else delivery.response,
        }
        if status is MessageStatus.SENT:
            values["sent_at"] = delivery.at
        settle = (
            update(messages)
            .where(messages.c.id == claimed.id, messages.c.lease == claimed.lease)
            .values(values)
        )
        async with self.engine.begin() as conn:
            if (await conn.execute(settle)).rowcount != 1:
                return False
            await conn.execute(
                insert(deliveries).values(
                    message_id=claimed.id,
                    attempt=delivery.attempt,
                    at=delivery.at,
                    ok=delivery.ok,
                    duration_ms=delivery.duration_ms,
                    response=delivery.response,
                )
            )
        return True

    async def release(self, claimed: ClaimedMessage) -> None:
        """Give a lease back unused, so another worker may send the message now."""
        async with self.engine.begin() as conn:
            await conn.execute(
                update(messages)
                .where(messages.c.id == claimed.id, messages.c.lease == claimed.lease)
                .values(lease=None, locked_until=None)
            )

"""Queueing a message (render it, commit it to the outbox, wake the worker) and reading them."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from sticky.kernel.crypto import sha256_hex
from sticky.kernel.ids import new_id
from sticky.mail.catalog import TemplateCatalog
from sticky.mail.errors import IdempotencyKeyReused
from sticky.mail.store import (
    DeliveryRecord,
    MailStore,
    MessageRecord,
    MessageStatus,
    NewMessage,
)


def fingerprint(to: str, template: str, data: Mapping[str, Any]) -> str:
    """What a request asked for, so a reused idempotency key can be told from a replay."""
    request = {"to": to.lower(), "template": template, "data": data}
    # The standard encoder, not orjson: data may hold integers wider than 64 bits.
    return sha256_hex(json.dumps(request, sort_keys=True, separators=(",", ":")))


class MailService:
    def __init__(
        self, store: MailStore, catalog: TemplateCatalog, on_queued: Callable[[], None]
    ) -> None:
        self.store = store
        self.catalog = catalog
        self._on_queued = on_queued

    async def send(
        self,
        *,
        to: str,
        template: str,
        data: Mapping[str, Any],
        idempotency_key: str | None = None,
    ) -> tuple[MessageRecord, bool]:
        """Queue a message; True if it is new, False if the idempotency key already had it."""
        rendered = self.catalog.render(template, data)
        new = NewMessage(
            id=new_id("msg"),
            to=to,
            template=template,
            subject=rendered.subject,
            text=rendered.text,
            html=rendered.html,
            fingerprint=fingerprint(to, template, data),
            created_at=datetime.now(UTC),
            idempotency_key=idempotency_key,
        )
        record, created = await self.store.add(new)
        if not created and record.fingerprint != new.fingerprint:
            raise IdempotencyKeyReused(idempotency_key or "")
        if created:
            self._on_queued()
        return record, created

    async def get(self, message_id: str) -> MessageRecord:
        return await self.store.get(message_id)

    async def page(
        self, *, status: MessageStatus | None, limit: int, cursor: str | None
    ) -> tuple[list[MessageRecord], str | None]:
        return await self.store.page(status=status, limit=limit, cursor=cursor)

    async def deliveries(self, message_id: str) -> list[DeliveryRecord]:
        """The delivery log of a message (raises :class:`MessageNotFound`)."""
        await self.store.get(message_id)
        return await self.store.deliveries_of(message_id)

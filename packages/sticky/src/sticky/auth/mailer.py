"""Email, the outbox way: queue a message in the same transaction as the change, deliver later.

Auth never speaks SMTP. :func:`queue_message` writes a row to auth's own outbox beside the
state change that causes it; :class:`OutboxDeliverer`, started in the app's lifespan, hands
each row to the mail service (``POST /internal/messages``) with the row id as idempotency key,
leasing rows so replicas do not send one twice, and retrying with exponential backoff while
the mail service is down.
"""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import structlog

from sticky.auth.store import OutboxMessage, Store, Tx
from sticky.auth.tokens import TokenIssuer
from sticky.kernel import crypto
from sticky.kernel.ids import new_id
from sticky.kernel.outgoing import service_client
from sticky.kernel.settings import Settings
from sticky.kernel.waiting import wait_event

_PURPOSE = "mail-outbox"
# Answers that will not change however often we retry: the message itself is wrong.
_PERMANENT = frozenset({400, 404, 405, 413, 415, 422})

log = structlog.get_logger("sticky.auth.mailer")


async def queue_message(
    tx: Tx, settings: Settings, to: str, template: str, data: dict[str, Any], now: datetime
) -> str:
    """Add a message to the outbox within ``tx``; answer its id (the idempotency key)."""
    message_id = new_id("out")
    payload = crypto.encrypt(settings.secret_key, _PURPOSE, orjson.dumps(data))
    await tx.outbox.add(OutboxMessage(message_id, to, template, payload, now))
    return message_id


def message_data(settings: Settings, message: OutboxMessage) -> dict[str, Any]:
    """The template data of a message still waiting in the outbox."""
    data: dict[str, Any] = orjson.loads(
        crypto.decrypt(settings.secret_key, _PURPOSE, message.payload)
    )
    return data


class OutboxDeliverer:
    def __init__(
        self,
        store: Store,
        issuer: TokenIssuer,
        settings: Settings,
        *,
        poll_seconds: float = 2.0,
        lease: timedelta = timedelta(seconds=60),
        base_delay: float = 2.0,
        max_delay: float = 300.0,
        max_attempts: int = 25,
    ) -> None:
        self._store = store
        self._issuer = issuer
        self._settings = settings
        self._poll_seconds = poll_seconds
        self._lease = lease
        self._base_delay = base_delay
        self._max_delay = max_delay
        self._max_attempts = max_attempts
        self._wakeup = asyncio.Event()

    def wake(self) -> None:
        """Look at the outbox now rather than at the next poll (a message was just queued)."""
        self._wakeup.set()

    async def run(self) -> None:
        """Deliver until cancelled."""
        async with service_client(self._settings.internal_url("mail")) as client:
            while True:
                try:
                    await self.deliver_due(client)
                except Exception as exc:
                    log.warning("outbox pass failed", error=f"{type(exc).__name__}: {exc}")
                await wait_event(self._wakeup, self._poll_seconds)
                self._wakeup.clear()

    async def deliver_due(self, client: httpx.AsyncClient) -> int:
        """Attempt every message that is due; answer how many the mail service accepted."""
        async with self._store.transaction() as tx:
            due = await tx.outbox.due(datetime.now(UTC), limit=50)
        delivered = 0
        for message_id in due:
            lease_id = new_id("lease")
            async with self._store.transaction() as tx:
                message = await tx.outbox.claim(
                    message_id, lease_id, datetime.now(UTC), self._lease
                )
            if message is not None:
                delivered += await self._attempt(client, message, lease_id)
        return delivered

    async def _attempt(
        self, client: httpx.AsyncClient, message: OutboxMessage, lease_id: str
    ) -> int:
        body = {
            "to": message.recipient,
            "template": message.template,
            "data": message_data(self._settings, message),
            "idempotencyKey": message.id,
        }
        token = self._issuer.service_token("auth").token
        permanent = False
        try:
            response = await client.post(
                "/internal/messages", json=body, headers={"Authorization": f"Bearer {token}"}
            )
        except httpx.HTTPError as exc:
            error = f"mail service unreachable: {type(exc).__name__}: {exc}"
        else:
            if response.is_success:
                async with self._store.transaction() as tx:
                    await tx.outbox.mark_sent(message.id, lease_id, datetime.now(UTC))
                log.info("mail handed over", outbox_id=message.id, template=message.template)
                return 1
            permanent = response.status_code in _PERMANENT
            error = f"mail service answered {response.status_code}: {response.text[:500]}"
        attempts = message.attempts + 1
        now = datetime.now(UTC)
        retry_at = (
            None if permanent or attempts >= self._max_attempts else now + self._backoff(attempts)
        )
        async with self._store.transaction() as tx:
            await tx.outbox.mark_attempt_failed(message.id, lease_id, error, now, retry_at)
        log.warning(
            "mail not handed over",
            outbox_id=message.id,
            attempts=attempts,
            retry_at=retry_at.isoformat() if retry_at else None,
            error=error,
        )
        return 0

    def _backoff(self, attempts: int) -> timedelta:
        delay = min(self._max_delay, self._base_delay * 2 ** (attempts - 1))
        # Jitter, so replicas that failed together do not retry together.
        return timedelta(seconds=delay * random.uniform(0.8, 1.2))

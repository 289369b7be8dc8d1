"""The delivery worker: claims due messages from the outbox and sends them over SMTP.

It runs in every replica. A new message wakes the local worker at once; a one-second poll
finds messages queued by other replicas and retries that have come due. Each claim is a lease,
so replicas never send the same message at the same time; a replica killed mid-send leaves a
lease that expires, and the message is sent again by whoever claims it next (at least once,
with the same Message-ID). On shutdown the worker stops claiming and finishes the send in
flight.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Protocol

import structlog

from sticky.kernel.waiting import cancel_and_wait, wait_event, within
from sticky.mail.errors import DeliveryFailed
from sticky.mail.smtp import compose, excerpt
from sticky.mail.store import ClaimedMessage, DeliveryRecord, MailStore, MessageStatus

log = structlog.get_logger("sticky.mail.worker")

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


class Transport(Protocol):
    async def send(self, message: EmailMessage) -> str: ...


@dataclass(frozen=True)
class DeliveryPolicy:
    """Retries and timings. The defaults spread 8 attempts over about an hour."""

    max_attempts: int = 8
    first_retry_seconds: float = 30.0
    max_retry_seconds: float = 30 * 60.0
    jitter: float = 0.1
    poll_seconds: float = 1.0
    lease_seconds: float = 120.0
    smtp_timeout_seconds: float = 30.0
    shutdown_seconds: float = 10.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if not 0 <= self.jitter < 1:
            raise ValueError("jitter is a fraction of the delay, from 0 to 1")
        # A lease that could expire during a send would let another replica send it too.
        if self.lease_seconds <= self.smtp_timeout_seconds:
            raise ValueError("lease_seconds must be longer than smtp_timeout_seconds")

    def retry_delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (counting from 1)."""
        delay = min(self.first_retry_seconds * 2.0 ** (attempt - 1), self.max_retry_seconds)
        return delay * (1 + random.uniform(-self.jitter, self.jitter))


class DeliveryWorker:
    def __init__(
        self,
        store: MailStore,
        transport: Transport,
        *,
        sender: str,
        policy: DeliveryPolicy,
        clock: Clock = utc_now,
        observe: Callable[[str], None] | None = None,
    ) -> None:
        self.store = store
        self.transport = transport
        self.sender = sender
        self.policy = policy
        self.clock = clock
        self._observe = observe
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def wake(self) -> None:
        """A message was queued: look now rather than at the next poll."""
        self._wake.set()

    def start(self) -> None:
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name="mail-delivery")

    async def stop(self) -> None:
        """Stop claiming; let the send in flight finish (within ``shutdown_seconds``)."""
        self._stopping = True
        self._wake.set()
        task, self._task = self._task, None
        if task is None:
            return
        try:
            await within(self.policy.shutdown_seconds, asyncio.shield(task))
        except TimeoutError:
            # Its lease expires and another replica (or the next start) sends it.
            log.warning("delivery still in flight at shutdown; abandoning it")
            await cancel_and_wait(task)

    async def _run(self) -> None:
        failures = 0
        while not self._stopping:
            self._wake.clear()
            try:
                while not self._stopping and await self.deliver_one():
                    pass
                failures = 0
                pause = self.policy.poll_seconds
            except Exception as exc:
                # The database may be down or not migrated yet: keep trying, less often, and
                # log one line each time rather than a traceback per poll.
                failures += 1
                log.error(
                    "the outbox cannot be read",
                    error=excerpt(f"{type(exc).__name__}: {exc}"),
                    consecutive_failures=failures,
                )
                pause = min(self.policy.poll_seconds * 2**failures, 30.0)
            if not self._stopping:
                await wait_event(self._wake, pause)

    async def deliver_one(self) -> bool:
        """Claim and attempt one due message; False when none is due."""
        lease_for = timedelta(seconds=self.policy.lease_seconds)
        claimed = await self.store.claim(self.clock(), lease_for)
        if claimed is None:
            return False
        started = time.perf_counter()
        ok, permanent = False, False
        try:
            response = await self.transport.send(self._compose(claimed))
            ok = True
        except DeliveryFailed as exc:
            response, permanent = exc.reason, exc.permanent
        except Exception as exc:
            log.exception("unexpected error sending a message", message_id=claimed.id)
            response = excerpt(f"{type(exc).__name__}: {exc}")
        duration_ms = round((time.perf_counter() - started) * 1000)
        await self._settle(claimed, ok, permanent, response, duration_ms)
        return True

    def _compose(self, claimed: ClaimedMessage) -> EmailMessage:
        text, html = self.store.bodies(claimed)
        return compose(
            message_id=claimed.id,
            sender=self.sender,
            to=claimed.to,
            subject=claimed.subject,
            text=text,
            html=html,
            created_at=claimed.created_at,
        )

    async def _settle(
        self, claimed: ClaimedMessage, ok: bool, permanent: bool, response: str, duration_ms: int
    ) -> None:
        at = self.clock()
        next_attempt_at = None
        if ok:
            status, outcome = MessageStatus.SENT, "sent"
        elif permanent or claimed.attempt >= self.policy.max_attempts:
            status, outcome = MessageStatus.FAILED, "failed"
        else:
            status, outcome = MessageStatus.QUEUED, "retry"
            next_attempt_at = at + timedelta(seconds=self.policy.retry_delay(claimed.attempt))
        delivery = DeliveryRecord(claimed.attempt, at, ok, duration_ms, response)
        kept = await self.store.record_attempt(
            claimed, delivery, status=status, next_attempt_at=next_attempt_at
        )
        if self._observe is not None:
            self._observe(outcome)
        log.info(
            "mail delivery attempt",
            message_id=claimed.id,
            attempt=claimed.attempt,
            ok=ok,
            outcome=outcome,
            duration_ms=duration_ms,
            response=response,
            next_attempt_at=next_attempt_at.isoformat() if next_attempt_at else None,
        )
        if not kept:
            log.warning("the lease expired during the attempt", message_id=claimed.id)

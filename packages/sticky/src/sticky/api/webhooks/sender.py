"""Sending due deliveries: a bounded pool of attempts, at most a few per endpoint at a time.

Isolation is the point. Each replica runs at most ``concurrency`` attempts at once, at most
``per_endpoint`` to any one endpoint, and at most ``per_failing_endpoint`` to one whose last
attempt failed; an endpoint at its cap is left out of the next claim, so deliveries to every
other endpoint go ahead while its attempts wait out their timeouts. A dead endpoint costs two
slots for one timeout each, never the queue.

Each attempt is signed afresh (a new timestamp; one signature per live secret), posted through
the outgoing guard (no private addresses outside development, no redirects, a deadline), and
recorded with its status code, latency and the start of the answer.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime

import structlog

from sticky.api.webhooks.deliveries import Claimed, DeliveryStore, Disabled, Outcome
from sticky.api.webhooks.endpoints import EndpointStore
from sticky.api.webhooks.policy import WebhookPolicy
from sticky.kernel.outgoing_guard import (
    DeliveryResult,
    DeliveryTimeout,
    OutgoingError,
    RefusedDestination,
)
from sticky.kernel.waiting import cancel_and_wait, wait_event
from sticky.kernel.webhook_signing import HEADER, sign

log = structlog.get_logger("sticky.api.webhooks")

Deliver = Callable[[str, bytes, Mapping[str, str]], Awaitable[DeliveryResult]]
Notify = Callable[[Disabled], Awaitable[None]]


def _now() -> datetime:
    return datetime.now(UTC)


class Sender:
    """Claims due deliveries and attempts them, within the policy's limits."""

    def __init__(
        self,
        deliveries: DeliveryStore,
        endpoints: EndpointStore,
        policy: WebhookPolicy,
        deliver: Deliver,
        notify: Notify,
    ) -> None:
        self._deliveries = deliveries
        self._endpoints = endpoints
        self._policy = policy
        self._deliver = deliver
        self._notify = notify
        self._wakeup = asyncio.Event()
        self._in_flight: set[asyncio.Task[None]] = set()
        self._per_endpoint: Counter[str] = Counter()
        self._caps: dict[str, int] = {}  # each endpoint in flight: its cap when last claimed
        self._task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        """Look for due work now (new deliveries were queued, or one was redelivered)."""
        self._wakeup.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name="webhook-sender")

    async def stop(self, grace: float = 5.0) -> None:
        """Stop claiming; give attempts in flight ``grace`` seconds, then cancel them."""
        await cancel_and_wait(self._task)
        if self._in_flight:
            _, late = await asyncio.wait(self._in_flight, timeout=grace)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)

    async def run(self) -> None:
        failures = 0
        while True:
            try:
                wait = await self.pass_once()
                failures = 0
            except Exception as exc:  # the database is down: try again, never die
                failures += 1
                wait = min(30.0, 0.5 * 2.0**failures)
                log.warning("webhook sender pass failed", error=f"{type(exc).__name__}: {exc}")
            await wait_event(self._wakeup, wait)
            self._wakeup.clear()

    async def pass_once(self) -> float:
        """Start every attempt there is room for; answer how long to wait before looking again."""
        free = self._policy.concurrency - len(self._in_flight)
        if free <= 0:
            return self._policy.poll_seconds  # a finished attempt wakes the loop sooner
        now = _now()
        started = 0
        for due in await self._deliveries.due(now, skip=self._busy(), limit=free * 4):
            if started >= free:
                break
            cap = self._policy.per_failing_endpoint if due.failing else self._policy.per_endpoint
            if self._per_endpoint[due.endpoint_id] >= cap:
                continue
            claimed = await self._deliveries.claim(due.id, now, self._policy)
            if claimed is None:
                continue
            started += 1
            self._caps[claimed.endpoint_id] = cap
            self._per_endpoint[claimed.endpoint_id] += 1
            task = asyncio.create_task(self._attempt(claimed), name=f"webhook-{claimed.id}")
            self._in_flight.add(task)
            task.add_done_callback(self._finished(claimed.endpoint_id))
        if started:
            return 0.0  # there may be more: look again at once
        soonest = await self._deliveries.next_due_at(skip=self._busy())
        until = (soonest - _now()).total_seconds() if soonest is not None else None
        if until is None or until <= 0:
            # Nothing due, or only what others hold (a busy endpoint, another replica's
            # lease): a finished attempt or new work wakes the loop before the poll.
            return self._policy.poll_seconds
        return min(self._policy.poll_seconds, until)

    def _busy(self) -> set[str]:
        """The endpoints this replica has as many attempts in flight to as it allows."""
        return {e for e, n in self._per_endpoint.items() if n >= self._caps.get(e, 1)}

    def _finished(self, endpoint_id: str) -> Callable[[asyncio.Task[None]], None]:
        def done(task: asyncio.Task[None]) -> None:
            self._in_flight.discard(task)
            self._per_endpoint[endpoint_id] -= 1
            if self._per_endpoint[endpoint_id] <= 0:
                del self._per_endpoint[endpoint_id]
                self._caps.pop(endpoint_id, None)
            self._wakeup.set()

        return done

    async def _attempt(self, claimed: Claimed) -> None:
        try:
            keys = await self._endpoints.signing_keys(claimed.endpoint_id, _now())
            if keys is None:
                return  # deleted meanwhile, with its deliveries
            outcome = await self.attempt(claimed, keys.url, keys.secrets)
            disabled = await self._deliveries.record(claimed, outcome, _now(), self._policy)
            log.info(
                "webhook attempt",
                delivery=claimed.id,
                endpoint=claimed.endpoint_id,
                attempt=claimed.attempt,
                ok=outcome.ok,
                status=outcome.status_code,
                error=outcome.error,
            )
            if disabled is not None:
                log.warning("webhook endpoint disabled", endpoint=disabled.endpoint_id)
                await self._notify(disabled)
        except Exception as exc:  # recorded nothing: the lease expires and it is tried again
            log.warning(
                "webhook attempt not recorded",
                delivery=claimed.id,
                error=f"{type(exc).__name__}: {exc}",
            )

    async def attempt(self, claimed: Claimed, url: str, secrets: tuple[str, ...]) -> Outcome:
        """One signed POST; any failure becomes an :class:`Outcome`, never an exception."""
        headers = {
            "Content-Type": "application/json",
            HEADER: sign(claimed.body, secrets[0], int(time.time()), also=secrets[1:]),
            "Sticky-Event-Id": claimed.event_id,
            "Sticky-Delivery-Id": claimed.id,
            "Sticky-Delivery-Attempt": str(claimed.attempt),
        }
        started = time.perf_counter()
        try:
            result = await self._deliver(url, claimed.body, headers)
        except RefusedDestination as exc:
            return Outcome(False, None, None, None, f"refused ({exc.reason}): {exc}")
        except DeliveryTimeout as exc:
            elapsed = (time.perf_counter() - started) * 1000
            return Outcome(False, None, elapsed, None, f"timeout: {exc}")
        except OutgoingError as exc:
            elapsed = (time.perf_counter() - started) * 1000
            return Outcome(False, None, elapsed, None, f"not delivered: {exc}")
        error = None if result.ok else f"answered {result.status_code}"
        return Outcome(result.ok, result.status_code, result.latency_ms, result.excerpt, error)

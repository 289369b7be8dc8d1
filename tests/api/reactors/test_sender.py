"""Sending webhooks to real HTTP receivers: signatures, retries, isolation, disabling, redelivery."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from sticky.api.webhooks import Webhooks
from sticky.api.webhooks.deliveries import Disabled, NewDelivery
from sticky.api.webhooks.endpoints import Endpoint
from sticky.api.webhooks.policy import RETRY_DELAYS, WebhookPolicy
from sticky.api.webhooks.tables import webhook_deliveries, webhook_endpoints
from sticky.kernel.outgoing_guard import OutgoingPolicy
from sticky.kernel.settings import Settings
from sticky_sdk import WebhookVerificationError, webhooks
from tests.api.reactors.receivers import Receiver, serving

ANN, BEA = "usr_ann", "usr_bea"
# 1/100,000 of real time: the whole schedule (~28 h) in ~1 s, disabling after ~0.9 s. No
# receiver here is slow on purpose, so the timeout is one a busy machine never reaches.
FAST = WebhookPolicy(timeout=5, concurrency=8, scale=0.00001, poll_seconds=0.05)


class Harness:
    def __init__(self, settings: Settings, engine: AsyncEngine, policy: WebhookPolicy) -> None:
        self.disabled: list[Disabled] = []
        outgoing = OutgoingPolicy(allow_private=True, require_https=False, timeout=policy.timeout)
        self.webhooks = Webhooks.create(
            settings, engine, notify=self._notify, deliver=outgoing.deliver, policy=policy
        )

    async def _notify(self, disabled: Disabled) -> None:
        self.disabled.append(disabled)

    async def endpoint(self, user: str, url: str, **fields: Any) -> tuple[Endpoint, str]:
        return await self.webhooks.endpoints.create(
            user,
            url=url,
            event_types=fields.pop("event_types", ["*"]),
            description="",
            notify_email=fields.pop("notify_email", None),
            now=datetime.now(UTC),
        )

    async def queue(self, endpoint: Endpoint, *event_ids: str) -> int:
        items = [
            NewDelivery(
                endpoint.id,
                endpoint.user_id,
                event_id,
                "SESSION_CART_PAY",
                orjson.dumps({"event": {"id": event_id, "type": "SESSION_CART_PAY"}}),
            )
            for event_id in event_ids
        ]
        queued = await self.webhooks.deliveries.enqueue(items, datetime.now(UTC))
        self.webhooks.sender.wake()
        return queued

    async def deliveries(self, endpoint: Endpoint) -> list[dict[str, Any]]:
        rows, _ = await self.webhooks.deliveries.page(
            endpoint.user_id, endpoint.id, limit=100, before=None
        )
        return rows

    async def settled(
        self, endpoint: Endpoint, count: int, timeout: float = 10.0
    ) -> list[dict[str, Any]]:
        """The endpoint's deliveries once ``count`` of them are no longer pending."""
        deadline = time.monotonic() + timeout
        while True:
            rows = await self.deliveries(endpoint)
            done = [r for r in rows if r["status"] != "pending"]
            if len(done) >= count:
                return rows
            assert time.monotonic() < deadline, rows
            await asyncio.sleep(0.02)


@pytest.fixture
async def harness(settings: Settings, engine: AsyncEngine) -> AsyncIterator[Harness]:
    running = Harness(settings, engine, FAST)
    running.webhooks.sender.start()
    yield running
    await running.webhooks.sender.stop(grace=1)


def test_the_schedule_retries_for_more_than_a_day() -> None:
    policy = WebhookPolicy()
    assert sum(RETRY_DELAYS) > 24 * 3600
    assert policy.max_attempts == 11
    assert policy.retry_after(1) is not None and policy.retry_after(1).total_seconds() == 30
    assert (
        policy.retry_after(10) is not None and policy.retry_after(10).total_seconds() == 12 * 3600
    )
    assert policy.retry_after(11) is None
    assert policy.disable_after.total_seconds() == 24 * 3600


async def test_a_delivery_arrives_signed_and_is_logged(harness: Harness) -> None:
    receiver = Receiver()
    async with serving(receiver):
        endpoint, secret = await harness.endpoint(ANN, receiver.url)
        assert await harness.queue(endpoint, "evt_1") == 1
        [request] = await receiver.wait_for(1)
        body = webhooks.verify(request.body, request.headers["sticky-signature"], secret)
        assert body == {"event": {"id": "evt_1", "type": "SESSION_CART_PAY"}}
        with pytest.raises(WebhookVerificationError):
            webhooks.verify(request.body, request.headers["sticky-signature"], "whsec_other")
        assert request.headers["sticky-event-id"] == "evt_1"
        assert request.headers["sticky-delivery-attempt"] == "1"
        assert request.headers["content-type"] == "application/json"
        [delivery] = await harness.settled(endpoint, 1)
    assert delivery["status"] == "succeeded" and delivery["attempts"] == 1
    [attempt] = delivery["log"]
    assert attempt["ok"] and attempt["status_code"] == 200 and not attempt["manual"]
    assert attempt["response_excerpt"] == '{"received": true}'
    assert 0 < attempt["latency_ms"] < 5000


async def test_an_event_is_queued_once_per_endpoint(harness: Harness) -> None:
    receiver = Receiver()
    async with serving(receiver):
        endpoint, _ = await harness.endpoint(ANN, receiver.url)
        assert await harness.queue(endpoint, "evt_1", "evt_2") == 2
        assert await harness.queue(endpoint, "evt_1") == 0  # the subscription replayed it
        await harness.settled(endpoint, 2)
        await asyncio.sleep(0.2)
    assert sorted(r.json()["event"]["id"] for r in receiver.received) == ["evt_1", "evt_2"]


async def test_a_failing_endpoint_is_retried_while_another_is_served(harness: Harness) -> None:
    broken, healthy = Receiver(status=500, answer=b"database down"), Receiver()
    async with serving(broken, healthy):
        failing, _ = await harness.endpoint(ANN, broken.url)
        working, _ = await harness.endpoint(BEA, healthy.url)
        await harness.queue(failing, "evt_a")
        await harness.queue(working, "evt_b")
        await healthy.wait_for(1)
        [delivery] = await harness.settled(failing, 1)
    assert delivery["status"] == "failed"
    assert delivery["attempts"] == len(broken.received) == FAST.max_attempts
    assert [a["status_code"] for a in delivery["log"]] == [500] * FAST.max_attempts
    assert delivery["log"][0]["response_excerpt"] == "database down"
    assert delivery["last_error"] == "answered 500"
    gaps = [b.at - a.at for a, b in zip(broken.received, broken.received[1:], strict=False)]
    assert gaps[-1] > gaps[0]  # backing off
    # Every attempt was signed afresh with the same event.
    assert {r.headers["sticky-delivery-attempt"] for r in broken.received} == {
        str(n) for n in range(1, FAST.max_attempts + 1)
    }


async def test_a_dead_endpoint_does_not_hold_up_the_others(
    settings: Settings, engine: AsyncEngine
) -> None:
    # A timeout long enough that serving the healthy endpoint "at once" (within it) holds on
    # a slow, busy machine too; every wait below is counted in timeouts.
    timeout = 2.0
    policy = WebhookPolicy(timeout=timeout, concurrency=12, scale=0.001, poll_seconds=0.05)
    running = Harness(settings, engine, policy)
    dead, alive = Receiver(delay=3 * timeout), Receiver()
    async with serving(dead, alive):
        stuck, _ = await running.endpoint(ANN, dead.url)
        fine, _ = await running.endpoint(BEA, alive.url)
        await running.queue(stuck, *[f"evt_dead_{n}" for n in range(20)])
        running.webhooks.sender.start()
        try:
            await asyncio.sleep(0.1)
            started = time.monotonic()
            await running.queue(fine, *[f"evt_ok_{n}" for n in range(10)])
            await alive.wait_for(10)
            took = time.monotonic() - started
            # The dead endpoint holds at most its cap of the pool; the rest serves the healthy
            # one at once instead of waiting out timeouts.
            assert took < 0.9 * timeout, took
            assert len(dead.received) <= policy.per_endpoint
            rows = await running.settled(fine, 10)
            assert all(r["status"] == "succeeded" for r in rows)
            # Once it has failed, only two attempts at a time go to it.
            first_round = len(dead.received)
            await asyncio.sleep(3.2 * timeout)  # three more timeouts
            assert len(dead.received) - first_round <= 3 * policy.per_failing_endpoint
        finally:
            await running.webhooks.sender.stop(grace=1)
    stuck_rows = await running.deliveries(stuck)
    timed_out = [a for r in stuck_rows for a in r["log"]]
    assert timed_out and all(a["error"].startswith("timeout") for a in timed_out)
    assert all(a["latency_ms"] >= 900 * timeout for a in timed_out)


async def test_prolonged_failure_disables_the_endpoint_and_says_so(harness: Harness) -> None:
    broken = Receiver(status=503)
    async with serving(broken):
        endpoint, _ = await harness.endpoint(ANN, broken.url, notify_email="ops@ann.example")
        await harness.queue(endpoint, "evt_1")
        await harness.settled(endpoint, 1)
        await harness.queue(endpoint, "evt_2")  # queued, but not sent while disabled
        await asyncio.sleep(0.3)
    [disabled] = harness.disabled
    assert disabled.endpoint_id == endpoint.id and disabled.notify_email == "ops@ann.example"
    assert disabled.last_error == "answered 503"
    now = await harness.webhooks.endpoints.get(ANN, endpoint.id)
    assert now is not None and not now.enabled and now.disabled_reason == "failing"
    rows = {r["event_id"]: r for r in await harness.deliveries(endpoint)}
    assert rows["evt_2"]["status"] == "pending" and rows["evt_2"]["attempts"] == 0
    assert len(broken.received) == FAST.max_attempts


async def test_an_endpoint_that_recovers_is_not_disabled(harness: Harness) -> None:
    flaky = Receiver(status=500)
    async with serving(flaky):
        endpoint, _ = await harness.endpoint(ANN, flaky.url)
        await harness.queue(endpoint, "evt_1")
        await flaky.wait_for(3)
        flaky.status = 200
        [delivery] = await harness.settled(endpoint, 1)
    assert delivery["status"] == "succeeded"
    assert [a["ok"] for a in delivery["log"]][-1] is True
    now = await harness.webhooks.endpoints.get(ANN, endpoint.id)
    assert now is not None and now.enabled and now.failing_since is None


async def test_redelivery_sends_again_signed_afresh(harness: Harness) -> None:
    broken = Receiver(status=500)
    async with serving(broken):
        endpoint, secret = await harness.endpoint(ANN, broken.url)
        await harness.queue(endpoint, "evt_1")
        [failed] = await harness.settled(endpoint, 1)
        assert failed["status"] == "failed"
        # Re-enable (a failure that long disables it), fix the receiver, redeliver.
        await harness.webhooks.endpoints.update(
            ANN, endpoint.id, {"enabled": True}, datetime.now(UTC)
        )
        broken.status = 200
        assert await harness.webhooks.deliveries.redeliver(
            ANN, endpoint.id, failed["id"], datetime.now(UTC)
        )
        harness.webhooks.sender.wake()
        received = await broken.wait_for(FAST.max_attempts + 1)
        [delivery] = await harness.settled(endpoint, 1)
    assert delivery["status"] == "succeeded"
    assert delivery["attempts"] == FAST.max_attempts + 1
    last = delivery["log"][-1]
    assert last["manual"] and last["ok"] and last["attempt"] == FAST.max_attempts + 1
    assert not any(a["manual"] for a in delivery["log"][:-1])
    webhooks.verify(received[-1].body, received[-1].headers["sticky-signature"], secret)
    assert received[-1].body == received[0].body
    # Another user cannot redeliver it.
    assert not await harness.webhooks.deliveries.redeliver(
        BEA, endpoint.id, failed["id"], datetime.now(UTC)
    )


async def test_after_a_rotation_both_secrets_sign(harness: Harness) -> None:
    receiver = Receiver()
    async with serving(receiver):
        endpoint, old = await harness.endpoint(ANN, receiver.url)
        rotated = await harness.webhooks.endpoints.rotate(
            ANN, endpoint.id, datetime.now(UTC), harness.webhooks.policy.previous_secret_lasts
        )
        assert rotated is not None
        _, new = rotated
        assert new != old and new.startswith("whsec_")
        await harness.queue(endpoint, "evt_1")
        [request] = await receiver.wait_for(1)
    header = request.headers["sticky-signature"]
    assert header.count("v1=") == 2
    webhooks.verify(request.body, header, new)
    webhooks.verify(request.body, header, old)


async def test_private_addresses_are_refused_outside_development(
    settings: Settings, engine: AsyncEngine
) -> None:
    production = OutgoingPolicy(allow_private=False, require_https=False, timeout=1)
    running = Harness(settings, engine, FAST)
    running.webhooks = Webhooks.create(settings, engine, deliver=production.deliver, policy=FAST)
    receiver = Receiver()
    async with serving(receiver):
        endpoint, _ = await running.endpoint(ANN, receiver.url)
        await running.queue(endpoint, "evt_1")
        running.webhooks.sender.start()
        try:
            rows = await running.settled(endpoint, 1)
        finally:
            await running.webhooks.sender.stop()
    assert receiver.received == []
    assert rows[0]["status"] == "failed"
    assert rows[0]["log"][0]["error"].startswith("refused (forbidden-address)")
    assert rows[0]["log"][0]["status_code"] is None


async def test_a_deleted_endpoint_takes_its_deliveries_with_it(harness: Harness) -> None:
    receiver = Receiver(status=500)
    async with serving(receiver):
        endpoint, _ = await harness.endpoint(ANN, receiver.url)
        await harness.queue(endpoint, "evt_1")
        await receiver.wait_for(1)
        assert not await harness.webhooks.endpoints.delete(BEA, endpoint.id)
        assert await harness.webhooks.endpoints.delete(ANN, endpoint.id)
        seen = len(receiver.received)
        await asyncio.sleep(0.3)
    assert len(receiver.received) <= seen + 1  # at most the attempt already in flight
    assert await harness.deliveries(endpoint) == []


async def test_deleting_an_endpoint_while_an_attempt_is_recorded_never_deadlocks(
    harness: Harness, engine: AsyncEngine
) -> None:
    """An attempt being recorded holds its delivery, then wants its endpoint; the delete
    must not hold the endpoint while it waits for the delivery (PostgreSQL found the cycle
    and failed the delete: a 500 for someone deleting an endpoint that was being retried)."""
    endpoint, _ = await harness.endpoint(ANN, "https://hooks.example/in")
    await harness.queue(endpoint, "evt_1")
    d, e = webhook_deliveries, webhook_endpoints
    async with engine.connect() as recording:
        transaction = await recording.begin()
        await recording.execute(d.update().where(d.c.endpoint_id == endpoint.id).values(attempts=1))
        deleting = asyncio.create_task(harness.webhooks.endpoints.delete(ANN, endpoint.id))
        await asyncio.sleep(0.3)  # the delete is waiting on the delivery now
        assert not deleting.done()
        await recording.execute(
            e.update().where(e.c.id == endpoint.id).values(failing_since=datetime.now(UTC))
        )
        await transaction.commit()
    assert await asyncio.wait_for(deleting, 10)
    assert await harness.deliveries(endpoint) == []


@pytest.mark.parametrize("ticks", range(4))
async def test_stopping_just_after_a_wake_up_stops(
    settings: Settings, engine: AsyncEngine, ticks: int
) -> None:
    # A redelivery wakes the sender; a shutdown in the same moment must still end it (CI once
    # hung for two minutes here when the sender slept with asyncio.wait_for).
    harness = Harness(settings, engine, FAST)
    harness.webhooks.sender.start()
    await asyncio.sleep(0.1)
    harness.webhooks.sender.wake()
    for _ in range(ticks):
        await asyncio.sleep(0)
    started = time.monotonic()
    await harness.webhooks.sender.stop(grace=1)
    assert time.monotonic() - started < 2

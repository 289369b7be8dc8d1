"""The reactors on real durable subscriptions: the events service under uvicorn, the mail
service, the api's database, and merchants' receivers. Events are appended as the payments
code records them; the reactors turn them into signed webhooks and receipts, once each, even
when the subscription replays."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from sticky.api.reactors import Reactors
from sticky.api.reactors.follower import FollowerTiming
from sticky.api.webhooks.policy import WebhookPolicy
from sticky.kernel.outgoing_guard import OutgoingPolicy
from sticky.kernel.settings import Settings
from sticky_sdk import webhooks
from tests.api.reactors.platform import Platform, payment_events, platform, refund_event
from tests.api.reactors.receivers import Receiver, serving
from tests.api.support import RunningApi, api_settings, running_api

ANN, BEA = "usr_ann", "usr_bea"
FAST = FollowerTiming(checkpoint_seconds=0.05, first_retry_seconds=0.05, max_retry_seconds=0.2)
POLICY = WebhookPolicy(timeout=2, concurrency=8, scale=0.0001, poll_seconds=0.05)


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[tuple[RunningApi, Platform]]:
    settings = api_settings(tmp_path, f"sqlite:///{tmp_path / 'api.sqlite3'}")
    async with platform(settings) as services, running_api(settings) as api:
        yield api, services


@contextlib.asynccontextmanager
async def reacting(
    api: RunningApi, services: Platform, timing: FollowerTiming = FAST
) -> AsyncIterator[Reactors]:
    settings: Settings = api.state.settings
    outgoing = OutgoingPolicy(allow_private=True, require_https=False, timeout=POLICY.timeout)
    reactors = Reactors(
        settings,
        api.state.store,
        events_url=services.events_url,
        mail_url=services.mail_url,
        headers=services.headers,
        policy=POLICY,
        deliver=outgoing.deliver,
        timing=timing,
    )
    reactors.start()
    try:
        yield reactors
    finally:
        await reactors.stop()


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, "it did not happen in time"
        await asyncio.sleep(0.02)


async def caught_up(reactors: Reactors, services: Platform) -> None:
    """Every follower has handled the log up to its end and saved that."""
    last = (await services.append(None, {"type": "X_MARKER", "userId": "usr_nobody"}))[0][
        "position"
    ]

    async def done() -> bool:
        return all(f.position is not None and f.position >= last for f in reactors.followers[:1])

    await eventually(done)


async def endpoint(api: RunningApi, user: str, url: str, types: list[str]) -> dict[str, Any]:
    response = await api.client.post(
        "/v1/webhooks", json={"url": url, "eventTypes": types}, headers=api.owner(user)
    )
    assert response.status_code == 201, response.text
    made: dict[str, Any] = response.json()
    return made


async def test_payment_events_become_signed_webhooks(
    world: tuple[RunningApi, Platform],
) -> None:
    api, services = world
    flow = await api.flow(ANN, name="Café", publicName="Café Ann")
    thing = await api.thing(ANN, name="Table 4", applicationId=flow["id"])
    stream, before = payment_events(ANN, application_id=flow["id"], thing_id=thing["id"])
    await services.append(stream, before[0])  # before any endpoint: not delivered
    payments, everything, other = Receiver(), Receiver(), Receiver()
    async with serving(payments, everything, other), reacting(api, services) as reactors:
        paid_only = await endpoint(api, ANN, payments.url, ["SESSION_CART_PAY"])
        all_types = await endpoint(api, ANN, everything.url, ["*"])
        await endpoint(api, BEA, other.url, ["*"])
        await asyncio.sleep(0.01)
        await services.append(stream, before[1])
        await services.append(None, {"type": "SESSION_READ", "userId": ANN, "thingId": thing["id"]})
        [request] = await payments.wait_for(1)
        await everything.wait_for(2)
        await caught_up(reactors, services)
        await asyncio.sleep(0.2)
    body = webhooks.verify(request.body, request.headers["sticky-signature"], paid_only["secret"])
    assert set(body) == {"event", "payment", "flow", "sticky", "session"}
    assert body["event"]["type"] == "SESSION_CART_PAY" and body["event"]["userId"] == ANN
    assert body["event"]["id"] == request.headers["sticky-event-id"]
    payment = body["payment"]
    assert (
        payment["status"] == "paid"
        and payment["total"] == 1160
        and payment["reference"] == "REF-7731"
    )
    assert (
        payment["cart"][0]["name"] == "Flat white"
        and payment["customer"]["email"] == "cleo@example.com"
    )
    assert payment["sessionPaidAt"] == body["event"]["createdAt"]
    assert body["flow"] == {"id": flow["id"], "name": "Café", "publicName": "Café Ann"}
    assert body["sticky"] == {"id": thing["id"], "name": "Table 4"}
    assert body["session"] == {"id": "ses_cleo"}
    kinds = [r.json()["event"]["type"] for r in everything.received]
    assert kinds == ["SESSION_CART_PAY", "SESSION_READ"]  # PAYMENT_CREATED came before it existed
    read = everything.received[1].json()
    webhooks.verify(
        everything.received[1].body,
        everything.received[1].headers["sticky-signature"],
        all_types["secret"],
    )
    assert read["payment"] is None and read["flow"] is None and read["sticky"]["id"] == thing["id"]
    assert other.received == []  # another user's events are not Bea's


async def test_a_replayed_subscription_delivers_nothing_twice(
    world: tuple[RunningApi, Platform],
) -> None:
    api, services = world
    flow = await api.flow(ANN, settings={"receipts": True})
    receiver = Receiver()
    async with serving(receiver):
        async with reacting(api, services) as reactors:
            await endpoint(api, ANN, receiver.url, ["*"])
            stream, events = payment_events(ANN, application_id=flow["id"])
            await services.append(stream, *events)
            await receiver.wait_for(2)
            await caught_up(reactors, services)
        # As after a crash before the checkpoint was saved: both subscriptions start over.
        await services.checkpoint("webhooks", 0)
        await services.checkpoint("receipts", 0)
        async with reacting(api, services) as again:
            await caught_up(again, services)
            await eventually(lambda: _handled(again, "receipts", 1))
            await asyncio.sleep(0.3)
            assert again.followers[0].handled >= 3  # it did see them all again
    assert len(receiver.received) == 2
    assert len([m for m in await services.messages() if m["template"] == "receipt-paid"]) == 1


async def _handled(reactors: Reactors, name: str, count: int) -> bool:
    return any(f.name == name and f.handled >= count for f in reactors.followers)


async def test_receipts_for_payments_failures_and_refunds(
    world: tuple[RunningApi, Platform],
) -> None:
    api, services = world
    flow = await api.flow(ANN, name="Café", publicName="Café Ann", settings={"receipts": True})
    quiet = await api.flow(ANN, name="No receipts", settings={})
    async with reacting(api, services) as reactors:
        stream, paid = payment_events(ANN, application_id=flow["id"])
        await services.append(stream, *paid)
        await services.append(stream, refund_event(paid[1], 500, 500))
        failed_stream, failed = payment_events(
            ANN, application_id=flow["id"], outcome="SESSION_CART_PAY_FAIL", email="dan@example.com"
        )
        await services.append(failed_stream, *failed)
        silent_stream, silent = payment_events(
            ANN, application_id=quiet["id"], email="eve@example.com"
        )
        await services.append(silent_stream, *silent)
        anonymous_stream, anonymous = payment_events(ANN, application_id=flow["id"], email=None)
        await services.append(anonymous_stream, *anonymous)

        async def three() -> bool:
            return len(await services.messages()) >= 3

        await eventually(three)
        await eventually(lambda: _handled(reactors, "receipts", 5))
        await asyncio.sleep(0.2)
    messages = {m["template"]: m for m in await services.messages()}
    assert set(messages) == {"receipt-paid", "receipt-refunded", "receipt-failed"}
    assert messages["receipt-paid"]["to"] == "cleo@example.com"
    assert messages["receipt-paid"]["subject"] == "Your receipt from Café Ann"
    assert messages["receipt-refunded"]["subject"] == "Café Ann refunded 5.00 GBP"
    assert messages["receipt-failed"]["to"] == "dan@example.com"
    assert messages["receipt-failed"]["subject"] == "Your payment to Café Ann did not go through"

"""The webhooks follower streams only the types enabled endpoints want, and never misses one an
endpoint should get: endpoints made while it runs, restarts before it noticed them, and two
replicas. A real events service, the api's database (SQLite and PostgreSQL), receivers."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from sticky.api.reactors import Reactors
from sticky.api.reactors.follower import Follower, FollowerTiming
from sticky.api.reactors.wanted import MAX_TYPES, Check, WantedTypes
from tests.api.reactors.platform import Platform, payment_events, platform
from tests.api.reactors.receivers import Receiver, serving
from tests.api.reactors.test_reactors import ANN, endpoint, eventually, reacting
from tests.api.support import RunningApi, api_settings, running_api
from tests.conftest import POSTGRES_ADMIN_URL

PAY, READ = "SESSION_CART_PAY", "SESSION_READ"
# Checks far enough apart that a test can act between two of them.
SLOW = FollowerTiming(checkpoint_seconds=1.5, first_retry_seconds=0.05, max_retry_seconds=0.2)


@contextlib.contextmanager
def events_database(database_url: str, tmp_path: Path) -> Iterator[str]:
    """The events service's own database, on the api's backend."""
    if database_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'events.sqlite3'}"
        return
    import psycopg

    name = f"sticky_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{POSTGRES_ADMIN_URL.rsplit('/', 1)[0]}/{name}"
    finally:
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
async def world(database_url: str, tmp_path: Path) -> AsyncIterator[tuple[RunningApi, Platform]]:
    with events_database(database_url, tmp_path) as events_url:
        settings = api_settings(tmp_path, database_url, events_database_url=events_url)
        async with platform(settings) as services, running_api(settings) as api:
            yield api, services


def follower(reactors: Reactors) -> tuple[Follower, WantedTypes]:
    webhooks = reactors.followers[0]
    assert webhooks.name == "webhooks" and webhooks.wanted is not None
    return webhooks, webhooks.wanted


async def reads(services: Platform, count: int) -> list[dict[str, Any]]:
    read = {"type": READ, "userId": ANN, "thingId": "thg_1"}
    return await services.append(None, *([read] * count))


async def just_checked(wanted: WantedTypes) -> None:
    """Until the follower has checked again: the next check is a whole cadence away."""
    seen = wanted.checks

    async def checked() -> bool:
        return wanted.checks > seen

    await eventually(checked)


async def reached(webhooks: Follower, position: int) -> None:
    async def there() -> bool:
        return webhooks.position is not None and webhooks.position >= position

    await eventually(there)


def event_ids(receiver: Receiver) -> list[str]:
    """What it received, sorted: deliveries are not ordered."""
    return sorted(r.headers["sticky-event-id"] for r in receiver.received)


async def test_with_nothing_wanted_nothing_is_streamed_and_the_checkpoint_follows_the_head(
    world: tuple[RunningApi, Platform],
) -> None:
    api, services = world
    receiver = Receiver()
    async with serving(receiver):
        off = await endpoint(api, ANN, receiver.url, ["*"])
        disabled = await api.client.patch(
            f"/v1/webhooks/{off['id']}", json={"enabled": False}, headers=api.owner(ANN)
        )
        assert disabled.json()["enabled"] is False
        async with reacting(api, services) as reactors:
            webhooks, wanted = follower(reactors)
            await reads(services, 3)
            stream, paid = payment_events(ANN, application_id=None)
            await services.append(stream, *paid)
            head = await services.head()

            async def saved() -> bool:
                return await services.checkpoint("webhooks") >= head

            await eventually(saved)
            assert await services.checkpoint("webhooks") == head
            assert wanted.nothing and webhooks.handled == 0
    assert receiver.received == []


async def test_an_endpoint_for_payments_is_not_streamed_the_taps(
    world: tuple[RunningApi, Platform],
) -> None:
    api, services = world
    receiver = Receiver()
    async with serving(receiver):
        await endpoint(api, ANN, receiver.url, [PAY])
        async with reacting(api, services) as reactors:
            webhooks, wanted = follower(reactors)
            await reads(services, 3)
            stream, events = payment_events(ANN, application_id=None)
            paid = (await services.append(stream, *events))[1]
            [request] = await receiver.wait_for(1)
            await reached(webhooks, paid["position"])
            assert wanted.types == frozenset({PAY})
            assert webhooks.handled == 1  # neither the reads nor PAYMENT_CREATED came
    assert request.json()["event"]["type"] == PAY


async def reads_endpoint_between_checks(
    api: RunningApi,
    services: Platform,
    webhooks: Follower,
    taps: Receiver,
    payments: Receiver,
    *,
    before: int,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Between two checks of a follower that wants payments: ``before`` reads, an endpoint
    for reads, two reads, then a payment, handled. Answers the two reads and the payment."""
    assert webhooks.wanted is not None
    await just_checked(webhooks.wanted)
    if before:
        await reads(services, before)  # before the endpoint: not its
    await endpoint(api, ANN, taps.url, [READ])
    after = await reads(services, 2)
    stream, events = payment_events(ANN, application_id=None)
    paid: dict[str, Any] = (await services.append(stream, *events))[1]
    await payments.wait_for(1)
    await reached(webhooks, paid["position"])
    return after, paid


async def test_an_endpoint_made_while_following_gets_every_event_after_it(
    world: tuple[RunningApi, Platform],
) -> None:
    api, services = world
    payments, taps = Receiver(), Receiver()
    async with serving(payments, taps):
        await endpoint(api, ANN, payments.url, [PAY])
        async with reacting(api, services, SLOW) as reactors:
            webhooks, wanted = follower(reactors)
            after, paid = await reads_endpoint_between_checks(
                api, services, webhooks, taps, payments, before=1
            )
            # The follower has gone past the reads without them: it has not checked since.
            assert wanted.types == frozenset({PAY}) and webhooks.handled == 1
            await taps.wait_for(2)
            assert wanted.types == frozenset({PAY, READ})
            await reached(webhooks, paid["position"])
            await asyncio.sleep(0.3)
    assert event_ids(taps) == sorted(e["id"] for e in after)
    assert len(payments.received) == 1


async def test_a_restart_before_the_follower_noticed_an_endpoint_skips_nothing(
    world: tuple[RunningApi, Platform],
) -> None:
    api, services = world
    payments, taps = Receiver(), Receiver()
    async with serving(payments, taps):
        await endpoint(api, ANN, payments.url, [PAY])
        async with reacting(api, services, SLOW) as reactors:
            webhooks, wanted = follower(reactors)
            after, paid = await reads_endpoint_between_checks(
                api, services, webhooks, taps, payments, before=0
            )
            assert wanted.types == frozenset({PAY})  # stopped before it noticed
            await asyncio.sleep(0.1)  # the payment's attempt is over
        # It had handled past the reads, but saved no further than the head it had confirmed.
        assert await services.checkpoint("webhooks") < after[0]["position"]
        assert taps.received == []
        async with reacting(api, services) as again:
            await taps.wait_for(2)
            await reached(follower(again)[0], paid["position"])
            await asyncio.sleep(0.3)
    assert event_ids(taps) == sorted(e["id"] for e in after)
    assert len(payments.received) == 1  # replayed, but delivered once


async def test_an_endpoint_for_every_type_gets_everything(
    world: tuple[RunningApi, Platform],
) -> None:
    api, services = world
    receiver = Receiver()
    async with serving(receiver):
        await endpoint(api, ANN, receiver.url, ["*"])
        async with reacting(api, services) as reactors:
            webhooks, wanted = follower(reactors)
            sent = await reads(services, 1)
            sent += await services.append(None, {"type": "X_DOOR_OPENED", "userId": ANN})
            stream, events = payment_events(ANN, application_id=None)
            sent += await services.append(stream, *events)
            await receiver.wait_for(4)
            assert wanted.types is None
            await reached(webhooks, sent[-1]["position"])
            await asyncio.sleep(0.2)
    assert event_ids(receiver) == sorted(e["id"] for e in sent)


async def test_two_replicas_deliver_an_endpoints_events_once(
    world: tuple[RunningApi, Platform],
) -> None:
    api, services = world
    taps = Receiver()
    async with serving(taps), reacting(api, services, SLOW) as one, reacting(api, services) as two:
        slow, quick = follower(one), follower(two)
        await just_checked(slow[1])
        await endpoint(api, ANN, taps.url, [READ])
        sent = await reads(services, 2)
        await taps.wait_for(2)
        assert slow[1].nothing  # the quick one handled them alone
        await reached(quick[0], sent[-1]["position"])

        async def both_follow_the_taps() -> bool:
            return slow[1].types == quick[1].types == frozenset({READ})

        await eventually(both_follow_the_taps)
        await asyncio.sleep(0.3)
    assert event_ids(taps) == sorted(e["id"] for e in sent)


async def test_each_check_chooses_the_filter_and_where_to_follow_from() -> None:
    log: dict[str, Any] = {"head": 10, "wanted": []}

    async def head() -> int:
        return int(log["head"])

    async def wanted_now() -> list[str]:
        return list(log["wanted"])

    wanted = WantedTypes(head, wanted_now)
    # From a saved checkpoint, nothing wanted: the checkpoint may move up to the head.
    assert await wanted.check(4) == Check(10, changed=False)
    assert wanted.nothing and wanted.safe(10) == 10
    # An endpoint for payments: what it wants is after the head read before.
    log.update(head=15, wanted=[PAY])
    assert await wanted.check(10) == Check(10, changed=True)
    assert wanted.types == frozenset({PAY}) and wanted.safe(18) == 15
    log.update(head=25)
    assert await wanted.check(22) == Check(22, changed=False)
    assert wanted.safe(30) == 25
    # Wider: back to the confirmed head, though the follower had handled up to 30.
    log.update(head=40, wanted=[PAY, READ, "not a type"])
    assert await wanted.check(30) == Check(25, changed=True)
    assert wanted.types == frozenset({PAY, READ}) and wanted.safe(30) == 30
    # Narrower: on from where it is.
    log.update(head=45, wanted=[READ])
    assert await wanted.check(42) == Check(42, changed=True)
    log.update(head=50, wanted=[READ, "*"])
    assert await wanted.check(46) == Check(45, changed=True)
    assert wanted.types is None
    log.update(head=60, wanted=[])
    assert await wanted.check(55) == Check(60, changed=True)
    assert wanted.nothing and wanted.safe(60) == 60
    log.update(head=61, wanted=[f"X_T{n}" for n in range(MAX_TYPES + 1)])
    assert await wanted.check(60) == Check(60, changed=True)
    assert wanted.types is None  # so many that following everything is simpler

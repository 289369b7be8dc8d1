"""``events.subscribe``: following the log, and resuming after every kind of drop.

A real connection drops mid-line; the fake cuts its answer part way through an event's
line and breaks, and the tests check what the subscriber yields and asks for next.
"""

from __future__ import annotations

import httpx
import pytest

from sticky_sdk import APIConnectionError, NotFoundError
from tests.sdk.conftest import collect
from tests.sdk.events_fake import Body, Kit, line, take
from tests.sdk.fake_platform import problem


async def test_subscribe_resumes_after_drops_without_repeats_or_gaps(kit: Kit) -> None:
    for number in range(6):
        kit.fake.add("SESSION_READ" if number != 3 else "CHECK_IN")
    kit.fake.drops = [2, 0, 1]  # cut after 2 events, then at once, then after 1
    sticky = kit.client()
    events = await take(sticky.events.subscribe(after=1, type="SESSION_READ"), 4)
    assert [e.position for e in events] == [2, 3, 5, 6]
    connections = kit.sent("GET", "/v1/events/subscribe")
    assert [r.url.params["after"] for r in connections] == ["1", "3", "3", "5"]
    assert all(r.url.params["type"] == "SESSION_READ" for r in connections)
    assert all(r.headers["accept"] == "application/x-ndjson" for r in connections)
    # Backoff grows while no event arrives, and starts over after one.
    assert len(kit.sleeps) == 3 and kit.sleeps[1] > kit.sleeps[0] and kit.sleeps[2] < 0.6


async def test_subscribe_never_yields_an_event_twice(kit: Kit) -> None:
    for _ in range(3):
        kit.fake.add()
    replays = iter([[1, 2], [1, 2, 3]])  # a platform that re-sends events already seen

    def handler(request: httpx.Request) -> httpx.Response:
        chunks = [line(kit.fake.log[p - 1]) for p in next(replays)]
        return httpx.Response(200, stream=Body(chunks))

    events = await take(kit.client(handler).events.subscribe(), 3)
    assert [e.position for e in events] == [1, 2, 3]


async def test_subscribe_starts_from_a_named_subscription(kit: Kit) -> None:
    kit.fake.add()
    kit.fake.drops = [1]
    events = await take(kit.client().events.subscribe(subscription="receipts"), 1)
    assert events[0].position == 1
    first = kit.sent("GET", "/v1/events/subscribe")[0]
    assert dict(first.url.params) == {"subscription": "receipts"}


async def test_subscribe_gives_up_after_max_reconnects_and_raises_refusals(kit: Kit) -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused")

    sticky = kit.client(down, max_retries=0)
    with pytest.raises(APIConnectionError, match="refused"):
        await collect(sticky.events.subscribe(max_reconnects=2))
    assert len(kit.sleeps) == 2
    kit.sleeps.clear()
    gone = kit.client(lambda request: problem(404, "not-found"))
    with pytest.raises(NotFoundError):
        await collect(gone.events.subscribe())
    assert kit.sleeps == []


async def test_subscribe_reconnects_after_a_server_error(kit: Kit) -> None:
    kit.fake.add()
    answers = [problem(500, "internal-error")]

    def handler(request: httpx.Request) -> httpx.Response:
        return answers.pop(0) if answers else kit.fake(request)

    events = await take(kit.client(handler, max_retries=0).events.subscribe(), 1)
    assert events[0].position == 1 and len(kit.sleeps) == 1


async def test_subscribe_reconnects_when_the_answer_ends_cleanly(kit: Kit) -> None:
    kit.fake.add()
    kit.fake.add()

    def handler(request: httpx.Request) -> httpx.Response:
        if len(kit.fake.requests) == 1:
            kit.fake.add()  # appended while the subscriber was reconnecting
        return kit.fake(request)

    events = await take(kit.client(handler).events.subscribe(), 3)
    assert [e.position for e in events] == [1, 2, 3]
    connections = kit.sent("GET", "/v1/events/subscribe")
    assert [r.url.params.get("after") for r in connections] == [None, "2"]
    with pytest.raises(APIConnectionError, match="2 times in a row"):
        await collect(kit.client().events.subscribe(after=3, max_reconnects=1))

"""``events`` and ``streams``: request shapes, parsing, pages, exports, errors.

Each test runs with both clients against :class:`FakeEvents` (docs/events.md as a handler).
"""

from __future__ import annotations

import io
import json
import pickle
import re
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest

from sticky_sdk import (
    APIConnectionError,
    Appended,
    ConflictError,
    DuplicateEventIdError,
    Event,
    NotFoundError,
    StatsRow,
    StickyError,
    WrongExpectedVersionError,
)
from tests.sdk.conftest import collect, run
from tests.sdk.events_fake import Body, FakeEvents, Kit
from tests.sdk.fake_platform import problem


def body(request: httpx.Request) -> Any:
    return json.loads(request.content)


# Appending.


async def test_create_sends_one_event_with_a_generated_id(kit: Kit) -> None:
    sticky = kit.client()
    when = datetime(2026, 12, 4, 16, 20, tzinfo=UTC)
    ack = await run(
        sticky.events.create(
            "SESSION_READ", thing_id="thg_1", custom_data={"city": "Leeds"}, created_at=when
        )
    )
    (request,) = kit.sent("POST", "/v1/events")
    (sent,) = body(request)
    assert re.fullmatch(r"evt_[0-9a-f]{32}", sent["id"])
    assert sent == {
        "id": sent["id"],
        "type": "SESSION_READ",
        "thingId": "thg_1",
        "customData": {"city": "Leeds"},
        "createdAt": "2026-12-04T16:20:00+00:00",
    }
    assert ack == Appended(id=sent["id"], position=1, stream=None, version=None, duplicate=False)
    assert request.headers["idempotency-key"]


async def test_a_retried_create_sends_the_same_id(kit: Kit) -> None:
    answers = [httpx.Response(502)]
    refused: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if answers:
            refused.append(request)
            return answers.pop(0)
        return kit.fake(request)

    ack = await run(kit.client(handler).events.create("X_DOOR_OPENED"))
    (accepted,) = kit.sent("POST", "/v1/events")
    assert body(refused[0]) == body(accepted) and body(accepted)[0]["id"] == ack.id
    assert len(kit.fake.log) == 1 and len(kit.sleeps) == 1


async def test_create_many_keeps_ids_and_order_and_acknowledges_duplicates(kit: Kit) -> None:
    sticky = kit.client()
    events = [
        {"type": "CHECK_IN", "id": "order-1-checkin", "session_id": "ses_1"},
        {"type": "X_DOOR_OPENED", "custom_data": {"door": 3}},
    ]
    first = await run(sticky.events.create_many(events))
    assert first[0].id == "order-1-checkin"
    assert [a.position for a in first] == [1, 2] and not any(a.duplicate for a in first)
    sent = body(kit.sent("POST", "/v1/events")[0])
    assert sent[0] == {"id": "order-1-checkin", "type": "CHECK_IN", "sessionId": "ses_1"}
    assert sent[1]["customData"] == {"door": 3} and sent[1]["id"].startswith("evt_")
    again = await run(sticky.events.create("CHECK_IN", id="order-1-checkin", session_id="ses_1"))
    assert again.duplicate and again.position == 1


async def test_bad_events_are_refused_before_sending(kit: Kit) -> None:
    sticky = kit.client()
    with pytest.raises(StickyError, match="no events"):
        await run(sticky.events.create_many([]))
    with pytest.raises(StickyError, match="Unknown event field"):
        await run(sticky.events.create_many([{"type": "CHECK_IN", "thingId": "thg_1"}]))
    with pytest.raises(StickyError, match="needs a type"):
        await run(sticky.events.create_many([{"thing_id": "thg_1"}]))
    with pytest.raises(StickyError, match="aware datetime"):
        await run(sticky.events.create("CHECK_IN", created_at=datetime(2026, 1, 1)))
    with pytest.raises(TypeError, match="Unknown event filter"):
        await collect(sticky.events.list(thingId="thg_1"))
    assert kit.fake.requests == []


async def test_the_new_conflicts_carry_their_details(kit: Kit) -> None:
    sticky = kit.client()
    await run(sticky.streams.append("payment-1", [{"type": "PAYMENT_CREATED"}]))
    with pytest.raises(WrongExpectedVersionError) as caught:
        await run(sticky.streams.append("payment-1", [{"type": "CHECK_IN"}], expected_version=-1))
    error = caught.value
    assert isinstance(error, ConflictError) and error.slug == "wrong-expected-version"
    assert (error.stream, error.expected_version, error.actual_version) == ("payment-1", -1, 0)
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.stream, copy.actual_version, str(copy)) == ("payment-1", 0, str(error))
    with pytest.raises(DuplicateEventIdError):
        await run(sticky.events.create("MESSAGE", id=kit.fake.log[0]["id"]))


# Streams.


async def test_streams_append_and_read_in_version_order(kit: Kit) -> None:
    sticky = kit.client()
    acks = await run(
        sticky.streams.append(
            "payment-7",
            [
                {"type": "PAYMENT_CREATED"},
                {"type": "SESSION_CART_PAY", "custom_data": {"total": 5}},
            ],
            expected_version=-1,
        )
    )
    assert [(a.stream, a.version) for a in acks] == [("payment-7", 0), ("payment-7", 1)]
    sent = body(kit.sent("POST", "/v1/streams/payment-7")[0])
    assert sent["expectedVersion"] == -1 and sent["events"][0]["type"] == "PAYMENT_CREATED"
    await run(sticky.streams.append("payment-7", [{"type": "SESSION_CART_REFUND"}]))
    assert "expectedVersion" not in body(kit.sent("POST", "/v1/streams/payment-7")[1])
    events = await collect(sticky.streams.read("payment-7"))
    assert [e.version for e in events] == [0, 1, 2]  # two pages of two
    later = await collect(sticky.streams.read("payment-7", after_version=0, limit=50))
    assert [e.version for e in later] == [1, 2]
    reads = kit.sent("GET", "/v1/streams/payment-7")
    assert [r.url.params.get("cursor") for r in reads[:2]] == [None, "2"]
    assert dict(reads[2].url.params) == {"limit": "50"}  # no afterVersion on the wire
    page = await run(sticky.streams.read_page("payment-7", limit=2))
    assert len(page) == 2 and page.has_more
    tail = await run(sticky.streams.read_page("payment-7", after_version=1, limit=2))
    assert len(tail) == 0 and tail.has_more  # a page of what came before, filtered out
    assert await collect(sticky.streams.read("payment-8")) == []
    with pytest.raises(StickyError, match="Unknown event field"):
        await run(sticky.streams.append("s", [{"type": "CHECK_IN", "stream": "t"}]))


# Reading.


async def test_list_follows_cursors_and_sends_filters(kit: Kit) -> None:
    for number in range(5):
        kit.fake.add("CHECK_IN" if number % 2 else "SESSION_READ", thingId="thg_1")
    sticky = kit.client()
    events = await collect(sticky.events.list())
    assert [e.position for e in events] == [1, 2, 3, 4, 5]
    assert [r.url.params.get("cursor") for r in kit.sent("GET", "/v1/events")] == [None, "2", "4"]
    kit.fake.requests.clear()
    since = datetime(2026, 12, 4, 17, 0, tzinfo=timezone(timedelta(hours=1)))
    checked = await collect(
        sticky.events.list(
            type=["CHECK_IN", "X_DOOR_OPENED"],
            thing_id="thg_1",
            created_from=since,
            after=1,
            limit=10,
        ),
    )
    assert [e.position for e in checked] == [2, 4]
    assert dict(kit.sent("GET", "/v1/events")[0].url.params) == {
        "type": "CHECK_IN,X_DOOR_OPENED",
        "thingId": "thg_1",
        "createdFrom": "2026-12-04T17:00:00+01:00",
        "after": "1",
        "limit": "10",
    }
    page = await run(sticky.events.list_page(limit=2, type="SESSION_READ"))
    assert page.next_cursor == "2" and [e.type for e in page] == ["SESSION_READ"] * 2


def test_an_event_is_read_whole() -> None:
    event = Event.from_json(
        FakeEvents().add(
            "SESSION_CART_PAY",
            customData={"total": 1250, "currency": "GBP"},
            paymentId="pay_1",
            stream="payment-1",
            version=3,
        ),
    )
    assert event.created_at == datetime(2026, 12, 4, 16, 20, 0, 123456, tzinfo=UTC)
    assert event.created_at.tzinfo is not None
    assert event.custom_data == {"total": 1250, "currency": "GBP"}
    assert (event.payment_id, event.stream, event.version) == ("pay_1", "payment-1", 3)
    assert event.federated_user_id is None and event.user_id == "usr_1"
    assert Event.from_json({**FakeEvents().add(), "customData": None}).custom_data == {}


async def test_stats(kit: Kit) -> None:
    sticky = kit.client()
    rows = await run(
        sticky.events.stats(["day", "type"], type="SESSION_READ", application_id="app_1")
    )
    assert rows == [StatsRow(count=2, total=0, day=date(2026, 12, 4), type="SESSION_READ")]
    params = dict(kit.sent("GET", "/v1/events/stats")[0].url.params)
    assert params == {"groupBy": "day,type", "type": "SESSION_READ", "applicationId": "app_1"}
    with pytest.raises(StickyError, match="group by"):
        await run(sticky.events.stats(["week"]))
    hourly = StatsRow.from_json({"hour": "2026-12-04T16:00:00Z", "count": 1, "total": 5})
    assert hourly.hour == datetime(2026, 12, 4, 16, tzinfo=UTC)


# Exporting.


def _four_events(fake: FakeEvents) -> None:
    for number in range(4):
        fake.add("CHECK_IN", customData={"n": number, "note": 'say "hi",\nbye'})


async def test_export_to_a_path_streams_ndjson_and_csv(kit: Kit, tmp_path: Path) -> None:
    _four_events(kit.fake)
    sticky = kit.client()
    target = tmp_path / "events.ndjson"
    written = await run(sticky.events.export(target, after=1))
    request = kit.fake.requests[-1]
    assert request.headers["accept"] == "application/x-ndjson"
    assert "limit" not in request.url.params and request.url.params["after"] == "1"
    assert written == target.stat().st_size
    lines = target.read_bytes().splitlines()
    assert [Event.from_json(json.loads(text)).position for text in lines] == [2, 3, 4]
    table = tmp_path / "events.csv"
    await run(sticky.events.export(str(table), format="csv"))
    assert kit.fake.requests[-1].headers["accept"] == "text/csv"
    rows = table.read_text().splitlines()
    assert rows[0].startswith("id,position,type,userId,") and len(rows) == 5


async def test_export_writes_each_chunk_as_it_arrives(kit: Kit) -> None:
    _four_events(kit.fake)

    class Recorder(io.BytesIO):
        progress: list[int] = []

        def write(self, data: Any) -> int:
            assert kit.fake.last_body is not None
            self.progress.append(kit.fake.last_body.sent)  # chunks the platform had sent
            return super().write(data)

    out = Recorder()
    written = await run(kit.client().events.export(out))
    assert out.progress == [1, 2, 3, 4] and written == len(out.getvalue())


async def test_export_without_a_file_iterates(kit: Kit) -> None:
    _four_events(kit.fake)
    sticky = kit.client()
    events = await collect(await run(sticky.events.export(type="CHECK_IN")))
    assert [e.custom_data["n"] for e in events] == [0, 1, 2, 3]
    lines = await collect(await run(sticky.events.export(format="csv")))
    assert lines[0].split(",")[:3] == ["id", "position", "type"] and len(lines) == 5
    with pytest.raises(StickyError, match="ndjson"):
        await run(sticky.events.export(format="xml"))


async def test_a_failed_export_leaves_no_partial_file(kit: Kit, tmp_path: Path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, stream=Body([b'{"position": 1}\n'], fail=True))

    target = tmp_path / "events.ndjson"
    with pytest.raises(APIConnectionError, match="reset"):
        await run(kit.client(handler).events.export(target))
    assert not target.exists()
    with pytest.raises(NotFoundError):
        await run(kit.client(lambda r: problem(404, "not-found")).events.export(target))

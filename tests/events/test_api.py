"""The events API: appending, reading, exports, streams, stats and who may see what."""

from __future__ import annotations

import asyncio
import csv
import io
import re
from pathlib import Path
from typing import Any

import orjson
import pytest

from sticky.events.store import writer
from sticky.kernel.settings import Settings
from tests.events.api_support import migrated, problem, running_events

ANN, BEA = "usr_ann", "usr_bea"


@pytest.fixture
async def events_db(database_url: str) -> str:
    return await migrated(database_url)


async def test_append_then_read_with_filters(settings: Settings, events_db: str) -> None:
    async with running_events(settings, events_db) as ev:
        done = await ev.append(
            ANN,
            {"type": "SESSION_READ", "thingId": "thg_1", "customData": {"city": "Leeds"}},
            {"type": "CHECK_IN", "thingId": "thg_2", "applicationId": "app_1"},
            {"type": "X_DOOR_OPENED", "id": "door-1", "createdAt": "2026-01-02T03:04:05Z"},
        )
        assert [d["duplicate"] for d in done] == [False, False, False]
        assert done[2]["id"] == "door-1"
        positions = [d["position"] for d in done]
        assert positions == sorted(positions)

        page = await ev.read(ANN)
        assert [e["type"] for e in page["data"]] == ["SESSION_READ", "CHECK_IN", "X_DOOR_OPENED"]
        first = page["data"][0]
        assert list(first) == [
            "id", "position", "type", "userId", "applicationId", "thingId", "sessionId",
            "paymentId", "federatedUserId", "customData", "createdAt", "stream", "version",
        ]  # fmt: skip
        assert first["userId"] == ANN and first["customData"] == {"city": "Leeds"}
        assert page["data"][2]["createdAt"] == "2026-01-02T03:04:05.000000Z"
        assert page["hasMore"] is False and page["nextCursor"] is None

        assert [e["thingId"] for e in (await ev.read(ANN, thingId="thg_2"))["data"]] == ["thg_2"]
        both = await ev.read(ANN, type="CHECK_IN,X_DOOR_OPENED")
        assert [e["type"] for e in both["data"]] == ["CHECK_IN", "X_DOOR_OPENED"]
        repeated = await ev.read(ANN, type=["SESSION_READ", "CHECK_IN"])
        assert len(repeated["data"]) == 2
        after = await ev.read(ANN, after=positions[1])
        assert [e["id"] for e in after["data"]] == ["door-1"]
        old = await ev.read(ANN, createdTo="2026-06-01T00:00:00Z")
        assert [e["id"] for e in old["data"]] == ["door-1"]
        recent = await ev.read(ANN, createdFrom="2026-06-01T00:00:00Z")
        assert len(recent["data"]) == 2


async def test_pages_follow_the_cursor(settings: Settings, events_db: str) -> None:
    async with running_events(settings, events_db) as ev:
        await ev.append(ANN, *({"type": "TO_DO", "customData": {"n": n}} for n in range(25)))
        seen: list[int] = []
        params: dict[str, Any] = {"limit": 10}
        pages = 0
        while True:
            page = await ev.read(ANN, **params)
            pages += 1
            seen += [e["customData"]["n"] for e in page["data"]]
            if not page["hasMore"]:
                break
            params["cursor"] = page["nextCursor"]
        assert seen == list(range(25)) and pages == 3


async def test_exports_stream_every_event(settings: Settings, events_db: str) -> None:
    async with running_events(settings, events_db) as ev:
        await ev.append(
            ANN,
            *(
                {"type": "SESSION_READ", "thingId": f"thg_{n}", "customData": {"n": n, "s": 'a,"b'}}
                for n in range(1500)
            ),
        )
        await ev.append(BEA, {"type": "SESSION_READ"})
        headers = {**ev.signer.owner(ANN), "Accept": "application/x-ndjson"}
        ndjson = await ev.client.get("/v1/events", headers=headers)
        assert ndjson.status_code == 200
        assert ndjson.headers["content-type"].startswith("application/x-ndjson")
        lines = ndjson.content.splitlines()
        records = [orjson.loads(line) for line in lines]
        assert [r["customData"]["n"] for r in records] == list(range(1500))
        assert {r["userId"] for r in records} == {ANN}

        headers["Accept"] = "text/csv"
        answer = await ev.client.get("/v1/events", headers=headers, params={"type": "SESSION_READ"})
        assert answer.headers["content-type"].startswith("text/csv")
        rows = list(csv.reader(io.StringIO(answer.text)))
        assert rows[0][:3] == ["id", "position", "type"] and len(rows[0]) == 13
        assert len(rows) == 1501
        assert [orjson.loads(row[9])["n"] for row in rows[1:]] == list(range(1500))
        assert rows[1][5] == "thg_0" and rows[1][6] == ""  # null is an empty cell


async def test_streams_and_expected_versions(settings: Settings, events_db: str) -> None:
    async with running_events(settings, events_db) as ev:
        url = "/v1/streams/payment-1"
        owner = ev.signer.owner(ANN)
        created = await ev.client.post(
            url,
            json={"expectedVersion": -1, "events": [{"type": "PAYMENT_CREATED"}]},
            headers=owner,
        )
        assert created.status_code == 201, created.text
        assert created.json()["data"][0]["version"] == 0
        paid = await ev.client.post(
            url,
            json={
                "expectedVersion": 0,
                "events": [
                    {"type": "SESSION_CART_PAY", "customData": {"total": 500}},
                    {"type": "SESSION_CART_REFUND"},
                ],
            },
            headers=owner,
        )
        assert [d["version"] for d in paid.json()["data"]] == [1, 2]
        stale = await ev.client.post(
            url, json={"expectedVersion": 0, "events": [{"type": "MESSAGE"}]}, headers=owner
        )
        body = problem(stale, 409, "wrong-expected-version")
        assert (body["stream"], body["expectedVersion"], body["actualVersion"]) == (
            "payment-1",
            0,
            2,
        )
        stream = await ev.client.get(url, params={"limit": 2}, headers=owner)
        assert [e["version"] for e in stream.json()["data"]] == [0, 1]
        rest = await ev.client.get(
            url, params={"cursor": stream.json()["nextCursor"]}, headers=owner
        )
        assert [e["type"] for e in rest.json()["data"]] == ["SESSION_CART_REFUND"]
        none = await ev.client.get("/v1/streams/payment-2", headers=owner)
        assert none.json() == {"data": [], "hasMore": False, "nextCursor": None}
        assert len(await ev.everything()) == 3


async def test_retries_are_acknowledged_and_reused_ids_refused(
    settings: Settings, events_db: str
) -> None:
    async with running_events(settings, events_db) as ev:
        event = {"type": "MESSAGE", "id": "msg-1", "customData": {"text": "hi"}}
        first = await ev.append(ANN, event)
        again = await ev.append(ANN, event)
        assert again[0]["duplicate"] is True and again[0]["position"] == first[0]["position"]
        changed = await ev.client.post(
            "/v1/events",
            json=[{"type": "MESSAGE"}, {**event, "customData": {"text": "bye"}}],
            headers=ev.signer.owner(ANN),
        )
        problem(changed, 409, "duplicate-event-id")
        assert len(await ev.everything()) == 1  # the batch's first event was not written


async def test_only_the_ids_callers_chose_are_looked_up(
    settings: Settings, events_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    looked_up: list[str] = []
    lookups = writer._lookups

    def noted(pairs: Any) -> list[tuple[str, list[str]]]:
        found = lookups(pairs)
        looked_up.extend(value for _, chunk in found for value in chunk)
        return found

    monkeypatch.setattr(writer, "_lookups", noted)
    async with running_events(settings, events_db) as ev:
        mine = {"type": "MESSAGE", "id": "msg-mine"}
        done = await ev.append(ANN, {"type": "CHECK_IN"}, mine, {"type": "CHECK_IN"})
        # The generated ids (102 random bits each) cannot be stored yet: no lookup for them.
        generated = {d["id"] for d in done} - {"msg-mine"}
        assert "msg-mine" in looked_up
        assert len(generated) == 2 and not generated & set(looked_up)
        again = await ev.append(ANN, mine)
        assert again[0]["duplicate"] is True and again[0]["position"] == done[1]["position"]
        assert len(await ev.everything()) == 3


async def test_generated_ids_start_with_the_time_they_were_stored(
    settings: Settings, events_db: str
) -> None:
    async with running_events(settings, events_db) as ev:
        first = await ev.append(ANN, {"type": "CHECK_IN"}, {"type": "CHECK_IN"})
        await asyncio.sleep(0.002)  # the next millisecond
        second = await ev.append(ANN, {"type": "CHECK_IN"})
        ids = [d["id"] for d in first + second]
        assert all(re.fullmatch(r"evt_[0-9a-km-z]{29}", event_id) for event_id in ids)
        assert len(set(ids)) == 3
        assert max(ids[:2]) < ids[2]  # a later batch's ids sort after an earlier one's


async def test_stats_come_from_the_projection(settings: Settings, events_db: str) -> None:
    async with running_events(settings, events_db) as ev:
        await ev.append(
            ANN,
            {"type": "SESSION_CART_PAY", "customData": {"total": 1250, "currency": "GBP"}},
            {"type": "SESSION_CART_PAY", "customData": {"total": 750, "currency": "GBP"}},
            {"type": "SESSION_READ", "thingId": "thg_1"},
        )
        await ev.append(BEA, {"type": "SESSION_CART_PAY", "customData": {"total": 99}})
        answer = await ev.client.get(
            "/v1/events/stats", params={"groupBy": "type"}, headers=ev.signer.owner(ANN)
        )
        assert answer.status_code == 200, answer.text
        rows = {row["type"]: (row["count"], row["total"]) for row in answer.json()["data"]}
        assert rows == {"SESSION_CART_PAY": (2, 2000), "SESSION_READ": (1, 0)}
        by_day = await ev.client.get(
            "/v1/events/stats", params={"groupBy": "day"}, headers=ev.signer.owner(ANN)
        )
        [day] = by_day.json()["data"]
        assert day["count"] == 3 and day["total"] == 2000 and len(day["day"]) == 10
        bad = await ev.client.get(
            "/v1/events/stats", params={"groupBy": "week"}, headers=ev.signer.owner(ANN)
        )
        problem(bad, 422, "validation-error")


async def test_checkpoints_are_for_services(settings: Settings, events_db: str) -> None:
    async with running_events(settings, events_db) as ev:
        url = "/v1/events/subscriptions/receipts"
        service = ev.signer.service("api")
        new = await ev.client.get(url, headers=service)
        assert new.json() == {"name": "receipts", "position": 0}
        saved = await ev.client.put(url, json={"position": 42}, headers=service)
        assert saved.json() == {"name": "receipts", "position": 42}
        assert (await ev.client.get(url, headers=service)).json()["position"] == 42
        problem(await ev.client.get(url, headers=ev.signer.owner(ANN)), 403, "insufficient-scope")
        problem(
            await ev.client.put(url, json={"position": -1}, headers=service),
            422,
            "validation-error",
        )


async def test_services_name_the_user_and_read_across_users(
    settings: Settings, events_db: str
) -> None:
    async with running_events(settings, events_db) as ev:
        service = ev.signer.service("api")
        unnamed = await ev.client.post("/v1/events", json=[{"type": "TO_DO"}], headers=service)
        body = problem(unnamed, 422, "validation-error")
        assert body["errors"][0]["field"] == "0.userId"
        named = await ev.client.post(
            "/v1/events",
            json=[{"type": "TO_DO", "userId": ANN}, {"type": "TO_DO", "userId": BEA}],
            headers=service,
        )
        assert named.status_code == 201
        assert {e["userId"] for e in await ev.everything()} == {ANN, BEA}
        only_bea = await ev.client.get("/v1/events", params={"userId": BEA}, headers=service)
        assert [e["userId"] for e in only_bea.json()["data"]] == [BEA]
        assert [e["userId"] for e in (await ev.read(ANN))["data"]] == [ANN]


async def test_ready_only_when_migrated(settings: Settings, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.sqlite3'}"
    async with running_events(settings, url) as ev:
        answer = await ev.client.get("/readyz")
        assert answer.status_code == 503
        assert answer.headers["content-type"] == "application/problem+json"
        await migrated(url)
        # Ready also needs the export worker listening, which takes a moment to start.
        deadline = asyncio.get_running_loop().time() + 15
        ready = await ev.client.get("/readyz")
        while ready.status_code != 200 and asyncio.get_running_loop().time() < deadline:
            assert ready.json()["checks"]["database"]["ok"] is True, ready.text
            await asyncio.sleep(0.05)
            ready = await ev.client.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert ready.json()["checks"]["database"]["ok"] is True
        assert ready.json()["checks"]["exports"]["ok"] is True

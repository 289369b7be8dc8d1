"""Tenancy and permissions: whose events a caller sees, and who may record them."""

from __future__ import annotations

import pytest

from sticky.kernel.settings import Settings
from tests.events.api_support import migrated, problem, running_events

ANN, BEA = "usr_ann", "usr_bea"


@pytest.fixture
async def events_db(database_url: str) -> str:
    return await migrated(database_url)


async def test_a_user_never_sees_another_users_events(settings: Settings, events_db: str) -> None:
    async with running_events(settings, events_db) as ev:
        ann = await ev.append(
            ANN,
            {"type": "SESSION_CART_PAY", "thingId": "thg_a", "customData": {"total": 100}},
            {"type": "X_SECRET", "stream": "payment-a", "applicationId": "app_a"},
        )
        bea = ev.signer.owner(BEA)
        get = ev.client.get
        for params in (
            {},
            {"thingId": "thg_a"},
            {"applicationId": "app_a"},
            {"type": "X_SECRET"},
            {"after": 0},
        ):
            assert (await get("/v1/events", params=params, headers=bea)).json()["data"] == []
        ndjson = await get("/v1/events", headers={**bea, "Accept": "application/x-ndjson"})
        assert ndjson.content == b""
        stats = await get("/v1/events/stats", params={"groupBy": "type"}, headers=bea)
        assert stats.json()["data"] == []
        assert (await get("/v1/streams/payment-a", headers=bea)).json()["data"] == []
        # Naming Ann is refused, not answered.
        for url in ("/v1/events", "/v1/events/stats", "/v1/streams/payment-a"):
            problem(await get(url, params={"userId": ANN}, headers=bea), 403, "insufficient-scope")
        appended_as_ann = await ev.client.post(
            "/v1/events", json=[{"type": "TO_DO", "userId": ANN}], headers=bea
        )
        problem(appended_as_ann, 403, "insufficient-scope")
        # Bea's own stream of the same name is hers alone.
        mine = await ev.client.post(
            "/v1/streams/payment-a",
            json={"expectedVersion": -1, "events": [{"type": "PAYMENT_CREATED"}]},
            headers=bea,
        )
        assert mine.status_code == 201, mine.text
        assert [e["id"] for e in (await ev.read(ANN))["data"]] == [a["id"] for a in ann]


async def test_the_public_key_cannot_read_or_record_events(
    settings: Settings, events_db: str
) -> None:
    async with running_events(settings, events_db) as ev:
        public = ev.signer.public(ANN)
        for method, url, body in (
            ("GET", "/v1/events", None),
            ("POST", "/v1/events", [{"type": "TO_DO"}]),
            ("GET", "/v1/events/stats", None),
            ("GET", "/v1/events/subscribe", None),
            ("GET", "/v1/streams/s-1", None),
            ("POST", "/v1/streams/s-1", {"events": [{"type": "TO_DO"}]}),
        ):
            answer = await ev.client.request(method, url, json=body, headers=public)
            problem(answer, 403, "insufficient-scope")
        problem(await ev.client.get("/v1/events"), 401, "missing-credentials")
        assert await ev.everything() == []


async def test_team_members_need_permissions_and_are_attributed(
    settings: Settings, events_db: str
) -> None:
    async with running_events(settings, events_db) as ev:
        reader = ev.signer.member(ANN, "tm_reader", "events:read")
        writer = ev.signer.member(ANN, "tm_writer", "events:write", "events:read")
        refused = await ev.client.post("/v1/events", json=[{"type": "TO_DO"}], headers=reader)
        problem(refused, 403, "insufficient-permission")
        nobody = ev.signer.member(ANN, "tm_none")
        problem(await ev.client.get("/v1/events", headers=nobody), 403, "insufficient-permission")

        written = await ev.client.post(
            "/v1/events", json=[{"type": "TO_DO", "customData": {"t": "call"}}], headers=writer
        )
        assert written.status_code == 201, written.text
        await ev.append(ANN, {"type": "MESSAGE"})
        page = await ev.client.get("/v1/events", headers=reader)
        assert [(e["type"], e["userId"], e["federatedUserId"]) for e in page.json()["data"]] == [
            ("TO_DO", ANN, "tm_writer"),
            ("MESSAGE", ANN, None),
        ]
        theirs = await ev.client.get(
            "/v1/events", params={"federatedUserId": "tm_writer"}, headers=reader
        )
        assert [e["type"] for e in theirs.json()["data"]] == ["TO_DO"]
        # A member of Ann's team reads Ann's events only.
        other = ev.signer.member(BEA, "tm_bea", "events:read")
        assert (await ev.client.get("/v1/events", headers=other)).json()["data"] == []

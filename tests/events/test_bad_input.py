"""Bad input is a clear 4xx problem, and nothing of it is written."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from sticky.kernel.settings import Settings
from tests.events.api_support import migrated, problem, running_events


@pytest.fixture
async def events_db(tmp_path: Path) -> str:
    """SQLite only: validation happens before the store is asked anything."""
    return await migrated(f"sqlite:///{tmp_path / 'events.sqlite3'}")


@pytest.mark.parametrize(
    ("body", "field", "code"),
    [
        ([{"type": "SESION_READ"}], "0.type", "value_error"),
        ([{"type": "x_lower"}], "0.type", "value_error"),
        ([{"type": "TO_DO"}, {"type": "TO_DO"}, {"type": "TO_DO"}, {}], "3.type", "required"),
        ([{"type": "TO_DO", "customData": [1, 2]}], "0.customData", "dict_type"),
        ([{"type": "TO_DO", "customData": "x"}], "0.customData", "dict_type"),
        ([{"type": "TO_DO", "thingId": 12}], "0.thingId", "string_type"),
        ([{"type": "TO_DO", "thingId": "th\u0000ng"}], "0.thingId", "string_pattern_mismatch"),
        (
            [{"type": "TO_DO", "createdAt": "yesterday"}],
            "0.createdAt",
            "datetime_from_date_parsing",
        ),
        ([{"type": "TO_DO", "id": "has space"}], "0.id", "string_pattern_mismatch"),
        ([{"type": "TO_DO", "stream": "/etc"}], "0.stream", "string_pattern_mismatch"),
        ([{"type": "TO_DO", "expectedVersion": -2}], "0.expectedVersion", "greater_than_equal"),
        ([{"type": "TO_DO", "federatedUserId": "tm_me"}], "0.federatedUserId", "unknown_field"),
        ([{"type": "TO_DO", "position": 1}], "0.position", "unknown_field"),
        ([{"type": "TO_DO", "customData": {"n": 10**30}}], "0.customData", "value_error"),
        ([], "body", "too_short"),
        ({"type": "TO_DO"}, "body", "list_type"),
        ([{"type": "TO_DO"}] * 10_001, "body", "too_long"),
    ],
)
async def test_bad_events_are_refused_by_field(
    settings: Settings, events_db: str, body: Any, field: str, code: str
) -> None:
    async with running_events(settings, events_db) as ev:
        answer = await ev.client.post("/v1/events", json=body, headers=ev.signer.owner("usr_a"))
        errors = problem(answer, 422, "validation-error")["errors"]
        assert (errors[0]["field"], errors[0]["code"]) == (field, code), errors
        assert await ev.everything() == []


async def test_oversized_requests_write_nothing(settings: Settings, events_db: str) -> None:
    async with running_events(settings, events_db) as ev:
        owner = ev.signer.owner("usr_a")
        huge_batch = orjson.dumps([{"type": "SESSION_READ", "thingId": "thg_1"}] * 100_001)
        answer = await ev.client.post(
            "/v1/events", content=huge_batch, headers={**owner, "Content-Type": "application/json"}
        )
        assert answer.status_code in (413, 422), answer.text
        assert answer.headers["content-type"] == "application/problem+json"

        big_data = [{"type": "TO_DO", "customData": {"blob": "x" * 10_000_000}}]
        answer = await ev.client.post("/v1/events", json=big_data, headers=owner)
        errors = problem(answer, 422, "validation-error")["errors"]
        assert errors[0]["field"] == "0.customData" and "65536" in errors[0]["message"]

        over_limit = b"[" + b" " * (17 * 1024 * 1024) + b"]"
        answer = await ev.client.post(
            "/v1/events", content=over_limit, headers={**owner, "Content-Type": "application/json"}
        )
        problem(answer, 413, "payload-too-large")
        assert await ev.everything() == []


async def test_bad_queries_are_refused(settings: Settings, events_db: str) -> None:
    async with running_events(settings, events_db) as ev:
        owner = ev.signer.owner("usr_a")
        for cursor in ("nonsense", "cDE", "p12", "%%%"):
            answer = await ev.client.get("/v1/events", params={"cursor": cursor}, headers=owner)
            if answer.status_code != 200:
                problem(answer, 400, "invalid-cursor")
        problem(
            await ev.client.get("/v1/events", params={"cursor": "nonsense"}, headers=owner),
            400,
            "invalid-cursor",
        )
        for params, field in (
            ({"type": "NOPE"}, "type"),
            ({"limit": 0}, "limit"),
            ({"limit": 1001}, "limit"),
            ({"after": -1}, "after"),
            ({"createdFrom": "2026-01-01T00:00:00"}, "createdFrom"),
        ):
            answer = await ev.client.get("/v1/events", params=params, headers=owner)
            errors = problem(answer, 422, "validation-error")["errors"]
            assert errors[0]["field"].endswith(field), errors
        answer = await ev.client.get("/v1/streams/bad%20name", headers=owner)
        problem(answer, 422, "validation-error")


BEYOND_64_BITS = 2**63
CALENDAR_ENDS = ("0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "9999-12-31T23:59:59Z")


async def test_numbers_and_times_no_store_holds_are_refused(
    settings: Settings, database_url: str
) -> None:
    # Both backends: these failed in the store (integer or date overflow), as 500s.
    async with running_events(settings, await migrated(database_url)) as ev:
        owner, service = ev.signer.owner("usr_a"), ev.signer.service()
        event = {"type": "TO_DO", "stream": "s1"}
        for body, field in (
            ([{**event, "expectedVersion": BEYOND_64_BITS}], "0.expectedVersion"),
            *(([{**event, "createdAt": moment}], "0.createdAt") for moment in CALENDAR_ENDS),
        ):
            answer = await ev.client.post("/v1/events", json=body, headers=owner)
            errors = problem(answer, 422, "validation-error")["errors"]
            assert errors[0]["field"] == field, errors
        answer = await ev.client.post(
            "/v1/streams/s1",
            json={"expectedVersion": 10**30, "events": [{"type": "TO_DO"}]},
            headers=owner,
        )
        problem(answer, 422, "validation-error")
        answer = await ev.client.put(
            "/v1/events/subscriptions/reactor",
            json={"position": BEYOND_64_BITS},
            headers=service,
        )
        problem(answer, 422, "validation-error")

        forged = base64.urlsafe_b64encode(f"p{BEYOND_64_BITS}".encode()).decode().rstrip("=")
        for path in ("/v1/events", "/v1/streams/s1"):
            answer = await ev.client.get(path, params={"cursor": forged}, headers=owner)
            problem(answer, 400, "invalid-cursor")
        queries = [{"after": BEYOND_64_BITS}]
        queries += [
            {bound: moment} for bound in ("createdFrom", "createdTo") for moment in CALENDAR_ENDS
        ]
        for params in queries:
            for path, accept in (
                ("/v1/events", "application/json"),
                ("/v1/events", "application/x-ndjson"),
                ("/v1/events/stats", "application/json"),
            ):
                if path.endswith("stats") and "after" in params:
                    continue
                answer = await ev.client.get(
                    path, params=params, headers={**owner, "Accept": accept}
                )
                errors = problem(answer, 422, "validation-error")["errors"]
                assert errors[0]["field"].endswith(next(iter(params))), errors
        assert await ev.everything() == []


async def test_malformed_json_is_a_bad_request(settings: Settings, events_db: str) -> None:
    async with running_events(settings, events_db) as ev:
        answer = await ev.client.post(
            "/v1/events",
            content=b'[{"type": "TO_DO"',
            headers={**ev.signer.owner("usr_a"), "Content-Type": "application/json"},
        )
        problem(answer, 400, "malformed-json")
        lone_surrogate = await ev.client.post(
            "/v1/events",
            content=b'[{"type": "TO_DO", "customData": {"s": "\\ud800"}}]',
            headers={**ev.signer.owner("usr_a"), "Content-Type": "application/json"},
        )
        errors = problem(lone_surrogate, 422, "validation-error")["errors"]
        assert errors[0]["field"] == "0.customData"
        assert await ev.everything() == []


@pytest.mark.parametrize(
    "custom_data",
    [
        b'{"n": NaN}',
        b'{"n": [1, Infinity]}',
        b'{"deep": {"n": -Infinity}, "m": null}',
        b'{"n": 1e400}',
    ],
)
async def test_numbers_json_cannot_hold_are_refused_not_stored_changed(
    settings: Settings, events_db: str, custom_data: bytes
) -> None:
    # Python's parser takes these; orjson would have written them as null, and said 201.
    async with running_events(settings, events_db) as ev:
        answer = await ev.client.post(
            "/v1/events",
            content=b'[{"type": "TO_DO", "customData": {"fine": null}}, '
            + b'{"type": "TO_DO", "customData": '
            + custom_data
            + b"}]",
            headers={**ev.signer.owner("usr_a"), "Content-Type": "application/json"},
        )
        errors = problem(answer, 422, "validation-error")["errors"]
        assert (errors[0]["field"], errors[0]["code"]) == ("1.customData", "value_error"), errors
        assert "finite" in errors[0]["message"]
        assert await ev.everything() == []


async def test_a_body_that_is_not_a_batch_is_refused(settings: Settings, events_db: str) -> None:
    async with running_events(settings, events_db) as ev:
        headers = {**ev.signer.owner("usr_a"), "Content-Type": "application/json"}
        for body, status, slug in (
            (b"", 400, "missing-body"),
            (b"  ", 400, "missing-body"),
            (b'{"type": "TO_DO"}', 422, "validation-error"),
            (b"[]", 422, "validation-error"),
            (b"[1,]", 400, "malformed-json"),
        ):
            answer = await ev.client.post("/v1/events", content=body, headers=headers)
            problem(answer, status, slug)
        assert await ev.everything() == []
        spec = (await ev.client.get("/openapi.json")).json()
        schema = spec["paths"]["/v1/events"]["post"]["requestBody"]["content"]["application/json"]
        assert schema["schema"]["items"] == {"$ref": "#/components/schemas/EventIn"}
        assert "EventIn" in spec["components"]["schemas"]


async def test_an_unreachable_store_is_a_503_not_a_500(settings: Settings, tmp_path: Path) -> None:
    never_migrated = f"sqlite:///{tmp_path / 'empty.sqlite3'}"
    async with running_events(settings, never_migrated) as ev:
        answer = await ev.client.post(
            "/v1/events", json=[{"type": "TO_DO"}], headers=ev.signer.owner("usr_a")
        )
        body = problem(answer, 503, "unavailable")
        assert answer.headers["retry-after"] == "1"
        assert "nothing was written" in body["detail"]
        listed = await ev.client.get("/v1/events", headers=ev.signer.owner("usr_a"))
        assert listed.status_code == 503


async def test_appends_answer_the_same_on_their_fast_path(
    settings: Settings, events_db: str
) -> None:
    """Appends skip FastAPI's routing (docs/events.md): missing credentials, a body streamed
    past the limit without a declared length, and bad JSON get the answers every route
    gives, and the request is counted under its route."""
    async with running_events(settings, events_db) as ev:
        answer = await ev.client.post("/v1/events", json=[{"type": "TO_DO"}])
        problem(answer, 401, "missing-credentials")
        assert answer.headers["x-request-id"]

        async def streamed() -> AsyncIterator[bytes]:
            yield b"["
            for _ in range(17):
                yield b" " * (1024 * 1024)
            yield b"]"

        owner = {**ev.signer.owner("usr_a"), "Content-Type": "application/json"}
        answer = await ev.client.post("/v1/events", content=streamed(), headers=owner)
        problem(answer, 413, "payload-too-large")

        answer = await ev.client.post("/v1/events", content=b"[{]", headers=owner)
        problem(answer, 400, "malformed-json")
        answer = await ev.client.post("/v1/events", json=[{"type": "no such"}], headers=owner)
        problem(answer, 422, "validation-error")
        assert await ev.everything() == []

        appended = await ev.client.post("/v1/events", json=[{"type": "TO_DO"}], headers=owner)
        assert appended.status_code == 201, appended.text
        metrics = (await ev.client.get("/metrics")).text
        assert 'route="/v1/events"' in metrics and 'method="POST"' in metrics

"""The internal API: who may call it, what it accepts, and what it answers."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from sticky.kernel.settings import ConfigurationError, Settings
from sticky.mail.app import create_app
from tests.mail.conftest import QUIET, RunningMail, Signer, problem, running_mail, verify_email


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """SQLite only: the API does not depend on the backend, the store tests run on both."""
    return f"sqlite:///{tmp_path / 'mail.sqlite3'}"


async def outbox(mail: RunningMail) -> list[dict[str, Any]]:
    response = await mail.client.get("/internal/messages")
    assert response.status_code == 200
    data: list[dict[str, Any]] = response.json()["data"]
    return data


async def test_callers_need_a_service_token(mail_settings: Settings, signer: Signer) -> None:
    async with running_mail(mail_settings, signer, QUIET) as mail:
        url = "/internal/messages"
        anonymous = await mail.client.post(url, json=verify_email(), headers={"Authorization": ""})
        problem(anonymous, 401, "missing-credentials")
        forged = await mail.client.get(url, headers={"Authorization": "Bearer not.a.jwt"})
        problem(forged, 401, "invalid-token")
        for scope in ("user", "private"):
            refused = await mail.client.post(
                url, json=verify_email(), headers=signer.headers(scope)
            )
            body = problem(refused, 403, "insufficient-scope")
            assert "service" in body["detail"]
            listed = await mail.client.get(f"{url}/msg_x", headers=signer.headers(scope))
            problem(listed, 403, "insufficient-scope")
        assert await outbox(mail) == []


@pytest.mark.parametrize(
    ("body", "field", "code"),
    [
        ({**verify_email(), "template": "welcome"}, "template", "unknown"),
        (
            {**verify_email(), "data": {"name": "Ann", "token": "1"}},
            "data.link",
            "required",
        ),
        (
            {**verify_email(), "data": {**verify_email()["data"], "name": None}},
            "data.name",
            "required",
        ),
        ({**verify_email(), "to": "not-an-address"}, "to", "value_error"),
        ({**verify_email(), "to": "a@b"}, "to", "value_error"),
        ({**verify_email(), "cc": "eve@example.com"}, "cc", "unknown_field"),
        ({**verify_email(), "data": "name=Ann"}, "data", "dict_type"),
        ({**verify_email(), "idempotencyKey": ""}, "idempotencyKey", "string_too_short"),
        ({"template": "verify-email", "data": {}}, "to", "required"),
    ],
)
async def test_invalid_requests_are_refused_and_nothing_is_written(
    mail_settings: Settings, signer: Signer, body: dict[str, Any], field: str, code: str
) -> None:
    async with running_mail(mail_settings, signer, QUIET) as mail:
        refused = problem(await mail.send(**body), 422, "validation-error")
        assert {"field": field, "code": code}.items() <= refused["errors"][0].items(), refused
        assert await outbox(mail) == []


async def test_missing_data_names_every_missing_key(
    mail_settings: Settings, signer: Signer
) -> None:
    async with running_mail(mail_settings, signer, QUIET) as mail:
        response = await mail.send(to="ann@example.com", template="reset-password", data={})
        body = problem(response, 422, "validation-error")
        assert [e["field"] for e in body["errors"]] == [
            "data.name",
            "data.token",
            "data.link",
            "data.expiresInMinutes",
        ]
        assert "reset-password" in body["errors"][0]["message"]


async def test_malformed_missing_and_oversized_bodies(
    settings: Settings, mail_db: str, signer: Signer
) -> None:
    small = settings.model_copy(
        update={
            "mail_database_url": mail_db,
            "smtp_url": "smtp://127.0.0.1:9",
            "max_body_bytes": 2048,
        }
    )
    async with running_mail(small, signer, QUIET) as mail:
        url = "/internal/messages"
        json_headers = {"content-type": "application/json"}
        malformed = await mail.client.post(url, content=b'{"to": ', headers=json_headers)
        problem(malformed, 400, "malformed-json")
        empty = await mail.client.post(url, headers=json_headers)
        problem(empty, 400, "missing-body")
        huge = verify_email(data={"name": "x" * 5000, "token": "1", "link": "https://x.test"})
        problem(await mail.client.post(url, json=huge), 413, "payload-too-large")
        assert await outbox(mail) == []


async def test_any_json_data_is_accepted(mail_settings: Settings, signer: Signer) -> None:
    async with running_mail(mail_settings, signer, QUIET) as mail:
        data = {
            **verify_email()["data"],
            "huge": 2**80,
            "nested": {"list": [1.5, None, True, "ü"]},
        }
        first = await mail.send(**verify_email(data=data, idempotencyKey="odd"))
        assert first.status_code == 202, first.text
        assert (await mail.send(**verify_email(data=data, idempotencyKey="odd"))).status_code == 200


async def test_an_idempotency_key_answers_the_same_message(
    mail_settings: Settings, signer: Signer
) -> None:
    async with running_mail(mail_settings, signer, QUIET) as mail:
        first = await mail.send(**verify_email(idempotencyKey="verify:usr_1:1"))
        assert first.status_code == 202
        again = await mail.send(**verify_email(idempotencyKey="verify:usr_1:1"))
        assert again.status_code == 200
        assert again.json()["id"] == first.json()["id"]
        concurrent = await asyncio.gather(
            *(mail.send(**verify_email(idempotencyKey="verify:usr_2:1")) for _ in range(5))
        )
        assert sorted(r.status_code for r in concurrent) == [200, 200, 200, 200, 202]
        assert len({r.json()["id"] for r in concurrent}) == 1

        other = verify_email("zed@example.com", idempotencyKey="verify:usr_1:1")
        body = problem(await mail.send(**other), 409, "idempotency-key-reused")
        assert "verify:usr_1:1" in body["detail"]
        plain = [await mail.send(**verify_email()) for _ in range(2)]
        assert plain[0].json()["id"] != plain[1].json()["id"]
        assert len(await outbox(mail)) == 4


async def test_reading_the_outbox(mail_settings: Settings, signer: Signer) -> None:
    async with running_mail(mail_settings, signer, QUIET) as mail:
        ids = [
            (await mail.send(**verify_email(f"u{n}@example.com"))).json()["id"] for n in range(5)
        ]
        message = await mail.message(ids[0])
        assert message["to"] == "u0@example.com"
        assert message["status"] == "queued"
        assert set(message) == {
            "id",
            "to",
            "template",
            "subject",
            "status",
            "attempts",
            "lastError",
            "createdAt",
            "sentAt",
            "nextAttemptAt",
        }

        seen: list[str] = []
        cursor = None
        while True:
            params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
            page = (await mail.client.get("/internal/messages", params=params)).json()
            seen += [m["id"] for m in page["data"]]
            assert page["hasMore"] == (page["nextCursor"] is not None)
            if not page["hasMore"]:
                break
            cursor = page["nextCursor"]
        assert seen == list(reversed(ids))

        sent = await mail.client.get("/internal/messages", params={"status": "sent"})
        assert sent.json() == {"data": [], "hasMore": False, "nextCursor": None}
        bad_status = await mail.client.get("/internal/messages", params={"status": "lost"})
        problem(bad_status, 422, "validation-error")
        bad_limit = await mail.client.get("/internal/messages", params={"limit": 0})
        problem(bad_limit, 422, "validation-error")
        bad_cursor = await mail.client.get("/internal/messages", params={"cursor": "bm9wZQ"})
        problem(bad_cursor, 400, "invalid-cursor")
        problem(await mail.client.get("/internal/messages/msg_nope"), 404, "not-found")
        problem(await mail.client.get("/internal/messages/msg_nope/deliveries"), 404, "not-found")


async def test_ready_only_when_the_schema_is_at_head(
    settings: Settings, mail_settings: Settings, signer: Signer, tmp_path: Path
) -> None:
    async with running_mail(mail_settings, signer, QUIET) as mail:
        ready = await mail.client.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert ready.json()["checks"]["database"]["ok"] is True
        assert ready.json()["checks"]["delivery"]["ok"] is True
    fresh = mail_settings.model_copy(
        update={"mail_database_url": f"sqlite:///{tmp_path / 'unmigrated.sqlite3'}"}
    )
    async with running_mail(fresh, signer, QUIET) as mail:
        not_ready = await mail.client.get("/readyz")
        assert not_ready.status_code == 503
        assert "sticky migrate" in not_ready.json()["checks"]["database"]["detail"]


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("smtp_url", "http://mail.example.com", "smtp:// or smtps://"),
        ("smtp_url", "smtp://:25", "names no host"),
        ("smtp_url", "smtp://mail.example.com:99999", "port"),
        ("smtp_url", "smtp://u:hunter2@mail.example.com/path", "only a user"),
        ("mail_from", "Sticky", "STICKY_MAIL_FROM"),
    ],
)
def test_bad_mail_configuration_fails_at_startup(
    settings: Settings, field: str, value: str, says: str
) -> None:
    with pytest.raises(ConfigurationError) as caught:
        create_app(settings.model_copy(update={field: value}))
    assert says in str(caught.value)
    assert "hunter2" not in str(caught.value)

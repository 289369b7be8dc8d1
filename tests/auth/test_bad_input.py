"""Bad requests: each gets a clear problem, never a 500, and changes nothing."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from sticky.auth.app import create_app
from sticky.auth.store.tables import users
from sticky.kernel.migrations import upgrade
from sticky.kernel.settings import Settings
from tests.auth.support import PASSWORD, Account, auth_of, outbox, problem_slug, signed_in

ENDPOINTS = [
    "/v1/auth/sign-up",
    "/v1/auth/sign-in",
    "/v1/auth/verify-email",
    "/v1/auth/resend-verification",
    "/v1/auth/refresh",
    "/v1/auth/sign-out",
    "/v1/auth/password-reset",
    "/v1/auth/password-reset/confirm",
    "/v1/auth/service-token",
]


async def count_users(app: FastAPI) -> int:
    async with auth_of(app).store.transaction() as tx:
        count = await tx.conn.scalar(sa.select(sa.func.count()).select_from(users))
    return int(count or 0)


@pytest.mark.parametrize("path", ENDPOINTS)
async def test_malformed_json(client: httpx.AsyncClient, app: FastAPI, path: str) -> None:
    response = await client.post(
        path, content=b'{"email": "ada@', headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400, response.text
    assert problem_slug(response) == "malformed-json"


@pytest.mark.parametrize("path", ENDPOINTS)
async def test_missing_body(client: httpx.AsyncClient, path: str) -> None:
    response = await client.post(path, headers={"Content-Type": "application/json"})
    assert response.status_code == 400, response.text
    assert problem_slug(response) == "missing-body"


async def test_wrong_types_and_unknown_fields(client: httpx.AsyncClient, app: FastAPI) -> None:
    response = await client.post(
        "/v1/auth/sign-up",
        json={"name": 42, "email": "not an email", "password": ["x"], "admin": True},
    )
    assert response.status_code == 422
    assert problem_slug(response) == "validation-error"
    errors = {e["field"]: e["code"] for e in response.json()["errors"]}
    assert set(errors) == {"name", "email", "password", "admin"}
    assert errors["admin"] == "unknown_field"
    assert errors["name"] == "string_type"

    missing = await client.post("/v1/auth/sign-in", json={"email": "ada@example.com"})
    assert missing.status_code == 422
    assert missing.json()["errors"] == [
        {"field": "password", "message": "is required", "code": "required"}
    ]
    not_an_object = await client.post("/v1/auth/refresh", json=["rt_x"])
    assert not_an_object.status_code == 422
    assert await count_users(app) == 0


async def test_forms_are_validated_too(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/auth/verify-email", data={"token": "t", "extra": "x"})
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/html")
    json_unknown = await client.post("/v1/auth/verify-email", json={"token": "t", "extra": "x"})
    assert json_unknown.status_code == 422
    assert json_unknown.json()["errors"][0]["field"] == "extra"


async def test_bodies_that_are_not_json(client: httpx.AsyncClient, app: FastAPI) -> None:
    body = {"name": "Ada", "email": "ada@example.com", "password": PASSWORD}
    for content_type, content in (
        ("text/plain", b"name=Ada"),
        ("application/x-www-form-urlencoded", b"name=Ada&email=ada%40example.com"),
        ("application/octet-stream", json.dumps(body).encode()),
    ):
        response = await client.post(
            "/v1/auth/sign-up", content=content, headers={"Content-Type": content_type}
        )
        assert response.status_code == 422, (content_type, response.text)
        assert response.headers["content-type"] == "application/problem+json"
    assert await count_users(app) == 0


async def test_oversized_bodies_are_refused(client: httpx.AsyncClient, app: FastAPI) -> None:
    limit = auth_of(app).settings.max_body_bytes
    body = {"name": "Ada", "email": "ada@example.com", "password": "x" * (limit + 1)}
    response = await client.post("/v1/auth/sign-up", json=body)
    assert response.status_code == 413
    assert problem_slug(response) == "payload-too-large"
    assert await count_users(app) == 0
    assert await outbox(app, "ada@example.com") == []


async def test_over_long_names_and_passwords(client: httpx.AsyncClient, app: FastAPI) -> None:
    long_name = await client.post(
        "/v1/auth/sign-up",
        json={"name": "x" * 201, "email": "ada@example.com", "password": PASSWORD},
    )
    assert long_name.status_code == 422
    assert long_name.json()["errors"][0]["field"] == "name"
    long_password = await client.post(
        "/v1/auth/sign-in", json={"email": "ada@example.com", "password": "x" * 5000}
    )
    assert long_password.status_code == 422
    assert await count_users(app) == 0


async def test_garbage_tokens_change_nothing(client: httpx.AsyncClient, account: Account) -> None:
    for path, body in (
        ("/v1/auth/verify-email", {"token": "nope"}),
        ("/v1/auth/password-reset/confirm", {"token": "nope", "password": "a new long passphrase"}),
    ):
        response = await client.post(path, json=body)
        assert response.status_code == 400
    for path in ("/v1/auth/refresh", "/v1/auth/sign-out"):
        response = await client.post(path, json={"refreshToken": "rt_forged"})
        assert response.status_code == 401
        assert problem_slug(response) == "invalid-refresh-token"
    still = await client.post("/v1/auth/refresh", json={"refreshToken": account.refresh_token})
    assert still.status_code == 200
    signed = await client.post(
        "/v1/auth/sign-in", json={"email": account.email, "password": PASSWORD}
    )
    assert signed.status_code == 200


@pytest.fixture
async def on_each_backend(
    auth_settings: Settings, database_url: str
) -> AsyncIterator[tuple[httpx.AsyncClient, FastAPI]]:
    settings = auth_settings.model_copy(update={"auth_database_url": database_url})
    await asyncio.to_thread(upgrade, "sticky.auth", database_url)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://auth.test") as c:
            yield c, app


async def test_text_no_store_holds_is_refused(
    on_each_backend: tuple[httpx.AsyncClient, FastAPI],
) -> None:
    # A NUL in a name was stored on SQLite, and a 503 "unavailable" on PostgreSQL.
    client, app = on_each_backend
    account = await signed_in(client, app)
    nul = "Ad\u0000a"
    for method, path, body in (
        (
            "POST",
            "/v1/auth/sign-up",
            {"name": nul, "email": "eve@example.com", "password": PASSWORD},
        ),
        ("PATCH", "/v1/users/me", {"name": nul}),
        ("POST", "/v1/team-members", {"name": nul, "email": "bob@example.com", "permissions": []}),
    ):
        response = await client.request(method, path, json=body, headers=account.headers)
        assert response.status_code == 422, (path, response.text)
        assert response.json()["errors"][0]["field"] == "name"
    me = await client.get("/v1/users/me", headers=account.headers)
    assert me.json()["name"] == "Ada"
    assert await count_users(app) == 1


@pytest.mark.parametrize(
    "forged",
    [
        ["2026-01-01T00:00:00+00:00", "tm_\u0000"],
        ["0001-01-01T00:00:00+14:00", "tm_x"],
        ["9999-12-31T23:59:59-14:00", "tm_x"],
    ],
)
async def test_forged_team_member_cursors_are_refused(
    on_each_backend: tuple[httpx.AsyncClient, FastAPI], forged: list[str]
) -> None:
    client, app = on_each_backend
    account = await signed_in(client, app)
    cursor = base64.urlsafe_b64encode(json.dumps(forged).encode()).decode().rstrip("=")
    response = await client.get(
        "/v1/team-members", params={"cursor": cursor}, headers=account.headers
    )
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == "query.cursor"


async def test_unknown_routes_and_methods(client: httpx.AsyncClient) -> None:
    assert problem_slug(await client.get("/v1/auth/nothing")) == "not-found"
    wrong_method = await client.get("/v1/auth/sign-in")
    assert wrong_method.status_code == 405
    assert problem_slug(wrong_method) == "method-not-allowed"

"""Password reset and change, renaming, and the HTML pages behind the emailed links."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import sqlalchemy as sa
from fastapi import FastAPI

from sticky.auth.store.tables import password_reset_tokens
from tests.auth.support import (
    PASSWORD,
    Account,
    auth_of,
    last_token,
    outbox,
    problem_slug,
    sign_up,
)

NEW_PASSWORD = "a brand new passphrase"


async def sign_in(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    return await client.post("/v1/auth/sign-in", json={"email": email, "password": password})


async def test_password_reset(client: httpx.AsyncClient, app: FastAPI, account: Account) -> None:
    asked = await client.post("/v1/auth/password-reset", json={"email": account.email})
    assert asked.status_code == 202
    assert asked.json() == {}
    template, data = (await outbox(app, account.email))[-1]
    assert template == "reset-password"
    assert data["name"] == "Ada"
    assert data["expiresInMinutes"] == auth_of(app).settings.reset_token_ttl_seconds // 60
    assert data["link"].endswith(f"/v1/auth/password-reset?token={data['token']}")

    weak = await client.post(
        "/v1/auth/password-reset/confirm", json={"token": data["token"], "password": "short"}
    )
    assert weak.status_code == 422
    assert problem_slug(weak) == "weak-password"

    done = await client.post(
        "/v1/auth/password-reset/confirm", json={"token": data["token"], "password": NEW_PASSWORD}
    )
    assert done.status_code == 200, done.text
    assert done.json()["email"] == account.email
    # Every session ended; only the new password works.
    ended = await client.post("/v1/auth/refresh", json={"refreshToken": account.refresh_token})
    assert ended.status_code == 401
    assert (await sign_in(client, account.email, PASSWORD)).status_code == 401
    assert (await sign_in(client, account.email, NEW_PASSWORD)).status_code == 200

    # Single use.
    again = await client.post(
        "/v1/auth/password-reset/confirm", json={"token": data["token"], "password": PASSWORD}
    )
    assert again.status_code == 400
    assert problem_slug(again) == "invalid-reset-token"
    assert (await sign_in(client, account.email, NEW_PASSWORD)).status_code == 200


async def test_reset_tokens_expire(
    client: httpx.AsyncClient, app: FastAPI, account: Account
) -> None:
    await client.post("/v1/auth/password-reset", json={"email": account.email})
    token = await last_token(app, account.email, "reset-password")
    async with auth_of(app).store.transaction() as tx:
        await tx.conn.execute(
            sa.update(password_reset_tokens).values(
                expires_at=datetime.now(UTC) - timedelta(seconds=1)
            )
        )
    expired = await client.post(
        "/v1/auth/password-reset/confirm", json={"token": token, "password": NEW_PASSWORD}
    )
    assert expired.status_code == 400
    assert problem_slug(expired) == "invalid-reset-token"
    assert (await sign_in(client, account.email, PASSWORD)).status_code == 200


async def test_only_the_newest_reset_link_works(
    client: httpx.AsyncClient, app: FastAPI, account: Account
) -> None:
    await client.post("/v1/auth/password-reset", json={"email": account.email})
    first = await last_token(app, account.email, "reset-password")
    await client.post("/v1/auth/password-reset", json={"email": account.email})
    second = await last_token(app, account.email, "reset-password")
    stale = await client.post(
        "/v1/auth/password-reset/confirm", json={"token": first, "password": NEW_PASSWORD}
    )
    assert stale.status_code == 400
    fresh = await client.post(
        "/v1/auth/password-reset/confirm", json={"token": second, "password": NEW_PASSWORD}
    )
    assert fresh.status_code == 200


async def test_reset_answers_the_same_for_unknown_emails(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    response = await client.post("/v1/auth/password-reset", json={"email": "ghost@example.com"})
    assert response.status_code == 202
    assert response.json() == {}
    assert await outbox(app, "ghost@example.com") == []


async def test_reset_verifies_the_email(client: httpx.AsyncClient, app: FastAPI) -> None:
    await sign_up(client, "late@example.com")
    await client.post("/v1/auth/password-reset", json={"email": "late@example.com"})
    token = await last_token(app, "late@example.com", "reset-password")
    done = await client.post(
        "/v1/auth/password-reset/confirm", json={"token": token, "password": NEW_PASSWORD}
    )
    assert done.json()["emailVerified"] is True
    assert (await sign_in(client, "late@example.com", NEW_PASSWORD)).status_code == 200


async def test_change_password(client: httpx.AsyncClient, account: Account) -> None:
    other = (await sign_in(client, account.email, PASSWORD)).json()

    wrong = await client.post(
        "/v1/users/me/password",
        headers=account.headers,
        json={"currentPassword": "not it at all", "newPassword": NEW_PASSWORD},
    )
    assert wrong.status_code == 401
    assert problem_slug(wrong) == "invalid-credentials"
    weak = await client.post(
        "/v1/users/me/password",
        headers=account.headers,
        json={"currentPassword": PASSWORD, "newPassword": account.email},
    )
    assert weak.status_code == 422
    assert problem_slug(weak) == "weak-password"
    assert weak.json()["errors"][0]["field"] == "password"

    changed = await client.post(
        "/v1/users/me/password",
        headers=account.headers,
        json={"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD},
    )
    assert changed.status_code == 204
    # This session lives on; the other one ended.
    kept = await client.post("/v1/auth/refresh", json={"refreshToken": account.refresh_token})
    assert kept.status_code == 200
    ended = await client.post("/v1/auth/refresh", json={"refreshToken": other["refreshToken"]})
    assert ended.status_code == 401
    assert (await sign_in(client, account.email, PASSWORD)).status_code == 401
    assert (await sign_in(client, account.email, NEW_PASSWORD)).status_code == 200


async def test_rename(client: httpx.AsyncClient, account: Account) -> None:
    renamed = await client.patch("/v1/users/me", headers=account.headers, json={"name": " Ada L. "})
    assert renamed.status_code == 200
    assert renamed.json()["name"] == "Ada L."
    me = await client.get("/v1/users/me", headers=account.headers)
    assert me.json()["name"] == "Ada L."
    empty = await client.patch("/v1/users/me", headers=account.headers, json={"name": "  "})
    assert empty.status_code == 422
    assert empty.json()["errors"][0]["field"] == "name"


async def test_the_verification_page_changes_nothing_until_confirmed(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    await sign_up(client, "page@example.com")
    token = await last_token(app, "page@example.com", "verify-email")
    page = await client.get("/v1/auth/verify-email", params={"token": token})
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["referrer-policy"] == "no-referrer"
    assert '<form method=post action="/v1/auth/verify-email">' in page.text
    assert f'value="{token}"' in page.text
    not_yet = await sign_in(client, "page@example.com", PASSWORD)
    assert problem_slug(not_yet) == "email-not-verified"

    confirmed = await client.post("/v1/auth/verify-email", data={"token": token})
    assert confirmed.status_code == 200
    assert confirmed.headers["content-type"].startswith("text/html")
    assert "Email confirmed" in confirmed.text
    assert (await sign_in(client, "page@example.com", PASSWORD)).status_code == 200

    stale = await client.post("/v1/auth/verify-email", data={"token": token})
    assert stale.status_code == 400
    assert stale.headers["content-type"].startswith("text/html")
    incomplete = await client.get("/v1/auth/verify-email")
    assert incomplete.status_code == 400


async def test_the_reset_page_sets_the_password(
    client: httpx.AsyncClient, app: FastAPI, account: Account
) -> None:
    await client.post("/v1/auth/password-reset", json={"email": account.email})
    token = await last_token(app, account.email, "reset-password")
    page = await client.get("/v1/auth/password-reset", params={"token": token})
    assert page.status_code == 200
    assert 'action="/v1/auth/password-reset/confirm"' in page.text
    assert "type=password" in page.text

    weak = await client.post(
        "/v1/auth/password-reset/confirm", data={"token": token, "password": "1234567890"}
    )
    assert weak.status_code == 422
    assert weak.headers["content-type"].startswith("text/html")
    assert "most common passwords" in weak.text
    assert f'value="{token}"' in weak.text

    done = await client.post(
        "/v1/auth/password-reset/confirm", data={"token": token, "password": NEW_PASSWORD}
    )
    assert done.status_code == 200
    assert "Password changed" in done.text
    assert (await sign_in(client, account.email, NEW_PASSWORD)).status_code == 200

    incomplete = await client.post("/v1/auth/password-reset/confirm", data={"token": token})
    assert incomplete.status_code == 400
    assert incomplete.headers["content-type"].startswith("text/html")


async def test_the_pages_escape_what_they_echo(client: httpx.AsyncClient) -> None:
    page = await client.get("/v1/auth/verify-email", params={"token": '"><script>x()</script>'})
    assert "<script>" not in page.text
    assert "&lt;script&gt;" in page.text

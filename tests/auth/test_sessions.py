"""Sign up, verify, sign in, refresh (with reuse detection), sign out."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from tests.auth.support import (
    PASSWORD,
    Account,
    auth_of,
    bearer,
    last_token,
    outbox,
    problem_slug,
    sign_up,
)


async def test_the_whole_session_lifecycle(client: httpx.AsyncClient, app: FastAPI) -> None:
    user = await sign_up(client, "Grace@Example.com", name="Grace")
    assert user["email"] == "grace@example.com"
    assert user["emailVerified"] is False
    assert user["id"].startswith("usr_")

    [(template, data)] = await outbox(app, "grace@example.com")
    assert template == "verify-email"
    assert data["name"] == "Grace"
    settings = auth_of(app).settings
    assert data["link"] == f"{settings.gateway_url}/v1/auth/verify-email?token={data['token']}"

    # The password is right but the address is not confirmed yet.
    early = await client.post(
        "/v1/auth/sign-in", json={"email": "grace@example.com", "password": PASSWORD}
    )
    assert early.status_code == 403
    assert problem_slug(early) == "email-not-verified"

    verified = await client.post("/v1/auth/verify-email", json={"token": data["token"]})
    assert verified.status_code == 200
    assert verified.json()["emailVerified"] is True
    again = await client.post("/v1/auth/verify-email", json={"token": data["token"]})
    assert again.status_code == 400
    assert problem_slug(again) == "invalid-verification-token"

    signed = await client.post(
        "/v1/auth/sign-in", json={"email": "GRACE@example.com", "password": PASSWORD}
    )
    assert signed.status_code == 200, signed.text
    pair = signed.json()
    assert pair["tokenType"] == "Bearer"
    assert pair["expiresIn"] == settings.access_token_ttl_seconds
    assert pair["user"]["id"] == user["id"]
    me = await client.get("/v1/users/me", headers=bearer(pair["accessToken"]))
    assert me.status_code == 200
    assert me.json()["scope"] == "user"
    assert me.json()["teamMember"] is None

    refreshed = await client.post("/v1/auth/refresh", json={"refreshToken": pair["refreshToken"]})
    assert refreshed.status_code == 200, refreshed.text
    second = refreshed.json()
    assert second["refreshToken"] != pair["refreshToken"]
    assert (await client.get("/v1/users/me", headers=bearer(second["accessToken"]))).is_success

    # The first refresh token was spent: presenting it again revokes the whole family.
    reused = await client.post("/v1/auth/refresh", json={"refreshToken": pair["refreshToken"]})
    assert reused.status_code == 401
    assert problem_slug(reused) == "refresh-token-reused"
    revoked = await client.post("/v1/auth/refresh", json={"refreshToken": second["refreshToken"]})
    assert revoked.status_code == 401
    assert problem_slug(revoked) == "invalid-refresh-token"


async def test_sign_out_revokes_the_family(client: httpx.AsyncClient, account: Account) -> None:
    first = await client.post("/v1/auth/refresh", json={"refreshToken": account.refresh_token})
    latest = first.json()["refreshToken"]
    out = await client.post("/v1/auth/sign-out", json={"refreshToken": account.refresh_token})
    assert out.status_code == 204
    after = await client.post("/v1/auth/refresh", json={"refreshToken": latest})
    assert after.status_code == 401
    assert problem_slug(after) == "invalid-refresh-token"
    twice = await client.post("/v1/auth/sign-out", json={"refreshToken": latest})
    assert twice.status_code == 204
    unknown = await client.post("/v1/auth/sign-out", json={"refreshToken": "rt_nope"})
    assert unknown.status_code == 401


async def test_other_sign_ins_are_separate_families(
    client: httpx.AsyncClient, account: Account
) -> None:
    other = await client.post(
        "/v1/auth/sign-in", json={"email": account.email, "password": PASSWORD}
    )
    out = await client.post("/v1/auth/sign-out", json={"refreshToken": account.refresh_token})
    assert out.status_code == 204
    still = await client.post(
        "/v1/auth/refresh", json={"refreshToken": other.json()["refreshToken"]}
    )
    assert still.status_code == 200


async def test_wrong_password_and_unknown_email_look_the_same(
    client: httpx.AsyncClient, account: Account
) -> None:
    wrong = await client.post(
        "/v1/auth/sign-in", json={"email": account.email, "password": "not the password"}
    )
    unknown = await client.post(
        "/v1/auth/sign-in", json={"email": "nobody@example.com", "password": PASSWORD}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert problem_slug(wrong) == problem_slug(unknown) == "invalid-credentials"
    assert wrong.json()["detail"] == unknown.json()["detail"]
    assert wrong.headers["www-authenticate"] == "Bearer"


async def test_resend_verification_answers_the_same_for_everyone(
    client: httpx.AsyncClient, app: FastAPI, account: Account
) -> None:
    await sign_up(client, "new@example.com")
    for email in ("new@example.com", "nobody@example.com", account.email):
        response = await client.post("/v1/auth/resend-verification", json={"email": email})
        assert response.status_code == 202
        assert response.json() == {}
    assert [t for t, _ in await outbox(app, "new@example.com")] == ["verify-email"] * 2
    assert await outbox(app, "nobody@example.com") == []
    # Verified already: nothing more is sent.
    assert len(await outbox(app, account.email)) == 1
    # Either link works.
    token = await last_token(app, "new@example.com", "verify-email")
    assert (await client.post("/v1/auth/verify-email", json={"token": token})).is_success

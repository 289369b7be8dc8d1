"""API keys: listing and masking, rotation, key exchange and its scopes, service tokens."""

from __future__ import annotations

import httpx
import jwt
from fastapi import FastAPI

from sticky.kernel.settings import Settings
from tests.auth.support import Account, bearer, exchange, problem_slug


async def keys_of(client: httpx.AsyncClient, account: Account) -> dict[str, dict[str, object]]:
    response = await client.get("/v1/keys", headers=account.headers)
    assert response.status_code == 200, response.text
    return {key["type"]: key for key in response.json()["data"]}


async def test_keys_are_listed_and_the_private_one_masked(
    client: httpx.AsyncClient, account: Account
) -> None:
    keys = await keys_of(client, account)
    public, private = keys["public"], keys["private"]
    assert str(public["key"]).startswith("pk_")
    assert public["masked"] == f"pk_…{str(public['key'])[-4:]}"
    assert private["key"] is None
    assert str(private["masked"]).startswith("sk_…")
    assert len(str(private["masked"])) == len("sk_…") + 4
    assert str(public["id"]).startswith("key_")


async def test_rotating_shows_the_key_once_and_the_old_one_stops_working(
    client: httpx.AsyncClient, account: Account
) -> None:
    first = await client.post("/v1/keys/private/rotate", headers=account.headers)
    assert first.status_code == 201
    old_key = first.json()["key"]
    assert old_key.startswith("sk_")
    assert first.json()["masked"] == f"sk_…{old_key[-4:]}"
    assert (await keys_of(client, account))["private"]["key"] is None

    token = await exchange(client, old_key)
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["scope"] == "private"
    assert claims["sub"] == account.user_id
    # The private key acts as the owner.
    with_key = await client.get("/v1/keys", headers=bearer(token))
    assert with_key.status_code == 200

    second = await client.post("/v1/keys/private/rotate", headers=bearer(token))
    assert second.status_code == 201
    stale = await client.post("/v1/auth/token", headers=bearer(old_key))
    assert stale.status_code == 401
    assert problem_slug(stale) == "invalid-api-key"
    assert (await client.post("/v1/auth/token", headers=bearer(second.json()["key"]))).is_success

    old_public = (await keys_of(client, account))["public"]["key"]
    public = await client.post("/v1/keys/public/rotate", headers=account.headers)
    assert public.json()["key"] != old_public
    assert (await keys_of(client, account))["public"]["key"] == public.json()["key"]
    assert (await client.post("/v1/auth/token", headers=bearer(str(old_public)))).status_code == 401

    unknown = await client.post("/v1/keys/secret/rotate", headers=account.headers)
    assert unknown.status_code == 422


async def test_a_public_key_reads_published_data_only(
    client: httpx.AsyncClient, account: Account
) -> None:
    public_key = str((await keys_of(client, account))["public"]["key"])
    exchanged = await client.post("/v1/auth/token", headers=bearer(public_key))
    assert exchanged.status_code == 200
    body = exchanged.json()
    assert body["scope"] == "public"
    assert body["tokenType"] == "Bearer"
    for response in (
        await client.get("/v1/keys", headers=bearer(body["accessToken"])),
        await client.get("/v1/users/me", headers=bearer(body["accessToken"])),
        await client.post("/v1/keys/public/rotate", headers=bearer(body["accessToken"])),
        await client.get("/v1/team-members", headers=bearer(body["accessToken"])),
    ):
        assert response.status_code == 403
        assert problem_slug(response) == "insufficient-scope"


async def test_a_key_sent_as_an_access_token_gets_a_hint(
    client: httpx.AsyncClient, account: Account
) -> None:
    key = (await client.post("/v1/keys/private/rotate", headers=account.headers)).json()["key"]
    response = await client.get("/v1/users/me", headers=bearer(key))
    assert response.status_code == 401
    assert problem_slug(response) == "api-key-not-accepted"
    assert "POST /v1/auth/token" in response.json()["detail"]


async def test_key_exchange_refuses_what_is_not_a_key(
    client: httpx.AsyncClient, account: Account
) -> None:
    missing = await client.post("/v1/auth/token")
    assert missing.status_code == 401
    assert problem_slug(missing) == "missing-credentials"
    for credential in (account.access_token, "sk_unknown", "tk_unknown", "pk_unknown"):
        response = await client.post("/v1/auth/token", headers=bearer(credential))
        assert response.status_code == 401
        assert problem_slug(response) == "invalid-api-key"
    # A public key does not pass for a private one, even with its prefix changed.
    public_key = str((await keys_of(client, account))["public"]["key"])
    forged = await client.post("/v1/auth/token", headers=bearer("sk_" + public_key[3:]))
    assert forged.status_code == 401


async def test_service_tokens(client: httpx.AsyncClient, app: FastAPI, settings: Settings) -> None:
    response = await client.post(
        "/v1/auth/service-token", json={"service": "api", "serviceKey": settings.service_key}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["scope"] == "service"
    claims = jwt.decode(body["accessToken"], options={"verify_signature": False})
    assert claims["svc"] == "api"
    principal = await app.state.verifier.verify(body["accessToken"])
    assert principal.service == "api"

    wrong = await client.post(
        "/v1/auth/service-token", json={"service": "api", "serviceKey": "guess"}
    )
    assert wrong.status_code == 401
    assert problem_slug(wrong) == "invalid-service-key"
    unknown = await client.post(
        "/v1/auth/service-token", json={"service": "printer", "serviceKey": settings.service_key}
    )
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["field"] == "service"

"""Signing keys: the JWKS, rotation without restart, and tokens that must not pass."""

from __future__ import annotations

import asyncio
import base64
import json
import time

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import FastAPI

from sticky.auth.signing import ensure_signing_key, rotate_signing_key
from sticky.auth.store import Store
from sticky.kernel.settings import Settings
from sticky.kernel.tokens import keys_from_jwks
from tests.auth.support import PASSWORD, Account, auth_of, bearer, problem_slug


def kid_of(token: str) -> str:
    return str(jwt.get_unverified_header(token)["kid"])


async def fresh_token(client: httpx.AsyncClient, account: Account) -> str:
    response = await client.post(
        "/v1/auth/sign-in", json={"email": account.email, "password": PASSWORD}
    )
    assert response.status_code == 200
    return str(response.json()["accessToken"])


async def test_jwks_publishes_the_signing_key(client: httpx.AsyncClient, account: Account) -> None:
    for path in ("/.well-known/jwks.json", "/v1/auth/jwks.json"):
        response = await client.get(path)
        assert response.status_code == 200
        assert "max-age" in response.headers["cache-control"]
        [jwk] = response.json()["keys"]
        assert jwk["kty"] == "OKP"
        assert jwk["crv"] == "Ed25519"
        assert jwk["alg"] == "EdDSA"
        assert "d" not in jwk
        assert jwk["kid"] == kid_of(account.access_token)
        key = keys_from_jwks(response.json())[jwk["kid"]]
        claims = jwt.decode(account.access_token, key, algorithms=["EdDSA"], audience="sticky")
        assert claims["iss"] == "sticky"
        assert claims["sub"] == account.user_id
        assert claims["exp"] - claims["iat"] == 900
        assert claims["jti"]


async def test_rotation_is_picked_up_without_restart(
    client: httpx.AsyncClient, app: FastAPI, account: Account, auth_settings: Settings
) -> None:
    old_kid = kid_of(account.access_token)
    new_kid = await rotate_signing_key(auth_settings)
    assert new_kid != old_kid

    jwks = (await client.get("/.well-known/jwks.json")).json()
    assert [k["kid"] for k in jwks["keys"]] == [old_kid, new_kid]

    # The running process switches within seconds, by itself.
    deadline = time.monotonic() + 12
    token = await fresh_token(client, account)
    while kid_of(token) != new_kid:
        assert time.monotonic() < deadline, "the rotated key was not picked up"
        await asyncio.sleep(0.5)
        token = await fresh_token(client, account)

    assert (await client.get("/v1/users/me", headers=bearer(token))).status_code == 200
    # Tokens signed with the earlier key keep working until they expire.
    old = await client.get("/v1/users/me", headers=account.headers)
    assert old.status_code == 200
    assert [k["kid"] for k in (await client.get("/v1/auth/jwks.json")).json()["keys"]] == [
        old_kid,
        new_kid,
    ]
    assert auth_of(app).keyring.active_kid == new_kid


async def test_replicas_racing_to_create_the_first_key_make_one(
    auth_settings: Settings, app: FastAPI
) -> None:
    url = auth_settings.database_url("auth")
    async with auth_of(app).store.transaction() as tx:
        await tx.conn.exec_driver_sql("DELETE FROM signing_keys")
    stores = [Store.open(url) for _ in range(4)]
    try:
        await asyncio.gather(*(ensure_signing_key(s, auth_settings) for s in stores))
        async with stores[0].transaction() as tx:
            keys = await tx.signing_keys.all()
    finally:
        for store in stores:
            await store.close()
    assert [k.generation for k in keys] == [1]


def _segment(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


async def test_tokens_that_must_not_pass(
    client: httpx.AsyncClient, app: FastAPI, account: Account
) -> None:
    auth = auth_of(app)
    claims = jwt.decode(account.access_token, options={"verify_signature": False})
    header = jwt.get_unverified_header(account.access_token)
    head, body, signature = account.access_token.split(".")

    expired = auth.issuer.issue(account.user_id, "user", now=time.time() - 3600, ttl=60).token
    flipped = signature[:-4] + ("AAAA" if signature[-4:] != "AAAA" else "BBBB")
    forged_claims = head + "." + _segment({**claims, "sub": "usr_someone_else"}) + "." + signature
    none_alg = _segment({"alg": "none", "typ": "JWT"}) + "." + body + "."
    none_with_kid = _segment({"alg": "none", "kid": header["kid"]}) + "." + body + "."
    stranger = Ed25519PrivateKey.generate()
    unknown_key = jwt.encode(claims, stranger, algorithm="EdDSA", headers={"kid": "sig_nobody"})
    own_kid = jwt.encode(claims, stranger, algorithm="EdDSA", headers={"kid": header["kid"]})
    hs256 = jwt.encode(claims, "x" * 32, algorithm="HS256", headers={"kid": header["kid"]})
    cases = {
        expired: "token-expired",
        head + "." + body + "." + flipped: "invalid-token",
        forged_claims: "invalid-token",
        none_alg: "invalid-token",
        none_with_kid: "invalid-token",
        unknown_key: "invalid-token",
        own_kid: "invalid-token",
        hs256: "invalid-token",
        "not.a.token": "invalid-token",
    }
    for token, slug in cases.items():
        response = await client.get("/v1/users/me", headers=bearer(token))
        assert response.status_code == 401, token
        assert problem_slug(response) == slug, token
    assert problem_slug(await client.get("/v1/users/me")) == "missing-credentials"
    basic = await client.get("/v1/users/me", headers={"Authorization": "Basic eDp5"})
    assert problem_slug(basic) == "invalid-token"
    # Nothing was changed by any of them.
    assert (await client.get("/v1/users/me", headers=account.headers)).json()["name"] == "Ada"

"""Auth honours Idempotency-Key: a retried sign-up or key rotation acts once."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from tests.auth.support import PASSWORD, Account, outbox


async def test_a_retried_sign_up_creates_one_account(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    body = {"name": "Ada", "email": "retry@example.com", "password": PASSWORD}
    headers = {"Idempotency-Key": "signup-1"}
    first = await client.post("/v1/auth/sign-up", json=body, headers=headers)
    again = await client.post("/v1/auth/sign-up", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert len(await outbox(app, "retry@example.com")) == 1
    fresh = await client.post("/v1/auth/sign-up", json=body)
    assert fresh.status_code == 409  # without the key, it is a second sign-up


async def test_a_retried_rotation_returns_the_same_key(
    client: httpx.AsyncClient, account: Account
) -> None:
    headers = {**account.headers, "Idempotency-Key": "rotate-1"}
    first = await client.post("/v1/keys/private/rotate", headers=headers)
    again = await client.post("/v1/keys/private/rotate", headers=headers)
    assert first.status_code == 201
    assert again.json()["key"] == first.json()["key"]
    token = await client.post(
        "/v1/auth/token", headers={"Authorization": f"Bearer {first.json()['key']}"}
    )
    assert token.status_code == 200


async def test_keys_belong_to_the_caller_not_the_token(
    client: httpx.AsyncClient, account: Account
) -> None:
    rotated = await client.post("/v1/keys/private/rotate", headers=account.headers)
    private_key = rotated.json()["key"]
    exchanged = await client.post(
        "/v1/auth/token", headers={"Authorization": f"Bearer {private_key}"}
    )
    other_token = {"Authorization": f"Bearer {exchanged.json()['accessToken']}"}
    body = {"name": "Grace", "email": "grace@example.com", "permissions": []}
    first = await client.post(
        "/v1/team-members", json=body, headers={**account.headers, "Idempotency-Key": "invite"}
    )
    again = await client.post(
        "/v1/team-members", json=body, headers={**other_token, "Idempotency-Key": "invite"}
    )
    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    assert again.headers["idempotent-replayed"] == "true"


async def test_a_forged_token_cannot_claim_anothers_keys(
    client: httpx.AsyncClient, account: Account
) -> None:
    headers = {**account.headers, "Idempotency-Key": "mine"}
    first = await client.post("/v1/keys/private/rotate", headers=headers)
    assert first.status_code == 201
    header, payload, _ = account.access_token.split(".")
    forged = {"Authorization": f"Bearer {header}.{payload}.AAAA", "Idempotency-Key": "mine"}
    answer = await client.post("/v1/keys/private/rotate", headers=forged)
    assert answer.status_code == 401
    assert first.json()["key"] not in answer.text

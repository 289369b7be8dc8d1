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

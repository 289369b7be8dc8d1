"""Helpers for auth's tests: accounts, the outbox, tokens, problems."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import FastAPI

from sticky.auth.context import Auth
from sticky.auth.mailer import message_data

PASSWORD = "correct horse battery staple"


def auth_of(app: FastAPI) -> Auth:
    auth: Auth = app.state.auth
    return auth


async def outbox(app: FastAPI, email: str) -> list[tuple[str, dict[str, Any]]]:
    """``(template, data)`` of every message auth queued for ``email``, oldest first."""
    auth = auth_of(app)
    async with auth.store.transaction() as tx:
        messages = await tx.outbox.for_recipient(email)
    return [(m.template, message_data(auth.settings, m)) for m in messages]


async def last_token(app: FastAPI, email: str, template: str) -> str:
    tokens = [data["token"] for kind, data in await outbox(app, email) if kind == template]
    assert tokens, f"no {template} message for {email}"
    return str(tokens[-1])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass
class Account:
    email: str
    password: str
    user_id: str
    access_token: str
    refresh_token: str

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.access_token)


async def sign_up(
    client: httpx.AsyncClient, email: str, password: str = PASSWORD, name: str = "Ada"
) -> dict[str, Any]:
    response = await client.post(
        "/v1/auth/sign-up", json={"name": name, "email": email, "password": password}
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def signed_in(
    client: httpx.AsyncClient, app: FastAPI, email: str = "ada@example.com"
) -> Account:
    """A verified account, signed in."""
    user = await sign_up(client, email)
    token = await last_token(app, email, "verify-email")
    verified = await client.post("/v1/auth/verify-email", json={"token": token})
    assert verified.status_code == 200, verified.text
    response = await client.post("/v1/auth/sign-in", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    pair = response.json()
    return Account(email, PASSWORD, user["id"], pair["accessToken"], pair["refreshToken"])


async def exchange(client: httpx.AsyncClient, key: str) -> str:
    response = await client.post("/v1/auth/token", headers=bearer(key))
    assert response.status_code == 200, response.text
    return str(response.json()["accessToken"])


def problem_slug(response: httpx.Response) -> str:
    assert response.headers["content-type"].startswith("application/problem+json"), response.text
    return str(response.json()["type"]).rsplit("/", 1)[-1]

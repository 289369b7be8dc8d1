"""The events app in-process for the API tests: a migrated database and signed tokens."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import FastAPI

from sticky.events.app import create_app
from sticky.events.live import Timing
from sticky.kernel.migrations import upgrade
from sticky.kernel.settings import Settings
from sticky.kernel.tokens import TokenVerifier

FAST = Timing(poll_seconds=0.05, heartbeat_seconds=0.3)


@dataclass
class Signer:
    """Signs access tokens the way auth does, with a key the test made."""

    key: Ed25519PrivateKey
    kid: str

    @classmethod
    def new(cls) -> Signer:
        return cls(Ed25519PrivateKey.generate(), kid=f"k-{uuid.uuid4().hex[:8]}")

    def token(self, sub: str, scope: str, **claims: Any) -> str:
        now = int(time.time())
        body = {
            "iss": "sticky",
            "aud": "sticky",
            "sub": sub,
            "scope": scope,
            "jti": uuid.uuid4().hex,
            "iat": now,
            "exp": now + 300,
            **claims,
        }
        return jwt.encode(body, self.key, algorithm="EdDSA", headers={"kid": self.kid})

    def owner(self, user_id: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(user_id, 'user')}"}

    def public(self, user_id: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(user_id, 'public')}"}

    def member(self, user_id: str, member_id: str, *perms: str) -> dict[str, str]:
        token = self.token(user_id, "team-member", tm=member_id, perms=list(perms))
        return {"Authorization": f"Bearer {token}"}

    def service(self, name: str = "api") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(f'svc_{name}', 'service', svc=name)}"}

    async def keys(self) -> dict[str, Any]:
        return {self.kid: self.key.public_key()}


async def migrated(database_url: str) -> str:
    await asyncio.to_thread(upgrade, "sticky.events", database_url)
    return database_url


@dataclass
class RunningEvents:
    app: FastAPI
    client: httpx.AsyncClient
    signer: Signer

    async def append(self, user: str, *events: dict[str, Any]) -> list[dict[str, Any]]:
        response = await self.client.post(
            "/v1/events", json=list(events), headers=self.signer.owner(user)
        )
        assert response.status_code == 201, response.text
        data: list[dict[str, Any]] = response.json()["data"]
        return data

    async def read(self, user: str, **params: Any) -> dict[str, Any]:
        response = await self.client.get(
            "/v1/events", params=params, headers=self.signer.owner(user)
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def everything(self) -> list[dict[str, Any]]:
        """Every event of every user, as a service reads them."""
        response = await self.client.get(
            "/v1/events", params={"limit": 1000}, headers=self.signer.service()
        )
        assert response.status_code == 200, response.text
        data: list[dict[str, Any]] = response.json()["data"]
        return data


@contextlib.asynccontextmanager
async def running_events(
    settings: Settings, database_url: str, timing: Timing = FAST
) -> AsyncIterator[RunningEvents]:
    settings = settings.model_copy(update={"events_database_url": database_url})
    app = create_app(settings, timing=timing)
    signer = Signer.new()
    app.state.verifier = TokenVerifier(signer.keys)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://events.test", timeout=30
        ) as client,
    ):
        yield RunningEvents(app, client, signer)


def problem(response: httpx.Response, status: int, slug: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["type"] == f"https://sticky.dev/problems/{slug}"
    return body

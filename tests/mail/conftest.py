"""The mail service under test: a migrated database, service tokens, real SMTP servers."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any, TypeVar

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import FastAPI

from sticky.kernel.migrations import upgrade
from sticky.kernel.settings import Settings
from sticky.kernel.tokens import TokenVerifier
from sticky.mail.app import create_app
from sticky.mail.worker import DeliveryPolicy
from sticky.mailbox.app import create_app as create_mailbox_app
from tests.conftest import free_port
from tests.conftest import problem as problem  # re-exported for this service's tests

T = TypeVar("T")

# Retries in tens of milliseconds instead of minutes.
FAST = DeliveryPolicy(
    first_retry_seconds=0.05,
    max_retry_seconds=0.4,
    jitter=0,
    poll_seconds=0.05,
    lease_seconds=5,
    smtp_timeout_seconds=2,
    shutdown_seconds=5,
)
# SMTP is down and retries are far away, so every message stays queued.
QUIET = replace(FAST, first_retry_seconds=600)


@dataclass
class Signer:
    """Signs access tokens the way auth does, with a key the test made."""

    key: Ed25519PrivateKey
    kid: str

    def token(self, scope: str = "service", **claims: Any) -> str:
        now = int(time.time())
        body = {
            "iss": "sticky",
            "aud": "sticky",
            "sub": "svc_auth",
            "scope": scope,
            "svc": "auth",
            "jti": uuid.uuid4().hex,
            "iat": now,
            "exp": now + 300,
        }
        body.update(claims)
        return jwt.encode(body, self.key, algorithm="EdDSA", headers={"kid": self.kid})

    def headers(self, scope: str = "service") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(scope)}"}

    async def keys(self) -> dict[str, Any]:
        return {self.kid: self.key.public_key()}


@pytest.fixture
def signer() -> Signer:
    return Signer(Ed25519PrivateKey.generate(), kid=f"k-{uuid.uuid4().hex[:8]}")


@pytest.fixture
async def mail_db(database_url: str) -> str:
    """The mail service's database, migrated to head as `sticky migrate` would."""
    await asyncio.to_thread(upgrade, "sticky.mail", database_url)
    return database_url


@pytest.fixture
def smtp_port() -> int:
    return free_port()


@pytest.fixture
def mail_settings(settings: Settings, mail_db: str, smtp_port: int) -> Settings:
    return settings.model_copy(
        update={
            "mail_database_url": mail_db,
            "smtp_url": f"smtp://127.0.0.1:{smtp_port}",
            "smtp_sink_port": smtp_port,
        }
    )


@dataclass
class RunningMail:
    app: FastAPI
    client: httpx.AsyncClient

    async def send(self, **body: Any) -> httpx.Response:
        return await self.client.post("/internal/messages", json=body)

    async def message(self, message_id: str) -> dict[str, Any]:
        response = await self.client.get(f"/internal/messages/{message_id}")
        assert response.status_code == 200, response.text
        data: dict[str, Any] = response.json()
        return data

    async def deliveries(self, message_id: str) -> list[dict[str, Any]]:
        response = await self.client.get(f"/internal/messages/{message_id}/deliveries")
        assert response.status_code == 200, response.text
        data: list[dict[str, Any]] = response.json()["data"]
        return data


@contextlib.asynccontextmanager
async def running_mail(
    settings: Settings, signer: Signer, policy: DeliveryPolicy = FAST
) -> AsyncIterator[RunningMail]:
    """The mail app in-process, its lifespan (and so its worker) running."""
    app = create_app(settings, policy=policy)
    app.state.verifier = TokenVerifier(signer.keys)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://mail.test",
            headers=signer.headers(),
        ) as client,
    ):
        yield RunningMail(app, client)


@contextlib.asynccontextmanager
async def running_mailbox(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The development mailbox: a real aiosmtpd server on ``settings.smtp_sink_port``."""
    app = create_mailbox_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://mailbox.test"
        ) as client,
    ):
        yield client


async def eventually(check: Callable[[], Awaitable[T | None]], timeout: float = 10.0) -> T:
    """Poll ``check`` until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"still not true after {timeout} s (last: {result!r})")
        await asyncio.sleep(0.02)


def verify_email(to: str = "ann@example.com", **extra: Any) -> dict[str, Any]:
    return {
        "to": to,
        "template": "verify-email",
        "data": {"name": "Ann", "token": "123456", "link": "https://sticky.test/verify?t=abc&x=1"},
        **extra,
    }

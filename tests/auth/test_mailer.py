"""The outbox: messages reach the mail service once, with retries while it is down.

The mail service belongs to another team; a small HTTP server on a real port stands in for
its ``POST /internal/messages`` and records what it was sent.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from sticky.auth.app import create_app
from sticky.auth.mailer import OutboxDeliverer, queue_message
from sticky.auth.signing import Keyring
from sticky.auth.store import OutboxMessage, Store
from sticky.auth.tokens import TokenIssuer
from sticky.kernel.migrations import upgrade
from sticky.kernel.outgoing import service_client
from sticky.kernel.settings import Settings
from sticky.kernel.tokens import TokenVerifier
from tests.auth.support import PASSWORD
from tests.conftest import free_port


@dataclass
class MailStandIn:
    port: int
    answers: list[int] = field(default_factory=list)  # statuses to answer first, then 202
    received: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/internal/messages")
        async def messages(request: Request) -> JSONResponse:
            body = await request.json()
            self.received.append((request.headers.get("authorization", ""), body))
            status = self.answers.pop(0) if self.answers else 202
            return JSONResponse({"id": f"msg_{len(self.received)}"}, status_code=status)

        return app


@pytest.fixture
async def mail() -> AsyncIterator[MailStandIn]:
    stand_in = MailStandIn(free_port())
    config = uvicorn.Config(stand_in.app(), port=stand_in.port, log_config=None, lifespan="off")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    yield stand_in
    server.should_exit = True
    await task


@dataclass
class Parts:
    url: str
    settings: Settings
    store: Store
    keyring: Keyring
    issuer: TokenIssuer


@pytest.fixture
async def parts(database_url: str, settings: Settings, mail: MailStandIn) -> AsyncIterator[Parts]:
    await asyncio.to_thread(upgrade, "sticky.auth", database_url)
    settings = settings.model_copy(update={"mail_port": mail.port})
    store = Store.open(database_url)
    keyring = Keyring(store, settings)
    await keyring.reload()
    try:
        yield Parts(database_url, settings, store, keyring, TokenIssuer(keyring, settings))
    finally:
        await store.close()


def deliverer(parts: Parts, store: Store | None = None) -> OutboxDeliverer:
    return OutboxDeliverer(
        store or parts.store, parts.issuer, parts.settings, poll_seconds=0.05, base_delay=0.05
    )


async def queue(parts: Parts, to: str = "ada@example.com") -> str:
    async with parts.store.transaction() as tx:
        return await queue_message(
            tx, parts.settings, to, "verify-email", {"name": "Ada", "token": "t"}, datetime.now(UTC)
        )


async def message(parts: Parts, message_id: str) -> OutboxMessage:
    async with parts.store.transaction() as tx:
        found = await tx.outbox.get(message_id)
    assert found is not None
    return found


async def test_delivery_retries_until_the_mail_service_takes_it(
    parts: Parts, mail: MailStandIn
) -> None:
    mail.answers = [503, 503]
    message_id = await queue(parts)
    worker = asyncio.create_task(deliverer(parts).run())
    try:
        deadline = time.monotonic() + 30
        while (await message(parts, message_id)).sent_at is None:
            assert time.monotonic() < deadline, "the message was never handed over"
            await asyncio.sleep(0.05)
    finally:
        worker.cancel()
    sent = await message(parts, message_id)
    assert sent.attempts == 3
    assert sent.payload == ""
    assert len(mail.received) == 3
    authorization, body = mail.received[-1]
    assert body == {
        "to": "ada@example.com",
        "template": "verify-email",
        "data": {"name": "Ada", "token": "t"},
        "idempotencyKey": message_id,
    }
    assert {b["idempotencyKey"] for _, b in mail.received} == {message_id}
    principal = await TokenVerifier(parts.keyring.verification_keys).verify(
        authorization.removeprefix("Bearer ")
    )
    assert principal.scope == "service"
    assert principal.service == "auth"


async def test_replicas_send_each_message_once(parts: Parts, mail: MailStandIn) -> None:
    ids = {await queue(parts, f"u{i}@example.com") for i in range(6)}
    other_store = Store.open(parts.url)
    replicas = [deliverer(parts), deliverer(parts, other_store)]
    try:
        async with service_client(parts.settings.internal_url("mail")) as client:
            counts = await asyncio.gather(*(r.deliver_due(client) for r in replicas))
    finally:
        await other_store.close()
    assert sum(counts) == 6
    assert sorted(b["idempotencyKey"] for _, b in mail.received) == sorted(ids)


async def test_a_message_the_mail_service_refuses_is_given_up(
    parts: Parts, mail: MailStandIn
) -> None:
    mail.answers = [422]
    message_id = await queue(parts)
    async with service_client(parts.settings.internal_url("mail")) as client:
        assert await deliverer(parts).deliver_due(client) == 0
        assert await deliverer(parts).deliver_due(client) == 0
    failed = await message(parts, message_id)
    assert failed.failed_at is not None
    assert failed.sent_at is None
    assert failed.last_error is not None
    assert "422" in failed.last_error
    assert len(mail.received) == 1


async def test_sign_up_mail_reaches_the_mail_service(
    auth_settings: Settings, mail: MailStandIn
) -> None:
    settings = auth_settings.model_copy(update={"mail_port": mail.port})
    await asyncio.to_thread(upgrade, "sticky.auth", settings.database_url("auth"))
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://auth.test") as client:
            response = await client.post(
                "/v1/auth/sign-up",
                json={"name": "Ada", "email": "ada@example.com", "password": PASSWORD},
            )
            assert response.status_code == 201
        deadline = time.monotonic() + 30
        while not mail.received:
            assert time.monotonic() < deadline, "the verification email never left"
            await asyncio.sleep(0.02)
    _, body = mail.received[0]
    assert body["to"] == "ada@example.com"
    assert body["template"] == "verify-email"
    assert set(body["data"]) == {"name", "token", "link"}
    assert body["data"]["link"].startswith(f"{settings.gateway_url}/v1/auth/verify-email?token=")

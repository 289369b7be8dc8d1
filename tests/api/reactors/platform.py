"""The services the reactors talk to, for real: events and mail under uvicorn on free ports,
trusting a test signer's tokens; and the payment events the payments code records."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI

from sticky.events.app import create_app as create_events_app
from sticky.events.live import Timing
from sticky.kernel.migrations import upgrade
from sticky.kernel.settings import Settings
from sticky.kernel.tokens import TokenVerifier
from sticky.mail.app import create_app as create_mail_app
from tests.conftest import free_port
from tests.signing import Signer


@contextlib.asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[str]:
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        assert not task.done(), "the server did not start"
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


@dataclass
class Platform:
    events_url: str
    mail_url: str
    signer: Signer

    async def headers(self) -> dict[str, str]:
        return self.signer.service("api")

    async def append(self, stream: str | None, *events: dict[str, Any]) -> list[dict[str, Any]]:
        async with httpx.AsyncClient(base_url=self.events_url) as client:
            if stream is None:
                response = await client.post(
                    "/v1/events", json=list(events), headers=await self.headers()
                )
            else:
                response = await client.post(
                    f"/v1/streams/{stream}",
                    json={"events": list(events)},
                    headers=await self.headers(),
                )
        assert response.status_code == 201, response.text
        data: list[dict[str, Any]] = response.json()["data"]
        return data

    async def checkpoint(self, name: str, position: int | None = None) -> int:
        async with httpx.AsyncClient(base_url=self.events_url) as client:
            path = f"/v1/events/subscriptions/{name}"
            if position is None:
                response = await client.get(path, headers=await self.headers())
            else:
                response = await client.put(
                    path, json={"position": position}, headers=await self.headers()
                )
        assert response.is_success, response.text
        return int(response.json()["position"])

    async def head(self) -> int:
        """The log's last position."""
        async with httpx.AsyncClient(base_url=self.events_url) as client:
            response = await client.get("/v1/events/head", headers=await self.headers())
        assert response.is_success, response.text
        return int(response.json()["position"])

    async def messages(self) -> list[dict[str, Any]]:
        async with httpx.AsyncClient(base_url=self.mail_url) as client:
            response = await client.get(
                "/internal/messages?limit=100", headers=self.signer.service("auth")
            )
        assert response.status_code == 200, response.text
        data: list[dict[str, Any]] = response.json()["data"]
        return data


@contextlib.asynccontextmanager
async def platform(settings: Settings) -> AsyncIterator[Platform]:
    for service in ("events", "mail"):
        await asyncio.to_thread(upgrade, f"sticky.{service}", settings.database_url(service))
    signer = Signer.new()
    events = create_events_app(settings, timing=Timing(poll_seconds=0.05, heartbeat_seconds=0.3))
    mail = create_mail_app(settings)
    for app in (events, mail):
        app.state.verifier = TokenVerifier(signer.keys)
    async with serving(events) as events_url, serving(mail) as mail_url:
        yield Platform(events_url, mail_url, signer)


def payment_events(
    user: str,
    *,
    application_id: str | None,
    thing_id: str | None = None,
    email: str | None = "cleo@example.com",
    outcome: str = "SESSION_CART_PAY",
    session_id: str = "ses_cleo",
) -> tuple[str, list[dict[str, Any]]]:
    """A payment's stream and events, shaped as the payments code records them."""
    payment_id = f"pay_{uuid.uuid4().hex[:12]}"
    common = {
        "userId": user,
        "paymentId": payment_id,
        "sessionId": session_id,
        "applicationId": application_id,
        "thingId": thing_id,
    }
    created = {
        **common,
        "type": "PAYMENT_CREATED",
        "customData": {
            "cart": [
                {
                    "productId": "prd_1",
                    "name": "Flat white",
                    "quantity": 2,
                    "unitPrice": 350,
                    "options": [
                        {
                            "questionId": "q1",
                            "optionId": "oat",
                            "name": "Oat milk",
                            "priceDelta": 40,
                        }
                    ],
                    "lineTotal": 780,
                },
                {
                    "productId": "prd_2",
                    "name": "Croissant",
                    "quantity": 1,
                    "unitPrice": 280,
                    "options": [],
                    "lineTotal": 280,
                },
            ],
            "subtotal": 1060,
            "discount": 0,
            "tip": 100,
            "total": 1160,
            "currency": "GBP",
            "gateway": "demo",
            "customer": {"email": email, "name": "Cleo"} if email else None,
            "userPaymentId": None,
        },
    }
    money = {"total": 1160, "currency": "GBP", "gateway": "demo"}
    outcomes = {
        "SESSION_CART_PAY": {**money, "reference": "REF-7731"},
        "SESSION_CART_PAY_FAIL": {
            **money,
            "code": "card_declined",
            "message": "The card was declined.",
        },
    }
    paid = {**common, "type": outcome, "customData": outcomes[outcome]}
    return f"payment-{payment_id}", [created, paid]


def refund_event(paid: dict[str, Any], amount: int, refunded_total: int) -> dict[str, Any]:
    return {
        **{k: paid[k] for k in ("userId", "paymentId", "sessionId", "applicationId", "thingId")},
        "type": "SESSION_CART_REFUND",
        "customData": {
            "amount": amount,
            "refundedTotal": refunded_total,
            "currency": "GBP",
            "reference": "RFD-1",
        },
    }

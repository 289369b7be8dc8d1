"""A merchant's shop in the in-process api: products with options, a flow naming a gateway,
consumer sessions from real taps, and the sandbox posting its payhooks into the same app."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from sticky.api.payments.gateways import SandboxGateway, sandbox_secret
from sticky.api.payments.service import Payments
from tests.api.support import RunningApi

OK_CARD = {
    "number": "4242 4242 4242 4242",
    "expMonth": 12,
    "expYear": datetime.now(UTC).year + 3,
    "cvc": "123",
}
DECLINED_CARD = {**OK_CARD, "number": "4000000000000002"}


def payments_of(api: RunningApi) -> Payments:
    payments: Payments = api.app.state.payments
    return payments


class IntoApp(httpx.AsyncBaseTransport):
    """Requests answered by the app under test, each in a task of its own, as a server would:
    a sender that gives up (the sandbox shutting down) does not cancel the app mid-write."""

    def __init__(self, api: RunningApi) -> None:
        self._inner = httpx.ASGITransport(app=api.app)
        self.answered = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        task = asyncio.create_task(self._inner.handle_async_request(request))
        response = await asyncio.shield(task)
        self.answered += 1
        return response

    async def wait_for(self, count: int, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while self.answered < count and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        assert self.answered >= count, f"{self.answered} payhooks answered, not {count}"


def sandbox_into_app(api: RunningApi, delay: float = 0.01) -> tuple[SandboxGateway, IntoApp]:
    """The sandbox, posting its payhooks straight into the app under test."""
    transport = IntoApp(api)
    sandbox = SandboxGateway(
        sandbox_secret(api.state.settings.secret_key), delay=delay, transport=transport
    )
    payments_of(api).gateways.sandbox = sandbox
    return sandbox, transport


@dataclass
class Shop:
    api: RunningApi
    user: str
    flow: dict[str, Any]
    thing: dict[str, Any]
    coffee: dict[str, Any]  # 350 EUR cents; size: small 0 / large +100; extras (multiple)
    cake: dict[str, Any]  # 400 EUR cents

    @property
    def owner(self) -> dict[str, str]:
        return self.api.owner(self.user)

    async def session(self) -> str:
        """A new consumer session, started by tapping the shop's sticker (as a new phone)."""
        self.api.client.cookies.clear()
        response = await self.api.client.get(f"/t/{self.thing['id']}")
        assert response.status_code == 302, response.text
        return parse_qs(urlsplit(response.headers["location"]).query)["sessionId"][0]

    async def pay(
        self,
        session: str | None = None,
        *,
        status: int = 201,
        headers: dict[str, str] | None = None,
        **body: Any,
    ) -> dict[str, Any]:
        body.setdefault("currency", "EUR")
        body.setdefault("cart", [{"productId": self.cake["id"], "quantity": 1}])
        sent = {"Sticky-Session": session} if session else dict(self.owner)
        response = await self.api.client.post(
            "/v1/payments", json=body, headers={**sent, **(headers or {})}
        )
        assert response.status_code == status, response.text
        result: dict[str, Any] = response.json()
        return result

    async def get(self, payment_id: str) -> dict[str, Any]:
        response = await self.api.client.get(f"/v1/payments/{payment_id}", headers=self.owner)
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    async def settled(self, payment_id: str, timeout: float = 30.0) -> dict[str, Any]:
        """The payment once the gateway's payhook has decided it."""
        deadline = time.monotonic() + timeout
        while True:
            payment = await self.get(payment_id)
            if payment["status"] != "pending" or time.monotonic() > deadline:
                return payment
            await asyncio.sleep(0.02)

    async def use_gateway(self, gateway: str) -> None:
        flow_id = self.flow["id"]
        await self.api.client.patch(
            f"/v1/applications/{flow_id}",
            json={"settings": {"gateway": gateway}},
            headers=self.owner,
        )
        response = await self.api.client.post(
            f"/v1/applications/{flow_id}/make-live", headers=self.owner
        )
        assert response.status_code in (200, 201), response.text
        self.api.state.taps.forget_application(flow_id)


async def open_shop(api: RunningApi, user: str, gateway: str | None = None) -> Shop:
    settings = {"gateway": gateway} if gateway else {}
    flow = await api.flow(user, settings=settings)
    thing = await api.thing(user, applicationId=flow["id"])
    size = {
        "id": "size",
        "name": "Size",
        "required": True,
        "options": [
            {"id": "small", "name": "Small"},
            {"id": "large", "name": "Large", "priceDelta": 100},
        ],
    }
    extras = {
        "id": "extras",
        "name": "Extras",
        "multiple": True,
        "options": [
            {"id": "oat", "name": "Oat milk", "priceDelta": 40},
            {"id": "shot", "name": "Extra shot", "priceDelta": 60},
        ],
    }
    coffee = await api.post(
        "/v1/products",
        user,
        {"name": "Coffee", "price": 350, "currency": "EUR", "questions": [size, extras]},
    )
    cake = await api.post("/v1/products", user, {"name": "Cake", "price": 400, "currency": "EUR"})
    return Shop(api, user, flow, thing, coffee, cake)


def coffee_line(shop: Shop, quantity: int = 1, size: str = "small", *extras: str) -> dict[str, Any]:
    options = [{"questionId": "size", "optionId": size}]
    options += [{"questionId": "extras", "optionId": extra} for extra in extras]
    return {"productId": shop.coffee["id"], "quantity": quantity, "options": options}

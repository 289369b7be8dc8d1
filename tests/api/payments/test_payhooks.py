"""``/v2/payhook/{gateway}``: authentic payhooks are applied once; forged, stale and replayed
ones change nothing."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import orjson
import sqlalchemy as sa

from sticky.api.payments.gateways import GATEWAY_SANDBOX, SandboxGateway, sandbox_secret
from sticky.api.payments.gateways.callbacks import sign
from sticky.api.payments.tables import payhook_events
from tests.api.payments.shop import OK_CARD, Shop, open_shop, payments_of
from tests.api.support import RunningApi
from tests.conftest import problem


class Captured:
    """Where the sandbox's payhooks go instead of the api: kept, to be sent by the test."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(200)


async def _captured_sandbox(api: RunningApi) -> Captured:
    captured = Captured()
    payments_of(api).gateways.sandbox = SandboxGateway(
        sandbox_secret(api.state.settings.secret_key),
        delay=0.0,
        transport=httpx.MockTransport(captured),
    )
    return captured


async def _wait(captured: Captured, count: int) -> None:
    deadline = time.monotonic() + 30
    while len(captured.requests) < count and time.monotonic() < deadline:
        await asyncio.sleep(0.01)


async def _paid_with_payhook_held(api: RunningApi) -> tuple[Shop, dict[str, Any], httpx.Request]:
    """A sandbox payment whose payhook was kept back: the shop, the payment, the payhook."""
    captured = await _captured_sandbox(api)
    shop = await open_shop(api, "usr_a", GATEWAY_SANDBOX)
    payment = await shop.pay(await shop.session(), card=OK_CARD)
    await _wait(captured, 1)
    [hook] = captured.requests
    return shop, payment, hook


async def test_a_payhook_is_applied_once_and_replays_change_nothing(api: RunningApi) -> None:
    shop, payment, hook = await _paid_with_payhook_held(api)
    assert hook.url.path == "/v2/payhook/GATEWAY_SANDBOX"
    headers = {
        "Sandbox-Signature": hook.headers["Sandbox-Signature"],
        "Content-Type": "application/json",
    }

    first = await api.client.post(
        "/v2/payhook/GATEWAY_SANDBOX", content=hook.content, headers=headers
    )
    assert first.status_code == 200 and first.json() == {"status": "applied"}
    assert (await shop.get(payment["id"]))["status"] == "paid"
    replay = await api.client.post(
        "/v2/payhook/GATEWAY_SANDBOX", content=hook.content, headers=headers
    )
    assert replay.status_code == 200 and replay.json() == {"status": "duplicate"}
    # Signed afresh (as a redelivery is), the same event id is still the same event.
    secret = sandbox_secret(api.state.settings.secret_key)
    resigned = {"Sandbox-Signature": sign(secret, hook.content, int(time.time()))}
    again = await api.client.post(
        "/v2/payhook/GATEWAY_SANDBOX", content=hook.content, headers=resigned
    )
    assert again.json() == {"status": "duplicate"}
    types = [e["type"] for e in await api.outbox() if e.get("paymentId") == payment["id"]]
    assert types == ["PAYMENT_CREATED", "SESSION_CART_PAY"]


async def test_forged_and_stale_payhooks_are_refused(api: RunningApi) -> None:
    shop, payment, hook = await _paid_with_payhook_held(api)
    body = orjson.loads(hook.content)
    body["data"]["amount"] = 1
    tampered = orjson.dumps(body)
    signature = hook.headers["Sandbox-Signature"]
    secret = sandbox_secret(api.state.settings.secret_key)

    async def refused(gateway: str, content: bytes, headers: dict[str, str]) -> dict[str, object]:
        response = await api.client.post(f"/v2/payhook/{gateway}", content=content, headers=headers)
        assert response.status_code == 400, response.text
        assert response.headers["content-type"] == "application/problem+json"
        problem: dict[str, object] = response.json()
        assert str(problem["type"]).endswith("payhook-refused")
        return problem

    await refused(GATEWAY_SANDBOX, tampered, {"Sandbox-Signature": signature})
    await refused(GATEWAY_SANDBOX, hook.content, {})
    await refused(GATEWAY_SANDBOX, hook.content, {"Sandbox-Signature": "t=1,v1=zz"})
    await refused(
        GATEWAY_SANDBOX,
        hook.content,
        {"Sandbox-Signature": sign("not-our-secret", hook.content, int(time.time()))},
    )
    stale = sign(secret, hook.content, int(time.time()) - 1000)
    await refused(GATEWAY_SANDBOX, hook.content, {"Sandbox-Signature": stale})
    await refused("GATEWAY_NOOP", hook.content, {"Sandbox-Signature": signature})
    await refused("GATEWAY_STRIPE", b"{}", {"Stripe-Signature": "t=1,v1=00"})
    unknown = await api.client.post("/v2/payhook/GATEWAY_PAYPAL", content=b"{}")
    assert unknown.status_code == 404
    assert (await shop.get(payment["id"]))["status"] == "pending"
    assert [e["type"] for e in await api.outbox() if e.get("paymentId") == payment["id"]] == [
        "PAYMENT_CREATED"
    ]


async def test_a_signed_payhook_no_column_can_hold_is_refused(api: RunningApi) -> None:
    shop, payment, hook = await _paid_with_payhook_held(api)
    event = orjson.loads(hook.content)
    data = event["data"]
    secret = sandbox_secret(api.state.settings.secret_key)
    for body in (
        {**event, "id": "evt_sbx_" + "x" * 300},
        {**event, "data": {**data, "paymentId": {"id": payment["id"]}}},
        {**event, "data": {**data, "paymentId": 7}},
        {**event, "data": {**data, "paymentId": "\x00"}},
        {**event, "data": {**data, "reference": "sbx_ch_\x00"}},
        {**event, "data": "succeeded"},
    ):
        content = orjson.dumps(body)
        signature = {"Sandbox-Signature": sign(secret, content, int(time.time()))}
        response = await api.client.post(
            "/v2/payhook/GATEWAY_SANDBOX", content=content, headers=signature
        )
        problem(response, 400, "payhook-refused")
    assert (await shop.get(payment["id"]))["status"] == "pending"
    assert [e["type"] for e in await api.outbox() if e.get("paymentId") == payment["id"]] == [
        "PAYMENT_CREATED"
    ]
    async with api.state.store.reading() as tx:
        seen = await tx.conn.scalar(sa.select(sa.func.count()).select_from(payhook_events))
    assert seen == 0


async def test_a_refund_made_elsewhere_arrives_by_payhook(api: RunningApi) -> None:
    shop, payment, hook = await _paid_with_payhook_held(api)
    secret = sandbox_secret(api.state.settings.secret_key)
    await api.client.post(
        "/v2/payhook/GATEWAY_SANDBOX",
        content=hook.content,
        headers={"Sandbox-Signature": hook.headers["Sandbox-Signature"]},
    )
    event = orjson.loads(hook.content)
    refunded = orjson.dumps(
        {
            **event,
            "id": "evt_sbx_elsewhere",
            "type": "charge.refunded",
            "data": {**event["data"], "amount": 150},
        }
    )
    signature = {"Sandbox-Signature": sign(secret, refunded, int(time.time()))}
    answer = await api.client.post(
        "/v2/payhook/GATEWAY_SANDBOX", content=refunded, headers=signature
    )
    assert answer.json() == {"status": "applied"}
    after = await shop.get(payment["id"])
    assert after["refundedTotal"] == 150 and after["refundable"] == 250
    [refund] = [e for e in await api.outbox() if e["type"] == "SESSION_CART_REFUND"]
    assert refund["customData"]["amount"] == 150 and refund["customData"]["refundedTotal"] == 150

"""Payments through the real stack (gateway, auth, api, events): a tap starts a session, the
session pays with the demo and the sandbox gateways through the SDK, and each payment's events
are read back from the events service in version order."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from sticky_sdk import Event, Payment, Sticky
from tests.e2e.test_accounts import signed_up
from tests.stack_fixture import RunningStack

CARD = {
    "number": "4242424242424242",
    "exp_month": 12,
    "exp_year": datetime.now(UTC).year + 2,
    "cvc": "123",
}


def _shop(stack: RunningStack, sticky: Sticky, gateway: str) -> tuple[str, str]:
    """A flow taking payments through ``gateway`` and a sticker opening it: their ids."""
    auth = {"Authorization": f"Bearer {sticky.access_token}"}
    flow = httpx.post(
        f"{stack.base_url}/v1/applications",
        json={"name": f"Till {gateway}", "settings": {"gateway": gateway}},
        headers=auth,
    ).json()
    httpx.post(
        f"{stack.base_url}/v1/applications/{flow['id']}/make-live", headers=auth
    ).raise_for_status()
    thing = httpx.post(
        f"{stack.base_url}/v1/things",
        json={"name": "Counter", "applicationId": flow["id"]},
        headers=auth,
    ).json()
    return flow["id"], thing["id"]


def _tap(stack: RunningStack, thing_id: str) -> str:
    response = httpx.get(f"{stack.base_url}/t/{thing_id}", follow_redirects=False)
    assert response.status_code == 302, response.text
    return parse_qs(urlsplit(response.headers["location"]).query)["sessionId"][0]


def _stream(sticky: Sticky, payment_id: str, count: int, timeout: float = 20.0) -> list[Event]:
    deadline = time.monotonic() + timeout
    while True:
        events = list(sticky.streams.read(f"payment-{payment_id}"))
        if len(events) >= count or time.monotonic() > deadline:
            return events
        time.sleep(0.1)


def _settled(sticky: Sticky, payment_id: str, timeout: float = 10.0) -> Payment:
    deadline = time.monotonic() + timeout
    while True:
        payment = sticky.payments.retrieve(payment_id)
        if payment.status != "pending" or time.monotonic() > deadline:
            return payment
        time.sleep(0.05)


def test_a_session_pays_with_the_demo_gateway_and_the_events_tell_it(stack: RunningStack) -> None:
    owner, _ = signed_up(stack)
    product = owner.products.create("Flat white", 380, "EUR")
    flow_id, thing_id = _shop(stack, owner, "GATEWAY_NOOP")
    session_id = _tap(stack, thing_id)
    with Sticky(stack.base_url, session_id=session_id) as buyer:
        cart: list[dict[str, Any]] = [{"product_id": product.id, "quantity": 2}]
        paid = buyer.payments.create(currency="EUR", cart=cart, tip=40, idempotency_key="till-1")
        again = buyer.payments.create(currency="EUR", cart=cart, tip=40, idempotency_key="till-1")
    assert paid.status == "paid" and paid.total == 800 and again.id == paid.id
    assert paid.application_id == flow_id and paid.thing_id == thing_id

    refunded = owner.payments.refund(paid.id, 300)
    assert refunded.refunded_total == 300
    events = _stream(owner, paid.id, 3)
    assert [(e.type, e.version) for e in events] == [
        ("PAYMENT_CREATED", 0),
        ("SESSION_CART_PAY", 1),
        ("SESSION_CART_REFUND", 2),
    ]
    created, pay, refund = events
    assert (
        created.custom_data["total"] == 800 and created.custom_data["cart"][0]["lineTotal"] == 760
    )
    assert pay.custom_data["reference"] == f"noop_{paid.id}" and pay.session_id == session_id
    assert refund.custom_data["amount"] == 300 and refund.custom_data["refundedTotal"] == 300
    assert {e.payment_id for e in events} == {paid.id}


def test_the_sandbox_pays_through_its_payhook_on_the_real_api(stack: RunningStack) -> None:
    owner, _ = signed_up(stack)
    product = owner.products.create("Bagel", 250, "GBP")
    _, thing_id = _shop(stack, owner, "GATEWAY_SANDBOX")
    with Sticky(stack.base_url, session_id=_tap(stack, thing_id)) as buyer:
        cart = [{"product_id": product.id, "quantity": 1}]
        pending = buyer.payments.create(currency="GBP", cart=cart, card=CARD)
        declined = buyer.payments.create(
            currency="GBP", cart=cart, card={**CARD, "number": "4000000000009995"}
        )
    assert (
        pending.status == "pending"
        and pending.reference
        and pending.reference.startswith("sbx_ch_")
    )
    assert _settled(owner, pending.id).status == "paid"
    failed = _settled(owner, declined.id)
    assert failed.status == "failed" and failed.failure == {
        "code": "insufficient_funds",
        "message": "Your card has insufficient funds.",
    }
    assert [e.type for e in _stream(owner, pending.id, 2)] == [
        "PAYMENT_CREATED",
        "SESSION_CART_PAY",
    ]
    assert [e.type for e in _stream(owner, declined.id, 2)] == [
        "PAYMENT_CREATED",
        "SESSION_CART_PAY_FAIL",
    ]
    listed = {p.id: p.status for p in owner.payments.list()}
    assert listed == {pending.id: "paid", declined.id: "failed"}

"""The whole money path through the real gateway and services, once per payment gateway: a tap
gives a session, the session pays through the SDK, the payment's events land in its stream, the
customer's receipt arrives in the SMTP sink, and the merchant's webhook receiver gets the signed
payment, verified with the SDK's helper.

The demo gateway pays at once; the sandbox pays later through its signed payhook; Stripe is
reached by the official library over HTTP at a replay of its API (its servers are out of reach
here), and its webhook, signed as Stripe signs, comes in through the gateway."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from sticky_sdk import Payment, Sticky, webhooks
from tests.api.payments.harnesses import stripe_signature
from tests.api.payments.stripe_replay import MERCHANT_KEY, WEBHOOK_SECRET, AdaptingStripeReplay
from tests.e2e.conftest import wait_for_email
from tests.e2e.payment_events import Receiver, receiving
from tests.e2e.stripe_server import serving_stripe
from tests.e2e.test_accounts import signed_up
from tests.stack_fixture import RunningStack, start_stack

CARD = {"number": "4242424242424242", "exp_month": 12, "exp_year": datetime.now(UTC).year + 2,
        "cvc": "123"}  # fmt: skip
GATEWAYS = ["GATEWAY_NOOP", "GATEWAY_SANDBOX", "GATEWAY_STRIPE"]


class MoneyStack:
    def __init__(self, stack: RunningStack, stripe: AdaptingStripeReplay) -> None:
        self.stack = stack
        self.stripe = stripe


@pytest.fixture(scope="module")
def money(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MoneyStack]:
    replay = AdaptingStripeReplay(["payment_intent_succeeded.json"])
    with serving_stripe(replay) as stripe_url:
        running = start_stack(
            tmp_path_factory.mktemp("money-stack"), STICKY_STRIPE_API_BASE=stripe_url
        )
        try:
            yield MoneyStack(running, replay)
        finally:
            running.stop()
    assert not replay.unmatched, replay.unmatched


def shop(stack: RunningStack, owner: Sticky, gateway: str) -> tuple[str, str, str]:
    """A product, a live flow with receipts on taking ``gateway``, and a sticker: their ids."""
    auth = {"Authorization": f"Bearer {owner.access_token}"}
    product = owner.products.create("Flat white", 380, "EUR")
    settings = {"gateway": gateway, "receipts": True}
    flow = httpx.post(
        f"{stack.base_url}/v1/applications",
        json={"name": "Till", "publicName": "Café Ann", "settings": settings},
        headers=auth,
    ).json()
    live = httpx.post(f"{stack.base_url}/v1/applications/{flow['id']}/make-live", headers=auth)
    assert live.status_code == 200, live.text
    thing = owner.things.create("Table 4", application_id=flow["id"])
    if gateway == "GATEWAY_STRIPE":
        keys = {"secretKey": MERCHANT_KEY, "webhookSecret": WEBHOOK_SECRET}
        saved = httpx.put(f"{stack.base_url}/v1/payment-settings/stripe", json=keys, headers=auth)
        assert saved.status_code == 200, saved.text
    return product.id, flow["id"], thing.id


def tap(stack: RunningStack, thing_id: str) -> str:
    response = httpx.get(f"{stack.base_url}/t/{thing_id}", follow_redirects=False)
    assert response.status_code == 302, response.text
    session: str = httpx.URL(response.headers["location"]).params["sessionId"]
    return session


def paid(owner: Sticky, payment_id: str, timeout: float = 20.0) -> Payment:
    deadline = time.monotonic() + timeout
    while True:
        payment = owner.payments.retrieve(payment_id)
        if payment.status != "pending" or time.monotonic() > deadline:
            return payment
        time.sleep(0.05)


def stripe_webhook(money: MoneyStack, intent_id: str) -> httpx.Response:
    """Stripe telling the platform the PaymentIntent succeeded, signed as Stripe signs."""
    body = json.dumps(money.stripe.event("event_payment_intent_succeeded.json", intent_id))
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "Stripe-Signature": stripe_signature(body.encode(), WEBHOOK_SECRET, int(time.time())),
    }
    return httpx.post(
        f"{money.stack.base_url}/v2/payhook/GATEWAY_STRIPE", content=body, headers=headers
    )


@pytest.mark.parametrize("gateway", GATEWAYS)
def test_tap_pay_events_receipt_and_webhook(money: MoneyStack, gateway: str) -> None:
    stack = money.stack
    owner, _ = signed_up(stack)
    product_id, flow_id, thing_id = shop(stack, owner, gateway)
    customer = f"cleo-{uuid.uuid4().hex[:10]}@example.com"
    receiver = Receiver()
    with receiving(receiver):
        endpoint = owner.webhooks.create(receiver.url, event_types=["SESSION_CART_PAY"])
        assert endpoint.secret is not None
        session_id = tap(stack, thing_id)
        means: dict[str, Any] = {
            "GATEWAY_NOOP": {},
            "GATEWAY_SANDBOX": {"card": CARD},
            "GATEWAY_STRIPE": {"payment_method": "pm_card_visa"},
        }[gateway]
        with Sticky(stack.base_url, session_id=session_id) as buyer:

            def pay() -> Payment:
                return buyer.payments.create(
                    currency="EUR",
                    cart=[{"product_id": product_id, "quantity": 2}],
                    tip=40,
                    customer={"email": customer, "name": "Cleo"},
                    idempotency_key=f"till-{gateway}",
                    **means,
                )

            payment, again = pay(), pay()  # a double submission
        assert again.id == payment.id and payment.total == 800  # priced by the platform
        if gateway == "GATEWAY_STRIPE":
            assert payment.reference in money.stripe.intents
            told = stripe_webhook(money, payment.reference or "")
            assert told.status_code == 200, told.text
        settled = paid(owner, payment.id)
        assert settled.status == "paid" and settled.gateway == gateway
        assert (settled.session_id, settled.application_id, settled.thing_id) == (
            session_id,
            flow_id,
            thing_id,
        )

        [request] = receiver.wait_for(1, timeout=30)
        body = webhooks.verify(request.body, request.headers["sticky-signature"], endpoint.secret)
        assert body["event"]["type"] == "SESSION_CART_PAY"
        assert body["payment"]["id"] == payment.id and body["payment"]["status"] == "paid"
        assert body["flow"]["id"] == flow_id and body["sticky"]["id"] == thing_id
        assert body["session"]["id"] == session_id
        with pytest.raises(webhooks.WebhookVerificationError):
            webhooks.verify(request.body, request.headers["sticky-signature"], "whsec_forged")

    receipt = wait_for_email(stack, customer, "your receipt from café ann", timeout=30)
    assert "Flat white" in receipt["text"] and "8.00 EUR" in receipt["text"]
    deadline = time.monotonic() + 20
    while True:
        events = list(owner.streams.read(f"payment-{payment.id}"))
        if len(events) >= 2 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert [(e.type, e.version) for e in events] == [
        ("PAYMENT_CREATED", 0),
        ("SESSION_CART_PAY", 1),
    ]
    if gateway == "GATEWAY_STRIPE":
        assert money.stripe.created("/v1/payment_intents") >= 1
        charged = [i for i in money.stripe.intents.values()
                   if i["metadata"].get("stickyPaymentId") == payment.id]  # fmt: skip
        assert len(charged) == 1 and charged[0]["amount"] == 800

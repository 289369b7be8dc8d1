"""A Stripe payment through the whole in-process api, on SQLite and PostgreSQL: the merchant's
keys, a session's payment, Stripe's webhook, a second-step card, a decline, and a refund.

Everything goes over HTTP to the api; only Stripe's servers (outside this network) are
replayed, below the official library, adapted to the payment ids and prices the api makes.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from sticky.api.payments.gateways import (
    GATEWAY_STRIPE,
    EventOutcome,
    GatewayEvent,
    StripeHttpClient,
)
from tests.api.payments.harnesses import stripe_signature
from tests.api.payments.shop import Shop, coffee_line, open_shop, payments_of
from tests.api.payments.stripe_replay import (
    MERCHANT_KEY,
    WEBHOOK_SECRET,
    AdaptingStripeReplay,
    recorded,
)
from tests.api.support import RunningApi

RECORDINGS = [
    "payment_intent_succeeded.json",
    "payment_intent_requires_action.json",
    "payment_intent_declined.json",
    "refund_partial.json",
]
INTENTS = "/v1/payment_intents"
REFUNDS = "/v1/refunds"
PAYHOOK = f"/v2/payhook/{GATEWAY_STRIPE}"
PROBLEM = "application/problem+json"


@pytest.fixture
async def stripe(api: RunningApi) -> AsyncIterator[AdaptingStripeReplay]:
    """Stripe's API, replayed under the api's own Stripe HTTP client."""
    replay = AdaptingStripeReplay(list(RECORDINGS))
    gateways = payments_of(api).gateways
    await gateways.stripe_http.close_async()
    # The api closes this one at shutdown, as it would its own.
    gateways.stripe_http = StripeHttpClient(transport=replay.transport)
    yield replay
    assert not replay.unmatched, f"requests no recording answers: {replay.unmatched}"


async def stripe_shop(api: RunningApi) -> Shop:
    """A shop whose live flow takes Stripe, with the merchant's keys set."""
    shop = await open_shop(api, "usr_a", GATEWAY_STRIPE)
    keys = {
        "secretKey": MERCHANT_KEY,
        "webhookSecret": WEBHOOK_SECRET,
        "publishableKey": "pk_test_sticky_merchant_a",
    }
    response = await api.client.put("/v1/payment-settings/stripe", json=keys, headers=shop.owner)
    assert response.status_code == 200, response.text
    return shop


async def send_webhook(
    api: RunningApi, event: dict[str, Any], secret: str = WEBHOOK_SECRET, at: int | None = None
) -> httpx.Response:
    """``event`` posted as Stripe posts it: signed at ``at`` (now) with ``secret``."""
    body = json.dumps(event, indent=2).encode()
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "Stripe-Signature": stripe_signature(body, secret, at or int(time.time())),
        "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
    }
    return await api.client.post(PAYHOOK, content=body, headers=headers)


async def history(api: RunningApi, payment_id: str) -> list[tuple[str, str, int]]:
    events = [e for e in await api.outbox() if e.get("paymentId") == payment_id]
    return [(e["type"], e["stream"], e["expectedVersion"]) for e in events]


async def test_a_session_pays_with_the_merchants_stripe_keys_once(
    api: RunningApi, stripe: AdaptingStripeReplay
) -> None:
    shop = await open_shop(api, "usr_a", GATEWAY_STRIPE)
    keys = {"secretKey": MERCHANT_KEY, "webhookSecret": WEBHOOK_SECRET}
    response = await api.client.put("/v1/payment-settings/stripe", json=keys, headers=shop.owner)
    assert response.status_code == 200, response.text
    assert MERCHANT_KEY not in response.text and WEBHOOK_SECRET not in response.text
    masked = response.json()
    assert masked["configured"] is True
    assert masked["secretKey"].startswith("sk_test_") and masked["secretKey"].endswith("nt_a")
    assert masked["webhookSecret"].startswith("whsec_") and masked["webhookSecret"].endswith("nt_a")

    session = await shop.session()
    key = {"Idempotency-Key": "cart-7"}
    cart = [coffee_line(shop, 2, "large", "oat"), {"productId": shop.cake["id"], "quantity": 1}]
    payment = await shop.pay(session, headers=key, cart=cart, tip=120, paymentMethod="pm_card_visa")

    # Coffee: 350 + 100 (large) + 40 (oat) = 490, twice; a cake 400; a tip 120.
    assert payment["total"] == 2 * 490 + 400 + 120
    assert (payment["status"], payment["gateway"]) == ("paid", GATEWAY_STRIPE)
    assert payment["reference"].startswith("pi_") and payment["reference"] in stripe.intents
    assert payment["sessionPaidAt"] is not None and payment["refundable"] == payment["total"]
    [sent] = stripe.seen
    assert (sent.method, sent.path) == ("POST", INTENTS)
    assert sent.headers["Authorization"] == f"Bearer {MERCHANT_KEY}"
    assert sent.params["amount"] == str(payment["total"]) and sent.params["currency"] == "eur"
    assert sent.params["payment_method"] == "pm_card_visa" and sent.params["confirm"] == "true"
    assert sent.params["metadata[stickyPaymentId]"] == payment["id"]
    intent = stripe.intents[payment["reference"]]
    assert (intent["amount"], intent["metadata"]) == (
        payment["total"],
        {"stickyPaymentId": payment["id"]},
    )

    again = await shop.pay(session, headers=key, cart=cart, tip=120, paymentMethod="pm_card_visa")
    assert (again["id"], again["reference"], again["status"]) == (
        payment["id"],
        payment["reference"],
        "paid",
    )
    assert stripe.created(INTENTS) == 1
    # Another payment is another PaymentIntent.
    other = await shop.pay(await shop.session(), paymentMethod="pm_card_visa")
    assert other["reference"] not in (payment["reference"], None)
    assert stripe.created(INTENTS) == 2


async def test_stripes_webhook_agrees_and_forged_or_old_ones_are_refused(
    api: RunningApi, stripe: AdaptingStripeReplay
) -> None:
    shop = await stripe_shop(api)
    payment = await shop.pay(await shop.session(), paymentMethod="pm_card_visa")
    before, events = await shop.get(payment["id"]), await api.outbox()

    event = stripe.event("event_payment_intent_succeeded.json", payment["reference"])
    assert event["data"]["object"]["metadata"] == {"stickyPaymentId": payment["id"]}
    agreed = await send_webhook(api, event)
    assert agreed.status_code == 200 and agreed.json() == {"status": "applied"}
    assert (await send_webhook(api, event)).json() == {"status": "duplicate"}

    fresh = stripe.event("event_payment_intent_succeeded.json", payment["reference"])
    forged = await send_webhook(api, fresh, secret="whsec_somebody_else")
    stale = await send_webhook(api, fresh, at=int(time.time()) - 301)
    for refused in (forged, stale):
        assert refused.status_code == 400
        assert refused.headers["content-type"].startswith(PROBLEM)
        assert refused.json()["type"].endswith("payhook-refused")
    assert "signed at" in stale.json()["detail"]
    assert await shop.get(payment["id"]) == before
    assert await api.outbox() == events


async def test_a_card_with_a_second_step_is_pending_until_stripes_webhook(
    api: RunningApi, stripe: AdaptingStripeReplay
) -> None:
    shop = await stripe_shop(api)
    back = "https://shop.example/paid"
    pending = await shop.pay(
        await shop.session(), paymentMethod="pm_card_authenticationRequired", returnUrl=back
    )
    reference = pending["reference"]
    assert pending["status"] == "pending" and reference.startswith("pi_")
    assert pending["action"]["url"].startswith("https://hooks.stripe.com/3d_secure_2/hosted?")
    assert f"payment_intent={reference}&" in pending["action"]["url"]
    assert pending["action"]["clientSecret"].startswith(f"{reference}_secret_")
    assert stripe.seen[0].params["return_url"] == back
    assert (await shop.get(pending["id"]))["status"] == "pending"

    event = stripe.event("event_payment_intent_succeeded.json", reference)
    applied = await send_webhook(api, event)
    assert applied.json() == {"status": "applied"}
    paid = await shop.get(pending["id"])
    assert (paid["status"], paid["reference"]) == ("paid", reference)
    assert paid["sessionPaidAt"] is not None
    [pay] = [e for e in await api.outbox() if e["type"] == "SESSION_CART_PAY"]
    assert pay["customData"]["reference"] == reference
    assert pay["customData"]["total"] == pending["total"]


async def test_a_card_stripe_declines_is_a_failed_payment(
    api: RunningApi, stripe: AdaptingStripeReplay
) -> None:
    shop = await stripe_shop(api)
    failed = await shop.pay(await shop.session(), paymentMethod="pm_card_chargeDeclined")
    assert failed["status"] == "failed" and failed["reference"].startswith("pi_")
    assert failed["failure"] == {"code": "generic_decline", "message": "Your card was declined."}
    assert failed["sessionFailedAt"] is not None and failed["refundable"] == 0
    assert stripe.intents[failed["reference"]]["amount"] == failed["total"]

    # Stripe's webhook about it agrees, and changes nothing.
    event = stripe.event("event_payment_intent_payment_failed.json", failed["reference"])
    assert (await send_webhook(api, event)).json() == {"status": "applied"}
    assert (await shop.get(failed["id"]))["status"] == "failed"
    [fail] = [e for e in await api.outbox() if e["type"] == "SESSION_CART_PAY_FAIL"]
    assert (fail["customData"]["code"], fail["customData"]["gateway"]) == (
        "generic_decline",
        GATEWAY_STRIPE,
    )
    refund = await api.client.post(f"/v1/payments/{failed['id']}/refunds", headers=shop.owner)
    assert refund.status_code == 409 and stripe.created(REFUNDS) == 0


async def test_a_partial_refund_goes_to_stripe_and_too_much_never_does(
    api: RunningApi, stripe: AdaptingStripeReplay
) -> None:
    shop = await stripe_shop(api)
    cart = [{"productId": shop.cake["id"], "quantity": 2}]
    payment = await shop.pay(await shop.session(), cart=cart, paymentMethod="pm_card_visa")
    url = f"/v1/payments/{payment['id']}/refunds"

    partial = await api.client.post(url, json={"amount": 300}, headers=shop.owner)
    assert partial.status_code == 201, partial.text
    assert (partial.json()["refundedTotal"], partial.json()["refundable"]) == (300, 500)
    assert partial.json()["status"] == "paid"
    [sent] = [s for s in stripe.seen if s.path == REFUNDS]
    assert sent.params == {
        "payment_intent": payment["reference"],
        "amount": "300",
        "metadata[stickyPaymentId]": payment["id"],
    }
    [refund] = stripe.refunds.values()

    too_much = await api.client.post(url, json={"amount": 501}, headers=shop.owner)
    assert too_much.status_code == 409
    assert too_much.headers["content-type"].startswith(PROBLEM)
    assert too_much.json()["refundable"] == 500
    assert len([s for s in stripe.seen if s.path == REFUNDS]) == 1
    assert (await shop.get(payment["id"]))["refundedTotal"] == 300

    stream = f"payment-{payment['id']}"
    assert await history(api, payment["id"]) == [
        ("PAYMENT_CREATED", stream, -1),
        ("SESSION_CART_PAY", stream, 0),
        ("SESSION_CART_REFUND", stream, 1),
    ]
    [refunded] = [e["customData"] for e in await api.outbox() if e["type"] == "SESSION_CART_REFUND"]
    assert (refunded["amount"], refunded["refundedTotal"]) == (300, 300)
    assert refunded["currency"] == "EUR"
    assert (refunded["paymentId"], refunded["reference"]) == (payment["id"], refund["id"])


class HeldAnswers:
    """Stripe's answers held back until released: its webhook can then arrive first."""

    def __init__(self, replay: AdaptingStripeReplay) -> None:
        self.replay = replay
        self.asked = asyncio.Event()
        self.release = asyncio.Event()

    async def handle(self, request: httpx.Request) -> httpx.Response:
        await request.aread()
        response = self.replay.answer(request)  # Stripe has done it; the answer is on its way
        self.asked.set()
        await self.release.wait()
        return response


async def test_a_webhook_that_outruns_the_charge_answer_settles_the_payment_once(
    api: RunningApi, stripe: AdaptingStripeReplay
) -> None:
    # Stripe may post the webhook before the api has the PaymentIntent's id (the charge's
    # answer still on its way back): the payment is then found by the id in the metadata.
    shop = await stripe_shop(api)
    held = HeldAnswers(stripe)
    gateways = payments_of(api).gateways
    await gateways.stripe_http.close_async()
    gateways.stripe_http = StripeHttpClient(transport=httpx.MockTransport(held.handle))
    session = await shop.session()
    paying = asyncio.create_task(shop.pay(session, paymentMethod="pm_card_visa"))
    await asyncio.wait_for(held.asked.wait(), 10)
    [intent_id] = stripe.intents
    answer = await send_webhook(api, stripe.event("event_payment_intent_succeeded.json", intent_id))
    assert answer.status_code == 200, answer.text
    held.release.set()
    payment = await paying
    assert (payment["status"], payment["reference"]) == ("paid", intent_id)
    assert [kind for kind, _, _ in await history(api, payment["id"])] == [
        "PAYMENT_CREATED",
        "SESSION_CART_PAY",
    ]


async def test_a_webhook_naming_another_gateways_payment_is_refused(
    api: RunningApi, stripe: AdaptingStripeReplay
) -> None:
    await stripe_shop(api)
    other = await open_shop(api, "usr_b")
    demo = await other.pay()
    event = recorded("event_payment_intent_succeeded.json")
    event["data"]["object"].update(id="pi_unknown", metadata={"stickyPaymentId": demo["id"]})
    refused = await send_webhook(api, event)
    assert refused.status_code == 400 and refused.headers["content-type"] == PROBLEM
    assert await other.get(demo["id"]) == demo


async def test_one_merchants_webhook_cannot_settle_anothers_payment(
    api: RunningApi, stripe: AdaptingStripeReplay
) -> None:
    # Each merchant signs Stripe's webhooks with a secret of their own choosing: one must not
    # be able to sign an event that settles another merchant's payment.
    ann = await stripe_shop(api)
    bea = await open_shop(api, "usr_b", GATEWAY_STRIPE)
    keys = {"secretKey": MERCHANT_KEY, "webhookSecret": "whsec_bea_own_secret"}
    saved = await api.client.put("/v1/payment-settings/stripe", json=keys, headers=bea.owner)
    assert saved.status_code == 200, saved.text
    anns = await ann.pay(await ann.session(), paymentMethod="pm_card_visa")
    beas = await bea.pay(
        await bea.session(),
        paymentMethod="pm_card_authenticationRequired",
        returnUrl="https://bea.example/back",
    )
    assert beas["status"] == "pending"

    # Ann's own PaymentIntent, with Bea's payment in its metadata, signed with Ann's secret.
    event = stripe.event("event_payment_intent_succeeded.json", anns["reference"])
    event["data"]["object"]["metadata"] = {"stickyPaymentId": beas["id"]}
    refused = await send_webhook(api, event)
    assert refused.status_code == 400 and refused.headers["content-type"] == PROBLEM
    # A PaymentIntent nobody has, naming Bea's payment: checked with Bea's secret, not Ann's.
    event = recorded("event_payment_intent_succeeded.json")
    event["data"]["object"].update(id="pi_ann_made_up", metadata={"stickyPaymentId": beas["id"]})
    refused = await send_webhook(api, event)
    assert refused.status_code == 400 and refused.headers["content-type"] == PROBLEM
    assert (await bea.get(beas["id"]))["status"] == "pending"


async def test_an_event_verified_for_one_merchant_is_ignored_for_anothers_payment(
    api: RunningApi, stripe: AdaptingStripeReplay
) -> None:
    # Behind the signature check, the payments service itself refuses the crossing.
    bea = await stripe_shop(api)
    beas = await bea.pay(
        await bea.session(),
        paymentMethod="pm_card_authenticationRequired",
        returnUrl="https://bea.example/back",
    )

    def told(merchant: str, event_id: str) -> GatewayEvent:
        return GatewayEvent(
            GATEWAY_STRIPE, event_id, EventOutcome.SUCCEEDED, beas["reference"], beas["id"],
            beas["total"], beas["currency"], 0, merchant_id=merchant,
        )  # fmt: skip

    assert await payments_of(api).apply_gateway_event(told("usr_b", "evt_cross")) == "ignored"
    assert (await bea.get(beas["id"]))["status"] == "pending"
    assert await payments_of(api).apply_gateway_event(told("usr_a", "evt_own")) == "applied"
    assert (await bea.get(beas["id"]))["status"] == "paid"


@pytest.mark.parametrize(
    "claim",
    [
        {"id": "pi_\u0000nul", "metadata": {}},
        {"id": "pi_ok", "metadata": {"stickyPaymentId": "pay_\u0000nul"}},
        {"id": "x" * 5000, "metadata": {"stickyPaymentId": ["not", "a", "string"]}},
    ],
)
async def test_unverified_claims_that_are_no_ids_are_refused_cleanly(
    api: RunningApi, stripe: AdaptingStripeReplay, claim: dict[str, Any]
) -> None:
    event = recorded("event_payment_intent_succeeded.json")
    event["data"]["object"].update(claim)
    answer = await send_webhook(api, event)
    assert answer.status_code == 400 and answer.headers["content-type"] == PROBLEM

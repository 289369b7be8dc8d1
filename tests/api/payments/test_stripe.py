"""The Stripe gateway against recorded Stripe responses, and its webhook verification.

Requests go through the official library down to its HTTP client hook, where the recordings
answer; the assertions are on what would have gone over the wire to api.stripe.com.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import stripe

from sticky.api.payments.gateways import (
    ChargeRequest,
    ChargeStatus,
    EventOutcome,
    ForgedCallback,
    IdempotencyConflict,
    InvalidPaymentDetails,
    ProviderUnavailable,
    RefundRejected,
    RefundRequest,
    RefundStatus,
    StaleCallback,
    StripeGateway,
    StripeHttpClient,
    StripeKeys,
    open_keys,
    peek_claims,
    seal_keys,
)
from sticky.kernel.crypto import DecryptionError
from tests.api.payments.harnesses import stripe_signature
from tests.api.payments.stripe_replay import (
    MERCHANT_KEY,
    WEBHOOK_SECRET,
    StripeReplay,
    recorded,
)

PI_OK = "pi_3RkT9uFzQxN1bV2a0H8sL4cE"
KEYS = StripeKeys(MERCHANT_KEY, WEBHOOK_SECRET, "pk_test_sticky_merchant_a")

Connect = Callable[..., StripeGateway]


@pytest.fixture
async def connect() -> AsyncIterator[Connect]:
    """A gateway over a replay of the named recordings: ``connect(replay, keys=..., ...)``."""
    clients: list[StripeHttpClient] = []

    def make(replay: StripeReplay, keys: StripeKeys = KEYS, **options: int) -> StripeGateway:
        http = StripeHttpClient(transport=replay.transport)
        clients.append(http)
        return StripeGateway(keys, http, **options)

    yield make
    for http in clients:
        await http.close_async()


def paying(key: str = "idem-1", **changes: str) -> ChargeRequest:
    fields = {"payment_id": "pay_contract_ok", "payment_method": "pm_card_visa", **changes}
    return ChargeRequest(
        fields["payment_id"],
        2500,
        "EUR",
        key,
        description="Sticky order",
        payment_method=fields["payment_method"],
        return_url=fields.get("return_url"),
    )


async def test_a_charge_creates_and_confirms_a_payment_intent_with_the_merchants_key(
    connect: Connect,
) -> None:
    replay = StripeReplay(["payment_intent_succeeded.json"])

    result = await connect(replay).charge(paying("order-42-attempt-1"))

    assert (result.status, result.reference, result.decline) == (
        ChargeStatus.SUCCEEDED,
        PI_OK,
        None,
    )
    [sent] = replay.seen
    assert (sent.method, sent.path) == ("POST", "/v1/payment_intents")
    assert sent.params == {
        "amount": "2500",
        "currency": "eur",
        "payment_method": "pm_card_visa",
        "allowed_payment_method_types[0]": "card",
        "confirm": "true",
        "description": "Sticky order",
        "metadata[stickyPaymentId]": "pay_contract_ok",
    }
    assert sent.headers["Authorization"] == f"Bearer {MERCHANT_KEY}"
    assert sent.headers["Idempotency-Key"] == "order-42-attempt-1"
    assert sent.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert sent.headers["Stripe-Version"] == "2026-10-28.endive"
    assert not replay.unmatched


async def test_a_card_that_needs_a_second_step_is_pending(connect: Connect) -> None:
    replay = StripeReplay(["payment_intent_requires_action.json"])
    back = "https://sticky.example/retail/paid?payment=pay_second_step"

    result = await connect(replay).charge(
        paying(
            payment_id="pay_second_step",
            payment_method="pm_card_authenticationRequired",
            return_url=back,
        )
    )

    assert result.status is ChargeStatus.PENDING
    assert result.action_url is not None
    assert result.action_url.startswith("https://hooks.stripe.com/3d_secure_2/hosted?")
    assert result.client_secret == f"{result.reference}_secret_Zk4LqP0aTnV7yR2wXc9HbMe1s"
    assert replay.seen[0].params["return_url"] == back


async def test_a_declined_card_is_a_result_not_an_error(connect: Connect) -> None:
    replay = StripeReplay(["payment_intent_declined.json"])

    result = await connect(replay).charge(
        paying(payment_id="pay_contract_declined", payment_method="pm_card_chargeDeclined")
    )

    assert result.status is ChargeStatus.DECLINED
    assert result.reference == "pi_3RkTA1FzQxN1bV2a1yZ5mQwe"
    assert result.decline is not None
    assert (result.decline.code, result.decline.message) == (
        "generic_decline",
        "Your card was declined.",
    )


async def test_keys_stripe_refuses_are_a_provider_problem(connect: Connect) -> None:
    replay = StripeReplay(["payment_intent_succeeded.json"], api_key="sk_test_the_real_one")

    with pytest.raises(ProviderUnavailable, match="Invalid API Key"):
        await connect(replay).charge(paying())


async def test_a_charge_without_a_payment_method_never_reaches_stripe(connect: Connect) -> None:
    replay = StripeReplay([])

    with pytest.raises(InvalidPaymentDetails) as refused:
        await connect(replay).charge(paying(payment_method=""))

    assert refused.value.field == "paymentMethod"
    assert replay.seen == []


async def test_an_idempotency_key_reused_for_another_charge_is_refused(connect: Connect) -> None:
    replay = StripeReplay(["payment_intent_succeeded.json"])
    gateway = connect(replay)
    await gateway.charge(paying("k"))

    with pytest.raises(IdempotencyConflict):
        await gateway.charge(paying("k", payment_method="pm_card_mastercard"))
    assert replay.created("/v1/payment_intents") == 1


async def test_a_lost_connection_is_retried_under_the_same_key(connect: Connect) -> None:
    replay = StripeReplay(["payment_intent_succeeded.json"], fail_first=1)

    result = await connect(replay, max_network_retries=1).charge(paying("retry-me"))

    assert result.status is ChargeStatus.SUCCEEDED
    assert replay.failed_keys == ["retry-me"]
    assert [s.headers["Idempotency-Key"] for s in replay.seen] == ["retry-me"]


async def test_stripe_out_of_reach_is_a_provider_problem(connect: Connect) -> None:
    replay = StripeReplay(["payment_intent_succeeded.json"], fail_first=5)

    with pytest.raises(ProviderUnavailable):
        await connect(replay, max_network_retries=0).charge(paying())


async def test_a_refund_names_the_payment_intent_and_the_amount(connect: Connect) -> None:
    replay = StripeReplay(["refund_partial.json"])

    result = await connect(replay).refund(
        RefundRequest("pay_contract_ok", PI_OK, 1000, "EUR", "refund-key-1")
    )

    assert (result.status, result.amount) == (RefundStatus.SUCCEEDED, 1000)
    assert result.reference == "re_3RkT9uFzQxN1bV2a0rF1aA2b"
    [sent] = replay.seen
    assert (sent.method, sent.path) == ("POST", "/v1/refunds")
    assert sent.params == {
        "payment_intent": PI_OK,
        "amount": "1000",
        "metadata[stickyPaymentId]": "pay_contract_ok",
    }
    assert sent.headers["Idempotency-Key"] == "refund-key-1"


async def test_a_refund_stripe_refuses_is_rejected(connect: Connect) -> None:
    replay = StripeReplay(["refund_too_much.json"])

    with pytest.raises(RefundRejected, match="already been refunded"):
        await connect(replay).refund(RefundRequest("pay_contract_ok", PI_OK, 1, "EUR", "r"))


# Webhooks


def signed(
    name: str, secret: str = WEBHOOK_SECRET, at: int | None = None
) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(recorded(name), indent=2).encode()
    return body, {"Stripe-Signature": stripe_signature(body, secret, at or int(time.time()))}


def webhook_gateway() -> StripeGateway:
    return StripeGateway(KEYS, StripeHttpClient())


async def test_webhook_events_become_gateway_events() -> None:
    gateway = webhook_gateway()
    now = time.time()

    paid = gateway.verify_callback(*signed("event_payment_intent_succeeded.json"), now)
    failed = gateway.verify_callback(*signed("event_payment_intent_payment_failed.json"), now)
    refunded = gateway.verify_callback(*signed("event_charge_refunded.json"), now)
    other = gateway.verify_callback(*signed("event_payment_intent_created.json"), now)

    assert paid is not None and failed is not None and refunded is not None
    assert (paid.outcome, paid.reference, paid.payment_id, paid.amount, paid.currency) == (
        EventOutcome.SUCCEEDED,
        PI_OK,
        "pay_contract_ok",
        2500,
        "EUR",
    )
    assert paid.event_id == "evt_3RkT9uFzQxN1bV2a0nHq2Wsx"
    assert failed.outcome is EventOutcome.FAILED
    assert failed.decline is not None and failed.decline.code == "generic_decline"
    assert failed.payment_id == "pay_contract_declined"
    assert (refunded.outcome, refunded.reference, refunded.amount) == (
        EventOutcome.REFUNDED,
        PI_OK,
        1000,
    )
    assert other is None  # authentic, and of no interest
    await gateway.aclose()


def test_our_signing_is_stripes_signing() -> None:
    body = b'{"id":"evt_1","object":"event"}'
    ours = stripe_signature(body, WEBHOOK_SECRET, 1_800_000_000)

    theirs = stripe.WebhookSignature.generate_signature_header(
        body.decode(), WEBHOOK_SECRET, 1_800_000_000
    )
    assert ours.startswith(theirs + ",v0=")


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda b, h: (b, {}), id="no header"),
        pytest.param(lambda b, h: (b, {"Stripe-Signature": "garbage"}), id="malformed"),
        pytest.param(lambda b, h: (b, {"Stripe-Signature": "t=1,v0=abc"}), id="no v1"),
        pytest.param(lambda b, h: (b.replace(b"2500", b"25000"), h), id="altered body"),
        pytest.param(lambda b, h: (b, {"Sandbox-Signature": h["Stripe-Signature"]}), id="header"),
        pytest.param(lambda b, h: (b"\xff" + b, h), id="not utf-8"),
    ],
)
def test_a_forged_webhook_is_refused(
    tamper: Callable[[bytes, dict[str, str]], tuple[bytes, dict[str, str]]],
) -> None:
    body, headers = tamper(*signed("event_payment_intent_succeeded.json"))

    with pytest.raises(ForgedCallback):
        webhook_gateway().verify_callback(body, headers, time.time())


def test_a_webhook_signed_with_another_secret_is_refused() -> None:
    body, headers = signed("event_payment_intent_succeeded.json", secret="whsec_other_merchant")

    with pytest.raises(ForgedCallback):
        webhook_gateway().verify_callback(body, headers, time.time())


def test_an_old_webhook_is_refused_as_stale() -> None:
    now = time.time()
    body, headers = signed("event_payment_intent_succeeded.json", at=int(now) - 301)

    with pytest.raises(StaleCallback):
        webhook_gateway().verify_callback(body, headers, now)
    assert webhook_gateway().verify_callback(body, headers, now - 2) is not None


def test_a_signed_body_that_is_no_event_is_refused() -> None:
    body = b'["not", "an", "event"]'
    headers = {"Stripe-Signature": stripe_signature(body, WEBHOOK_SECRET, int(time.time()))}

    with pytest.raises(ForgedCallback):
        webhook_gateway().verify_callback(body, headers, time.time())


def _set(path: str, value: object) -> Callable[[dict[str, Any]], None]:
    def change(event: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        for name in parents:
            event = event[name]
        event[last] = value

    return change


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(_set("id", "evt_" + "x" * 300), id="event id too long"),
        pytest.param(_set("data.object.id", "pi_" + "x" * 300), id="intent id too long"),
        pytest.param(_set("data.object.metadata", "pay_contract_ok"), id="metadata not an object"),
        pytest.param(_set("data.object.metadata.stickyPaymentId", ["pay_1"]), id="id not text"),
        pytest.param(_set("data.object.metadata.stickyPaymentId", "pay_\x00"), id="id with NUL"),
    ],
)
def test_a_signed_event_no_column_can_hold_is_refused(
    change: Callable[[dict[str, Any]], None],
) -> None:
    event = recorded("event_payment_intent_succeeded.json")
    change(event)
    body = json.dumps(event).encode()
    headers = {"Stripe-Signature": stripe_signature(body, WEBHOOK_SECRET, int(time.time()))}

    with pytest.raises(ForgedCallback):
        webhook_gateway().verify_callback(body, headers, time.time())


def test_the_reference_a_webhook_claims_can_be_read_before_verifying() -> None:
    assert peek_claims(signed("event_payment_intent_succeeded.json")[0]).reference == PI_OK
    assert peek_claims(signed("event_charge_refunded.json")[0]).reference == PI_OK
    assert peek_claims(b"not json") == (None, None)
    assert peek_claims(b'{"data": {"object": {"object": "charge"}}}').reference is None
    assert peek_claims(b'{"data": {"object": ["a list"]}}') == (None, None)


def test_merchant_keys_are_sealed_at_rest() -> None:
    secret_key = "k" * 40
    sealed = seal_keys(secret_key, KEYS)

    assert MERCHANT_KEY not in sealed and WEBHOOK_SECRET not in sealed
    assert open_keys(secret_key, sealed) == KEYS
    with pytest.raises(DecryptionError):
        open_keys("z" * 40, sealed)
    assert MERCHANT_KEY not in repr(KEYS) and WEBHOOK_SECRET not in repr(KEYS)

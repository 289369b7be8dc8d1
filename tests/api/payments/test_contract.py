"""The payment gateway contract: the same tests, run against every gateway.

For the sandbox and Stripe the outcome is the one that arrives by payhook, over real HTTP,
verified by the gateway itself: the asynchronous path is the one exercised.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import httpx
import pytest

from sticky.api.payments.gateways import (
    GATEWAY_NOOP,
    ForgedCallback,
    InvalidPaymentDetails,
    RefundStatus,
    StaleCallback,
)
from tests.api.payments.harnesses import AMOUNT, Harness


async def test_a_good_card_is_charged(harness: Harness) -> None:
    result = await harness.gateway.charge(harness.paying())

    outcome = await harness.settle(result)

    assert outcome.succeeded
    assert outcome.decline is None
    assert outcome.reference == result.reference != ""


async def test_a_declined_card_fails_with_a_reason(harness: Harness) -> None:
    result = await harness.gateway.charge(harness.declining())
    outcome = await harness.settle(result)

    if harness.decline_code is None:  # the demo gateway succeeds at once, whatever the card
        assert outcome.succeeded
        assert outcome.decline is None
        return
    assert not outcome.succeeded
    assert outcome.decline is not None
    assert outcome.decline.code == harness.decline_code
    assert outcome.decline.message.startswith("Your card was declined")


async def test_a_payment_is_refunded_in_part_then_in_full(harness: Harness) -> None:
    paid = await harness.gateway.charge(harness.paying())
    assert (await harness.settle(paid)).succeeded

    first = await harness.gateway.refund(harness.refunding(paid.reference, 1000, "refund-1"))
    rest = await harness.gateway.refund(harness.refunding(paid.reference, 1500, "refund-2"))

    assert (first.status, first.amount) == (RefundStatus.SUCCEEDED, 1000)
    assert (rest.status, rest.amount) == (RefundStatus.SUCCEEDED, 1500)
    assert first.reference != rest.reference
    assert first.amount + rest.amount == AMOUNT


async def test_the_same_idempotency_key_charges_once(harness: Harness) -> None:
    first = await harness.gateway.charge(harness.paying("same-key"))
    again = await harness.gateway.charge(harness.paying("same-key"))

    assert again == first
    assert harness.charges_at_provider() in (None, 1)
    outcome = await harness.settle(first)
    assert outcome.succeeded


async def test_the_same_refund_key_refunds_once(harness: Harness) -> None:
    paid = await harness.gateway.charge(harness.paying())
    await harness.settle(paid)

    first = await harness.gateway.refund(harness.refunding(paid.reference, 1000, "refund-once"))
    again = await harness.gateway.refund(harness.refunding(paid.reference, 1000, "refund-once"))

    assert again == first


async def test_a_forged_payhook_is_refused(harness: Harness) -> None:
    body, headers = harness.forged()

    with pytest.raises(ForgedCallback):
        harness.gateway.verify_callback(body, headers, time.time())
    with pytest.raises(ForgedCallback):
        harness.gateway.verify_callback(body, {}, time.time())
    async with httpx.AsyncClient() as client:
        response = await client.post(
            harness.receiver.url(harness.name), content=body, headers=headers
        )
    assert response.status_code == 400
    assert harness.receiver.events == []


async def test_a_replayed_payhook_is_recognised(harness: Harness) -> None:
    paid = await harness.gateway.charge(harness.paying())
    await harness.settle(paid)
    if harness.name == GATEWAY_NOOP:  # the demo gateway sends no payhooks to replay
        assert harness.receiver.accepted == []
        return
    delivery = harness.receiver.accepted[0]
    now = time.time()

    again = harness.gateway.verify_callback(delivery.body, delivery.headers, now)
    assert again is not None
    assert again.event_id == harness.receiver.events[0].event_id  # the receiver drops it

    with pytest.raises(StaleCallback):
        harness.gateway.verify_callback(delivery.body, delivery.headers, now + 301)
    tampered = delivery.body.replace(b"2500", b"2501")
    with pytest.raises(ForgedCallback):
        harness.gateway.verify_callback(tampered, delivery.headers, now)


@pytest.mark.parametrize(
    ("field", "value", "reported"),
    [("amount", 0, "amount"), ("amount", -5, "amount"), ("currency", "euro", "currency")],
)
async def test_a_malformed_charge_is_refused(
    harness: Harness, field: str, value: Any, reported: str
) -> None:
    request = dataclasses.replace(harness.paying(), **{field: value})

    with pytest.raises(InvalidPaymentDetails) as refused:
        await harness.gateway.charge(request)

    assert refused.value.field == reported
    assert harness.charges_at_provider() in (None, 0)

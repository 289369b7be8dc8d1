"""The sandbox card processor: its test cards, second step, refunds, and payhook delivery."""

from __future__ import annotations

import asyncio
import calendar
import dataclasses
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from sticky.api.payments.gateways import (
    GATEWAY_SANDBOX,
    Card,
    ChargeRequest,
    ChargeStatus,
    DeliveryPolicy,
    EventOutcome,
    ForgedCallback,
    IdempotencyConflict,
    InvalidPaymentDetails,
    RefundRejected,
    RefundRequest,
    SandboxGateway,
    StaleCallback,
)
from sticky.api.payments.gateways.callbacks import sandbox_secret, sign, verify
from sticky.api.payments.gateways.cards import TEST_CARDS, luhn_valid
from tests.api.payments.harnesses import future_card
from tests.api.payments.receiver import PayhookReceiver, serving
from tests.conftest import free_port

SECRET = "sandbox-test-secret"


def charge(
    receiver: PayhookReceiver, number: str, key: str = "k1", **changes: Any
) -> ChargeRequest:
    request = ChargeRequest(
        "pay_1",
        2500,
        "EUR",
        key,
        card=future_card(number),
        callback_url=receiver.url(GATEWAY_SANDBOX),
    )
    return dataclasses.replace(request, **changes)


@pytest.fixture
async def gateway(receiver: PayhookReceiver) -> AsyncIterator[SandboxGateway]:
    sandbox = SandboxGateway(SECRET, delay=0.01)
    receiver.gateways[GATEWAY_SANDBOX] = sandbox
    yield sandbox
    await sandbox.aclose()


@pytest.mark.parametrize(
    ("number", "outcome", "code"),
    [
        ("4242424242424242", EventOutcome.SUCCEEDED, None),
        ("5555 5555 5555 4444", EventOutcome.SUCCEEDED, None),
        ("378282246310005", EventOutcome.SUCCEEDED, None),
        ("4000000000000002", EventOutcome.FAILED, "card_declined"),
        ("4000000000009995", EventOutcome.FAILED, "insufficient_funds"),
        ("4000000000000069", EventOutcome.FAILED, "expired_card"),
        ("4000000000000127", EventOutcome.FAILED, "incorrect_cvc"),
        ("4000056655665556", EventOutcome.FAILED, "card_declined"),  # valid, not a test card
    ],
)
async def test_each_test_card_settles_as_documented(
    gateway: SandboxGateway,
    receiver: PayhookReceiver,
    number: str,
    outcome: EventOutcome,
    code: str | None,
) -> None:
    result = await gateway.charge(charge(receiver, number))
    assert result.status is ChargeStatus.PENDING

    event = await receiver.wait_for(result.reference)

    assert event.outcome is outcome
    assert (event.decline.code if event.decline else None) == code
    assert (event.payment_id, event.amount, event.currency) == ("pay_1", 2500, "EUR")
    assert event.event_id.startswith("evt_sbx_")


def test_the_test_cards_pass_the_luhn_check() -> None:
    assert all(luhn_valid(number) for number in TEST_CARDS)
    assert not luhn_valid("4242424242424241")


async def test_the_second_step_card_waits_for_the_buyer(
    gateway: SandboxGateway, receiver: PayhookReceiver
) -> None:
    passed = await gateway.charge(charge(receiver, "4000002500003155", "k1"))
    failed = await gateway.charge(charge(receiver, "4000002500003155", "k2", payment_id="pay_2"))
    await asyncio.sleep(0.1)
    assert receiver.events == []  # nothing settles without the buyer

    await gateway.confirm(passed.reference, ok=True)
    await gateway.confirm(failed.reference, ok=False)

    assert (await receiver.wait_for(passed.reference)).outcome is EventOutcome.SUCCEEDED
    refused = await receiver.wait_for(failed.reference)
    assert refused.outcome is EventOutcome.FAILED
    assert refused.decline is not None and refused.decline.code == "authentication_failed"
    with pytest.raises(InvalidPaymentDetails):
        await gateway.confirm(passed.reference, ok=True)  # already settled


async def test_the_second_step_can_complete_itself_and_names_its_page(
    receiver: PayhookReceiver,
) -> None:
    sandbox = SandboxGateway(
        SECRET, delay=0.01, auto_confirm_after=0.05, action_url="https://s.test/3ds/{reference}"
    )
    receiver.gateways[GATEWAY_SANDBOX] = sandbox
    try:
        result = await sandbox.charge(charge(receiver, "4000002500003155"))
        plain = await sandbox.charge(charge(receiver, "4242424242424242", "k2"))

        assert result.action_url == f"https://s.test/3ds/{result.reference}"
        assert plain.action_url is None
        assert (await receiver.wait_for(result.reference)).outcome is EventOutcome.SUCCEEDED
        with pytest.raises(InvalidPaymentDetails):
            await sandbox.confirm(plain.reference, ok=True)  # no second step for this card
    finally:
        await sandbox.aclose()


@pytest.mark.parametrize(
    ("card", "field"),
    [
        (Card("4242424242424243", 12, 2040, "123"), "card.number"),
        (Card("4242-4242-abcd-4242", 12, 2040, "123"), "card.number"),
        (Card("42424242", 12, 2040, "123"), "card.number"),
        (Card("4242424242424242", 13, 2040, "123"), "card.expMonth"),
        (Card("4242424242424242", 0, 2040, "123"), "card.expMonth"),
        (Card("4242424242424242", 1, 2020, "123"), "card.expYear"),
        (Card("4242424242424242", 1, 1999, "123"), "card.expYear"),
        (Card("4242424242424242", 12, 2040, "12"), "card.cvc"),
        (Card("4242424242424242", 12, 2040, "1234"), "card.cvc"),
        (Card("378282246310005", 12, 2040, "123"), "card.cvc"),
    ],
)
async def test_malformed_or_expired_cards_are_refused(
    gateway: SandboxGateway, receiver: PayhookReceiver, card: Card, field: str
) -> None:
    with pytest.raises(InvalidPaymentDetails) as refused:
        await gateway.charge(charge(receiver, "4242424242424242", card=card))

    assert refused.value.field == field
    assert gateway.charges_made == 0
    assert "4242424242424242" not in repr(card)  # card numbers stay out of logs


async def test_a_card_expiring_this_month_is_still_good(receiver: PayhookReceiver) -> None:
    now = calendar.timegm((2031, 6, 30, 12, 0, 0))
    sandbox = SandboxGateway(SECRET, delay=0.01, clock=lambda: now)
    try:
        card = Card("4242424242424242", 6, 31, "123")
        result = await sandbox.charge(charge(receiver, "", card=card))
        assert result.status is ChargeStatus.PENDING
        with pytest.raises(InvalidPaymentDetails) as refused:
            await sandbox.charge(charge(receiver, "", "k2", card=Card(card.number, 5, 2031, "123")))
        assert refused.value.field == "card.expYear"
    finally:
        await sandbox.aclose()


async def test_a_charge_needs_a_card_and_somewhere_to_call_back(
    gateway: SandboxGateway, receiver: PayhookReceiver
) -> None:
    with pytest.raises(InvalidPaymentDetails) as refused:
        await gateway.charge(charge(receiver, "4242424242424242", card=None))
    assert refused.value.field == "card"
    with pytest.raises(ValueError, match="callback_url"):
        await gateway.charge(charge(receiver, "4242424242424242", callback_url=None))


async def test_an_idempotency_key_reused_for_another_charge_is_refused(
    gateway: SandboxGateway, receiver: PayhookReceiver
) -> None:
    await gateway.charge(charge(receiver, "4242424242424242", "k"))

    with pytest.raises(IdempotencyConflict):
        await gateway.charge(charge(receiver, "4242424242424242", "k", amount=9900))
    assert gateway.charges_made == 1


async def test_refunds_never_exceed_what_was_paid(
    gateway: SandboxGateway, receiver: PayhookReceiver
) -> None:
    paid = await gateway.charge(charge(receiver, "4242424242424242"))
    with pytest.raises(RefundRejected, match="not paid"):
        await gateway.refund(RefundRequest("pay_1", paid.reference, 100, "EUR", "r0"))
    await receiver.wait_for(paid.reference)

    await gateway.refund(RefundRequest("pay_1", paid.reference, 2000, "EUR", "r1"))
    with pytest.raises(RefundRejected, match="500 left"):
        await gateway.refund(RefundRequest("pay_1", paid.reference, 501, "EUR", "r2"))
    with pytest.raises(InvalidPaymentDetails):
        await gateway.refund(RefundRequest("pay_1", paid.reference, 500, "USD", "r3"))
    with pytest.raises(RefundRejected, match="no such charge"):
        await gateway.refund(RefundRequest("pay_1", "sbx_ch_unknown", 1, "EUR", "r4"))
    with pytest.raises(InvalidPaymentDetails):
        await gateway.refund(RefundRequest("pay_1", paid.reference, 0, "EUR", "r5"))
    assert gateway.refunded(paid.reference) == 2000


async def test_a_declined_charge_cannot_be_refunded(
    gateway: SandboxGateway, receiver: PayhookReceiver
) -> None:
    declined = await gateway.charge(charge(receiver, "4000000000000002"))
    await receiver.wait_for(declined.reference)

    with pytest.raises(RefundRejected):
        await gateway.refund(RefundRequest("pay_1", declined.reference, 100, "EUR", "r"))


async def test_refund_payhooks_carry_the_total_refunded(
    gateway: SandboxGateway, receiver: PayhookReceiver
) -> None:
    paid = await gateway.charge(charge(receiver, "4242424242424242"))
    await receiver.wait_for(paid.reference)

    await gateway.refund(RefundRequest("pay_1", paid.reference, 1000, "EUR", "r1"))
    first = await receiver.wait_for(paid.reference, count=2)
    await gateway.refund(RefundRequest("pay_1", paid.reference, 1500, "EUR", "r2"))
    second = await receiver.wait_for(paid.reference, count=3)

    assert (first.outcome, first.amount) == (EventOutcome.REFUNDED, 1000)
    assert (second.outcome, second.amount) == (EventOutcome.REFUNDED, 2500)


async def test_delivery_is_retried_while_the_receiver_fails(receiver: PayhookReceiver) -> None:
    policy = DeliveryPolicy(attempts=4, first_retry_seconds=0.02)
    sandbox = SandboxGateway(SECRET, delay=0.01, policy=policy)
    receiver.gateways[GATEWAY_SANDBOX] = sandbox
    receiver.fail_next = 2
    try:
        result = await sandbox.charge(charge(receiver, "4242424242424242"))
        event = await receiver.wait_for(result.reference)
    finally:
        await sandbox.aclose()

    assert event.outcome is EventOutcome.SUCCEEDED
    assert receiver.attempts == 3
    assert len(receiver.events) == 1


async def test_delivery_waits_for_a_receiver_that_is_down() -> None:
    receiver = PayhookReceiver(free_port())
    policy = DeliveryPolicy(attempts=6, first_retry_seconds=0.1)
    sandbox = SandboxGateway(SECRET, delay=0.01, policy=policy)
    receiver.gateways[GATEWAY_SANDBOX] = sandbox
    try:
        result = await sandbox.charge(charge(receiver, "4242424242424242"))
        await asyncio.sleep(0.25)  # the first attempts find nobody listening
        async with serving(receiver):
            event = await receiver.wait_for(result.reference)
    finally:
        await sandbox.aclose()

    assert event.outcome is EventOutcome.SUCCEEDED


async def test_a_receiver_that_refuses_is_not_retried(receiver: PayhookReceiver) -> None:
    policy = DeliveryPolicy(attempts=4, first_retry_seconds=0.01)
    sandbox = SandboxGateway(SECRET, delay=0.01, policy=policy)
    receiver.gateways[GATEWAY_SANDBOX] = SandboxGateway("another-deployment")
    try:
        await sandbox.charge(charge(receiver, "4242424242424242"))
        deadline = time.monotonic() + 30
        while not receiver.refused:
            assert time.monotonic() < deadline, "the payhook never arrived"
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.3)  # retries would come 0.01, 0.02, 0.04 s after the refusal
    finally:
        await sandbox.aclose()
        await receiver.gateways[GATEWAY_SANDBOX].aclose()

    assert receiver.attempts == 1
    assert receiver.refused and receiver.refused[0].startswith("ForgedCallback")


async def test_closing_cancels_deliveries_not_yet_made(receiver: PayhookReceiver) -> None:
    sandbox = SandboxGateway(SECRET, delay=5)
    receiver.gateways[GATEWAY_SANDBOX] = sandbox
    await sandbox.charge(charge(receiver, "4242424242424242"))

    await asyncio.wait_for(sandbox.aclose(), timeout=1)

    assert receiver.attempts == 0


def test_the_payhook_secret_is_derived_per_deployment_and_purpose() -> None:
    one = sandbox_secret("a" * 40)

    assert one == sandbox_secret("a" * 40)
    assert one != sandbox_secret("b" * 40)
    assert "a" * 40 not in one
    assert len(bytes.fromhex(one)) == 32


def test_the_signature_scheme_refuses_what_it_should() -> None:
    body = b'{"id":"evt_sbx_1"}'
    now = 1_800_000_000
    good = sign(SECRET, body, now)

    assert verify(SECRET, body, {"sandbox-signature": good}, now + 299) == now
    rotated = f"t={now},v1={'0' * 64},v1={good.split('v1=')[1]}"
    assert verify(SECRET, body, {"Sandbox-Signature": rotated}, now) == now
    for headers in (
        {},
        {"Sandbox-Signature": ""},
        {"Sandbox-Signature": "v1=abc"},
        {"Sandbox-Signature": f"t={now}"},
        {"Sandbox-Signature": f"t=soon,v1={'0' * 64}"},
        {"Sandbox-Signature": sign("other", body, now)},
        {"Stripe-Signature": good},
    ):
        with pytest.raises(ForgedCallback):
            verify(SECRET, body, headers, now)
    with pytest.raises(ForgedCallback):
        verify(SECRET, body + b" ", {"Sandbox-Signature": good}, now)
    with pytest.raises(StaleCallback):
        verify(SECRET, body, {"Sandbox-Signature": good}, now + 301)
    with pytest.raises(StaleCallback):
        verify(SECRET, body, {"Sandbox-Signature": good}, now - 301)  # from the future


def test_a_signed_body_of_the_wrong_shape_is_not_believed() -> None:
    sandbox = SandboxGateway(SECRET)
    body = b'{"id":"evt_sbx_1","type":"charge.exploded"}'

    with pytest.raises(ForgedCallback):
        sandbox.verify_callback(body, {"Sandbox-Signature": sign(SECRET, body, 10)}, 10)

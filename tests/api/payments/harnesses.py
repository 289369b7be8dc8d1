"""One harness per gateway: what the contract tests need to drive it to a final outcome.

A harness knows how its gateway is paid and refused, and how the outcome reaches the api: at
once (demo), by the sandbox's own payhook, or by the webhook Stripe would send (recorded,
signed here exactly as Stripe signs, and posted over real HTTP).
"""

from __future__ import annotations

import abc
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx

from sticky.api.payments.gateways import (
    GATEWAY_NOOP,
    GATEWAY_SANDBOX,
    GATEWAY_STRIPE,
    Card,
    ChargeRequest,
    ChargeResult,
    ChargeStatus,
    Decline,
    EventOutcome,
    NoopGateway,
    PaymentGateway,
    RefundRequest,
    SandboxGateway,
    StripeGateway,
)
from sticky.api.payments.gateways.callbacks import sign as sandbox_sign
from tests.api.payments.receiver import PayhookReceiver
from tests.api.payments.stripe_replay import WEBHOOK_SECRET, StripeReplay, recorded

PAID = "pay_contract_ok"
REFUSED = "pay_contract_declined"
AMOUNT = 2500


def stripe_signature(payload: bytes, secret: str, timestamp: int) -> str:
    """``Stripe-Signature`` as Stripe computes it: HMAC-SHA256 of ``f"{t}.{payload}"``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256)
    # Test-mode events also carry a v0 signature, which receivers must ignore.
    return f"t={timestamp},v1={mac.hexdigest()},v0={secrets.token_hex(32)}"


def future_card(number: str) -> Card:
    amex = number.replace(" ", "").startswith(("34", "37"))
    return Card(number, 12, datetime.now(UTC).year + 4, "1234" if amex else "123")


@dataclass(frozen=True)
class Outcome:
    succeeded: bool
    reference: str
    decline: Decline | None = None


class Harness(abc.ABC):
    name: str
    gateway: PaymentGateway
    decline_code: str | None = None  # None: this gateway never declines

    def __init__(self, receiver: PayhookReceiver) -> None:
        self.receiver = receiver

    @abc.abstractmethod
    def paying(self, key: str = "key-pay-1") -> ChargeRequest: ...

    def declining(self, key: str = "key-decline-1") -> ChargeRequest:
        """A charge this gateway declines (the demo gateway takes it like any other)."""
        return self.paying(key)

    def refunding(self, reference: str, amount: int, key: str) -> RefundRequest:
        return RefundRequest(PAID, reference, amount, "EUR", key)

    def charges_at_provider(self) -> int | None:
        return None

    @abc.abstractmethod
    async def settle(self, result: ChargeResult) -> Outcome: ...

    @abc.abstractmethod
    def forged(self) -> tuple[bytes, dict[str, str]]:
        """A payhook that looks like this gateway's, signed with the wrong secret."""


class NoopHarness(Harness):
    name = GATEWAY_NOOP

    def __init__(self, receiver: PayhookReceiver) -> None:
        super().__init__(receiver)
        self.gateway = NoopGateway()

    def paying(self, key: str = "key-pay-1") -> ChargeRequest:
        return ChargeRequest(PAID, AMOUNT, "EUR", key, description="Sticky order")

    async def settle(self, result: ChargeResult) -> Outcome:
        return Outcome(result.status is ChargeStatus.SUCCEEDED, result.reference, result.decline)

    def forged(self) -> tuple[bytes, dict[str, str]]:
        body = json.dumps({"reference": f"noop_{PAID}", "status": "succeeded"}).encode()
        return body, {"Content-Type": "application/json"}


class SandboxHarness(Harness):
    name = GATEWAY_SANDBOX
    decline_code = "card_declined"

    def __init__(self, receiver: PayhookReceiver, gateway: SandboxGateway) -> None:
        super().__init__(receiver)
        self.gateway = self.sandbox = gateway

    def _charge(self, payment_id: str, number: str, key: str) -> ChargeRequest:
        return ChargeRequest(
            payment_id,
            AMOUNT,
            "EUR",
            key,
            description="Sticky order",
            card=future_card(number),
            callback_url=self.receiver.url(GATEWAY_SANDBOX),
        )

    def paying(self, key: str = "key-pay-1") -> ChargeRequest:
        return self._charge(PAID, "4242 4242 4242 4242", key)

    def declining(self, key: str = "key-decline-1") -> ChargeRequest:
        return self._charge(REFUSED, "4000000000000002", key)

    def charges_at_provider(self) -> int | None:
        return self.sandbox.charges_made

    async def settle(self, result: ChargeResult) -> Outcome:
        assert result.status is ChargeStatus.PENDING  # the sandbox always answers later
        event = await self.receiver.wait_for(result.reference)
        return Outcome(event.outcome is EventOutcome.SUCCEEDED, event.reference, event.decline)

    def forged(self) -> tuple[bytes, dict[str, str]]:
        body = json.dumps(
            {
                "id": "evt_sbx_forged",
                "type": "charge.succeeded",
                "created": int(time.time()),
                "data": {"reference": "sbx_ch_x", "paymentId": PAID, "amount": AMOUNT},
            }
        ).encode()
        header = sandbox_sign("not-the-deployment-secret", body, int(time.time()))
        return body, {"Sandbox-Signature": header}


class StripeHarness(Harness):
    name = GATEWAY_STRIPE
    decline_code = "generic_decline"

    def __init__(
        self, receiver: PayhookReceiver, gateway: StripeGateway, replay: StripeReplay
    ) -> None:
        super().__init__(receiver)
        self.gateway = gateway
        self.replay = replay

    def _charge(self, payment_id: str, payment_method: str, key: str) -> ChargeRequest:
        return ChargeRequest(
            payment_id,
            AMOUNT,
            "EUR",
            key,
            description="Sticky order",
            payment_method=payment_method,
        )

    def paying(self, key: str = "key-pay-1") -> ChargeRequest:
        return self._charge(PAID, "pm_card_visa", key)

    def declining(self, key: str = "key-decline-1") -> ChargeRequest:
        return self._charge(REFUSED, "pm_card_chargeDeclined", key)

    def charges_at_provider(self) -> int | None:
        return self.replay.created("/v1/payment_intents")

    async def settle(self, result: ChargeResult) -> Outcome:
        """Stripe's answer is final; its webhook follows, and must agree."""
        recording = {
            ChargeStatus.SUCCEEDED: "event_payment_intent_succeeded.json",
            ChargeStatus.DECLINED: "event_payment_intent_payment_failed.json",
        }[result.status]
        await self.send_webhook(json.dumps(recorded(recording)).encode())
        event = await self.receiver.wait_for(result.reference)
        assert (event.outcome is EventOutcome.SUCCEEDED) == (
            result.status is ChargeStatus.SUCCEEDED
        )
        return Outcome(event.outcome is EventOutcome.SUCCEEDED, event.reference, result.decline)

    async def send_webhook(self, body: bytes, secret: str = WEBHOOK_SECRET) -> httpx.Response:
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Stripe-Signature": stripe_signature(body, secret, int(time.time())),
            "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
        }
        async with httpx.AsyncClient() as client:
            return await client.post(
                self.receiver.url(GATEWAY_STRIPE), content=body, headers=headers
            )

    def forged(self) -> tuple[bytes, dict[str, str]]:
        body = json.dumps(recorded("event_payment_intent_succeeded.json")).encode()
        header = stripe_signature(body, "whsec_somebody_else", int(time.time()))
        return body, {"Stripe-Signature": header}

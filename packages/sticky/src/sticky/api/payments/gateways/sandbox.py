"""GATEWAY_SANDBOX: a card processor simulated in-process, asynchronous like a real one.

Every charge answers ``pending``; a moment later the processor decides (by test card, see
``cards``) and posts a signed payhook to the charge's ``callback_url``. The card that needs a
second step waits for ``confirm(reference, ok)``, or approves itself after
``auto_confirm_after`` seconds when that is set. Refunds answer at once and are also announced
by payhook, carrying the total refunded so far.

The processor's books live in this object, so they last as long as the process: a charge made
by another replica, or before a restart, is unknown here and cannot be refunded, and a charge
still pending when the process dies is never settled unless it is asked for again. A charge's
reference is derived from its idempotency key, so asked again after a restart (the api asks
again when the buyer retries a pending payment) the processor names the same charge.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import httpx
import orjson

from sticky.api.payments.gateways.base import (
    GATEWAY_SANDBOX,
    ChargeRequest,
    ChargeResult,
    ChargeStatus,
    Decline,
    EventOutcome,
    GatewayEvent,
    PaymentGateway,
    RefundRequest,
    RefundResult,
    RefundStatus,
)
from sticky.api.payments.gateways.callbacks import CallbackSender, DeliveryPolicy
from sticky.api.payments.gateways.callbacks import verify as verify_signature
from sticky.api.payments.gateways.cards import SECOND_STEP_FAILED, SandboxCard, check_card
from sticky.api.payments.gateways.errors import (
    ForgedCallback,
    IdempotencyConflict,
    InvalidPaymentDetails,
    RefundRejected,
)
from sticky.kernel.ids import new_id

_EVENT_TYPES = {
    "charge.succeeded": EventOutcome.SUCCEEDED,
    "charge.failed": EventOutcome.FAILED,
    "charge.refunded": EventOutcome.REFUNDED,
}


class _State(StrEnum):
    PROCESSING = "processing"
    AWAITING_SECOND_STEP = "awaiting_second_step"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@dataclass(slots=True)
class _Charge:
    request: ChargeRequest
    card: SandboxCard
    result: ChargeResult
    state: _State = _State.PROCESSING
    refunded: int = 0


class SandboxGateway(PaymentGateway):
    name = GATEWAY_SANDBOX

    def __init__(
        self,
        secret: str,
        *,
        delay: float = 0.05,
        auto_confirm_after: float | None = None,
        action_url: str | None = None,
        policy: DeliveryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``secret`` signs payhooks: ``sandbox_secret(settings.secret_key)``. ``action_url``
        is a template with ``{reference}``: the page where a buyer completes a second step."""
        self._secret = secret
        self._delay = delay
        self._auto_confirm_after = auto_confirm_after
        self._action_url = action_url
        self._clock = clock
        self._sender = CallbackSender(secret, policy=policy, transport=transport, clock=clock)
        self._charges: dict[str, _Charge] = {}
        self._charge_keys: dict[str, str] = {}  # idempotency key -> reference
        self._refunds: dict[str, tuple[RefundRequest, RefundResult]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def charges_made(self) -> int:
        """How many distinct charges the processor has on its books."""
        return len(self._charges)

    def refunded(self, reference: str) -> int:
        return self._known(reference).refunded

    async def charge(self, request: ChargeRequest) -> ChargeResult:
        request.check()
        if request.card is None:
            raise InvalidPaymentDetails("card", "the sandbox charges a card: give its details")
        if not request.callback_url:
            raise ValueError("the sandbox needs a callback_url to post the outcome to")
        known = self._charge_keys.get(request.idempotency_key)
        if known is not None:
            earlier = self._charges[known]
            if earlier.request != request:
                raise IdempotencyConflict(request.idempotency_key)
            return earlier.result
        card = check_card(request.card, self._clock())
        reference = self._reference(request.idempotency_key)
        action_url = None
        if card.second_step and self._action_url:
            action_url = self._action_url.format(reference=reference)
        result = ChargeResult(ChargeStatus.PENDING, reference, action_url=action_url)
        self._charges[reference] = _Charge(request, card, result)
        self._charge_keys[request.idempotency_key] = reference
        self._spawn(self._process(reference))
        return result

    async def confirm(self, reference: str, ok: bool) -> None:
        """The buyer's second step: passed (``ok``) or failed. Settles the charge."""
        charge = self._known(reference)
        awaiting = (_State.PROCESSING, _State.AWAITING_SECOND_STEP)
        if not charge.card.second_step or charge.state not in awaiting:
            raise InvalidPaymentDetails("reference", "this charge awaits no second step")
        self._settle(charge, None if ok else SECOND_STEP_FAILED)

    async def refund(self, request: RefundRequest) -> RefundResult:
        request.check()
        known = self._refunds.get(request.idempotency_key)
        if known is not None:
            if known[0] != request:
                raise IdempotencyConflict(request.idempotency_key)
            return known[1]
        charge = self._charges.get(request.reference)
        if charge is None:
            raise RefundRejected(request.reference, "the sandbox has no such charge")
        if charge.state is not _State.SUCCEEDED:
            raise RefundRejected(request.reference, "the charge was not paid")
        if request.currency != charge.request.currency:
            raise InvalidPaymentDetails("currency", f"the charge is in {charge.request.currency}")
        left = charge.request.amount - charge.refunded
        if request.amount > left:
            raise RefundRejected(
                request.reference, f"{request.amount} asked, only {left} left to refund"
            )
        charge.refunded += request.amount
        result = RefundResult(RefundStatus.SUCCEEDED, new_id("sbx_re"), request.amount)
        self._refunds[request.idempotency_key] = (request, result)
        self._spawn(self._announce(charge, "charge.refunded", amount=charge.refunded))
        return result

    def verify_callback(
        self, body: bytes, headers: Mapping[str, str], now: float
    ) -> GatewayEvent | None:
        verify_signature(self._secret, body, headers, now)
        try:
            event = orjson.loads(body)
            data = event["data"]
            decline = None
            if data.get("declineCode"):
                decline = Decline(str(data["declineCode"]), str(data["declineMessage"]))
            return GatewayEvent(
                gateway=self.name,
                event_id=str(event["id"]),
                outcome=_EVENT_TYPES[event["type"]],
                reference=str(data["reference"]),
                payment_id=data.get("paymentId"),
                amount=int(data["amount"]),
                currency=str(data["currency"]),
                created=int(event["created"]),
                decline=decline,
            )
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
            # Signed with our secret yet not our shape: the secret is in the wrong hands.
            raise ForgedCallback("a signed body that is not a sandbox event") from exc

    async def aclose(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._sender.aclose()

    def _reference(self, idempotency_key: str) -> str:
        key = idempotency_key.encode()
        return "sbx_ch_" + hmac.new(self._secret.encode(), key, hashlib.sha256).hexdigest()[:24]

    def _known(self, reference: str) -> _Charge:
        charge = self._charges.get(reference)
        if charge is None:
            raise InvalidPaymentDetails("reference", "the sandbox has no such charge")
        return charge

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _process(self, reference: str) -> None:
        await asyncio.sleep(self._delay)
        charge = self._charges[reference]
        if charge.state is not _State.PROCESSING:  # the buyer was quicker than the processor
            return
        if not charge.card.second_step:
            self._settle(charge, charge.card.decline)
            return
        charge.state = _State.AWAITING_SECOND_STEP
        if self._auto_confirm_after is not None:
            await asyncio.sleep(self._auto_confirm_after)
            if charge.state is _State.AWAITING_SECOND_STEP:
                self._settle(charge, None)

    def _settle(self, charge: _Charge, decline: Decline | None) -> None:
        charge.state = _State.FAILED if decline else _State.SUCCEEDED
        kind = "charge.failed" if decline else "charge.succeeded"
        self._spawn(self._announce(charge, kind, amount=charge.request.amount, decline=decline))

    async def _announce(
        self, charge: _Charge, kind: str, *, amount: int, decline: Decline | None = None
    ) -> None:
        body = orjson.dumps(
            {
                "id": new_id("evt_sbx"),
                "type": kind,
                "created": int(self._clock()),
                "data": {
                    "reference": charge.result.reference,
                    "paymentId": charge.request.payment_id,
                    "amount": amount,
                    "currency": charge.request.currency,
                    "declineCode": decline.code if decline else None,
                    "declineMessage": decline.message if decline else None,
                },
            }
        )
        assert charge.request.callback_url is not None  # checked when charging
        await self._sender.deliver(charge.request.callback_url, body)

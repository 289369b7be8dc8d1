"""GATEWAY_NOOP, "Demo": every charge succeeds at once and no money moves.

It holds no state, so its references are derived from the request: the same payment always
has the same reference, and the same refund key the same refund. It sends no callbacks, so
any payhook claiming to come from it is forged.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from sticky.api.payments.gateways.base import (
    GATEWAY_NOOP,
    ChargeRequest,
    ChargeResult,
    ChargeStatus,
    GatewayEvent,
    PaymentGateway,
    RefundRequest,
    RefundResult,
    RefundStatus,
)
from sticky.api.payments.gateways.errors import ForgedCallback


class NoopGateway(PaymentGateway):
    name = GATEWAY_NOOP

    async def charge(self, request: ChargeRequest) -> ChargeResult:
        request.check()
        return ChargeResult(status=ChargeStatus.SUCCEEDED, reference=f"noop_{request.payment_id}")

    async def refund(self, request: RefundRequest) -> RefundResult:
        request.check()
        digest = hashlib.sha256(request.idempotency_key.encode()).hexdigest()[:20]
        return RefundResult(
            status=RefundStatus.SUCCEEDED, reference=f"noop_re_{digest}", amount=request.amount
        )

    def verify_callback(
        self, body: bytes, headers: Mapping[str, str], now: float
    ) -> GatewayEvent | None:
        raise ForgedCallback("the demo gateway sends no callbacks")

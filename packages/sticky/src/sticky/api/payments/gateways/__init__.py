"""Payment gateways behind one interface: demo (noop), a card-processor sandbox, and Stripe.

The api picks one per flow by name (``GATEWAY_NOOP``, ``GATEWAY_SANDBOX``, ``GATEWAY_STRIPE``)
and speaks only ``PaymentGateway``; see docs/payments-gateways.md.
"""

from __future__ import annotations

from sticky.api.payments.gateways.base import (
    GATEWAY_NOOP,
    GATEWAY_SANDBOX,
    GATEWAY_STRIPE,
    Card,
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
from sticky.api.payments.gateways.callbacks import DeliveryPolicy, sandbox_secret
from sticky.api.payments.gateways.errors import (
    CallbackRefused,
    ForgedCallback,
    GatewayError,
    IdempotencyConflict,
    InvalidPaymentDetails,
    ProviderUnavailable,
    RefundRejected,
    StaleCallback,
)
from sticky.api.payments.gateways.noop import NoopGateway
from sticky.api.payments.gateways.sandbox import SandboxGateway
from sticky.api.payments.gateways.stripe import (
    Claims,
    StripeGateway,
    StripeHttpClient,
    StripeKeys,
    open_keys,
    peek_claims,
    seal_keys,
)

GATEWAY_NAMES = (GATEWAY_NOOP, GATEWAY_SANDBOX, GATEWAY_STRIPE)

__all__ = [
    "GATEWAY_NAMES",
    "GATEWAY_NOOP",
    "GATEWAY_SANDBOX",
    "GATEWAY_STRIPE",
    "CallbackRefused",
    "Card",
    "ChargeRequest",
    "ChargeResult",
    "ChargeStatus",
    "Claims",
    "Decline",
    "DeliveryPolicy",
    "EventOutcome",
    "ForgedCallback",
    "GatewayError",
    "GatewayEvent",
    "IdempotencyConflict",
    "InvalidPaymentDetails",
    "NoopGateway",
    "PaymentGateway",
    "ProviderUnavailable",
    "RefundRejected",
    "RefundRequest",
    "RefundResult",
    "RefundStatus",
    "SandboxGateway",
    "StaleCallback",
    "StripeGateway",
    "StripeHttpClient",
    "StripeKeys",
    "open_keys",
    "peek_claims",
    "sandbox_secret",
    "seal_keys",
]

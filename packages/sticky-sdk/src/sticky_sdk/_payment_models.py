"""Payments as the SDK reads them: a :class:`Payment` with its priced :class:`PaymentLine`s.

Amounts are integers in the currency's minor unit (cents), as on the wire.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sticky_sdk._parsing import Fields


@dataclass(frozen=True)
class PaymentLineOption:
    """An option chosen for a line, with the price it added (or took away)."""

    question_id: str
    option_id: str
    name: str
    price_delta: int

    @classmethod
    def from_json(cls, data: object) -> PaymentLineOption:
        f = Fields(data, "PaymentLineOption")
        return cls(
            question_id=f.text("questionId"),
            option_id=f.text("optionId"),
            name=f.text("name"),
            price_delta=f.integer("priceDelta"),
        )


@dataclass(frozen=True)
class PaymentLine:
    """A line of a cart as the platform priced it from the product."""

    product_id: str
    name: str
    quantity: int
    unit_price: int
    line_total: int
    options: tuple[PaymentLineOption, ...] = ()

    @classmethod
    def from_json(cls, data: object) -> PaymentLine:
        f = Fields(data, "PaymentLine")
        return cls(
            product_id=f.text("productId"),
            name=f.text("name"),
            quantity=f.integer("quantity"),
            unit_price=f.integer("unitPrice"),
            line_total=f.integer("lineTotal"),
            options=tuple(PaymentLineOption.from_json(o) for o in f.items("options")),
        )


@dataclass(frozen=True)
class Payment:
    """A payment: ``status`` is ``pending`` (the gateway decides later), ``paid``, ``failed``
    or ``refunded`` (all of it given back); ``refundable`` is what a refund may still take.
    ``action`` names a second step the buyer must take (``{"url", "clientSecret"}``)."""

    id: str
    user_id: str
    status: str
    total: int
    currency: str
    gateway: str
    created_at: datetime
    updated_at: datetime
    subtotal: int = 0
    discount: int = 0
    tip: int = 0
    refunded_total: int = 0
    refundable: int = 0
    version: int = 0
    cart: tuple[PaymentLine, ...] = ()
    session_id: str | None = None
    application_id: str | None = None
    thing_id: str | None = None
    reference: str | None = None
    failure: dict[str, Any] | None = None
    customer: dict[str, Any] | None = None
    user_payment_id: str | None = None
    session_paid_at: datetime | None = None
    session_failed_at: datetime | None = None
    refunded_at: datetime | None = None
    action: dict[str, Any] | None = field(default=None)

    @classmethod
    def from_json(cls, data: object) -> Payment:
        f = Fields(data, "Payment")
        failure, customer, action = f.raw("failure"), f.raw("customer"), f.raw("action")
        return cls(
            id=f.text("id"),
            user_id=f.text("userId"),
            status=f.text("status"),
            total=f.integer("total"),
            currency=f.text("currency"),
            gateway=f.text("gateway"),
            created_at=f.timestamp("createdAt"),
            updated_at=f.timestamp("updatedAt"),
            subtotal=f.integer("subtotal"),
            discount=f.integer("discount"),
            tip=f.integer("tip"),
            refunded_total=f.integer("refundedTotal"),
            refundable=f.integer("refundable"),
            version=f.integer("version"),
            cart=tuple(PaymentLine.from_json(line) for line in f.items("cart")),
            session_id=f.optional_text("sessionId"),
            application_id=f.optional_text("applicationId"),
            thing_id=f.optional_text("thingId"),
            reference=f.optional_text("reference"),
            failure=None if failure is None else f.mapping("failure"),
            customer=None if customer is None else f.mapping("customer"),
            user_payment_id=f.optional_text("userPaymentId"),
            session_paid_at=f.optional_timestamp("sessionPaidAt"),
            session_failed_at=f.optional_timestamp("sessionFailedAt"),
            refunded_at=f.optional_timestamp("refundedAt"),
            action=None if action is None else f.mapping("action"),
        )

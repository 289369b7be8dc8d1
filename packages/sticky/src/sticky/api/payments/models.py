"""Payments on the wire (camelCase): what a caller sends to pay or refund, and reads back.

A create names products and options, never prices: a ``total`` (or any field not listed
here) is refused, since the api prices the cart itself.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import Field, StringConstraints

from sticky.api.models import Currency, Incoming, Name, Outgoing, Ref
from sticky.api.payments.projection import Row

Key = Annotated[str, StringConstraints(min_length=1, max_length=64)]
Email = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")
]
Amount = Annotated[int, Field(ge=0, le=100_000_000_00)]


class OptionChoice(Incoming):
    question_id: Key
    option_id: Key


class CartLineIn(Incoming):
    product_id: Ref
    quantity: int = Field(ge=1, le=99)
    options: Annotated[list[OptionChoice], Field(max_length=50)] = []


class Customer(Incoming):
    email: Email
    name: Name | None = None


class CardIn(Incoming):
    number: Annotated[str, StringConstraints(min_length=1, max_length=30)]
    exp_month: int
    exp_year: int
    cvc: Annotated[str, StringConstraints(min_length=1, max_length=4)]


class PaymentMethodFields(Incoming):
    card: CardIn | None = None
    payment_method: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None
    return_url: (
        Annotated[str, StringConstraints(max_length=2048, pattern=r"^https?://\S+$")] | None
    ) = None


class PaymentCreate(PaymentMethodFields):
    session_id: Ref | None = None
    application_id: Ref | None = None
    thing_id: Ref | None = None
    cart: Annotated[list[CartLineIn], Field(min_length=1, max_length=100)]
    discount: Amount = 0
    tip: Amount = 0
    currency: Currency
    customer: Customer | None = None
    user_payment_id: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None


class PaymentCharge(PaymentMethodFields):
    """Pay a payment created without a charge (a hosted checkout's)."""


class RefundCreate(Incoming):
    amount: int | None = Field(default=None, ge=1, le=100_000_000_00)


class PaymentAction(Outgoing):
    """A second step the buyer must take (3-D Secure): a page, or Stripe's client secret."""

    url: str | None
    client_secret: str | None


class PaymentOut(Outgoing):
    id: str
    user_id: str
    session_id: str | None
    application_id: str | None
    thing_id: str | None
    cart: list[dict[str, Any]]
    subtotal: int
    discount: int
    tip: int
    total: int
    currency: str
    gateway: str
    status: str
    reference: str | None
    failure: dict[str, Any] | None
    customer: dict[str, Any] | None
    user_payment_id: str | None
    session_paid_at: datetime | None
    session_failed_at: datetime | None
    refunded_at: datetime | None
    refunded_total: int
    refundable: int
    version: int
    created_at: datetime
    updated_at: datetime
    action: PaymentAction | None = None


class StripeSettingsIn(Incoming):
    secret_key: Annotated[
        str, StringConstraints(max_length=255, pattern=r"^(sk|rk)_(test|live)_[A-Za-z0-9_]{4,}$")
    ]
    webhook_secret: Annotated[
        str, StringConstraints(max_length=255, pattern=r"^whsec_[A-Za-z0-9_]{4,}$")
    ]
    publishable_key: Annotated[
        str, StringConstraints(max_length=255, pattern=r"^pk_(test|live)_[A-Za-z0-9_]{4,}$")
    ] = ""


class StripeSettingsOut(Outgoing):
    configured: bool
    secret_key: str | None
    webhook_secret: str | None
    publishable_key: str | None
    updated_at: datetime | None


class CheckoutSecretOut(Outgoing):
    """``secret`` is shown in full once, when issued; afterwards only ``hint``."""

    secret: str | None
    hint: str
    created_at: datetime


def payment_out(row: Row, action: PaymentAction | None = None) -> PaymentOut:
    refundable = 0
    if row["status"] == "paid":
        refundable = row["total"] - row["refunded_total"] - row["refund_reserved"]
    return PaymentOut(
        id=row["id"],
        user_id=row["user_id"],
        session_id=row["session_id"],
        application_id=row["application_id"],
        thing_id=row["thing_id"],
        cart=row["cart"],
        subtotal=row["subtotal"],
        discount=row["discount"],
        tip=row["tip"],
        total=row["total"],
        currency=row["currency"],
        gateway=row["gateway"],
        status=row["status"],
        reference=row["reference"] or row["charge_reference"],
        failure=row["failure"],
        customer=row["customer"],
        user_payment_id=row["user_payment_id"],
        session_paid_at=row["session_paid_at"],
        session_failed_at=row["session_failed_at"],
        refunded_at=row["refunded_at"],
        refunded_total=row["refunded_total"],
        refundable=max(refundable, 0),
        version=row["version"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        action=action,
    )


def mask(secret: str) -> str:
    head, _, _ = secret.rpartition("_")
    return f"{head}_…{secret[-4:]}" if head else f"…{secret[-4:]}"

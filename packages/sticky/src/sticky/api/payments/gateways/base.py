"""The payment gateway port: what the api asks of any gateway, and what it gets back.

Every gateway (demo, sandbox, Stripe) implements ``PaymentGateway``; the same contract tests run
against each. Amounts are integers in the currency's minor unit (cents); currencies are ISO 4217
codes in capitals. A charge answers at once, but may answer ``pending``: the outcome then arrives
later as a signed callback on ``/v2/payhook/{gateway}``, which ``verify_callback`` turns into a
``GatewayEvent``.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar

from sticky.api.payments.gateways.errors import InvalidPaymentDetails
from sticky.kernel.storable import check_storable

GATEWAY_NOOP = "GATEWAY_NOOP"
GATEWAY_SANDBOX = "GATEWAY_SANDBOX"
GATEWAY_STRIPE = "GATEWAY_STRIPE"

_CURRENCY = re.compile(r"^[A-Z]{3}$")


class ChargeStatus(StrEnum):
    SUCCEEDED = "succeeded"
    DECLINED = "declined"
    PENDING = "pending"  # the outcome comes later, through a callback


class RefundStatus(StrEnum):
    SUCCEEDED = "succeeded"
    PENDING = "pending"
    FAILED = "failed"


class EventOutcome(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    REFUNDED = "refunded"


@dataclass(frozen=True, slots=True)
class Card:
    """Raw card details; only the sandbox takes them (a real card never reaches our servers)."""

    number: str
    exp_month: int
    exp_year: int
    cvc: str

    def __repr__(self) -> str:
        return f"Card(last4={self.number[-4:]!r}, exp={self.exp_month:02d}/{self.exp_year})"


@dataclass(frozen=True, slots=True)
class Decline:
    """Why the card was refused: a machine code (``card_declined``, ``insufficient_funds``...)
    and a sentence a buyer can read."""

    code: str
    message: str


@dataclass(frozen=True, slots=True)
class ChargeRequest:
    payment_id: str
    amount: int
    currency: str
    idempotency_key: str
    description: str = ""
    customer_email: str | None = None
    customer_name: str | None = None
    card: Card | None = None  # the sandbox's test cards
    payment_method: str | None = None  # a Stripe PaymentMethod id (pm_...)
    callback_url: str | None = None  # where the sandbox posts the outcome
    return_url: str | None = None  # where Stripe sends the buyer back after a second step

    def check(self) -> None:
        """Raise ``InvalidPaymentDetails`` for what no gateway could charge."""
        if not self.payment_id:
            raise InvalidPaymentDetails("paymentId", "a charge needs the payment's id")
        if isinstance(self.amount, bool) or not isinstance(self.amount, int) or self.amount <= 0:
            raise InvalidPaymentDetails("amount", "must be a positive whole number of minor units")
        if not _CURRENCY.match(self.currency):
            raise InvalidPaymentDetails("currency", "must be an ISO 4217 code such as EUR")
        if not self.idempotency_key:
            raise InvalidPaymentDetails("idempotencyKey", "a charge needs an idempotency key")


@dataclass(frozen=True, slots=True)
class ChargeResult:
    status: ChargeStatus
    reference: str  # the provider's id for the charge: noop_..., sbx_ch_..., pi_...
    decline: Decline | None = None  # set when declined
    action_url: str | None = None  # a page where the buyer completes a second step
    client_secret: str | None = None  # Stripe's, for stripe.js to handle a second step


@dataclass(frozen=True, slots=True)
class RefundRequest:
    payment_id: str
    reference: str  # the charge's provider reference (ChargeResult.reference)
    amount: int
    currency: str
    idempotency_key: str

    def check(self) -> None:
        if isinstance(self.amount, bool) or not isinstance(self.amount, int) or self.amount <= 0:
            raise InvalidPaymentDetails("amount", "must be a positive whole number of minor units")
        if not self.reference:
            raise InvalidPaymentDetails("reference", "a refund needs the charge's reference")
        if not self.idempotency_key:
            raise InvalidPaymentDetails("idempotencyKey", "a refund needs an idempotency key")


@dataclass(frozen=True, slots=True)
class RefundResult:
    status: RefundStatus
    reference: str  # the provider's id for the refund: noop_re_..., sbx_re_..., re_...
    amount: int


@dataclass(frozen=True, slots=True)
class GatewayEvent:
    """An authentic callback, reduced to what the api records.

    ``event_id`` is unique per event and repeated on every redelivery: the caller de-duplicates
    on it. For ``refunded``, ``amount`` is the total refunded on the charge so far (so events can
    be applied in any order); otherwise it is the amount charged.
    """

    gateway: str
    event_id: str
    outcome: EventOutcome
    reference: str
    payment_id: str | None
    amount: int
    currency: str
    created: int
    decline: Decline | None = None
    # The merchant whose own secret verified it (Stripe: each merchant signs with theirs), so
    # it may only speak of that merchant's payments; None for the platform's own gateways.
    merchant_id: str | None = None

    def __post_init__(self) -> None:
        # Ids no column holds (not text, too long, a NUL) are no gateway's: a ValueError,
        # which verify_callback answers as a forgery rather than failing to record them.
        for value, longest in ((self.event_id, 200), (self.reference, 200), (self.payment_id, 40)):
            if value is None:
                continue
            if not isinstance(value, str) or len(value) > longest:
                raise ValueError(f"not an id of at most {longest} characters: {value!r:.50}")
            check_storable(value)


class PaymentGateway(ABC):
    """A way to take money. Implementations translate their provider's errors into ours."""

    name: ClassVar[str]

    @abstractmethod
    async def charge(self, request: ChargeRequest) -> ChargeResult:
        """Charge once per idempotency key: the same key again answers the first result."""

    @abstractmethod
    async def refund(self, request: RefundRequest) -> RefundResult:
        """Give back part or all of a charge (the caller keeps the total within what was paid)."""

    @abstractmethod
    def verify_callback(
        self, body: bytes, headers: Mapping[str, str], now: float
    ) -> GatewayEvent | None:
        """The event a payhook carries, or ``None`` for an authentic event of no interest.

        Raises ``ForgedCallback`` or ``StaleCallback``; never believes an unsigned body.
        """

    async def aclose(self) -> None:  # noqa: B027 - most gateways hold nothing to release
        """Release what the gateway holds (pending deliveries, connections)."""


def header(headers: Mapping[str, str], name: str) -> str | None:
    """A header by name, whatever the case of the mapping's keys."""
    value = headers.get(name)
    if value is not None:
        return value
    wanted = name.lower()
    return next((v for k, v in headers.items() if k.lower() == wanted), None)


def parse_signature_header(value: str) -> tuple[int, list[str]]:
    """``t=<unix>,v1=<hex>[,v1=<hex>]``: the scheme Stripe uses, and the sandbox too."""
    timestamp: int | None = None
    signatures: list[str] = []
    for item in value.split(","):
        key, sep, val = item.strip().partition("=")
        if not sep:
            continue
        if key == "t" and val.isdigit():
            timestamp = int(val)
        elif key == "v1":
            signatures.append(val)
    if timestamp is None or not signatures:
        raise ValueError("a signature header needs t= and at least one v1=")
    return timestamp, signatures

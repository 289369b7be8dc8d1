"""Taking a payment: price the cart, record it, charge it, and record what the gateway says.

Every change goes through :meth:`Payments._change`: read the payment, decide the events that
follow from its state, and write them with the row in one transaction that commits only if
nobody changed the payment meanwhile (else decide again). So a payhook racing the charge's
own answer, or two refunds at once, each see the other's outcome.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from sqlalchemy.exc import IntegrityError

from sticky.api.payments.errors import NotPayable, PaymentNotFound, RefundRefused
from sticky.api.payments.gateways import (
    GATEWAY_SANDBOX,
    GATEWAY_STRIPE,
    Card,
    ChargeRequest,
    ChargeResult,
    ChargeStatus,
    EventOutcome,
    ForgedCallback,
    GatewayEvent,
    InvalidPaymentDetails,
    PaymentGateway,
    RefundRequest,
    RefundStatus,
    StripeGateway,
    peek_claims,
)
from sticky.api.payments.gateways.cards import check_card
from sticky.api.payments.ledger import Ledger
from sticky.api.payments.pricing import Line, Priced
from sticky.api.payments.projection import (
    PAID,
    PAYMENT_CREATED,
    PENDING,
    SESSION_CART_PAY,
    SESSION_CART_PAY_FAIL,
    SESSION_CART_REFUND,
    Row,
    payment_event,
)
from sticky.api.payments.registry import Gateways
from sticky.api.store import Store
from sticky.kernel.ids import new_id
from sticky.kernel.settings import Settings

log = structlog.get_logger("sticky.api.payments")

_ATTEMPTS = 20
# Within Stripe's 24 hours of remembering an idempotency key, with an hour to spare.
ASK_AGAIN_WITHIN = timedelta(hours=23)

# What a decision returns: the events to append and operational columns to set; None: nothing.
Decision = tuple[list[dict[str, Any]], dict[str, Any]] | None


@dataclass(frozen=True)
class NewPayment:
    """A payment to create, as the caller asked for it (the cart is priced here)."""

    user_id: str
    session_id: str | None
    application_id: str | None
    thing_id: str | None
    gateway: str
    currency: str
    lines: Sequence[Line] = ()
    discount: int = 0
    tip: int = 0
    customer: dict[str, Any] | None = None
    user_payment_id: str | None = None
    redirect_url: str | None = None


@dataclass(frozen=True)
class PaymentDetails:
    """How the buyer pays: a card (sandbox), a PaymentMethod (Stripe), or nothing (demo)."""

    card: Card | None = None
    payment_method: str | None = None
    return_url: str | None = None


@dataclass(frozen=True)
class Charged:
    payment: Row
    result: ChargeResult | None  # None: no charge was made now (already charged, or fixed)


class _Moved(Exception):
    """The payment changed between reading and writing it: decide again."""


def idempotency_digest(scope: str, key: str) -> str:
    """What the unique index holds: a caller's key, bound to the caller (session or owner)."""
    return hashlib.sha256(f"{scope}\n{key}".encode()).hexdigest()


# Stripe takes idempotency keys of at most 255 characters; a caller's may be that long itself.
GATEWAY_KEY_LENGTH = 255


def refund_key(payment_id: str, key: str | None) -> str:
    """The refund's idempotency key at the gateway: the payment's and the caller's (a fresh
    one without), or, when that would be too long, the SHA-256 of the caller's in its place
    (the same key still gives the same refund)."""
    own = key or new_id("rf")
    whole = f"refund-{payment_id}-{own}"
    if len(whole) <= GATEWAY_KEY_LENGTH:
        return whole
    return f"refund-{payment_id}-sha256-{hashlib.sha256(own.encode()).hexdigest()}"


class Payments:
    def __init__(self, store: Store, gateways: Gateways, committed: asyncio.Event) -> None:
        self._store = store
        self.gateways = gateways
        self._committed = committed  # wakes the outbox's deliverer

    @classmethod
    def from_settings(cls, store: Store, settings: Settings, committed: asyncio.Event) -> Payments:
        """The payments of one api process, with its gateways (``aclose()`` it at shutdown)."""
        return cls(store, Gateways(settings), committed)

    @staticmethod
    def now() -> datetime:
        return datetime.now(UTC)

    async def gateway_for(self, user_id: str, name: str) -> PaymentGateway:
        sealed = None
        if name == GATEWAY_STRIPE:
            async with self._store.reading() as tx:
                found = await Ledger(tx.conn).settings(user_id)
            sealed = found["stripe_keys"] if found else None
        return self.gateways.get(name, sealed)

    async def create(
        self,
        new: NewPayment,
        priced: Priced,
        details: PaymentDetails | None,
        idempotency_key: str | None = None,
    ) -> Charged:
        """Record the payment (``PAYMENT_CREATED``) and, given ``details``, charge it.

        With ``idempotency_key`` (already bound to its caller) the same key again answers the
        payment it made, asking the gateway again while it is pending (see ``_resume``).
        """
        if idempotency_key is not None:
            async with self._store.reading() as tx:
                earlier = await Ledger(tx.conn).by_idempotency_key(new.user_id, idempotency_key)
            if earlier is not None:
                return await self._resume(earlier, details)
        gateway = await self.gateway_for(new.user_id, new.gateway)
        if details is not None:
            precheck(gateway.name, details, time.time())
        now = self.now()
        payment_id = new_id("pay")
        identity = {
            "id": payment_id,
            "user_id": new.user_id,
            "session_id": new.session_id,
            "application_id": new.application_id,
            "thing_id": new.thing_id,
            "version": -1,
        }
        created = payment_event(
            PAYMENT_CREATED,
            identity,
            {
                "cart": priced.lines,
                "subtotal": priced.subtotal,
                "discount": priced.discount,
                "tip": priced.tip,
                "total": priced.total,
                "currency": priced.currency,
                "gateway": gateway.name,
                "customer": new.customer,
                "userPaymentId": new.user_payment_id,
            },
            now,
        )
        operational = {
            "idempotency_key": idempotency_key,
            "charge_reference": None,
            "refund_reserved": 0,
            "redirect_url": new.redirect_url,
            "updated_at": now,
        }
        try:
            async with self._store.transaction() as tx:
                row = await Ledger(tx.conn).create(created, operational)
        except IntegrityError:
            if idempotency_key is None:
                raise
            # The same key raced us from another request or replica: answer its payment.
            async with self._store.reading() as tx:
                earlier = await Ledger(tx.conn).by_idempotency_key(new.user_id, idempotency_key)
            if earlier is None:
                raise
            return await self._resume(earlier, details)
        self._committed.set()
        if details is None:
            return Charged(row, None)
        return await self.charge(row, gateway, details)

    async def _resume(self, row: Row, details: PaymentDetails | None) -> Charged:
        # Still pending: the first answer may have died with a killed process, whether before
        # the gateway was asked or while its outcome was on the way. Asked again under the
        # payment's one charge key, the gateway answers the charge it has (its second step
        # included), or makes it if it never got it: never a second charge.
        if row["status"] == PENDING and details is not None and self._may_ask_again(row):
            gateway = await self.gateway_for(row["user_id"], row["gateway"])
            precheck(gateway.name, details, time.time())
            return await self.charge(row, gateway, details)
        return Charged(row, None)

    def _may_ask_again(self, row: Row) -> bool:
        """Whether a charge already made may be asked for again under its key: only while the
        gateway still remembers the key (Stripe keeps them 24 hours), or a new charge would
        be made. The payment's creation bounds the charge's from below: a safe measure."""
        if row["charge_reference"] is None:
            return True
        return bool(self.now() - row["created_at"] < ASK_AGAIN_WITHIN)

    async def pay(self, user_id: str, payment_id: str, details: PaymentDetails) -> Charged:
        """Charge a pending payment: one created without a charge (a hosted checkout's, or one
        whose gateway was unreachable), or asked again as ``_resume`` does."""
        async with self._store.reading() as tx:
            row = await Ledger(tx.conn).get(user_id, payment_id)
        if row is None:
            raise PaymentNotFound(payment_id)
        if row["status"] != PENDING:
            raise NotPayable(f"The payment is {row['status']} and takes no new charge.")
        if not self._may_ask_again(row):
            raise NotPayable(
                "The payment's charge is too old to ask the gateway about again; it is settled"
                " by the gateway's own callback."
            )
        gateway = await self.gateway_for(user_id, row["gateway"])
        precheck(gateway.name, details, time.time())
        return await self.charge(row, gateway, details)

    async def charge(self, row: Row, gateway: PaymentGateway, details: PaymentDetails) -> Charged:
        customer = row["customer"] or {}
        request = ChargeRequest(
            payment_id=row["id"],
            amount=row["total"],
            currency=row["currency"],
            # One charge per payment, whoever asks: the gateway answers a repeat with the first.
            idempotency_key=f"charge-{row['id']}",
            description=f"Sticky payment {row['id']}",
            customer_email=customer.get("email"),
            customer_name=customer.get("name"),
            card=details.card,
            payment_method=details.payment_method,
            callback_url=self.gateways.callback_url(gateway.name),
            return_url=details.return_url,
        )
        try:
            result = await gateway.charge(request)
        except InvalidPaymentDetails as exc:
            message = exc.message
            await self._change(
                row["id"], lambda current: _failure(current, "invalid_payment_details", message)
            )
            raise
        reference = result.reference or None

        def decide(current: Row) -> Decision:
            marks = {"charge_reference": reference} if current["charge_reference"] is None else {}
            if current["status"] != PENDING:
                return ([], marks) if marks else None  # a payhook was quicker
            if result.status is ChargeStatus.SUCCEEDED:
                return [_paid_event(current, reference)], marks
            if result.status is ChargeStatus.DECLINED and result.decline is not None:
                code, message = result.decline.code, result.decline.message
                failure = _failure(current, code, message)
                return (failure[0], marks) if failure else None
            return ([], marks) if marks else None

        return Charged(await self._change(row["id"], decide), result)

    async def refund(
        self, user_id: str, payment_id: str, amount: int | None, key: str | None
    ) -> Row:
        """Give back ``amount`` (all that is left when None); never more than was paid."""
        async with self._store.reading() as tx:
            row = await Ledger(tx.conn).get(user_id, payment_id)
        if row is None:
            raise PaymentNotFound(payment_id)
        left = row["total"] - row["refunded_total"] - row["refund_reserved"]
        if row["status"] not in (PAID,):
            raise RefundRefused(f"The payment is {row['status']}: only a paid one is refunded.", 0)
        wanted = left if amount is None else amount
        if wanted <= 0 or wanted > left:
            raise RefundRefused(
                f"{wanted} asked, but {max(left, 0)} {row['currency']} minor units are left to"
                " refund.",
                max(left, 0),
            )
        async with self._store.transaction() as tx:
            reserved = await Ledger(tx.conn).reserve_refund(payment_id, wanted, self.now())
        if not reserved:  # another refund took it meanwhile
            raise RefundRefused("Another refund of this payment took what was left.", 0)
        try:
            gateway = await self.gateway_for(user_id, row["gateway"])
            result = await gateway.refund(
                RefundRequest(
                    payment_id=payment_id,
                    reference=row["charge_reference"] or row["reference"] or "",
                    amount=wanted,
                    currency=row["currency"],
                    idempotency_key=refund_key(payment_id, key),
                )
            )
            if result.status is RefundStatus.FAILED:
                raise RefundRefused("The gateway refused the refund.", left)
        except BaseException:
            async with self._store.transaction() as tx:
                await Ledger(tx.conn).release_refund(payment_id, wanted)
            raise

        def decide(current: Row) -> Decision:
            refunded = current["refunded_total"] + wanted
            data = {
                "amount": wanted,
                "refundedTotal": refunded,
                "currency": current["currency"],
                "reference": result.reference,
            }
            release = {"refund_reserved": current["refund_reserved"] - wanted}
            return [payment_event(SESSION_CART_REFUND, current, data, self.now())], release

        return await self._change(payment_id, decide)

    async def verify_payhook(
        self, name: str, body: bytes, headers: Mapping[str, str]
    ) -> GatewayEvent | None:
        """The authentic ``GatewayEvent`` (or None) a payhook carries; ``CallbackRefused``
        otherwise. Stripe's secret is per merchant: found by the payment the body claims."""
        now = time.time()
        if name != GATEWAY_STRIPE:
            return self.gateways.get(name).verify_callback(body, headers, now)
        reference, claimed = peek_claims(body)
        by_reference = by_claim = None
        async with self._store.reading() as tx:
            ledger = Ledger(tx.conn)
            if reference:
                by_reference = await ledger.by_reference(GATEWAY_STRIPE, reference)
            if claimed:
                by_claim = await ledger.find(claimed)
        if by_reference and by_claim and by_reference["id"] != by_claim["id"]:
            raise ForgedCallback("the event's PaymentIntent and its metadata name two payments")
        row = by_reference or by_claim
        if row is None or row["gateway"] != GATEWAY_STRIPE:
            raise ForgedCallback("the event names no payment of this platform")
        gateway = await self.gateway_for(row["user_id"], GATEWAY_STRIPE)
        assert isinstance(gateway, StripeGateway)
        event = gateway.verify_callback(body, headers, now)
        return None if event is None else replace(event, merchant_id=row["user_id"])

    async def apply_gateway_event(self, event: GatewayEvent) -> str:
        """Record what an authentic payhook says, once per gateway event id."""
        async with self._store.reading() as tx:
            ledger = Ledger(tx.conn)
            row = await ledger.find(event.payment_id) if event.payment_id else None
            if row is None:
                row = await ledger.by_reference(event.gateway, event.reference)
        if row is not None and event.merchant_id not in (None, row["user_id"]):
            # Signed with one merchant's secret, about another's payment: not theirs to tell.
            log.warning("payhook about another merchant's payment", gateway=event.gateway)
            return "ignored"
        if row is None or row["gateway"] != event.gateway:
            seen = await self._remember(event, None)
            return "ignored" if seen else "duplicate"

        def decide(current: Row) -> Decision:
            return _outcome(current, event, self.now())

        try:
            await self._change(row["id"], decide, payhook=event)
        except _Duplicate:
            return "duplicate"
        return "applied"

    async def _remember(self, event: GatewayEvent, payment_id: str | None) -> bool:
        async with self._store.transaction() as tx:
            return await Ledger(tx.conn).first_sight(
                event.gateway, event.event_id, payment_id, self.now()
            )

    async def _change(
        self,
        payment_id: str,
        decide: Callable[[Row], Decision],
        *,
        payhook: GatewayEvent | None = None,
    ) -> Row:
        for _ in range(_ATTEMPTS):
            try:
                async with self._store.transaction() as tx:
                    ledger = Ledger(tx.conn)
                    now = self.now()
                    if payhook is not None and not await ledger.first_sight(
                        payhook.gateway, payhook.event_id, payment_id, now
                    ):
                        raise _Duplicate
                    current = await ledger.find(payment_id)
                    if current is None:
                        raise PaymentNotFound(payment_id)
                    decision = decide(current)
                    if decision is None:
                        return current
                    events, operational = decision
                    if not events:
                        if not await ledger.set_operational(
                            current, {**operational, "updated_at": now}
                        ):
                            raise _Moved
                        return {**current, **operational, "updated_at": now}
                    changed = await ledger.append(current, events, now, operational)
                    if changed is None:
                        raise _Moved
            except _Moved:
                continue
            self._committed.set()
            return changed
        raise RuntimeError(f"payment {payment_id} kept changing under {_ATTEMPTS} attempts")

    async def aclose(self) -> None:
        await self.gateways.aclose()


class _Duplicate(Exception):
    """A gateway event already applied."""


def precheck(gateway: str, details: PaymentDetails, now: float) -> None:
    """Refuse what the gateway would refuse, before anything is recorded."""
    if gateway == GATEWAY_SANDBOX:
        if details.card is None:
            raise InvalidPaymentDetails("card", "the sandbox charges a card: give its details")
        check_card(details.card, now)
    elif gateway == GATEWAY_STRIPE and not details.payment_method:
        raise InvalidPaymentDetails("paymentMethod", "Stripe charges a PaymentMethod (pm_...)")


def _paid_event(current: Row, reference: str | None) -> dict[str, Any]:
    data = {
        "total": current["total"],
        "currency": current["currency"],
        "gateway": current["gateway"],
        "reference": reference,
    }
    return payment_event(SESSION_CART_PAY, current, data, datetime.now(UTC))


def _failure(current: Row, code: str, message: str) -> Decision:
    if current["status"] != PENDING:
        return None
    data = {
        "total": current["total"],
        "currency": current["currency"],
        "gateway": current["gateway"],
        "code": code,
        "message": message,
    }
    return [payment_event(SESSION_CART_PAY_FAIL, current, data, datetime.now(UTC))], {}


def _outcome(current: Row, event: GatewayEvent, now: datetime) -> Decision:
    marks: dict[str, Any] = {}
    if current["charge_reference"] is None and event.outcome is not EventOutcome.REFUNDED:
        marks["charge_reference"] = event.reference
    if event.currency != current["currency"]:
        log.warning("payhook in another currency ignored", payment=current["id"])
        return ([], marks) if marks else None
    if event.outcome is EventOutcome.SUCCEEDED:
        if current["status"] != PENDING:
            return ([], marks) if marks else None
        if event.amount != current["total"]:
            log.warning("payhook for another amount ignored", payment=current["id"])
            return ([], marks) if marks else None
        return [_paid_event(current, event.reference)], marks
    if event.outcome is EventOutcome.FAILED:
        decline = event.decline
        code = decline.code if decline else "payment_failed"
        message = decline.message if decline else "The payment failed."
        failure = _failure(current, code, message)
        return (failure[0], marks) if failure else (([], marks) if marks else None)
    # Refunded: ``amount`` is the total refunded so far; refunds made here are counted
    # already (or reserved while in flight), so only a refund made elsewhere adds one.
    if current["status"] not in (PAID, "refunded"):
        return None
    known = current["refunded_total"] + current["refund_reserved"]
    extra = min(event.amount, current["total"]) - known
    if extra <= 0:
        return None
    data = {
        "amount": extra,
        "refundedTotal": current["refunded_total"] + extra,
        "currency": current["currency"],
        "reference": event.reference,
    }
    return [payment_event(SESSION_CART_REFUND, current, data, now)], {}

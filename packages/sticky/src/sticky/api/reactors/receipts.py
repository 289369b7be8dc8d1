"""The receipts reactor: a payment, a failed payment or a refund emails the customer.

It follows the durable subscription ``receipts`` (the three payment outcome types). For each
event of a flow whose live settings say ``"receipts": true``, it reads the payment's stream for
the cart and the customer's address (``PAYMENT_CREATED``), and asks the mail service for the
matching template with the idempotency key ``receipt:<userId>:<eventId>``: the subscription
may hand it an event more than once (after a restart), the customer gets one email.

The merchant's name on the receipt is the flow's ``publicName`` (else its ``name``): it is what
the customer saw while paying. Events older than :data:`MAX_AGE` get no receipt, so a
subscription started afresh never mails customers about old purchases.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import structlog

from sticky.api.reactors.follower import Event, StreamReader
from sticky.api.reactors.mailer import Mailer, MailRefused
from sticky.api.reactors.payment_view import (
    CREATED,
    FAILED,
    PAID,
    REFUNDED,
    format_money,
    payment_stream,
    payment_view,
)
from sticky.api.store import Store

log = structlog.get_logger("sticky.api.reactors")

SUBSCRIPTION = "receipts"
TYPES = (PAID, FAILED, REFUNDED)
TEMPLATES = {PAID: "receipt-paid", FAILED: "receipt-failed", REFUNDED: "receipt-refunded"}
MAX_AGE = timedelta(days=1)


class ReceiptReactor:
    def __init__(self, store: Store, streams: StreamReader, mailer: Mailer) -> None:
        self._store = store
        self._streams = streams
        self._mailer = mailer
        self.sent = 0  # emails asked for (repeats included; the mail service drops them)

    async def handle(self, batch: list[Event]) -> None:
        for event in batch:
            await self.handle_one(event)

    async def handle_one(self, event: Event) -> None:
        kind = event.get("type")
        user_id, payment_id = event.get("userId"), event.get("paymentId")
        if kind not in TEMPLATES or not user_id or not payment_id:
            return
        created_at = datetime.fromisoformat(str(event["createdAt"]))
        if datetime.now(UTC) - created_at > MAX_AGE:
            return
        merchant = await self._merchant_name(str(user_id), event.get("applicationId"))
        if merchant is None:
            return  # no live flow with receipts on
        stream = str(event.get("stream") or payment_stream(str(payment_id)))
        history = await self._streams.read(str(user_id), stream)
        if not any(e.get("type") == CREATED for e in history):
            log.warning("receipt without a PAYMENT_CREATED", event=event["id"], stream=stream)
            return
        payment = payment_view(history, through=str(event["id"]))
        customer = payment.get("customer") or {}
        email = customer.get("email") if isinstance(customer, dict) else None
        if not email:
            return
        data = receipt_data(merchant, payment, event, customer.get("name"))
        key = f"receipt:{user_id}:{event['id']}"
        try:
            await self._mailer.send(str(email), TEMPLATES[str(kind)], data, key)
        except MailRefused as exc:
            log.warning("receipt refused by mail", event=event["id"], error=str(exc))
            return
        self.sent += 1

    async def _merchant_name(self, user_id: str, application_id: object) -> str | None:
        """The live flow's customer-facing name, when its receipts are on; else None."""
        if not application_id:
            return None
        async with self._store.reading() as tx:
            flow = await tx.applications.get(user_id, str(application_id))
            if flow is None or flow["live_version"] is None:
                return None
            live = await tx.version(flow["id"], flow["live_version"])
        if live is None or live["settings"].get("receipts") is not True:
            return None
        return str(live["public_name"] or live["name"])


def receipt_data(
    merchant: str, payment: dict[str, Any], event: Event, customer_name: object
) -> dict[str, Any]:
    """What the receipt templates show, every amount already written out."""
    currency = str(payment.get("currency") or (event.get("customData") or {}).get("currency"))

    def money(value: object) -> str:
        return format_money(int(value), currency) if isinstance(value, int) else ""

    lines = []
    for line in payment.get("cart") or []:
        options = ", ".join(str(o.get("name")) for o in line.get("options") or [] if o.get("name"))
        lines.append(
            {
                "name": str(line.get("name") or line.get("productId") or "Item"),
                "quantity": int(line.get("quantity") or 1),
                "options": options,
                "amount": money(line.get("lineTotal")),
            }
        )
    custom = event.get("customData") or {}
    failure = payment.get("failure") or {}
    return {
        "merchantName": merchant,
        "customerName": str(customer_name or ""),
        "reference": str(payment.get("reference") or payment.get("id")),
        "date": datetime.fromisoformat(str(event["createdAt"])).strftime("%d %B %Y, %H:%M UTC"),
        "lines": lines,
        "subtotal": money(payment.get("subtotal")),
        "discount": money(payment.get("discount")) if payment.get("discount") else "",
        "tip": money(payment.get("tip")) if payment.get("tip") else "",
        "total": money(payment.get("total")),
        "reason": str(failure.get("message") or "The payment was declined."),
        "amount": money(custom.get("amount")),
        "refundedTotal": money(payment.get("refundedTotal")),
    }

"""A payment's life as events in its stream, and the row those events project to.

The stream is ``payment-<id>``: ``PAYMENT_CREATED`` (version 0), then ``SESSION_CART_PAY``
or ``SESSION_CART_PAY_FAIL``, then any ``SESSION_CART_REFUND``. The live ``payments`` row is
folded from the same events by :func:`apply` as a rebuild from the events service is, so the
two cannot disagree.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from sticky.kernel.ids import ordered_id

PAYMENT_CREATED = "PAYMENT_CREATED"
SESSION_CART_PAY = "SESSION_CART_PAY"
SESSION_CART_PAY_FAIL = "SESSION_CART_PAY_FAIL"
SESSION_CART_REFUND = "SESSION_CART_REFUND"
PAYMENT_EVENT_TYPES = (
    PAYMENT_CREATED,
    SESSION_CART_PAY,
    SESSION_CART_PAY_FAIL,
    SESSION_CART_REFUND,
)

PENDING = "pending"
PAID = "paid"
FAILED = "failed"
REFUNDED = "refunded"  # every minor unit given back

# The columns of ``payments`` that the events decide (the rest are operational).
PROJECTED = (
    "id",
    "user_id",
    "session_id",
    "application_id",
    "thing_id",
    "cart",
    "subtotal",
    "discount",
    "tip",
    "total",
    "currency",
    "gateway",
    "customer",
    "user_payment_id",
    "status",
    "reference",
    "failure",
    "session_paid_at",
    "session_failed_at",
    "refunded_at",
    "refunded_total",
    "version",
    "created_at",
)

Row = dict[str, Any]


class ProjectionError(ValueError):
    """An event that cannot follow the ones before it."""


def stream_of(payment_id: str) -> str:
    return f"payment-{payment_id}"


def payment_event(
    type_: str, payment: Mapping[str, Any], custom_data: dict[str, Any], at: datetime
) -> dict[str, Any]:
    """The next event of ``payment``'s stream, as the events service takes it.

    ``payment`` carries the identifiers and ``version`` (the stream's last version, -1 before
    the first event): the event appends at ``version + 1`` only if the stream is still there.
    """
    return {
        "id": ordered_id("evt"),
        "type": type_,
        "userId": payment["user_id"],
        "applicationId": payment["application_id"],
        "thingId": payment["thing_id"],
        "sessionId": payment["session_id"],
        "paymentId": payment["id"],
        "customData": {
            "paymentId": payment["id"],
            "sessionId": payment["session_id"],
            "applicationId": payment["application_id"],
            "thingId": payment["thing_id"],
            "userId": payment["user_id"],
            **custom_data,
        },
        "createdAt": at.astimezone(UTC).isoformat(),
        "stream": stream_of(payment["id"]),
        "expectedVersion": payment["version"],
    }


def _at(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).astimezone(UTC)


def apply(row: Row | None, event: Mapping[str, Any]) -> Row:
    """The projection after ``event``; ``row`` is None before ``PAYMENT_CREATED``."""
    kind = event["type"]
    data = event.get("customData") or {}
    at = _at(event["createdAt"])
    if kind == PAYMENT_CREATED:
        if row is not None:
            raise ProjectionError("a payment is created once")
        return {
            "id": event["paymentId"],
            "user_id": event["userId"],
            "session_id": event.get("sessionId"),
            "application_id": event.get("applicationId"),
            "thing_id": event.get("thingId"),
            "cart": data["cart"],
            "subtotal": data["subtotal"],
            "discount": data["discount"],
            "tip": data["tip"],
            "total": data["total"],
            "currency": data["currency"],
            "gateway": data["gateway"],
            "customer": data.get("customer"),
            "user_payment_id": data.get("userPaymentId"),
            "status": PENDING,
            "reference": None,
            "failure": None,
            "session_paid_at": None,
            "session_failed_at": None,
            "refunded_at": None,
            "refunded_total": 0,
            "version": 0,
            "created_at": at,
        }
    if row is None:
        raise ProjectionError(f"{kind} before PAYMENT_CREATED")
    row = {**row, "version": row["version"] + 1}
    if kind == SESSION_CART_PAY:
        row.update(status=PAID, reference=data.get("reference"), session_paid_at=at)
    elif kind == SESSION_CART_PAY_FAIL:
        row.update(
            status=FAILED,
            failure={"code": data.get("code"), "message": data.get("message")},
            session_failed_at=at,
        )
    elif kind == SESSION_CART_REFUND:
        refunded = int(data["refundedTotal"])
        row.update(
            refunded_total=refunded,
            refunded_at=at,
            status=REFUNDED if refunded >= row["total"] else row["status"],
        )
    else:
        raise ProjectionError(f"{kind} is not a payment event")
    return row


def project(events: Iterable[Mapping[str, Any]]) -> Row:
    """The row of one payment's whole stream, in version order."""
    row: Row | None = None
    for event in events:
        row = apply(row, event)
    if row is None:
        raise ProjectionError("an empty stream is no payment")
    return row


def projected(row: Mapping[str, Any]) -> Row:
    """Only the columns the events decide, to compare a live row with a rebuilt one."""
    return {name: row[name] for name in PROJECTED}

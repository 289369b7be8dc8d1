"""A payment as its stream tells it: ``PAYMENT_CREATED`` then paid, failed and refunded events.

Reactors read the payment from the events service (``payment-<id>``) rather than from the
payments tables, so they depend on the log alone, and a replay tells the same story as the
first time: the view is built from the events up to the one being handled.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

CREATED = "PAYMENT_CREATED"
PAID = "SESSION_CART_PAY"
FAILED = "SESSION_CART_PAY_FAIL"
REFUNDED = "SESSION_CART_REFUND"
PAYMENT_TYPES = (CREATED, PAID, FAILED, REFUNDED)

# ISO 4217 minor units, where not 2.
_ZERO_DECIMALS = frozenset(
    {"BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW"}
    | {"PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF"}
)
_THREE_DECIMALS = frozenset({"BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"})


def payment_stream(payment_id: str) -> str:
    return f"payment-{payment_id}"


def format_money(minor: int, currency: str) -> str:
    """``1250, "GBP"`` reads ``12.50 GBP``; integer minor units, never floats."""
    digits = 0 if currency in _ZERO_DECIMALS else 3 if currency in _THREE_DECIMALS else 2
    sign = "-" if minor < 0 else ""
    whole, fraction = divmod(abs(int(minor)), 10**digits)
    amount = f"{whole:,}" + (f".{fraction:0{digits}d}" if digits else "")
    return f"{sign}{amount} {currency}"


def payment_view(events: Iterable[dict[str, Any]], *, through: str | None = None) -> dict[str, Any]:
    """The payment after its events, up to and including the one whose id is ``through``."""
    view: dict[str, Any] = {
        "id": None,
        "status": "created",
        "sessionId": None,
        "applicationId": None,
        "thingId": None,
        "userPaymentId": None,
        "cart": [],
        "subtotal": None,
        "discount": None,
        "tip": None,
        "total": None,
        "currency": None,
        "gateway": None,
        "customer": None,
        "reference": None,
        "failure": None,
        "createdAt": None,
        "sessionPaidAt": None,
        "sessionFailedAt": None,
        "refundedAt": None,
        "refundedTotal": 0,
    }
    for event in events:
        _apply(view, event)
        if through is not None and event.get("id") == through:
            break
    return view


def _apply(view: dict[str, Any], event: dict[str, Any]) -> None:
    data = event.get("customData") or {}
    for key in ("sessionId", "applicationId", "thingId"):
        view[key] = view[key] or event.get(key)
    view["id"] = view["id"] or event.get("paymentId")
    kind = event.get("type")
    if kind == CREATED:
        for key in ("cart", "subtotal", "discount", "tip", "total", "currency", "gateway"):
            if key in data:
                view[key] = data[key]
        view["customer"] = data.get("customer")
        view["userPaymentId"] = data.get("userPaymentId")
        view["createdAt"] = event.get("createdAt")
    elif kind == PAID:
        view.update(status="paid", sessionPaidAt=event.get("createdAt"))
        view["reference"] = data.get("reference", view["reference"])
        _money(view, data)
    elif kind == FAILED:
        view.update(status="failed", sessionFailedAt=event.get("createdAt"))
        view["failure"] = {"code": data.get("code"), "message": data.get("message")}
        _money(view, data)
    elif kind == REFUNDED:
        refunded = data.get("refundedTotal")
        if not isinstance(refunded, int):
            refunded = int(view["refundedTotal"] or 0) + int(data.get("amount") or 0)
        view["refundedTotal"] = refunded
        view["refundedAt"] = event.get("createdAt")
        total = view["total"]
        whole = isinstance(total, int) and refunded >= total
        view["status"] = "refunded" if whole else "partially_refunded"


def _money(view: dict[str, Any], data: dict[str, Any]) -> None:
    for key in ("total", "currency", "gateway"):
        if view[key] is None and key in data:
            view[key] = data[key]

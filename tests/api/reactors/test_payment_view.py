"""A payment read back from its stream, and the receipt data made from it."""

from __future__ import annotations

from typing import Any

import pytest

from sticky.api.reactors.payment_view import format_money, payment_view
from sticky.api.reactors.receipts import receipt_data
from tests.api.reactors.platform import payment_events, refund_event


def stored(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """As the events service answers them: with ids and times."""
    return [
        {**e, "id": f"evt_{n}", "createdAt": f"2026-12-04T16:2{n}:00.000000Z"}
        for n, e in enumerate(events)
    ]


@pytest.mark.parametrize(
    ("minor", "currency", "written"),
    [
        (1250, "GBP", "12.50 GBP"),
        (5, "EUR", "0.05 EUR"),
        (123456789, "USD", "1,234,567.89 USD"),
        (1250, "JPY", "1,250 JPY"),
        (1250, "KWD", "1.250 KWD"),
        (-300, "GBP", "-3.00 GBP"),
        (0, "GBP", "0.00 GBP"),
    ],
)
def test_money_is_written_in_the_currencys_minor_units(
    minor: int, currency: str, written: str
) -> None:
    assert format_money(minor, currency) == written


def test_a_paid_then_refunded_payment() -> None:
    _, events = payment_events("usr_ann", application_id="app_1", thing_id="thg_1")
    history = stored(
        [*events, refund_event(events[1], 500, 500), refund_event(events[1], 660, 1160)]
    )
    created = payment_view(history, through="evt_0")
    assert created["status"] == "created" and created["total"] == 1160
    assert created["customer"] == {"email": "cleo@example.com", "name": "Cleo"}
    paid = payment_view(history, through="evt_1")
    assert paid["status"] == "paid" and paid["reference"] == "REF-7731"
    assert paid["sessionPaidAt"] == "2026-12-04T16:21:00.000000Z" and paid["refundedTotal"] == 0
    part = payment_view(history, through="evt_2")
    assert part["status"] == "partially_refunded" and part["refundedTotal"] == 500
    whole = payment_view(history)
    assert whole["status"] == "refunded" and whole["refundedTotal"] == 1160
    assert whole["refundedAt"] == "2026-12-04T16:23:00.000000Z"
    assert (whole["id"], whole["applicationId"], whole["thingId"]) == (
        events[0]["paymentId"],
        "app_1",
        "thg_1",
    )


def test_a_failed_payment() -> None:
    _, events = payment_events("usr_ann", application_id=None, outcome="SESSION_CART_PAY_FAIL")
    view = payment_view(stored(events))
    assert view["status"] == "failed"
    assert view["failure"] == {"code": "card_declined", "message": "The card was declined."}
    assert view["reference"] is None


def test_a_payment_seen_without_its_creation() -> None:
    _, events = payment_events("usr_ann", application_id=None)
    view = payment_view(stored(events[1:]))
    assert view["status"] == "paid" and view["total"] == 1160 and view["cart"] == []


def test_receipt_data() -> None:
    _, events = payment_events("usr_ann", application_id="app_1")
    history = stored(events)
    data = receipt_data("Café Ann", payment_view(history), history[1], "Cleo")
    assert data["merchantName"] == "Café Ann" and data["reference"] == "REF-7731"
    assert data["lines"] == [
        {"name": "Flat white", "quantity": 2, "options": "Oat milk", "amount": "7.80 GBP"},
        {"name": "Croissant", "quantity": 1, "options": "", "amount": "2.80 GBP"},
    ]
    assert (data["subtotal"], data["discount"], data["tip"], data["total"]) == (
        "10.60 GBP",
        "",
        "1.00 GBP",
        "11.60 GBP",
    )
    assert data["date"] == "04 December 2026, 16:21 UTC"
    refund = stored([*events, refund_event(events[1], 500, 500)])
    refunded = receipt_data("Café Ann", payment_view(refund), refund[2], None)
    assert refunded["amount"] == "5.00 GBP" and refunded["refundedTotal"] == "5.00 GBP"
    assert refunded["customerName"] == ""

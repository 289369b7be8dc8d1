"""The receipt templates and the disabled-webhook notice: the data they declare, and what they show."""

from __future__ import annotations

from typing import Any

import jinja2
import jinja2.meta
import pytest

from sticky.mail.catalog import TemplateCatalog
from sticky.mail.errors import MissingTemplateData

catalog = TemplateCatalog.default()

LINES = [
    {"name": "Flat white", "quantity": 2, "options": "Oat milk", "amount": "7.80 GBP"},
    {"name": "Croissant", "quantity": 1, "options": "", "amount": "2.80 GBP"},
]
COMMON = {
    "merchantName": "Café <Ann> & Co",
    "customerName": "Cleo",
    "reference": "REF-7731",
    "date": "04 December 2026, 16:20 UTC",
    "lines": LINES,
    "total": "11.60 GBP",
}
SAMPLES: dict[str, dict[str, Any]] = {
    "receipt-paid": {**COMMON, "subtotal": "10.60 GBP", "discount": "", "tip": "1.00 GBP"},
    "receipt-failed": {**COMMON, "reason": "The card was declined."},
    "receipt-refunded": {**COMMON, "amount": "5.00 GBP", "refundedTotal": "5.00 GBP"},
    "webhook-endpoint-disabled": {
        "url": "https://merchant.example/hooks?a=1&b=2",
        "endpointId": "whe_1",
        "failingSince": "03 December 2026, 16:20 UTC",
        "lastError": "answered 503",
    },
}


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_each_uses_only_the_data_it_declares(name: str) -> None:
    env = jinja2.Environment(loader=jinja2.PackageLoader("sticky.mail", "templates"))
    used = set(jinja2.meta.find_undeclared_variables(env.parse(catalog.spec(name).subject)))
    for extension in ("html", "txt"):
        source = env.loader.get_source(env, f"{name}.{extension}")[0]  # type: ignore[union-attr]
        used |= jinja2.meta.find_undeclared_variables(env.parse(source))
    assert used == set(catalog.spec(name).required)


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_each_renders_text_and_html(name: str) -> None:
    mail = catalog.render(name, SAMPLES[name])
    assert "\n" not in mail.subject
    assert mail.html.startswith("<!doctype html>")
    assert "<" not in mail.text.replace("<Ann>", "")


@pytest.mark.parametrize("name", ["receipt-paid", "receipt-failed", "receipt-refunded"])
def test_a_receipt_shows_the_merchant_the_lines_and_the_reference(name: str) -> None:
    mail = catalog.render(name, SAMPLES[name])
    assert "Café <Ann> & Co" in mail.subject
    assert "Café <Ann> & Co" in mail.text and "Café &lt;Ann&gt; &amp; Co" in mail.html
    for body in (mail.text, mail.html):
        assert "Hi Cleo," in body
        assert "REF-7731" in body and "11.60 GBP" in body
        assert "Flat white" in body and "Oat milk" in body and "7.80 GBP" in body
        assert "Croissant" in body and "2.80 GBP" in body
    assert "2 x Flat white (Oat milk): 7.80 GBP" in mail.text


def test_the_paid_receipt_shows_the_tip_and_hides_an_empty_discount() -> None:
    mail = catalog.render("receipt-paid", SAMPLES["receipt-paid"])
    assert "Tip: 1.00 GBP" in mail.text and "Subtotal: 10.60 GBP" in mail.text
    assert "Discount" not in mail.text and "Discount" not in mail.html
    with_discount = catalog.render(
        "receipt-paid", {**SAMPLES["receipt-paid"], "discount": "1.00 GBP"}
    )
    assert "Discount: -1.00 GBP" in with_discount.text


def test_failed_and_refunded_say_what_happened() -> None:
    failed = catalog.render("receipt-failed", SAMPLES["receipt-failed"])
    assert "The card was declined." in failed.text and "not been charged" in failed.html
    refunded = catalog.render("receipt-refunded", SAMPLES["receipt-refunded"])
    assert refunded.subject == "Café <Ann> & Co refunded 5.00 GBP"
    assert "Refunded in all: 5.00 GBP" in refunded.text


def test_a_customer_without_a_name_is_greeted_anyway() -> None:
    mail = catalog.render("receipt-paid", {**SAMPLES["receipt-paid"], "customerName": ""})
    assert mail.text.startswith("Hello,")


def test_the_disabled_notice_names_the_endpoint() -> None:
    mail = catalog.render("webhook-endpoint-disabled", SAMPLES["webhook-endpoint-disabled"])
    assert (
        mail.subject == "Sticky stopped sending webhooks to https://merchant.example/hooks?a=1&b=2"
    )
    assert "whe_1" in mail.text and "answered 503" in mail.text
    assert "https://merchant.example/hooks?a=1&amp;b=2" in mail.html


def test_a_receipt_without_lines_data_is_refused() -> None:
    with pytest.raises(MissingTemplateData) as caught:
        catalog.render("receipt-paid", {**SAMPLES["receipt-paid"], "lines": None})
    assert caught.value.keys == ("lines",)

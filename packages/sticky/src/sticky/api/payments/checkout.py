"""Hosted checkout links: ``/go/flow/{id}?total&currency&userPaymentId&redirectUrl&hash``.

A merchant's server signs the link so a buyer cannot change the amount: ``hash`` is the hex
HMAC-SHA512 of the canonical string, keyed with the merchant's *checkout signing secret*
(issued by ``GET /v1/payment-settings/checkout-secret``; the api never sees a private API key
in the clear, auth stores those hashed). The canonical string is the five values, each as
sent (absent ones empty), joined with newlines::

    applicationId \\n total \\n currency \\n userPaymentId \\n redirectUrl
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass

from sticky.api.payments.errors import CheckoutRefused
from sticky.kernel import crypto
from sticky.kernel.ids import random_string

_PURPOSE = "payments-checkout-secret"
_TOTAL = re.compile(r"^[1-9][0-9]{0,11}$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_HASH = re.compile(r"^[0-9a-fA-F]{128}$")
SECRET_PREFIX = "csk_"  # noqa: S105 - a prefix, not a secret


def new_secret() -> str:
    return SECRET_PREFIX + random_string(40)


def seal_secret(secret_key: str, secret: str) -> str:
    return crypto.encrypt(secret_key, _PURPOSE, secret.encode())


def open_secret(secret_key: str, sealed: str) -> str:
    return crypto.decrypt(secret_key, _PURPOSE, sealed).decode()


def hint(secret: str) -> str:
    """Enough of a secret to recognise it, not to use it."""
    return f"{secret[: len(SECRET_PREFIX)]}…{secret[-4:]}"


def canonical(
    application_id: str, total: str, currency: str, user_payment_id: str, redirect_url: str
) -> str:
    return "\n".join((application_id, total, currency, user_payment_id, redirect_url))


def link_hash(
    secret: str,
    application_id: str,
    total: str,
    currency: str,
    user_payment_id: str = "",
    redirect_url: str = "",
) -> str:
    """The ``hash`` a checkout link carries (what a merchant's server computes)."""
    message = canonical(application_id, total, currency, user_payment_id, redirect_url)
    return hmac.new(secret.encode(), message.encode(), hashlib.sha512).hexdigest()


@dataclass(frozen=True)
class CheckoutLink:
    application_id: str
    total: int
    currency: str
    user_payment_id: str | None
    redirect_url: str | None
    hash: str
    raw_total: str


def parse_link(application_id: str, params: Mapping[str, str]) -> CheckoutLink:
    """The link's values, or ``CheckoutRefused`` for one that is not whole."""
    total = params.get("total", "")
    currency = params.get("currency", "")
    given = params.get("hash", "")
    user_payment_id = params.get("userPaymentId", "")
    redirect_url = params.get("redirectUrl", "")
    if not given:
        raise CheckoutRefused("checkout-unsigned", "This payment link is not signed.")
    if not _HASH.match(given):
        raise CheckoutRefused("checkout-tampered", "This payment link's signature is malformed.")
    if not _TOTAL.match(total):
        raise CheckoutRefused(
            "checkout-invalid", "This payment link's total must be a positive whole number."
        )
    if not _CURRENCY.match(currency):
        raise CheckoutRefused("checkout-invalid", "This payment link names no currency.")
    if len(user_payment_id) > 200 or len(redirect_url) > 2048:
        raise CheckoutRefused("checkout-invalid", "This payment link is too long.")
    if redirect_url and not re.match(r"^https?://\S+$", redirect_url):
        raise CheckoutRefused("checkout-invalid", "This payment link's redirectUrl is not a URL.")
    return CheckoutLink(
        application_id=application_id,
        total=int(total),
        currency=currency,
        user_payment_id=user_payment_id or None,
        redirect_url=redirect_url or None,
        hash=given.lower(),
        raw_total=total,
    )


def verify(link: CheckoutLink, secret: str | None) -> None:
    """Refuse a link not signed with ``secret`` (None: the merchant has none yet)."""
    if secret is None:
        raise CheckoutRefused(
            "checkout-tampered", "This payment link cannot be checked: its merchant signs none."
        )
    expected = link_hash(
        secret,
        link.application_id,
        link.raw_total,
        link.currency,
        link.user_payment_id or "",
        link.redirect_url or "",
    )
    if not hmac.compare_digest(expected, link.hash):
        raise CheckoutRefused(
            "checkout-tampered", "This payment link was changed after it was signed."
        )

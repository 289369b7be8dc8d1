"""The sandbox's test cards, and the checks any card processor makes before charging.

The numbers are Stripe's documented test cards, so a merchant who tried one gateway knows the
other. Any other well-formed number is refused the way Stripe's test mode refuses a real card.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sticky.api.payments.gateways.base import Card, Decline
from sticky.api.payments.gateways.errors import InvalidPaymentDetails


@dataclass(frozen=True, slots=True)
class SandboxCard:
    number: str
    brand: str
    decline: Decline | None = None  # refused with this, or charged when None
    second_step: bool = False  # the buyer must authenticate (3-D Secure) first


TEST_CARDS: dict[str, SandboxCard] = {
    card.number: card
    for card in (
        SandboxCard("4242424242424242", "visa"),
        SandboxCard("5555555555554444", "mastercard"),
        SandboxCard("378282246310005", "amex"),
        SandboxCard(
            "4000000000000002", "visa", Decline("card_declined", "Your card was declined.")
        ),
        SandboxCard(
            "4000000000009995",
            "visa",
            Decline("insufficient_funds", "Your card has insufficient funds."),
        ),
        SandboxCard("4000000000000069", "visa", Decline("expired_card", "Your card has expired.")),
        SandboxCard(
            "4000000000000127",
            "visa",
            Decline("incorrect_cvc", "Your card's security code is incorrect."),
        ),
        SandboxCard("4000002500003155", "visa", second_step=True),
    )
}

NOT_A_TEST_CARD = Decline(
    "card_declined", "Your card was declined: the sandbox accepts only its test cards."
)
SECOND_STEP_FAILED = Decline(
    "authentication_failed", "The second step (3-D Secure) was not completed."
)


def luhn_valid(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def normalize_number(number: str) -> str:
    """The digits of a card number as typed (spaces and dashes allowed); refused if malformed."""
    digits = number.replace(" ", "").replace("-", "")
    if not digits.isascii() or not digits.isdigit() or not 12 <= len(digits) <= 19:
        raise InvalidPaymentDetails("card.number", "must be 12 to 19 digits")
    if not luhn_valid(digits):
        raise InvalidPaymentDetails("card.number", "is not a valid card number (checksum)")
    return digits


def check_card(card: Card, now: float) -> SandboxCard:
    """The test card behind valid card details, or ``InvalidPaymentDetails`` naming the field."""
    digits = normalize_number(card.number)
    if not 1 <= card.exp_month <= 12:
        raise InvalidPaymentDetails("card.expMonth", "must be a month, 1 to 12")
    year = card.exp_year + 2000 if 0 <= card.exp_year < 100 else card.exp_year
    if not 2000 <= year <= 2099:
        raise InvalidPaymentDetails("card.expYear", "must be a year such as 2031")
    today = datetime.fromtimestamp(now, UTC)
    if (year, card.exp_month) < (today.year, today.month):
        raise InvalidPaymentDetails(
            "card.expYear", f"the card expired in {card.exp_month:02d}/{year}"
        )
    cvc_length = 4 if digits[:2] in ("34", "37") else 3
    if not (card.cvc.isascii() and card.cvc.isdigit() and len(card.cvc) == cvc_length):
        raise InvalidPaymentDetails("card.cvc", f"must be {cvc_length} digits")
    return TEST_CARDS.get(digits) or SandboxCard(digits, "unknown", NOT_A_TEST_CARD)

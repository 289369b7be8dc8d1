"""Pricing a cart from the merchant's own products: the api never believes a client's total.

Each line is priced from the product as stored (its price, its options' price deltas); the
cart's lines must all be enabled products of one account, in the payment's currency, with
options their questions offer. Amounts are integers in minor units throughout.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

MAX_AMOUNT = 100_000_000_00 * 100  # far below 2**63: sums of 100 lines of 99 never overflow


class PricingError(Exception):
    """The cart cannot be priced; ``errors`` are (field, message) pairs for a 422."""

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{f}: {m}" for f, m in errors))
        self.errors = errors


@dataclass(frozen=True)
class Choice:
    question_id: str
    option_id: str


@dataclass(frozen=True)
class Line:
    product_id: str
    quantity: int
    options: tuple[Choice, ...] = ()


@dataclass(frozen=True)
class Priced:
    """A priced cart, ``lines`` in the wire shape PAYMENT_CREATED carries."""

    lines: list[dict[str, Any]]
    subtotal: int
    discount: int
    tip: int
    currency: str
    total: int = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "total", self.subtotal - self.discount + self.tip)


def price_cart(
    lines: Sequence[Line],
    products: Mapping[str, Mapping[str, Any]],
    *,
    currency: str,
    discount: int = 0,
    tip: int = 0,
) -> Priced:
    """The cart priced from ``products`` (rows by id, the caller's account only).

    Raises ``PricingError`` naming every line that cannot be sold as asked.
    """
    errors: list[tuple[str, str]] = []
    priced: list[dict[str, Any]] = []
    for index, line in enumerate(lines):
        where = f"cart.{index}"
        product = products.get(line.product_id)
        if product is None:
            errors.append((f"{where}.productId", f"names no product: {line.product_id}"))
            continue
        if not product["is_enabled"]:
            errors.append((f"{where}.productId", f"the product {line.product_id} is not for sale"))
            continue
        if product["currency"] != currency:
            errors.append(
                (
                    f"{where}.productId",
                    f"is priced in {product['currency']}, not in the payment's {currency}"
                    " (one payment, one currency)",
                )
            )
            continue
        options, option_errors = _options(line, product, where)
        if option_errors:
            errors += option_errors
            continue
        unit = int(product["price"]) + sum(o["priceDelta"] for o in options)
        if unit < 0:
            errors.append((f"{where}.options", "the options make the price negative"))
            continue
        priced.append(
            {
                "productId": line.product_id,
                "name": product["name"],
                "quantity": line.quantity,
                "unitPrice": unit,
                "options": options,
                "lineTotal": unit * line.quantity,
            }
        )
    if errors:
        raise PricingError(errors)
    subtotal = sum(line["lineTotal"] for line in priced)
    if discount > subtotal:
        raise PricingError([("discount", f"is more than the cart's subtotal ({subtotal})")])
    total = subtotal - discount + tip
    if total <= 0:
        raise PricingError([("discount", "leaves nothing to pay")])
    if total > MAX_AMOUNT:
        raise PricingError([("cart", "the total is too large to charge")])
    return Priced(priced, subtotal, discount, tip, currency)


def _options(
    line: Line, product: Mapping[str, Any], where: str
) -> tuple[list[dict[str, Any]], list[tuple[str, str]]]:
    questions = {q["id"]: q for q in product["questions"]}
    errors: list[tuple[str, str]] = []
    chosen: list[dict[str, Any]] = []
    per_question: dict[str, int] = {}
    seen: set[Choice] = set()
    for index, choice in enumerate(line.options):
        here = f"{where}.options.{index}"
        if choice in seen:
            errors.append((here, "the same option is chosen twice"))
            continue
        seen.add(choice)
        question = questions.get(choice.question_id)
        if question is None:
            errors.append((f"{here}.questionId", f"the product asks no {choice.question_id!r}"))
            continue
        option = next((o for o in question["options"] if o["id"] == choice.option_id), None)
        if option is None:
            errors.append(
                (f"{here}.optionId", f"{choice.question_id!r} offers no {choice.option_id!r}")
            )
            continue
        per_question[question["id"]] = per_question.get(question["id"], 0) + 1
        if per_question[question["id"]] > 1 and not question.get("multiple"):
            errors.append((here, f"{choice.question_id!r} takes one option"))
            continue
        chosen.append(
            {
                "questionId": question["id"],
                "optionId": option["id"],
                "name": option["name"],
                "priceDelta": int(option.get("priceDelta", 0)),
            }
        )
    for question in product["questions"]:
        if question.get("required") and question["id"] not in per_question:
            errors.append((f"{where}.options", f"{question['id']!r} needs an answer"))
    return chosen, errors

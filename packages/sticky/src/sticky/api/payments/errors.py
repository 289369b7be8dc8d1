"""What taking a payment can refuse, drawn once (the HTTP layer picks the statuses).

    PaymentError
     ├── PaymentNotFound       no such payment in this account (404)
     ├── NotPayable            the payment is not waiting for a charge (409)
     ├── RefundRefused         not paid, or more than is left to refund (409)
     ├── GatewayNotConfigured  the flow's gateway cannot be used yet (409)
     └── CheckoutRefused       a hosted-checkout link that is not authentic or not whole (400)

``PricingError`` (a cart that cannot be sold as asked, 422) lives with the pricing, and the
gateways' own errors (``GatewayError``) pass through unchanged.
"""

from __future__ import annotations


class PaymentError(Exception):
    """The root of every error the payments service raises on purpose."""


class PaymentNotFound(PaymentError):
    def __init__(self, payment_id: str) -> None:
        super().__init__(f"There is no payment {payment_id!r} in this account.")
        self.payment_id = payment_id


class NotPayable(PaymentError):
    pass


class RefundRefused(PaymentError):
    def __init__(self, detail: str, refundable: int) -> None:
        super().__init__(detail)
        self.refundable = refundable


class GatewayNotConfigured(PaymentError):
    """The flow names a gateway this merchant cannot use yet (Stripe without keys)."""

    def __init__(self, gateway: str, why: str) -> None:
        super().__init__(f"{gateway}: {why}")
        self.gateway = gateway
        self.why = why


class CheckoutRefused(PaymentError):
    def __init__(self, slug: str, detail: str) -> None:
        super().__init__(detail)
        self.slug = slug

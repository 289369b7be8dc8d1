"""What a payment gateway can refuse or fail at, drawn once.

    GatewayError
     ├── InvalidPaymentDetails  the card or amount is malformed or expired (422); ``field`` names it
     ├── IdempotencyConflict    the idempotency key was used for a different request (409)
     ├── RefundRejected         the provider refused the refund: unknown charge, not paid,
     │                          or more than is left to refund (409)
     ├── ProviderUnavailable    the provider could not be reached, or refused our credentials (502)
     └── CallbackRefused        a payhook that must not be believed (400)
          ├── ForgedCallback    the signature is missing, malformed or wrong
          └── StaleCallback     the signature is right but its timestamp is outside the tolerance

A declined card is not an error: it is a ``ChargeResult`` with status ``declined``. Errors of
the providers' libraries are translated here at the boundary, with the original as the cause.
"""

from __future__ import annotations


class GatewayError(Exception):
    """The root of every error a payment gateway raises on purpose."""


class InvalidPaymentDetails(GatewayError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class IdempotencyConflict(GatewayError):
    def __init__(self, key: str) -> None:
        super().__init__(f"the idempotency key {key!r} was already used for a different request")
        self.key = key


class RefundRejected(GatewayError):
    def __init__(self, reference: str, reason: str) -> None:
        super().__init__(f"refund of {reference!r} refused: {reason}")
        self.reference = reference
        self.reason = reason


class ProviderUnavailable(GatewayError):
    pass


class CallbackRefused(GatewayError):
    pass


class ForgedCallback(CallbackRefused):
    pass


class StaleCallback(CallbackRefused):
    def __init__(self, timestamp: int, now: float, tolerance: int) -> None:
        super().__init__(
            f"the callback was signed at {timestamp}, more than {tolerance} s from now ({now:.0f})"
        )
        self.timestamp = timestamp

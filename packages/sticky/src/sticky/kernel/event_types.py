"""The event types on the wire: one list for the events service, which refuses any other, and
for every service that names or checks a type before sending it there."""

from __future__ import annotations

import re

BUILTIN_TYPES = frozenset(
    {
        "SESSION_READ",
        "SESSION_CART_PAY",
        "SESSION_CART_PAY_FAIL",
        "SESSION_CART_REFUND",
        "CHECK_IN",
        "LD_V2",
        "MESSAGE",
        "TO_DO",
        "CONNECTION_GOOD",
        "CONNECTION_BAD",
        "LOGIC_ERROR",
        "PAYMENT_CREATED",
    }
)
# Custom types: X_ then upper-case letters, digits and underscores (X_DOOR_OPENED).
CUSTOM_TYPE_PATTERN = r"^X_[A-Z0-9][A-Z0-9_]{0,62}$"
_CUSTOM_TYPE = re.compile(CUSTOM_TYPE_PATTERN)


def is_custom_type(name: str) -> bool:
    return _CUSTOM_TYPE.match(name) is not None


def is_event_type(name: str) -> bool:
    """A type the events service stores: built in, or custom."""
    return name in BUILTIN_TYPES or is_custom_type(name)

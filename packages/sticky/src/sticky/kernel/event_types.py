"""The event types on the wire: one list for the events service, which refuses any other, and
for every service that names or checks a type before sending it there; with the rules for
the ids and data an event carries, which such a service checks first too (what it accepted
and the events service then refused would wait in its outbox for good)."""

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
# Ids an event names (things, applications, sessions, payments, users): opaque, but free of
# control characters (PostgreSQL cannot store NUL in text; none belongs in an id).
REF_ID_PATTERN = r"^[^\x00-\x1f\x7f]+$"
# An event's customData, as JSON.
MAX_CUSTOM_DATA_BYTES = 64 * 1024

# Custom types: X_ then upper-case letters, digits and underscores (X_DOOR_OPENED).
CUSTOM_TYPE_PATTERN = r"^X_[A-Z0-9][A-Z0-9_]{0,62}$"
_CUSTOM_TYPE = re.compile(CUSTOM_TYPE_PATTERN)


def is_custom_type(name: str) -> bool:
    return _CUSTOM_TYPE.match(name) is not None


def is_event_type(name: str) -> bool:
    """A type the events service stores: built in, or custom."""
    return name in BUILTIN_TYPES or is_custom_type(name)

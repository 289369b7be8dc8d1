"""Keyset cursors for lists ordered by creation time, then id: opaque text to the caller.

A cursor is the last row's ``(created_at, id)`` as JSON, base64url without padding. Reading
one takes only what writing one gives: an aware time that has a UTC equivalent (the calendar's
ends have none), and a text id without NUL (PostgreSQL refuses NUL in a query). Anything
else is a ``ValueError``, which each service answers as its own "invalid cursor" problem.
"""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime

import orjson


def encode_cursor(created_at: datetime, id_: str) -> str:
    raw = orjson.dumps([created_at.isoformat(), id_])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(text: str) -> tuple[datetime, str]:
    """The ``(created_at, id)`` a cursor holds, the time in UTC; ``ValueError`` if it is not
    one ``encode_cursor`` wrote."""
    try:
        pair = orjson.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        if not isinstance(pair, list) or len(pair) != 2:
            raise ValueError("not a pair")
        at, id_ = pair
        created_at = datetime.fromisoformat(at)
        if created_at.tzinfo is None or not isinstance(id_, str) or "\x00" in id_:
            raise ValueError("not a time zone's time and an id")
        return created_at.astimezone(UTC), id_
    except (binascii.Error, ValueError, TypeError, OverflowError) as exc:
        raise ValueError(f"not a cursor: {text[:100]!r}") from exc

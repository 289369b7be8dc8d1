"""Identifiers: short, unguessable, URL-safe, with a prefix that says what they name."""

from __future__ import annotations

import secrets

_ALPHABET = "0123456789abcdefghijkmnopqrstuvwxyz"  # no 'l': never confused with '1'


# Random bytes below _LIMIT map uniformly onto the alphabet (seven each); the rest are
# dropped. bytes.translate does both in C: an append of 10,000 events needs 10,000 ids.
_LIMIT = 256 - 256 % len(_ALPHABET)
_TABLE = bytes(ord(_ALPHABET[b % len(_ALPHABET)]) if b < _LIMIT else 0 for b in range(256))
_REJECTED = bytes(range(_LIMIT, 256))


def random_string(length: int) -> str:
    drawn = b""
    while len(drawn) < length:
        drawn += secrets.token_bytes(length + 8).translate(_TABLE, _REJECTED)
    return drawn[:length].decode()


def new_id(prefix: str, length: int = 20) -> str:
    """``usr_4k9…``: 20 characters from 35 give ~102 bits, unguessable."""
    return f"{prefix}_{random_string(length)}"

"""Identifiers: short, unguessable, URL-safe, with a prefix that says what they name."""

from __future__ import annotations

import secrets

_ALPHABET = "0123456789abcdefghijkmnopqrstuvwxyz"  # no 'l': never confused with '1'


def random_string(length: int) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def new_id(prefix: str, length: int = 20) -> str:
    """``usr_4k9…``: 20 characters from 35 give ~102 bits, unguessable."""
    return f"{prefix}_{random_string(length)}"

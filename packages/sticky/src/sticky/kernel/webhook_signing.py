"""Sticky's webhook signatures: an HMAC-SHA256 of the timestamp and the raw body, per endpoint.

The ``Sticky-Signature`` header reads ``t=<unix seconds>,v1=<hex digest>``, where the digest is
``HMAC-SHA256(key=<endpoint secret as UTF-8>, message="<t>.<raw body>")``. While a secret is
being rotated the header carries one ``v1=`` per live secret; a receiver accepts the request
when any of them matches. The timestamp is signed too, so a receiver can refuse replays of old
deliveries. The SDK (``sticky_sdk.webhooks``) verifies the same scheme on its own.

The errors::

    SignatureError
    ├── MalformedSignature          the header is missing, or not ``t=...,v1=...``
    ├── SignatureMismatch           no ``v1`` matches the body with this secret
    └── TimestampOutsideTolerance   signed too long ago, or too far in the future
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass

HEADER = "Sticky-Signature"
SCHEME = "v1"
SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a secret
DEFAULT_TOLERANCE = 300
_HEX_DIGEST = re.compile(r"[0-9a-f]{64}")
_MAX_SIGNATURES = 16


class SignatureError(Exception):
    """A webhook's signature header does not prove it came from Sticky, unaltered and recent."""


class MalformedSignature(SignatureError):
    """The header is missing or cannot be read as ``t=<seconds>,v1=<hex>``."""


class SignatureMismatch(SignatureError):
    """None of the header's ``v1`` signatures matches the body and the secret."""


class TimestampOutsideTolerance(SignatureError):
    """The signature is genuine, but its timestamp is too far from now (a replay, or bad clocks)."""

    def __init__(self, message: str, *, timestamp: int, now: float) -> None:
        super().__init__(message)
        self.timestamp = timestamp
        self.now = now


@dataclass(frozen=True)
class ParsedHeader:
    """The parts of a ``Sticky-Signature`` header."""

    timestamp: int
    signatures: tuple[str, ...]


def new_secret() -> str:
    """A new endpoint secret, ``whsec_`` and 32 random bytes (URL-safe base64)."""
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def _digest(body: bytes, secret: str, timestamp: int) -> str:
    message = str(timestamp).encode("ascii") + b"." + body
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def sign(body: bytes, secret: str, timestamp: int, *, also: Iterable[str] = ()) -> str:
    """The ``Sticky-Signature`` header value for ``body`` sent at ``timestamp``.

    ``also`` names more secrets to sign with (one ``v1=`` each), for the time a rotated
    endpoint secret must still be accepted by receivers that have not switched yet.
    """
    if timestamp < 0:
        raise ValueError("the timestamp must be a non-negative number of Unix seconds")
    parts = [f"t={timestamp}"]
    parts.extend(f"{SCHEME}={_digest(body, key, timestamp)}" for key in (secret, *also))
    return ",".join(parts)


def parse(header: str | None) -> ParsedHeader:
    """Read ``t=...,v1=...[,v1=...]``; other schemes (``v0=``, future ones) are ignored."""
    if header is None or not header.strip():
        raise MalformedSignature(f"the {HEADER} header is missing")
    timestamp: int | None = None
    signatures: list[str] = []
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        if not sep:
            raise MalformedSignature(f"the {HEADER} header has an item without '=': {item!r}")
        value = value.strip()
        if key == "t":
            if timestamp is not None:
                raise MalformedSignature(f"the {HEADER} header has more than one t=")
            if not (value.isascii() and value.isdigit() and len(value) <= 12):
                raise MalformedSignature(f"the {HEADER} header's t= is not Unix seconds")
            timestamp = int(value)
        elif key == SCHEME:
            signatures.append(value.lower())
    if timestamp is None:
        raise MalformedSignature(f"the {HEADER} header has no t=")
    if not signatures:
        raise MalformedSignature(f"the {HEADER} header has no {SCHEME}= signature")
    if len(signatures) > _MAX_SIGNATURES:
        raise MalformedSignature(f"the {HEADER} header has too many {SCHEME}= signatures")
    return ParsedHeader(timestamp, tuple(signatures))


def verify(
    body: bytes,
    header: str | None,
    secret: str,
    *,
    tolerance: int = DEFAULT_TOLERANCE,
    now: float | None = None,
) -> int:
    """Check that ``header`` signs ``body`` with ``secret`` within ``tolerance`` seconds of now.

    Returns the signed timestamp. The signature is checked before the timestamp, so a
    :class:`TimestampOutsideTolerance` means a genuine but stale (or early) delivery.
    """
    parsed = parse(header)
    expected = _digest(body, secret, parsed.timestamp).encode("ascii")
    matched = False
    for candidate in parsed.signatures:
        # Every candidate is compared, in constant time each, whatever matched before.
        well_formed = _HEX_DIGEST.fullmatch(candidate) is not None
        given = candidate.encode("ascii") if well_formed else b""
        matched |= hmac.compare_digest(expected, given)
    if not matched:
        raise SignatureMismatch("no signature matches the body with this secret")
    current = time.time() if now is None else now
    if abs(current - parsed.timestamp) > tolerance:
        direction = "old" if parsed.timestamp < current else "far in the future"
        raise TimestampOutsideTolerance(
            f"the signature's timestamp is too {direction}"
            f" ({abs(current - parsed.timestamp):.0f}s away; the tolerance is {tolerance}s)",
            timestamp=parsed.timestamp,
            now=current,
        )
    return parsed.timestamp

"""Verifying the webhooks Sticky sends: is this request from Sticky, unaltered and recent?

    from sticky_sdk import webhooks

    event = webhooks.verify(raw_body, headers.get("Sticky-Signature"), "whsec_...")

Sticky signs each delivery with the endpoint's secret: the ``Sticky-Signature`` header reads
``t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">`` (one ``v1=`` per live secret
while a secret is rotated). See docs/webhooks.md for the scheme spelled out.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from typing import Any

from sticky_sdk._exceptions import WebhookVerificationError

__all__ = ["DEFAULT_TOLERANCE", "HEADER", "verify"]

HEADER = "Sticky-Signature"
DEFAULT_TOLERANCE = 300
_SCHEME = "v1"
_HEX_DIGEST = re.compile(r"[0-9a-f]{64}")
_MAX_SIGNATURES = 16


def _fail(reason: str, message: str) -> WebhookVerificationError:
    return WebhookVerificationError(message, reason=reason)


def _parse(header: str | None) -> tuple[int, list[str]]:
    if header is None or not header.strip():
        raise _fail("missing-header", f"the {HEADER} header is missing")
    timestamp: int | None = None
    signatures: list[str] = []
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        value = value.strip()
        if not sep:
            raise _fail("malformed-header", f"the {HEADER} header has an item without '='")
        if key == "t":
            if timestamp is not None or not (
                value.isascii() and value.isdigit() and len(value) <= 12
            ):
                raise _fail("malformed-header", f"the {HEADER} header's t= is not one timestamp")
            timestamp = int(value)
        elif key == _SCHEME:
            signatures.append(value.lower())
    if timestamp is None or not signatures or len(signatures) > _MAX_SIGNATURES:
        raise _fail("malformed-header", f"the {HEADER} header is not t=<seconds>,v1=<signature>")
    return timestamp, signatures


def verify(
    body: bytes | str,
    header: str | None,
    secret: str,
    tolerance: int = DEFAULT_TOLERANCE,
) -> dict[str, Any]:
    """The webhook's JSON body, once its ``Sticky-Signature`` header proves it genuine.

    ``body`` must be the raw request body, exactly as received (not parsed and re-encoded);
    ``header`` the ``Sticky-Signature`` header (None when the request has none); ``secret``
    the endpoint's ``whsec_...`` secret. The signature must match and have been made within
    ``tolerance`` seconds of now, either way. Raises :class:`WebhookVerificationError`.
    """
    raw = body.encode("utf-8") if isinstance(body, str) else bytes(body)
    timestamp, signatures = _parse(header)
    message = str(timestamp).encode("ascii") + b"." + raw
    expected = hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest().encode()
    matched = False
    for candidate in signatures:
        given = candidate.encode("ascii") if _HEX_DIGEST.fullmatch(candidate) else b""
        matched |= hmac.compare_digest(expected, given)
    if not matched:
        raise _fail("signature-mismatch", "no signature matches the body with this secret")
    drift = time.time() - timestamp
    if abs(drift) > tolerance:
        when = "old" if drift > 0 else "far in the future"
        raise _fail(
            "timestamp-outside-tolerance",
            f"the signature's timestamp is too {when} ({abs(drift):.0f}s; tolerance {tolerance}s)",
        )
    try:
        event = json.loads(raw)
    except ValueError as exc:
        raise _fail("invalid-body", "the signed body is not JSON") from exc
    if not isinstance(event, dict):
        raise _fail("invalid-body", "the signed body is not a JSON object")
    return event

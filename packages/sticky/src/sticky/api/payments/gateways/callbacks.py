"""The sandbox's payhooks: signed like Stripe's webhooks, posted with retries.

The header is ``Sandbox-Signature: t=<unix seconds>,v1=<hex>``, where the hex is
HMAC-SHA256 over ``f"{t}.{body}"`` with a secret derived from ``STICKY_SECRET_KEY``. A receiver
recomputes it (comparing in constant time) and refuses timestamps more than five minutes away,
which bounds how long a captured payhook can be replayed; within that window the event id
lets the receiver drop repeats.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import httpx
import structlog
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from sticky.api.payments.gateways.base import header, parse_signature_header
from sticky.api.payments.gateways.errors import ForgedCallback, StaleCallback

log = structlog.get_logger("sticky.api.payments.sandbox")

SIGNATURE_HEADER = "Sandbox-Signature"
TOLERANCE_SECONDS = 300


def sandbox_secret(secret_key: str) -> str:
    """The sandbox's signing secret, bound to this deployment and to this one purpose."""
    derived = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"sticky:payments-sandbox-payhook"
    ).derive(secret_key.encode())
    return derived.hex()


def _mac(secret: str, timestamp: int, body: bytes) -> str:
    signed = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The ``Sandbox-Signature`` header value for a body sent at ``timestamp``."""
    return f"t={timestamp},v1={_mac(secret, timestamp, body)}"


def verify(secret: str, body: bytes, headers: Mapping[str, str], now: float) -> int:
    """The signing time of an authentic payhook; else ``ForgedCallback`` or ``StaleCallback``."""
    value = header(headers, SIGNATURE_HEADER)
    if not value:
        raise ForgedCallback(f"no {SIGNATURE_HEADER} header")
    try:
        timestamp, signatures = parse_signature_header(value)
    except ValueError as exc:
        raise ForgedCallback(f"malformed {SIGNATURE_HEADER} header") from exc
    expected = _mac(secret, timestamp, body)
    # Check every candidate (rotation may send several) without stopping at the first match.
    matches = [hmac.compare_digest(expected, candidate) for candidate in signatures]
    if not any(matches):
        raise ForgedCallback("the signature does not match the body")
    if abs(now - timestamp) > TOLERANCE_SECONDS:
        raise StaleCallback(timestamp, now, TOLERANCE_SECONDS)
    return timestamp


@dataclass(frozen=True, slots=True)
class DeliveryPolicy:
    """How hard to try: by default 5 attempts over about 3 seconds, 2 s each at most."""

    attempts: int = 5
    first_retry_seconds: float = 0.2
    timeout_seconds: float = 2.0


_RETRY_STATUSES = frozenset({408, 425, 429})


class CallbackSender:
    """Posts signed bodies; retries while the receiver is down or failing, not when it refuses."""

    def __init__(
        self,
        secret: str,
        *,
        policy: DeliveryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._secret = secret
        self._clock = clock
        self._policy = policy or DeliveryPolicy()
        self._client = httpx.AsyncClient(
            transport=transport, timeout=self._policy.timeout_seconds, follow_redirects=False
        )

    async def deliver(self, url: str, body: bytes) -> bool:
        """True once the receiver answered 2xx; False when it refused or never answered."""
        delay = self._policy.first_retry_seconds
        outcome = ""
        for attempt in range(1, self._policy.attempts + 1):
            # Signed per attempt, as Stripe does: a retry is not a stale replay.
            timestamp = int(self._clock())
            headers = {
                "Content-Type": "application/json",
                SIGNATURE_HEADER: sign(self._secret, body, timestamp),
            }
            try:
                response = await self._client.post(url, content=body, headers=headers)
            except httpx.HTTPError as exc:
                outcome = type(exc).__name__
            else:
                if response.is_success:
                    return True
                if response.status_code < 500 and response.status_code not in _RETRY_STATUSES:
                    log.warning("payhook refused", url=url, status=response.status_code)
                    return False
                outcome = f"HTTP {response.status_code}"
            if attempt < self._policy.attempts:
                log.info("payhook delivery failed; retrying", url=url, attempt=attempt, why=outcome)
                await asyncio.sleep(delay)
                delay *= 2
        log.warning("payhook undelivered", url=url, attempts=self._policy.attempts, why=outcome)
        return False

    async def aclose(self) -> None:
        await self._client.aclose()

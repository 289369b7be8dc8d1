"""The credentials a client holds, when they need renewing, and how to show them safely.

A client holds an API key (exchanged for access tokens), a signed-in session (an access
token and a refresh token), or a bare access token; the session is preferred to the key
when both are held. Or it acts as a consumer session: it holds the session's id, sent as
``Sticky-Session`` instead of an ``Authorization`` header, and nothing to renew.

An access token is renewed when it is missing or within :data:`RENEW_MARGIN` seconds of
expiry (half its lifetime for tokens that live less than a minute, so a short TTL does not
mean a renewal before every request).

Expiry is the platform's ``expiresIn`` counted from when the token arrived, so a client
whose clock is wrong still renews in time; for a token handed to the client, which comes
without one, it is the ``exp`` claim of the JWT, read without verifying the signature (the
platform verifies; the client only schedules).
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sticky_sdk._calls import Call
from sticky_sdk._exceptions import StickyError
from sticky_sdk._models import AccessToken, TokenPair

RENEW_MARGIN = 30.0
KEY_PREFIXES = ("pk_", "sk_", "tk_")
SESSION_HEADER = "Sticky-Session"


def mask(secret: str | None) -> str:
    """A secret shown safely: its first three and last four characters at most."""
    if not secret:
        return "None"
    if len(secret) <= 12:
        return secret[:3] + "…"
    return f"{secret[:3]}…{secret[-4:]}"


def _number(value: object) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def token_times(token: str) -> tuple[float | None, float | None]:
    """The ``iat`` and ``exp`` claims of a JWT (seconds since the epoch), None when absent."""
    parts = token.split(".")
    if len(parts) != 3:
        return None, None
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload))
    except ValueError:
        return None, None
    if not isinstance(claims, dict):
        return None, None
    return _number(claims.get("iat")), _number(claims.get("exp"))


def refresh_call(refresh_token: str) -> Call[TokenPair]:
    """Spend ``refresh_token`` for a new pair; never replayed (a replay looks like theft)."""
    return Call(
        "POST",
        "/v1/auth/refresh",
        TokenPair.from_json,
        json={"refreshToken": refresh_token},
        authenticated=False,
        replayable=False,
    )


def exchange_call(key: str) -> Call[AccessToken]:
    """Exchange an API key for a short-lived access token."""
    return Call(
        "POST",
        "/v1/auth/token",
        AccessToken.from_json,
        headers={"Authorization": f"Bearer {key}"},
        authenticated=False,
    )


@dataclass
class Credentials:
    """What the client authenticates with. Mutated only under the client's renewal lock."""

    key: str | None = field(default=None, repr=False)
    access_token: str | None = field(default=None, repr=False)
    refresh_token: str | None = field(default=None, repr=False)
    session_id: str | None = field(default=None, repr=False)
    renew_at: float | None = None
    clock: Callable[[], float] = field(default=time.time, repr=False)

    def __post_init__(self) -> None:
        if self.key is not None and not self.key.startswith(KEY_PREFIXES):
            raise StickyError(
                f"{mask(self.key)} is not a Sticky key: keys start with pk_, sk_ or tk_."
                " Pass an access token as access_token= instead."
            )
        if self.session_id is not None:
            _check_session_id(self.session_id, self.key, self.access_token, self.refresh_token)
        if self.access_token is not None:
            self._schedule(self.access_token, None)

    @property
    def renewable(self) -> bool:
        return self.refresh_token is not None or self.key is not None

    def needs_renewal(self) -> bool:
        """Whether a fresh access token must be obtained before the next request."""
        if not self.renewable:
            return False
        if self.access_token is None:
            return True
        return self.renew_at is not None and self.clock() >= self.renew_at

    def _schedule(self, token: str, expires_in: int | None) -> None:
        now = self.clock()
        if expires_in is not None:
            expires, lifetime = now + expires_in, float(expires_in)
        else:
            issued, claimed = token_times(token)
            if claimed is None:
                self.renew_at = None
                return
            expires, lifetime = claimed, claimed - (issued if issued is not None else now)
        self.renew_at = expires - min(RENEW_MARGIN, max(lifetime, 0.0) / 2)

    def use_session(self, pair: TokenPair) -> None:
        self.access_token = pair.access_token
        self.refresh_token = pair.refresh_token
        self._schedule(pair.access_token, pair.expires_in)

    def use_access_token(self, token: AccessToken) -> None:
        self.access_token = token.access_token
        self._schedule(token.access_token, token.expires_in)

    def adopt_rotated(self, key: str | None) -> None:
        """Hold ``key`` instead of the key it replaced, so renewals keep working."""
        if key is not None and self.key is not None and key[:3] == self.key[:3]:
            self.key = key

    def forget_session(self) -> None:
        self.access_token = None
        self.refresh_token = None
        self.renew_at = None

    def forget_all(self) -> None:
        self.forget_session()
        self.key = None
        self.session_id = None

    def describe(self) -> str:
        """The credentials for a ``repr``: which kind, masked."""
        if self.refresh_token is not None:
            return "session"
        if self.key is not None:
            return f"key {mask(self.key)}"
        if self.access_token is not None:
            return "access token"
        if self.session_id is not None:
            return f"consumer session {mask(self.session_id)}"
        return "none"


def _check_session_id(session_id: str, *others: str | None) -> None:
    if any(other is not None for other in others):
        raise StickyError(
            "A client acts as a consumer session (session_id=) or as an account (key=,"
            " access_token=, refresh_token=), not both: make one client for each."
        )
    if session_id.startswith(KEY_PREFIXES):
        raise StickyError(
            f"{mask(session_id)} is a key, not a session id: pass it as key= instead."
        )
    if not session_id or not session_id.isprintable() or any(c.isspace() for c in session_id):
        raise StickyError(
            f"{mask(session_id)} is not a session id: it is the sessionId a tap's redirect"
            " carries (ses_ and letters or digits)."
        )

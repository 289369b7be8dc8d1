"""Minting access tokens (EdDSA JWTs) and the opaque secrets auth hands out."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import jwt

from sticky.auth.signing import Keyring
from sticky.kernel.ids import new_id
from sticky.kernel.settings import Settings
from sticky.kernel.tokens import ALGORITHM, AUDIENCE, ISSUER, Scope


def new_secret(prefix: str) -> str:
    """An opaque, unguessable secret (256 bits) such as ``sk_…`` or a refresh token."""
    return f"{prefix}{secrets.token_urlsafe(32)}"


@dataclass(frozen=True)
class AccessToken:
    token: str
    token_id: str
    scope: str
    expires_in: int


class TokenIssuer:
    def __init__(self, keyring: Keyring, settings: Settings) -> None:
        self._keyring = keyring
        self._ttl = settings.access_token_ttl_seconds

    def issue(
        self,
        subject: str,
        scope: str,
        *,
        team_member: str | None = None,
        permissions: Iterable[str] = (),
        service: str | None = None,
        now: float | None = None,
        ttl: int | None = None,
    ) -> AccessToken:
        key = self._keyring.active
        issued_at = int(time.time() if now is None else now)
        lifetime = self._ttl if ttl is None else ttl
        token_id = new_id("at")
        claims: dict[str, Any] = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": subject,
            "scope": scope,
            "jti": token_id,
            "iat": issued_at,
            "exp": issued_at + lifetime,
        }
        if scope == Scope.TEAM_MEMBER:
            claims["tm"] = team_member
            claims["perms"] = sorted(permissions)
        if scope == Scope.SERVICE:
            claims["svc"] = service
        token = jwt.encode(claims, key.private_key, algorithm=ALGORITHM, headers={"kid": key.kid})
        return AccessToken(token, token_id, scope, lifetime)

    def service_token(self, service: str) -> AccessToken:
        return self.issue(f"svc_{service}", Scope.SERVICE, service=service)

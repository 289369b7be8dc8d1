"""Access tokens: what they claim, and how a service verifies them without calling auth.

Auth signs short-lived JWTs (EdDSA, with ``kid``) and publishes its public keys as a JWKS.
Every service verifies tokens locally with a :class:`TokenVerifier` over a cached key set,
refetched only when a token names a key it has not seen (at most once per
``min_refetch_seconds``, so forged ``kid`` values cannot make it hammer auth).
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import jwt
from jwt.algorithms import OKPAlgorithm

from sticky.kernel.problems import Problem, forbidden, unauthorized

ISSUER = "sticky"
AUDIENCE = "sticky"
ALGORITHM = "EdDSA"


class Scope:
    """Who a token speaks for. The vocabulary is on the wire; keep it stable."""

    USER = "user"  # a person signed in with email and password
    PRIVATE = "private"  # the user's secret key
    PUBLIC = "public"  # the user's publishable key: reads published data only
    TEAM_MEMBER = "team-member"  # a team member's key, attributed to them
    SERVICE = "service"  # another Sticky service

    ALL = frozenset({USER, PRIVATE, PUBLIC, TEAM_MEMBER, SERVICE})


@dataclass(frozen=True)
class Principal:
    """The verified caller of a request."""

    user_id: str
    scope: str
    token_id: str
    team_member_id: str | None = None
    permissions: frozenset[str] = field(default_factory=frozenset)
    service: str | None = None

    @property
    def is_owner(self) -> bool:
        """The user themself (signed in or with their private key)."""
        return self.scope in (Scope.USER, Scope.PRIVATE)

    def require_scope(self, *scopes: str) -> None:
        if self.scope not in scopes:
            raise forbidden(
                f"This needs a {' or '.join(scopes)} credential; the request used a"
                f" {self.scope} one.",
                slug="insufficient-scope",
            )

    def require_owner(self) -> None:
        if not self.is_owner:
            raise forbidden(
                "Only the account owner (signed in, or with the private key) may do this;"
                f" the request used a {self.scope} credential.",
                slug="insufficient-scope",
            )

    def require_permission(self, permission: str) -> None:
        if self.is_owner:
            return
        if self.scope == Scope.TEAM_MEMBER and permission in self.permissions:
            return
        raise forbidden(
            f"This needs the {permission!r} permission, which this credential does not have.",
            slug="insufficient-permission",
        )

    @classmethod
    def from_claims(cls, claims: dict[str, Any]) -> Principal:
        scope = claims.get("scope")
        sub = claims.get("sub")
        if scope not in Scope.ALL or not isinstance(sub, str):
            raise unauthorized("The access token does not say who it is for.", "invalid-token")
        perms = claims.get("perms") or []
        return cls(
            user_id=sub,
            scope=str(scope),
            token_id=str(claims.get("jti", "")),
            team_member_id=claims.get("tm"),
            permissions=frozenset(str(p) for p in perms),
            service=claims.get("svc"),
        )


def public_jwk(key: Any, kid: str) -> dict[str, Any]:
    """The JWK for a public Ed25519 key, as published in the JWKS."""
    jwk: dict[str, Any] = OKPAlgorithm.to_jwk(key, as_dict=True)
    jwk.update({"kid": kid, "alg": ALGORITHM, "use": "sig"})
    return jwk


def keys_from_jwks(document: dict[str, Any]) -> dict[str, Any]:
    keys: dict[str, Any] = {}
    for jwk in document.get("keys", []):
        if jwk.get("kty") == "OKP" and jwk.get("crv") == "Ed25519" and jwk.get("kid"):
            keys[jwk["kid"]] = OKPAlgorithm.from_jwk(jwk)
    return keys


KeyLoader = Callable[[], Awaitable[dict[str, Any]]]


def jwks_loader(url: str, timeout: float = 3.0) -> KeyLoader:
    """Load the signing keys from auth's JWKS at ``url`` (over HTTP, on demand only)."""
    from sticky.kernel.outgoing import service_client

    async def load() -> dict[str, Any]:
        async with service_client(url, timeout=timeout) as client:
            response = await client.get(url)
            response.raise_for_status()
            return keys_from_jwks(response.json())

    return load


def jwks_url(auth_internal_url: str) -> str:
    return auth_internal_url.rstrip("/") + "/.well-known/jwks.json"


class TokenVerifier:
    """Verifies access tokens against a cached key set.

    A client sends the same access token with every request for its lifetime, so tokens
    already verified are remembered (bounded, until their ``exp``): a repeat costs a dict
    lookup instead of a signature check.
    """

    def __init__(
        self, load_keys: KeyLoader, min_refetch_seconds: float = 5.0, cache_size: int = 10_000
    ) -> None:
        self._load_keys = load_keys
        self._keys: dict[str, Any] = {}
        self._fetched_at = float("-inf")
        self._min_refetch = min_refetch_seconds
        self._lock = asyncio.Lock()
        self._verified: OrderedDict[str, tuple[Principal, float]] = OrderedDict()
        self._cache_size = cache_size

    async def _key_for(self, kid: str) -> Any:
        key = self._keys.get(kid)
        if key is not None:
            return key
        async with self._lock:
            key = self._keys.get(kid)
            if key is None and time.monotonic() - self._fetched_at >= self._min_refetch:
                self._fetched_at = time.monotonic()
                try:
                    self._keys = await self._load_keys()
                except Exception as exc:
                    raise Problem(
                        503,
                        "unavailable",
                        "Service unavailable",
                        "The signing keys could not be fetched; try again shortly.",
                    ) from exc
                key = self._keys.get(kid)
        if key is None:
            raise unauthorized("The access token was signed by an unknown key.", "invalid-token")
        return key

    async def verify(self, token: str) -> Principal:
        remembered = self._verified.get(token)
        if remembered is not None:
            principal, expires_at = remembered
            if time.time() < expires_at:
                self._verified.move_to_end(token)
                return principal
            del self._verified[token]
        principal, expires_at = await self._verify(token)
        self._verified[token] = (principal, expires_at)
        if len(self._verified) > self._cache_size:
            self._verified.popitem(last=False)
        return principal

    async def _verify(self, token: str) -> tuple[Principal, float]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            raise unauthorized("The access token is malformed.", "invalid-token") from None
        if header.get("alg") != ALGORITHM:
            raise unauthorized(f"Access tokens must be signed with {ALGORITHM}.", "invalid-token")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise unauthorized("The access token names no signing key.", "invalid-token")
        key = await self._key_for(kid)
        claims = self.decode_claims(token, key)
        return Principal.from_claims(claims), float(claims["exp"])

    @staticmethod
    def decode(token: str, key: Any) -> Principal:
        """Verify ``token`` with ``key`` (no cache, no key lookup)."""
        return Principal.from_claims(TokenVerifier.decode_claims(token, key))

    @staticmethod
    def decode_claims(token: str, key: Any) -> dict[str, Any]:
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                audience=AUDIENCE,
                issuer=ISSUER,
                options={"require": ["exp", "iat", "sub", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            raise unauthorized(
                "The access token has expired; refresh it or exchange your key again.",
                "token-expired",
            ) from None
        except jwt.InvalidTokenError as exc:
            raise unauthorized(f"The access token is invalid ({exc}).", "invalid-token") from None
        return claims


def bearer_token(authorization: str | None) -> str:
    if not authorization:
        raise unauthorized(
            "This needs credentials: send 'Authorization: Bearer <access token>'.",
            "missing-credentials",
        )
    scheme, _, value = authorization.partition(" ")
    value = value.strip()
    if scheme.lower() != "bearer" or not value:
        raise unauthorized("Send credentials as 'Authorization: Bearer <token>'.", "invalid-token")
    return value


def looks_like_api_key(value: str) -> bool:
    return value.startswith(("pk_", "sk_", "tk_"))


def api_key_hint() -> Problem:
    return unauthorized(
        "API keys are not access tokens: exchange the key at POST /v1/auth/token for a"
        " short-lived access token (the SDK does this for you).",
        "api-key-not-accepted",
    )


def scopes_text(scopes: Iterable[str]) -> str:
    return ", ".join(sorted(scopes))

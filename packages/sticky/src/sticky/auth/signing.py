"""Signing keys: which one signs, which ones the JWKS publishes, and how a new one is added.

Keys are numbered by generation; the newest generation signs, but only once it has been
published for :data:`PUBLISH_AHEAD` (so every verifier that refetches the JWKS on an unknown
``kid`` finds it). A key stays published while tokens it signed may still be alive: until
``access_token_ttl`` (plus slack) after its successor took over. Each process re-reads the
keys every :data:`RELOAD_SECONDS`, so ``sticky signing-keys rotate`` needs no restart.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sticky.auth.errors import SigningKeyConflict, SigningKeyUnavailable
from sticky.auth.store import SigningKeyRecord, Store
from sticky.kernel import crypto
from sticky.kernel.ids import new_id
from sticky.kernel.settings import Settings
from sticky.kernel.tokens import keys_from_jwks, public_jwk

PUBLISH_AHEAD = timedelta(seconds=5)
RELOAD_SECONDS = 3.0
# Covers PUBLISH_AHEAD, a reload interval and clock skew between replicas.
RETIRE_SLACK = timedelta(seconds=60)
_PURPOSE = "signing-key"

log = structlog.get_logger("sticky.auth.signing")


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private_key: Ed25519PrivateKey


def new_signing_key(settings: Settings, generation: int, now: datetime) -> SigningKeyRecord:
    private = Ed25519PrivateKey.generate()
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    kid = new_id("sig", 16)
    return SigningKeyRecord(
        kid=kid,
        generation=generation,
        private_key=crypto.encrypt(settings.secret_key, _PURPOSE, pem),
        public_jwk=public_jwk(private.public_key(), kid),
        created_at=now,
    )


async def add_signing_key(store: Store, settings: Settings) -> str:
    """Add the next generation's key and answer its kid (retrying if another process races)."""
    for _ in range(5):
        async with store.transaction() as tx:
            generation = await tx.signing_keys.latest_generation() + 1
        record = new_signing_key(settings, generation, datetime.now(UTC))
        try:
            async with store.transaction() as tx:
                await tx.signing_keys.add(record)
        except SigningKeyConflict:
            continue
        log.info("signing key added", kid=record.kid, generation=generation)
        return record.kid
    raise SigningKeyConflict("other processes kept adding signing keys; try again")


async def ensure_signing_key(store: Store, settings: Settings) -> None:
    """Create the first key when there is none; another replica doing it at once is fine."""
    async with store.transaction() as tx:
        if await tx.signing_keys.latest_generation() > 0:
            return
    record = new_signing_key(settings, 1, datetime.now(UTC))
    try:
        async with store.transaction() as tx:
            await tx.signing_keys.add(record)
    except SigningKeyConflict:
        return
    log.info("first signing key created", kid=record.kid)


async def rotate_signing_key(settings: Settings) -> str:
    """Add a new signing key to the auth database named by ``settings``; answer its kid."""
    store = Store.open(settings.database_url("auth"))
    try:
        return await add_signing_key(store, settings)
    finally:
        await store.close()


def _choose_active(records: list[SigningKeyRecord], now: datetime) -> SigningKeyRecord:
    published_long_enough = [r for r in records if r.created_at <= now - PUBLISH_AHEAD]
    return published_long_enough[-1] if published_long_enough else records[0]


def published(
    records: list[SigningKeyRecord], settings: Settings, now: datetime
) -> list[dict[str, Any]]:
    """The JWKs of the keys a token could still be signed with (oldest generation first)."""
    keep_after = now - timedelta(seconds=settings.access_token_ttl_seconds) - RETIRE_SLACK
    jwks = []
    for record, successor in zip(records, [*records[1:], None], strict=True):
        if successor is None or successor.created_at > keep_after:
            jwks.append(record.public_jwk)
    return jwks


class Keyring:
    """The process's view of the signing keys, re-read from the store periodically."""

    def __init__(self, store: Store, settings: Settings) -> None:
        self._store = store
        self._settings = settings
        self._active: SigningKey | None = None

    @property
    def active(self) -> SigningKey:
        if self._active is None:
            raise SigningKeyUnavailable(
                "No signing key is loaded yet (is the auth database migrated?); try again shortly."
            )
        return self._active

    @property
    def active_kid(self) -> str | None:
        return self._active.kid if self._active else None

    async def reload(self) -> None:
        async with self._store.transaction() as tx:
            records = await tx.signing_keys.all()
        if not records:
            await ensure_signing_key(self._store, self._settings)
            async with self._store.transaction() as tx:
                records = await tx.signing_keys.all()
        chosen = _choose_active(records, datetime.now(UTC))
        if self._active is not None and self._active.kid == chosen.kid:
            return
        pem = crypto.decrypt(self._settings.secret_key, _PURPOSE, chosen.private_key)
        private = serialization.load_pem_private_key(pem, password=None)
        assert isinstance(private, Ed25519PrivateKey)
        self._active = SigningKey(chosen.kid, private)
        log.info("signing with key", kid=chosen.kid, generation=chosen.generation)

    async def jwks(self) -> dict[str, Any]:
        """The JWKS document, read fresh from the store (replicas may be ahead of this one)."""
        async with self._store.transaction() as tx:
            records = await tx.signing_keys.all()
        return {"keys": published(records, self._settings, datetime.now(UTC))}

    async def verification_keys(self) -> dict[str, Any]:
        """The loader of auth's own :class:`~sticky.kernel.tokens.TokenVerifier`."""
        return keys_from_jwks(await self.jwks())

"""API keys: minting, masking, rotating, and exchanging a key for an access token."""

from __future__ import annotations

from datetime import datetime

from sticky.auth.context import Auth
from sticky.auth.errors import InvalidApiKey, InvalidServiceKey
from sticky.auth.store import ApiKey
from sticky.auth.tokens import AccessToken, new_secret
from sticky.kernel.crypto import constant_time_equal, sha256_hex
from sticky.kernel.ids import new_id
from sticky.kernel.tokens import Principal, Scope

PREFIXES = {"public": "pk_", "private": "sk_", "team-member": "tk_"}


def mint_secret(key_type: str) -> tuple[str, str, str]:
    """A new key of ``key_type``: ``(key, its hash, its last four characters)``."""
    key = new_secret(PREFIXES[key_type])
    return key, sha256_hex(key), key[-4:]


def masked(key_type: str, last4: str) -> str:
    return f"{PREFIXES[key_type]}…{last4}"


def mint_api_key(user_id: str, key_type: str, now: datetime) -> tuple[ApiKey, str]:
    """A new API key record and the key itself (kept in the record only when publishable)."""
    key, key_hash, last4 = mint_secret(key_type)
    stored = key if key_type == "public" else None
    return ApiKey(new_id("key"), user_id, key_type, stored, key_hash, last4, now), key


async def list_keys(auth: Auth, principal: Principal) -> list[ApiKey]:
    principal.require_owner()
    async with auth.store.transaction() as tx:
        return await tx.api_keys.for_user(principal.user_id)


async def rotate_key(auth: Auth, principal: Principal, key_type: str) -> tuple[ApiKey, str]:
    """Replace the user's key of ``key_type``; answer the new record and key (shown once)."""
    principal.require_owner()
    record, key = mint_api_key(principal.user_id, key_type, auth.now())
    async with auth.store.transaction() as tx:
        await tx.api_keys.replace(record)
    return record, key


async def exchange_key(auth: Auth, key: str) -> AccessToken:
    """The access token a ``pk_``/``sk_``/``tk_`` key stands for."""
    key_hash = sha256_hex(key)
    if key.startswith(PREFIXES["team-member"]):
        async with auth.store.transaction() as tx:
            member = await tx.team_members.by_key_hash(key_hash)
        if member is None:
            raise _unknown_key()
        return auth.issuer.issue(
            member.user_id,
            Scope.TEAM_MEMBER,
            team_member=member.id,
            permissions=member.permissions,
        )
    if not key.startswith((PREFIXES["public"], PREFIXES["private"])):
        raise InvalidApiKey(
            "This endpoint exchanges an API key (pk_…, sk_… or tk_…) for an access token;"
            " the credential sent is not one."
        )
    async with auth.store.transaction() as tx:
        record = await tx.api_keys.by_hash(key_hash)
    if record is None or not key.startswith(PREFIXES[record.type]):
        raise _unknown_key()
    scope = Scope.PUBLIC if record.type == "public" else Scope.PRIVATE
    return auth.issuer.issue(record.user_id, scope)


def _unknown_key() -> InvalidApiKey:
    return InvalidApiKey("This API key is unknown or was rotated; use the current key.")


def service_token(auth: Auth, service: str, service_key: str) -> AccessToken:
    """A token for another Sticky service that proves it holds the shared service key."""
    if not constant_time_equal(service_key, auth.settings.service_key):
        raise InvalidServiceKey("The service key is not right.")
    return auth.issuer.service_token(service)

"""Access-token verification: local, from a cached key set, refusing every forgery."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sticky.kernel.problems import Problem
from sticky.kernel.tokens import (
    Principal,
    Scope,
    TokenVerifier,
    keys_from_jwks,
    public_jwk,
)


def sign(key: Ed25519PrivateKey, kid: str, **overrides: Any) -> str:
    now = int(time.time())
    claims = {
        "iss": "sticky",
        "aud": "sticky",
        "sub": "usr_1",
        "scope": "user",
        "jti": "t1",
        "iat": now,
        "exp": now + 60,
    }
    claims.update(overrides)
    return jwt.encode(claims, key, algorithm="EdDSA", headers={"kid": kid})


class KeySet:
    def __init__(self) -> None:
        self.keys: dict[str, Any] = {}
        self.loads = 0

    async def __call__(self) -> dict[str, Any]:
        self.loads += 1
        return dict(self.keys)


@pytest.fixture
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


async def test_verifies_and_caches(key: Ed25519PrivateKey) -> None:
    keyset = KeySet()
    keyset.keys["k1"] = key.public_key()
    verifier = TokenVerifier(keyset)
    principal = await verifier.verify(sign(key, "k1"))
    assert principal == Principal(user_id="usr_1", scope=Scope.USER, token_id="t1")
    await verifier.verify(sign(key, "k1"))
    assert keyset.loads == 1


async def test_unknown_kid_refetches_once_then_refuses(key: Ed25519PrivateKey) -> None:
    keyset = KeySet()
    verifier = TokenVerifier(keyset, min_refetch_seconds=60)
    keyset.keys["k1"] = key.public_key()
    await verifier.verify(sign(key, "k1"))
    other = Ed25519PrivateKey.generate()
    for _ in range(3):
        with pytest.raises(Problem) as caught:
            await verifier.verify(sign(other, "forged-kid"))
        assert caught.value.status == 401
    assert keyset.loads == 1  # forged kids cannot make it hammer auth


async def test_rotation_is_picked_up(key: Ed25519PrivateKey) -> None:
    keyset = KeySet()
    keyset.keys["k1"] = key.public_key()
    verifier = TokenVerifier(keyset, min_refetch_seconds=0)
    await verifier.verify(sign(key, "k1"))
    new = Ed25519PrivateKey.generate()
    keyset.keys["k2"] = new.public_key()
    assert (await verifier.verify(sign(new, "k2"))).user_id == "usr_1"
    assert (await verifier.verify(sign(key, "k1"))).user_id == "usr_1"


@pytest.mark.parametrize(
    ("make", "slug"),
    [
        (lambda k: sign(k, "k1", exp=int(time.time()) - 5), "token-expired"),
        (lambda k: sign(Ed25519PrivateKey.generate(), "k1"), "invalid-token"),
        (lambda k: sign(k, "k1", aud="someone-else"), "invalid-token"),
        (lambda k: sign(k, "k1", iss="someone-else"), "invalid-token"),
        (lambda k: sign(k, "k1", scope="root"), "invalid-token"),
        (lambda k: "not.a.token", "invalid-token"),
    ],
)
async def test_refuses(key: Ed25519PrivateKey, make: Any, slug: str) -> None:
    keyset = KeySet()
    keyset.keys["k1"] = key.public_key()
    with pytest.raises(Problem) as caught:
        await TokenVerifier(keyset).verify(make(key))
    assert caught.value.status == 401
    assert caught.value.slug == slug


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


async def test_alg_none_and_hmac_confusion_are_refused(key: Ed25519PrivateKey) -> None:
    keyset = KeySet()
    keyset.keys["k1"] = key.public_key()
    verifier = TokenVerifier(keyset)
    claims = {
        "iss": "sticky",
        "aud": "sticky",
        "sub": "usr_1",
        "scope": "user",
        "iat": int(time.time()),
        "exp": int(time.time()) + 60,
    }
    unsigned = f"{_b64({'alg': 'none', 'kid': 'k1'})}.{_b64(claims)}."
    with pytest.raises(Problem, match="EdDSA"):
        await verifier.verify(unsigned)
    hmac_token = jwt.encode(claims, "guess" * 8, algorithm="HS256", headers={"kid": "k1"})
    with pytest.raises(Problem, match="EdDSA"):
        await verifier.verify(hmac_token)


def test_jwks_round_trip(key: Ed25519PrivateKey) -> None:
    document = {"keys": [public_jwk(key.public_key(), "k1")]}
    assert document["keys"][0]["kid"] == "k1"
    assert document["keys"][0]["alg"] == "EdDSA"
    assert "d" not in document["keys"][0]
    loaded = keys_from_jwks(document)
    token = sign(key, "k1")
    assert TokenVerifier.decode(token, loaded["k1"]).user_id == "usr_1"


def test_principal_permissions() -> None:
    member = Principal("usr_1", Scope.TEAM_MEMBER, "t", "tm_1", frozenset({"events:read"}))
    member.require_permission("events:read")
    with pytest.raises(Problem) as caught:
        member.require_permission("payments:refund")
    assert caught.value.slug == "insufficient-permission"
    with pytest.raises(Problem):
        member.require_owner()
    Principal("usr_1", Scope.PRIVATE, "t").require_owner()


async def test_a_verified_token_is_remembered_until_it_expires(
    key: Ed25519PrivateKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    keyset = KeySet()
    keyset.keys["k1"] = key.public_key()
    verifier = TokenVerifier(keyset, cache_size=2)
    token = sign(key, "k1", exp=int(time.time()) + 2)
    first = await verifier.verify(token)
    calls = 0
    real_decode = TokenVerifier.decode_claims

    def counting(token: str, key: object) -> dict[str, Any]:
        nonlocal calls
        calls += 1
        return real_decode(token, key)

    monkeypatch.setattr(TokenVerifier, "decode_claims", staticmethod(counting))
    assert await verifier.verify(token) is first
    assert calls == 0
    monkeypatch.undo()
    await asyncio.sleep(max(0.0, int(time.time()) + 2 - time.time() + 0.1))
    with pytest.raises(Problem) as caught:
        await verifier.verify(token)
    assert caught.value.slug == "token-expired"

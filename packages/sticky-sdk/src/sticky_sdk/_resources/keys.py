"""``sticky.keys``: the account's public (publishable) and private (secret) keys."""

from __future__ import annotations

import builtins

from sticky_sdk._calls import Call, path
from sticky_sdk._models import ApiKey, KeyType, api_key_list
from sticky_sdk._resources._base import AsyncResource, SyncResource


def list_call() -> Call[list[ApiKey]]:
    return Call("GET", "/v1/keys", api_key_list)


def rotate_call(key_type: KeyType, idempotency_key: str | None) -> Call[ApiKey]:
    where = path("/v1/keys/{}/rotate", key_type)
    return Call("POST", where, ApiKey.from_json, idempotency_key=idempotency_key)


class Keys(SyncResource):
    """API keys."""

    def list(self) -> builtins.list[ApiKey]:
        """Both keys: the public one in full, the private one masked."""
        return self._client._call(list_call())

    def rotate(self, key_type: KeyType, *, idempotency_key: str | None = None) -> ApiKey:
        """Replace a key; the answer shows the new key this once, and the old one stops.

        A client holding the key it rotates holds the new one from then on.
        """
        rotated = self._client._call(rotate_call(key_type, idempotency_key))
        self._client._adopt_rotated_key(rotated.secret)
        return rotated


class AsyncKeys(AsyncResource):
    """API keys."""

    async def list(self) -> builtins.list[ApiKey]:
        """Both keys: the public one in full, the private one masked."""
        return await self._client._call(list_call())

    async def rotate(self, key_type: KeyType, *, idempotency_key: str | None = None) -> ApiKey:
        """Replace a key; the answer shows the new key this once, and the old one stops.

        A client holding the key it rotates holds the new one from then on.
        """
        rotated = await self._client._call(rotate_call(key_type, idempotency_key))
        await self._client._adopt_rotated_key(rotated.secret)
        return rotated

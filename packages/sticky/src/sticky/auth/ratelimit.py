"""Rate limits: fixed-window counters behind one interface, in the database or in Redis.

A window starts with the first hit of a bucket and lasts ``window_seconds``; the database
adapter survives restarts, the Redis adapter lets replicas share counts.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Protocol

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from sticky.auth.errors import RateLimited, StoreUnavailable
from sticky.auth.store import Store


@dataclass(frozen=True)
class Window:
    """How many hits a bucket has had in its current window, and when the window resets."""

    count: int
    retry_after: int  # whole seconds until the window resets (0 when there is none)


class RateLimiter(Protocol):
    async def hit(self, bucket: str, window_seconds: int) -> Window:
        """Count one more hit and answer the window after it."""
        ...

    async def peek(self, bucket: str) -> Window:
        """The current window, without counting."""
        ...

    async def clear(self, bucket: str) -> None:
        """Forget the bucket's window (a success that forgives earlier failures)."""
        ...


def _seconds_until(moment: float, now: float) -> int:
    return max(0, math.ceil(moment - now))


class DatabaseRateLimiter:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def hit(self, bucket: str, window_seconds: int) -> Window:
        now = time.time()
        async with self._store.transaction() as tx:
            count, resets_at = await tx.counters.hit(bucket, window_seconds, now)
        return Window(count, _seconds_until(resets_at, now))

    async def peek(self, bucket: str) -> Window:
        now = time.time()
        async with self._store.transaction() as tx:
            count, resets_at = await tx.counters.peek(bucket, now)
        return Window(count, _seconds_until(resets_at, now))

    async def clear(self, bucket: str) -> None:
        async with self._store.transaction() as tx:
            await tx.counters.clear(bucket)

    async def purge(self) -> int:
        async with self._store.transaction() as tx:
            return await tx.counters.purge(time.time())


class RedisRateLimiter:
    def __init__(self, client: aioredis.Redis, prefix: str = "sticky:auth:rl:") -> None:
        self._redis = client
        self._prefix = prefix

    @classmethod
    def from_url(cls, url: str) -> RedisRateLimiter:
        return cls(aioredis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2))

    async def close(self) -> None:
        await self._redis.aclose()

    async def hit(self, bucket: str, window_seconds: int) -> Window:
        key = self._prefix + bucket
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                # EXPIRE NX starts the window on the first hit only; MULTI makes the pair atomic.
                pipe.incr(key)
                pipe.expire(key, window_seconds, nx=True)
                pipe.pttl(key)
                count, _, ttl_ms = await pipe.execute()
        except RedisError as exc:
            raise StoreUnavailable("The rate-limit store (Redis) cannot be reached.") from exc
        return Window(int(count), math.ceil(max(int(ttl_ms), 0) / 1000))

    async def peek(self, bucket: str) -> Window:
        key = self._prefix + bucket
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.get(key)
                pipe.pttl(key)
                count, ttl_ms = await pipe.execute()
        except RedisError as exc:
            raise StoreUnavailable("The rate-limit store (Redis) cannot be reached.") from exc
        if count is None:
            return Window(0, 0)
        return Window(int(count), math.ceil(max(int(ttl_ms), 0) / 1000))

    async def clear(self, bucket: str) -> None:
        try:
            await self._redis.delete(self._prefix + bucket)
        except RedisError as exc:
            raise StoreUnavailable("The rate-limit store (Redis) cannot be reached.") from exc


async def refuse_when_over(limiter: RateLimiter, bucket: str, limit: int, what: str) -> None:
    """Raise :class:`RateLimited` when ``bucket`` has had ``limit`` hits in its window."""
    window = await limiter.peek(bucket)
    if window.count >= limit:
        raise RateLimited(
            f"Too many {what}; try again in {window.retry_after} s.", window.retry_after
        )


async def count_or_refuse(
    limiter: RateLimiter, bucket: str, limit: int, window_seconds: int, what: str
) -> None:
    """Count a hit; raise :class:`RateLimited` when it goes over ``limit``."""
    window = await limiter.hit(bucket, window_seconds)
    if window.count > limit:
        raise RateLimited(
            f"Too many {what}; try again in {window.retry_after} s.", window.retry_after
        )

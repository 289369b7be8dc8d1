"""Rate limits: one contract for both counter stores, and the limits auth applies."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from sticky.auth.app import create_app
from sticky.auth.ratelimit import DatabaseRateLimiter, RateLimiter, RedisRateLimiter
from sticky.auth.store import Store
from sticky.kernel.migrations import upgrade
from sticky.kernel.settings import Settings
from tests.auth.support import PASSWORD, Account, outbox, problem_slug

REDIS_URL = os.environ.get("STICKY_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


async def _redis_reason() -> str | None:
    limiter = RedisRateLimiter.from_url(REDIS_URL)
    try:
        await limiter.peek("ping")
        return None
    except Exception as exc:
        return f"no Redis answers at {REDIS_URL} ({type(exc).__name__})"
    finally:
        await limiter.close()


async def require_redis() -> None:
    reason = await _redis_reason()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"Redis is required in CI: {reason}")
        pytest.skip(reason)


class RateLimiterContract:
    """What every counter store must do; subclasses provide ``limiter``."""

    async def test_counts_hits_within_a_window(self, limiter: RateLimiter) -> None:
        bucket = f"test:{uuid.uuid4().hex}"
        assert (await limiter.peek(bucket)).count == 0
        for expected in (1, 2, 3):
            window = await limiter.hit(bucket, 60)
            assert window.count == expected
            assert 55 <= window.retry_after <= 60
        peeked = await limiter.peek(bucket)
        assert peeked.count == 3
        assert 55 <= peeked.retry_after <= 60

    async def test_buckets_are_separate(self, limiter: RateLimiter) -> None:
        a, b = f"test:{uuid.uuid4().hex}", f"test:{uuid.uuid4().hex}"
        await limiter.hit(a, 60)
        await limiter.hit(a, 60)
        assert (await limiter.hit(b, 60)).count == 1

    async def test_a_window_ends(self, limiter: RateLimiter) -> None:
        bucket = f"test:{uuid.uuid4().hex}"
        await limiter.hit(bucket, 1)
        await limiter.hit(bucket, 1)
        await asyncio.sleep(1.1)
        assert (await limiter.peek(bucket)).count == 0
        window = await limiter.hit(bucket, 1)
        assert window.count == 1

    async def test_clear_forgets(self, limiter: RateLimiter) -> None:
        bucket = f"test:{uuid.uuid4().hex}"
        await limiter.hit(bucket, 60)
        await limiter.clear(bucket)
        assert (await limiter.peek(bucket)).count == 0

    async def test_concurrent_hits_are_all_counted(self, limiter: RateLimiter) -> None:
        bucket = f"test:{uuid.uuid4().hex}"
        windows = await asyncio.gather(*(limiter.hit(bucket, 60) for _ in range(10)))
        assert sorted(w.count for w in windows) == list(range(1, 11))


class TestDatabaseRateLimiter(RateLimiterContract):
    @pytest.fixture
    async def limiter(self, database_url: str) -> AsyncIterator[RateLimiter]:
        await asyncio.to_thread(upgrade, "sticky.auth", database_url)
        store = Store.open(database_url)
        try:
            yield DatabaseRateLimiter(store)
        finally:
            await store.close()

    async def test_counts_survive_a_restart(self, database_url: str) -> None:
        await asyncio.to_thread(upgrade, "sticky.auth", database_url)
        for expected in (1, 2):
            store = Store.open(database_url)
            try:
                assert (await DatabaseRateLimiter(store).hit("restart", 60)).count == expected
            finally:
                await store.close()


class TestRedisRateLimiter(RateLimiterContract):
    @pytest.fixture
    async def limiter(self) -> AsyncIterator[RateLimiter]:
        await require_redis()
        limiter = RedisRateLimiter.from_url(REDIS_URL)
        try:
            yield limiter
        finally:
            await limiter.close()


async def test_failed_sign_ins_per_account(client: httpx.AsyncClient, account: Account) -> None:
    wrong = {"email": account.email, "password": "wrong password!"}
    for _ in range(5):
        response = await client.post("/v1/auth/sign-in", json=wrong)
        assert response.status_code == 401
    blocked = await client.post(
        "/v1/auth/sign-in", json={"email": account.email, "password": PASSWORD}
    )
    assert blocked.status_code == 429
    assert problem_slug(blocked) == "rate-limited"
    retry_after = int(blocked.headers["retry-after"])
    assert 0 < retry_after <= 900
    # Other accounts are not affected.
    other = await client.post(
        "/v1/auth/sign-in", json={"email": "someone@example.com", "password": PASSWORD}
    )
    assert other.status_code == 401


async def test_a_success_forgives_earlier_failures(
    client: httpx.AsyncClient, account: Account
) -> None:
    wrong = {"email": account.email, "password": "wrong password!"}
    right = {"email": account.email, "password": PASSWORD}
    for _ in range(4):
        await client.post("/v1/auth/sign-in", json=wrong)
    assert (await client.post("/v1/auth/sign-in", json=right)).status_code == 200
    for _ in range(4):
        await client.post("/v1/auth/sign-in", json=wrong)
    assert (await client.post("/v1/auth/sign-in", json=right)).status_code == 200


@pytest.fixture
async def strict_app(auth_settings: Settings) -> AsyncIterator[FastAPI]:
    """An auth process with small per-address limits."""
    settings = auth_settings.model_copy(
        update={"sign_in_failures_per_ip": 3, "password_resets_per_ip": 4}
    )
    await asyncio.to_thread(upgrade, "sticky.auth", settings.database_url("auth"))
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        yield app


def client_at(app: FastAPI, address: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(address, 1000))
    return httpx.AsyncClient(transport=transport, base_url="http://auth.test")


async def test_failed_sign_ins_per_address(strict_app: FastAPI) -> None:
    async with client_at(strict_app, "198.51.100.1") as client:
        for i in range(3):
            response = await client.post(
                "/v1/auth/sign-in", json={"email": f"u{i}@example.com", "password": PASSWORD}
            )
            assert response.status_code == 401
        blocked = await client.post(
            "/v1/auth/sign-in", json={"email": "u9@example.com", "password": PASSWORD}
        )
        assert blocked.status_code == 429
        assert int(blocked.headers["retry-after"]) > 0
    async with client_at(strict_app, "198.51.100.2") as elsewhere:
        response = await elsewhere.post(
            "/v1/auth/sign-in", json={"email": "u9@example.com", "password": PASSWORD}
        )
        assert response.status_code == 401


async def test_password_reset_requests(strict_app: FastAPI) -> None:
    async with client_at(strict_app, "198.51.100.1") as client:
        await client.post(
            "/v1/auth/sign-up",
            json={"name": "Ada", "email": "ada@example.com", "password": PASSWORD},
        )
        for _ in range(3):
            response = await client.post(
                "/v1/auth/password-reset", json={"email": "ada@example.com"}
            )
            assert response.status_code == 202
        blocked = await client.post("/v1/auth/password-reset", json={"email": "ada@example.com"})
        assert blocked.status_code == 429
        assert "retry-after" in blocked.headers
        templates = [t for t, _ in await outbox(strict_app, "ada@example.com")]
        assert templates.count("reset-password") == 3
        # The address has used its allowance too: any other email is refused from it.
        other = await client.post("/v1/auth/password-reset", json={"email": "x@example.com"})
        assert other.status_code == 429
    async with client_at(strict_app, "198.51.100.2") as elsewhere:
        other = await elsewhere.post("/v1/auth/password-reset", json={"email": "x@example.com"})
        assert other.status_code == 202


async def test_with_redis_configured_the_counts_live_in_redis(auth_settings: Settings) -> None:
    await require_redis()
    settings = auth_settings.model_copy(update={"redis_url": REDIS_URL})
    await asyncio.to_thread(upgrade, "sticky.auth", settings.database_url("auth"))
    app = create_app(settings)
    # Redis outlives this test: fresh names keep earlier runs' counts out of the way.
    email = f"{uuid.uuid4().hex}@example.com"
    address = f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}"
    async with app.router.lifespan_context(app), client_at(app, address) as client:
        assert isinstance(app.state.auth.limiter, RedisRateLimiter)
        for _ in range(5):
            response = await client.post(
                "/v1/auth/sign-in", json={"email": email, "password": PASSWORD}
            )
            assert response.status_code == 401
        blocked = await client.post("/v1/auth/sign-in", json={"email": email, "password": PASSWORD})
        assert blocked.status_code == 429
        async with app.state.auth.store.transaction() as tx:
            assert (await tx.counters.peek(f"sign-in-failures:account:{email}", 0.0))[0] == 0

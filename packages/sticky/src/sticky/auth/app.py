"""The auth service's app: its routes, its resources, its background work."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta

import structlog
from fastapi import FastAPI, Request
from starlette.responses import Response

from sticky.auth.context import Auth
from sticky.auth.errors import AuthError
from sticky.auth.mailer import OutboxDeliverer
from sticky.auth.passwords import Passwords
from sticky.auth.ratelimit import DatabaseRateLimiter, RateLimiter, RedisRateLimiter
from sticky.auth.routes import routers
from sticky.auth.signing import RELOAD_SECONDS, Keyring
from sticky.auth.store import Store
from sticky.auth.tokens import TokenIssuer
from sticky.kernel.problems import problem_response
from sticky.kernel.service import create_service_app
from sticky.kernel.settings import Settings, get_settings
from sticky.kernel.tokens import TokenVerifier

HOUSEKEEPING_SECONDS = 600.0
# Delivered messages are kept a day: enough to answer "did it go out?".
KEEP_DELIVERED = timedelta(days=1)

log = structlog.get_logger("sticky.auth")


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store = Store.open(settings.database_url("auth"))
        redis = RedisRateLimiter.from_url(settings.redis_url) if settings.redis_url else None
        database_limiter = DatabaseRateLimiter(store)
        limiter: RateLimiter = redis or database_limiter
        keyring = Keyring(store, settings)
        issuer = TokenIssuer(keyring, settings)
        deliverer = OutboxDeliverer(store, issuer, settings)
        passwords = await asyncio.to_thread(Passwords, settings)
        app.state.auth = Auth(settings, store, passwords, keyring, issuer, limiter, deliverer)
        # Reading our own database is cheap, so a key unknown to this process is looked up
        # again after a second rather than the kernel's default five.
        app.state.verifier = TokenVerifier(keyring.verification_keys, min_refetch_seconds=1.0)
        try:
            await keyring.reload()
        except AuthError as exc:
            log.warning("no signing key yet; retrying in the background", error=exc.detail)
        tasks = [
            asyncio.create_task(_every(RELOAD_SECONDS, keyring.reload, "signing keys reload")),
            asyncio.create_task(deliverer.run()),
            asyncio.create_task(
                _every(HOUSEKEEPING_SECONDS, _housekeeping(store, database_limiter), "housekeeping")
            ),
        ]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if redis is not None:
                await redis.close()
            await store.close()

    async def database_ready() -> tuple[bool, str]:
        auth: Auth | None = getattr(app.state, "auth", None)
        return await auth.store.readiness() if auth else (False, "not started")

    async def signing_key_ready() -> tuple[bool, str]:
        auth: Auth | None = getattr(app.state, "auth", None)
        kid = auth.keyring.active_kid if auth else None
        return (True, f"signing with {kid}") if kid else (False, "no signing key loaded yet")

    app = create_service_app(
        "auth",
        settings,
        routers=routers,
        lifespan=lifespan,
        readiness={"database": database_ready, "signing-key": signing_key_ready},
        description="Accounts, API keys, team members, sessions and signing keys.",
        idempotency=lambda: app.state.auth.store.engine,
    )

    async def on_auth_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, AuthError)
        return problem_response(exc.to_problem(), request)

    app.add_exception_handler(AuthError, on_auth_error)
    return app


async def _every(seconds: float, job: Callable[[], Awaitable[object]], name: str) -> None:
    while True:
        await asyncio.sleep(seconds)
        try:
            await job()
        except Exception as exc:
            log.warning(f"{name} failed", error=f"{type(exc).__name__}: {exc}")


def _housekeeping(store: Store, limiter: DatabaseRateLimiter) -> Callable[[], Awaitable[None]]:
    async def run() -> None:
        await limiter.purge()
        async with store.transaction() as tx:
            await tx.outbox.purge_delivered(datetime.now(UTC) - KEEP_DELIVERED)

    return run

"""The api service's app: things, flows, products, categories, sessions, and the tap."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI

from sticky.api.accounts import Accounts
from sticky.api.context import Api
from sticky.api.payments.service import Payments
from sticky.api.reactors import Reactors
from sticky.api.recorder import Deliverer, Recorder
from sticky.api.routes import routers
from sticky.api.routes.tap import TAP_FAST_PATH
from sticky.api.sandbox import Sandbox
from sticky.api.store import Store
from sticky.api.tap import Taps
from sticky.kernel.service import create_service_app
from sticky.kernel.service_token import ServiceToken
from sticky.kernel.settings import Settings, get_settings
from sticky.kernel.tokens import TokenVerifier, jwks_loader, jwks_url
from sticky.kernel.waiting import cancel_and_wait


def create_app(settings: Settings | None = None, *, deliver: bool = True) -> FastAPI:
    """The api service. ``deliver=False`` leaves the event outbox undelivered (tests)."""
    settings = settings or get_settings()
    store = Store(settings.database_url("api"))

    async def database() -> tuple[bool, str]:
        return await store.readiness()

    async def outbox() -> tuple[bool, str]:
        # Dead letters want a person, not a replica out of the load balancer: still ready.
        async with store.reading() as tx:
            dead = await tx.outbox.dead_letter_count()
        return True, f"{dead} dead letter{'s' if dead != 1 else ''}" if dead else "no dead letters"

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        recorder = Recorder(store)
        sandbox = Sandbox(
            time_limit_ms=settings.logic_time_limit_ms, loop=asyncio.get_running_loop()
        )
        api = Api(
            settings=settings,
            store=store,
            accounts=Accounts(store),
            sandbox=sandbox,
            recorder=recorder,
            taps=Taps(store),
        )
        app.state.api = api
        app.state.payments = payments = Payments.from_settings(store, settings, recorder.committed)
        reactors = Reactors(settings, store)
        app.state.webhooks = reactors.webhooks
        recorder.start()
        reactors.start(follow=deliver)
        deliverer = Deliverer(store, settings, ServiceToken(settings, "api"), recorder)
        app.state.deliverer = deliverer
        task = asyncio.create_task(deliverer.run(), name="api-outbox") if deliver else None
        try:
            yield
        finally:
            await cancel_and_wait(task)
            await reactors.stop()
            await payments.aclose()
            await recorder.stop()
            sandbox.close()
            api.taps.close()
            await store.close()

    app = create_service_app(
        "api",
        settings,
        routers=routers,
        lifespan=lifespan,
        readiness={"database": database, "outbox": outbox},
        description="Things, flows, products, categories, consumer sessions, and the tap.",
        idempotency=lambda: store.engine,
        fast_path=TAP_FAST_PATH,
    )
    app.state.verifier = TokenVerifier(jwks_loader(jwks_url(settings.internal_url("auth"))))
    return app

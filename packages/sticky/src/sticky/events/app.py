"""The events service's app: the log, streams, subscriptions and analytics over HTTP."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI, Request
from fastapi.responses import Response

from sticky.events.exports import Exports
from sticky.events.live import Appends, Timing, stopped_by_signals
from sticky.events.routes import routers
from sticky.events.routes.log import UNAVAILABLE, append_fast_path
from sticky.events.service import Events
from sticky.events.store import SqlEventStore, StoreUnavailable, open_store
from sticky.kernel.problems import problem_response
from sticky.kernel.service import create_service_app
from sticky.kernel.settings import Settings, get_settings
from sticky.kernel.tokens import TokenVerifier, jwks_loader, jwks_url

MAX_BODY_BYTES = 16 * 1024 * 1024  # a batch of 10,000 events (docs/events.md)


def create_app(settings: Settings | None = None, *, timing: Timing | None = None) -> FastAPI:
    """The events service. ``timing`` sets the followers' poll and heartbeat (tests)."""
    settings = settings or get_settings()
    url = settings.database_url("events")
    appends = Appends()
    opened: list[SqlEventStore] = []
    exporters: list[Exports] = []

    async def database() -> tuple[bool, str]:
        if not opened:
            return False, "the store is not open yet"
        return await opened[0].readiness()

    async def exporter() -> tuple[bool, str]:
        if not exporters or exporters[0].pid is None or not exporters[0].socket.exists():
            return False, "the export worker is not listening yet"
        return True, f"export worker {exporters[0].pid} listening"

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store = open_store(url)
        exports = Exports(url, settings.log_level)
        exports.start()
        exporters.append(exports)
        opened.append(store)
        app.state.events = Events(store, exports, appends, timing or Timing())
        try:
            with stopped_by_signals(appends):
                yield
        finally:
            appends.stop()
            opened.clear()
            exporters.clear()
            await exports.stop()
            await store.close()

    app = create_service_app(
        "events",
        settings,
        routers=routers,
        lifespan=lifespan,
        readiness={"database": database, "exports": exporter},
        description="The event log: append, read, export, follow; streams and analytics.",
        max_body_bytes=MAX_BODY_BYTES,
        fast_path=append_fast_path(MAX_BODY_BYTES),
    )
    app.state.verifier = TokenVerifier(jwks_loader(jwks_url(settings.internal_url("auth"))))

    async def on_unavailable(request: Request, exc: Exception) -> Response:
        return problem_response(UNAVAILABLE, request)

    app.add_exception_handler(StoreUnavailable, on_unavailable)
    return app

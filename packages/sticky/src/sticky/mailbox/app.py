"""The development mailbox's app: an SMTP sink in the lifespan, the mailbox over HTTP."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI

from sticky.kernel.database import create_engine
from sticky.kernel.service import create_service_app
from sticky.kernel.settings import Settings, get_settings
from sticky.mailbox.routes import router
from sticky.mailbox.sink import SmtpSink
from sticky.mailbox.store import MailboxStore


def create_app(settings: Settings | None = None) -> FastAPI:
    """The mailbox: SMTP on ``STICKY_SMTP_SINK_PORT``, the page and API under ``/mail``."""
    settings = settings or get_settings()
    engine = create_engine(f"sqlite:///{(settings.data_dir / 'mailbox.sqlite3').resolve()}")
    store = MailboxStore(engine)
    sink = SmtpSink(store, settings.host, settings.smtp_sink_port)

    async def smtp() -> tuple[bool, str]:
        if sink.serving:
            return True, f"listening on {sink.host}:{sink.port}"
        return False, f"not listening on {sink.host}:{sink.port}"

    async def storage() -> tuple[bool, str]:
        await store.ping()
        return True, "reachable"

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await store.open()
        await sink.start()
        try:
            yield
        finally:
            await sink.stop()
            await engine.dispose()

    app = create_service_app(
        "mailbox",
        settings,
        routers=[router],
        lifespan=lifespan,
        readiness={"smtp": smtp, "store": storage},
        description="Development mailbox: every message the platform sends, readable at /mail.",
    )
    app.state.mailbox = store
    app.state.sink = sink
    return app

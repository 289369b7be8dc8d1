"""The mail service's app: the internal API, the outbox and the delivery worker."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI
from prometheus_client import Counter

from sticky.kernel.database import create_engine
from sticky.kernel.migrations import current_revision, head_revision
from sticky.kernel.service import create_service_app
from sticky.kernel.settings import Settings, get_settings
from sticky.kernel.tokens import TokenVerifier, jwks_loader, jwks_url
from sticky.mail.catalog import TemplateCatalog
from sticky.mail.routes import router
from sticky.mail.service import MailService
from sticky.mail.smtp import SmtpConfig, SmtpTransport, check_sender
from sticky.mail.store import MailStore
from sticky.mail.worker import DeliveryPolicy, DeliveryWorker

MIGRATIONS = "sticky.mail"


def create_app(
    settings: Settings | None = None, *, policy: DeliveryPolicy | None = None
) -> FastAPI:
    """The mail service. ``policy`` sets retries and timings (tests make them short)."""
    settings = settings or get_settings()
    policy = policy or DeliveryPolicy()
    smtp = SmtpConfig.from_url(settings.smtp)
    sender = check_sender(settings.mail_from)

    engine = create_engine(settings.database_url("mail"))
    store = MailStore(engine, settings.secret_key)
    transport = SmtpTransport(smtp, timeout=policy.smtp_timeout_seconds)
    head = head_revision(MIGRATIONS)

    async def database() -> tuple[bool, str]:
        current = await current_revision(engine)
        if current != head:
            return False, f"the schema is at {current}, not {head}: run 'sticky migrate'"
        return True, f"reachable, schema at {head}"

    async def delivery() -> tuple[bool, str]:
        if worker.running:
            return True, f"delivering to {smtp}"
        return False, "the delivery worker is not running"

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        worker.start()
        try:
            yield
        finally:
            await worker.stop()
            await engine.dispose()

    app = create_service_app(
        "mail",
        settings,
        routers=[router],
        lifespan=lifespan,
        readiness={"database": database, "delivery": delivery},
        description="The outbox: templated email, delivered over SMTP with retries.",
    )
    attempts = Counter(
        "sticky_mail_delivery_attempts",
        "SMTP delivery attempts, by outcome (sent, retry, failed).",
        ["outcome"],
        registry=app.state.metrics.registry,
    )
    worker = DeliveryWorker(
        store,
        transport,
        sender=sender,
        policy=policy,
        observe=lambda outcome: attempts.labels(outcome).inc(),
    )
    app.state.verifier = TokenVerifier(jwks_loader(jwks_url(settings.internal_url("auth"))))
    app.state.mail = MailService(store, TemplateCatalog.default(), on_queued=worker.wake)
    app.state.worker = worker
    app.state.store = store
    return app

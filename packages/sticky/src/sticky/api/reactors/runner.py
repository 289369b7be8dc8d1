"""The api's reactors, started and stopped with the service: two followers and the sender.

Every replica runs them. Two replicas following the same subscription both handle each event;
that is safe (a delivery is queued once per endpoint and event, a receipt is sent once per
idempotency key) and only costs some repeated work. The receipts follower asks for the payment
outcome types; the webhooks follower for the types enabled endpoints want (see
:mod:`sticky.api.reactors.wanted`), so a replica streams nothing that no endpoint wants.
"""

from __future__ import annotations

import asyncio

import httpx
import structlog

from sticky.api.reactors import receipts, webhooks
from sticky.api.reactors.follower import (
    Follower,
    FollowerTiming,
    Headers,
    LogHead,
    StreamReader,
)
from sticky.api.reactors.mailer import Mailer, MailRefused, MailUnavailable
from sticky.api.reactors.wanted import WantedTypes
from sticky.api.store import Store
from sticky.api.webhooks import Webhooks
from sticky.api.webhooks.deliveries import Disabled
from sticky.api.webhooks.policy import WebhookPolicy
from sticky.api.webhooks.sender import Deliver
from sticky.kernel.outgoing import service_client
from sticky.kernel.service_token import ServiceToken, ServiceTokenError
from sticky.kernel.settings import Settings
from sticky.kernel.waiting import cancel_and_wait

log = structlog.get_logger("sticky.api.reactors")

DISABLED_TEMPLATE = "webhook-endpoint-disabled"


class Reactors:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        *,
        events_url: str | None = None,
        mail_url: str | None = None,
        headers: Headers | None = None,
        policy: WebhookPolicy | None = None,
        deliver: Deliver | None = None,
        timing: FollowerTiming | None = None,
    ) -> None:
        token = ServiceToken(settings, "api")
        self._headers = headers or token.header
        forget = token.forget if headers is None else (lambda: None)
        self._events = service_client(events_url or settings.internal_url("events"), timeout=10)
        self._mail = service_client(mail_url or settings.internal_url("mail"), timeout=10)
        self.mailer = Mailer(self._mail, self._headers, forget)
        self.webhooks = Webhooks.create(
            settings, store.engine, notify=self._endpoint_disabled, deliver=deliver, policy=policy
        )
        streams = StreamReader(self._events, self._headers)
        bodies = webhooks.WebhookBodies(store, streams)
        self.webhook_reactor = webhooks.WebhookReactor(
            self.webhooks.endpoints, self.webhooks.deliveries, bodies, self.webhooks.sender.wake
        )
        self.receipt_reactor = receipts.ReceiptReactor(store, streams, self.mailer)
        head = LogHead(self._events, self._headers, forget)
        self.followers = [
            Follower(
                webhooks.SUBSCRIPTION,
                self._events,
                self._headers,
                self.webhook_reactor.handle,
                types=WantedTypes(head.read, self.webhooks.endpoints.wanted_types),
                timing=timing,
                forget_token=forget,
            ),
            Follower(
                receipts.SUBSCRIPTION,
                self._events,
                self._headers,
                self.receipt_reactor.handle,
                types=receipts.TYPES,
                timing=timing,
                forget_token=forget,
            ),
        ]
        self._tasks: list[asyncio.Task[None]] = []

    def start(self, *, follow: bool = True) -> None:
        """Start sending due webhooks and, with ``follow``, following the subscriptions."""
        self.webhooks.sender.start()
        if follow:
            self._tasks = [
                asyncio.create_task(f.run(), name=f"follow-{f.name}") for f in self.followers
            ]

    async def stop(self) -> None:
        await cancel_and_wait(*self._tasks)
        await self.webhooks.sender.stop()
        await self._events.aclose()
        await self._mail.aclose()

    async def _endpoint_disabled(self, disabled: Disabled) -> None:
        """Tell the endpoint's owner, when the endpoint names an address to tell."""
        if not disabled.notify_email:
            return
        data = {
            "url": disabled.url,
            "endpointId": disabled.endpoint_id,
            "failingSince": disabled.failing_since.strftime("%d %B %Y, %H:%M UTC"),
            "lastError": disabled.last_error or "no answer",
        }
        key = f"webhook-disabled:{disabled.endpoint_id}:{disabled.disabled_at.isoformat()}"
        try:
            await self.mailer.send(disabled.notify_email, DISABLED_TEMPLATE, data, key)
        except (MailRefused, MailUnavailable, ServiceTokenError, httpx.HTTPError) as exc:
            log.warning(
                "disabled-endpoint email not sent", endpoint=disabled.endpoint_id, error=str(exc)
            )

"""What the webhook routes and reactors share: the stores, the sender, and the policy."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from sticky.api.webhooks.deliveries import DeliveryStore, Disabled
from sticky.api.webhooks.endpoints import EndpointStore
from sticky.api.webhooks.policy import WebhookPolicy
from sticky.api.webhooks.sender import Deliver, Notify, Sender
from sticky.kernel.outgoing_guard import OutgoingPolicy
from sticky.kernel.settings import Settings


async def _nobody(_: Disabled) -> None:
    return None


@dataclass
class Webhooks:
    endpoints: EndpointStore
    deliveries: DeliveryStore
    sender: Sender
    policy: WebhookPolicy
    require_https: bool

    @classmethod
    def create(
        cls,
        settings: Settings,
        engine: AsyncEngine,
        *,
        notify: Notify = _nobody,
        deliver: Deliver | None = None,
        policy: WebhookPolicy | None = None,
    ) -> Webhooks:
        policy = policy or WebhookPolicy.from_settings(settings)
        outgoing = OutgoingPolicy.from_settings(settings, timeout=policy.timeout)
        endpoints = EndpointStore(engine, settings.secret_key)
        deliveries = DeliveryStore(engine)
        sender = Sender(deliveries, endpoints, policy, deliver or outgoing.deliver, notify)
        return cls(endpoints, deliveries, sender, policy, outgoing.require_https)

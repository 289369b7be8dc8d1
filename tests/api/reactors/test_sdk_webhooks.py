"""``sticky.webhooks`` (the SDK's resource) against the real api service, in-process."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import orjson
import pytest

from sticky.api.webhooks import Webhooks
from sticky.api.webhooks.deliveries import NewDelivery
from sticky_sdk import (
    AsyncSticky,
    NotFoundError,
    StickyError,
    ValidationError,
    WebhookDelivery,
    WebhookEndpoint,
)
from tests.api.support import BASE_URL, RunningApi

ANN = "usr_ann"


def client(api: RunningApi) -> AsyncSticky:
    token = api.signer.token(ANN, "user")
    return AsyncSticky(BASE_URL, access_token=token, transport=httpx.ASGITransport(api.app))


async def test_endpoints_from_create_to_delete(api: RunningApi) -> None:
    async with client(api) as sticky:
        made = await sticky.webhooks.create(
            "https://merchant.example/hooks",
            event_types=["SESSION_CART_PAY", "SESSION_CART_REFUND"],
            description="Orders",
            notify_email="ops@ann.example",
        )
        assert isinstance(made, WebhookEndpoint) and made.enabled
        assert made.secret is not None and made.secret.startswith("whsec_")
        assert "whsec_" not in repr(made)
        assert made.event_types == ("SESSION_CART_PAY", "SESSION_CART_REFUND")
        read = await sticky.webhooks.retrieve(made.id)
        assert read.secret is None and read.notify_email == "ops@ann.example"
        everything = await sticky.webhooks.create("https://merchant.example/all")
        assert everything.event_types == ("*",)
        listed = [e.id async for e in sticky.webhooks.list(limit=1)]
        assert listed == [made.id, everything.id]
        off = await sticky.webhooks.update(made.id, enabled=False, notify_email=None)
        assert not off.enabled and off.disabled_reason == "manual" and off.notify_email is None
        with pytest.raises(StickyError):
            await sticky.webhooks.update(made.id, url=None)  # type: ignore[typeddict-item]
        with pytest.raises(TypeError):
            await sticky.webhooks.update(made.id, colour="red")  # type: ignore[call-arg]
        rotated = await sticky.webhooks.rotate_secret(made.id)
        assert rotated.secret and rotated.secret != made.secret
        assert rotated.previous_secret_expires_at is not None
        with pytest.raises(ValidationError) as caught:
            await sticky.webhooks.create("ftp://merchant.example", event_types=["SESION_READ"])
        assert {e.field for e in caught.value.errors} == {"eventTypes"}
        with pytest.raises(ValidationError) as caught:
            await sticky.webhooks.create("ftp://merchant.example")
        assert {e.field for e in caught.value.errors} == {"url"}
        await sticky.webhooks.delete(made.id)
        with pytest.raises(NotFoundError):
            await sticky.webhooks.retrieve(made.id)


async def test_the_delivery_log_and_redelivery(api: RunningApi) -> None:
    async with client(api) as sticky:
        made = await sticky.webhooks.create("https://merchant.example/hooks")
        webhooks: Webhooks = api.app.state.webhooks
        body = orjson.dumps({"event": {"id": "evt_1"}, "payment": None})
        await webhooks.deliveries.enqueue(
            [NewDelivery(made.id, ANN, "evt_1", "SESSION_CART_PAY", body)], datetime.now(UTC)
        )
        [delivery] = [d async for d in sticky.webhooks.list_deliveries(made.id)]
        assert isinstance(delivery, WebhookDelivery) and delivery.body is None
        assert (delivery.event_id, delivery.status, delivery.attempt_count) == (
            "evt_1",
            "pending",
            0,
        )
        page = await sticky.webhooks.list_deliveries_page(made.id, status="failed")
        assert list(page.data) == [] and not page.has_more
        full = await sticky.webhooks.retrieve_delivery(made.id, delivery.id)
        assert full.body == {"event": {"id": "evt_1"}, "payment": None}
        again = await sticky.webhooks.redeliver(made.id, delivery.id)
        assert again.status == "pending" and again.next_attempt_at is not None
        with pytest.raises(NotFoundError):
            await sticky.webhooks.redeliver(made.id, "whd_nope")

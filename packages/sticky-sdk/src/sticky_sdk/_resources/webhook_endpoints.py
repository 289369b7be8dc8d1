"""``sticky.webhooks``: the endpoints Sticky posts events to, their deliveries, redelivery.

(The module ``sticky_sdk.webhooks`` is something else: it verifies the webhooks a receiver
gets.)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypedDict, Unpack

from sticky_sdk._calls import Call, nothing, path
from sticky_sdk._pagination import AsyncPager, Page, Pager, page_of
from sticky_sdk._resources._api_input import changes_body, fields_body
from sticky_sdk._resources._base import AsyncResource, SyncResource
from sticky_sdk._webhook_models import WebhookDelivery, WebhookEndpoint

_endpoint_page = page_of(WebhookEndpoint.from_json)
_delivery_page = page_of(WebhookDelivery.from_json)


class WebhookEndpointChanges(TypedDict, total=False):
    """What ``webhooks.update`` may change; ``enabled`` switches it off, or back on afresh.
    Only ``notify_email`` may be None (no email when it is disabled)."""

    url: str
    event_types: Sequence[str]
    description: str
    notify_email: str | None
    enabled: bool


def create_call(
    url: str,
    event_types: Sequence[str] | None,
    description: str | None,
    notify_email: str | None,
    idempotency_key: str | None,
) -> Call[WebhookEndpoint]:
    body = {
        "url": url,
        **fields_body(
            {"event_types": event_types, "description": description, "notify_email": notify_email}
        ),
    }
    return Call(
        "POST",
        "/v1/webhooks",
        WebhookEndpoint.from_json,
        json=body,
        idempotency_key=idempotency_key,
    )


def retrieve_call(endpoint_id: str) -> Call[WebhookEndpoint]:
    return Call("GET", path("/v1/webhooks/{}", endpoint_id), WebhookEndpoint.from_json)


def update_call(endpoint_id: str, changes: Mapping[str, Any]) -> Call[WebhookEndpoint]:
    allowed = WebhookEndpointChanges.__optional_keys__
    body = changes_body(changes, allowed, allowed - {"notify_email"}, "webhook endpoint")
    return Call("PATCH", path("/v1/webhooks/{}", endpoint_id), WebhookEndpoint.from_json, json=body)


def delete_call(endpoint_id: str) -> Call[None]:
    return Call("DELETE", path("/v1/webhooks/{}", endpoint_id), nothing)


def rotate_call(endpoint_id: str) -> Call[WebhookEndpoint]:
    return Call(
        "POST", path("/v1/webhooks/{}/rotate-secret", endpoint_id), WebhookEndpoint.from_json
    )


def list_page_call(cursor: str | None, limit: int | None) -> Call[Page[WebhookEndpoint]]:
    return Call("GET", "/v1/webhooks", _endpoint_page, params={"limit": limit, "cursor": cursor})


def deliveries_page_call(
    endpoint_id: str, cursor: str | None, limit: int | None, status: str | None
) -> Call[Page[WebhookDelivery]]:
    return Call(
        "GET",
        path("/v1/webhooks/{}/deliveries", endpoint_id),
        _delivery_page,
        params={"limit": limit, "cursor": cursor, "status": status},
    )


def delivery_call(endpoint_id: str, delivery_id: str) -> Call[WebhookDelivery]:
    return Call(
        "GET",
        path("/v1/webhooks/{}/deliveries/{}", endpoint_id, delivery_id),
        WebhookDelivery.from_json,
    )


def redeliver_call(endpoint_id: str, delivery_id: str) -> Call[WebhookDelivery]:
    return Call(
        "POST",
        path("/v1/webhooks/{}/deliveries/{}/redeliver", endpoint_id, delivery_id),
        WebhookDelivery.from_json,
    )


class WebhookEndpoints(SyncResource):
    """Webhook endpoints: where Sticky posts your events, signed."""

    def create(
        self,
        url: str,
        *,
        event_types: Sequence[str] | None = None,
        description: str | None = None,
        notify_email: str | None = None,
        idempotency_key: str | None = None,
    ) -> WebhookEndpoint:
        """Register an endpoint (every event type unless ``event_types`` names some); the
        answer's ``secret`` is the only time the secret is shown: keep it."""
        call = create_call(url, event_types, description, notify_email, idempotency_key)
        return self._client._call(call)

    def retrieve(self, endpoint_id: str) -> WebhookEndpoint:
        """One endpoint (without its secret)."""
        return self._client._call(retrieve_call(endpoint_id))

    def update(
        self, endpoint_id: str, **changes: Unpack[WebhookEndpointChanges]
    ) -> WebhookEndpoint:
        """Change the fields named (and only those)."""
        return self._client._call(update_call(endpoint_id, changes))

    def delete(self, endpoint_id: str) -> None:
        """Remove an endpoint and its delivery log."""
        self._client._call(delete_call(endpoint_id))

    def rotate_secret(self, endpoint_id: str) -> WebhookEndpoint:
        """A new secret (in the answer's ``secret``); the old one still signs for 24 hours."""
        return self._client._call(rotate_call(endpoint_id))

    def list(self, *, limit: int | None = None) -> Pager[WebhookEndpoint]:
        """Every endpoint, oldest first, fetched ``limit`` (1-100) per page."""
        return self._client._paginate(lambda cursor: list_page_call(cursor, limit))

    def list_page(
        self, *, cursor: str | None = None, limit: int | None = None
    ) -> Page[WebhookEndpoint]:
        """One page of endpoints, from ``cursor`` (the first page without one)."""
        return self._client._call(list_page_call(cursor, limit))

    def list_deliveries(
        self, endpoint_id: str, *, status: str | None = None, limit: int | None = None
    ) -> Pager[WebhookDelivery]:
        """The endpoint's deliveries, newest first, each with its attempts; ``status`` keeps
        ``"pending"``, ``"succeeded"`` or ``"failed"`` ones."""
        return self._client._paginate(
            lambda cursor: deliveries_page_call(endpoint_id, cursor, limit, status)
        )

    def list_deliveries_page(
        self,
        endpoint_id: str,
        *,
        status: str | None = None,
        cursor: str | None = None,
        limit: int | None = None,
    ) -> Page[WebhookDelivery]:
        """One page of the endpoint's deliveries, from ``cursor``."""
        return self._client._call(deliveries_page_call(endpoint_id, cursor, limit, status))

    def retrieve_delivery(self, endpoint_id: str, delivery_id: str) -> WebhookDelivery:
        """One delivery, with its attempts and the ``body`` it sends."""
        return self._client._call(delivery_call(endpoint_id, delivery_id))

    def redeliver(self, endpoint_id: str, delivery_id: str) -> WebhookDelivery:
        """Send a delivery again now, signed afresh (retried as usual if it fails)."""
        return self._client._call(redeliver_call(endpoint_id, delivery_id))


class AsyncWebhookEndpoints(AsyncResource):
    """Webhook endpoints: where Sticky posts your events, signed."""

    async def create(
        self,
        url: str,
        *,
        event_types: Sequence[str] | None = None,
        description: str | None = None,
        notify_email: str | None = None,
        idempotency_key: str | None = None,
    ) -> WebhookEndpoint:
        """Register an endpoint (every event type unless ``event_types`` names some); the
        answer's ``secret`` is the only time the secret is shown: keep it."""
        call = create_call(url, event_types, description, notify_email, idempotency_key)
        return await self._client._call(call)

    async def retrieve(self, endpoint_id: str) -> WebhookEndpoint:
        """One endpoint (without its secret)."""
        return await self._client._call(retrieve_call(endpoint_id))

    async def update(
        self, endpoint_id: str, **changes: Unpack[WebhookEndpointChanges]
    ) -> WebhookEndpoint:
        """Change the fields named (and only those)."""
        return await self._client._call(update_call(endpoint_id, changes))

    async def delete(self, endpoint_id: str) -> None:
        """Remove an endpoint and its delivery log."""
        await self._client._call(delete_call(endpoint_id))

    async def rotate_secret(self, endpoint_id: str) -> WebhookEndpoint:
        """A new secret (in the answer's ``secret``); the old one still signs for 24 hours."""
        return await self._client._call(rotate_call(endpoint_id))

    def list(self, *, limit: int | None = None) -> AsyncPager[WebhookEndpoint]:
        """Every endpoint, oldest first, with ``async for``, ``limit`` (1-100) per page."""
        return self._client._paginate(lambda cursor: list_page_call(cursor, limit))

    async def list_page(
        self, *, cursor: str | None = None, limit: int | None = None
    ) -> Page[WebhookEndpoint]:
        """One page of endpoints, from ``cursor`` (the first page without one)."""
        return await self._client._call(list_page_call(cursor, limit))

    def list_deliveries(
        self, endpoint_id: str, *, status: str | None = None, limit: int | None = None
    ) -> AsyncPager[WebhookDelivery]:
        """The endpoint's deliveries, newest first, each with its attempts; ``status`` keeps
        ``"pending"``, ``"succeeded"`` or ``"failed"`` ones."""
        return self._client._paginate(
            lambda cursor: deliveries_page_call(endpoint_id, cursor, limit, status)
        )

    async def list_deliveries_page(
        self,
        endpoint_id: str,
        *,
        status: str | None = None,
        cursor: str | None = None,
        limit: int | None = None,
    ) -> Page[WebhookDelivery]:
        """One page of the endpoint's deliveries, from ``cursor``."""
        return await self._client._call(deliveries_page_call(endpoint_id, cursor, limit, status))

    async def retrieve_delivery(self, endpoint_id: str, delivery_id: str) -> WebhookDelivery:
        """One delivery, with its attempts and the ``body`` it sends."""
        return await self._client._call(delivery_call(endpoint_id, delivery_id))

    async def redeliver(self, endpoint_id: str, delivery_id: str) -> WebhookDelivery:
        """Send a delivery again now, signed afresh (retried as usual if it fails)."""
        return await self._client._call(redeliver_call(endpoint_id, delivery_id))

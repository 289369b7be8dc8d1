"""Webhook endpoints over HTTP: register, change, rotate secrets, read the delivery log, redeliver.

Owners and team members with ``webhooks:read`` / ``webhooks:write``; never the public key, a
consumer session or a service. A secret is in the answer of the create and the rotation only.
"""

from __future__ import annotations

from typing import Annotated, Literal

import httpx
from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic.alias_generators import to_camel

from sticky.api.access import Caller, CallerDep
from sticky.api.context import ApiDep
from sticky.api.store import Cursor, InvalidCursor
from sticky.api.views import bad_cursor, missing
from sticky.api.webhooks import Webhooks
from sticky.api.webhooks.endpoints import Endpoint
from sticky.api.webhooks.models import (
    DeliveryOut,
    DeliveryPage,
    DeliveryWithBody,
    EndpointCreate,
    EndpointOut,
    EndpointPage,
    EndpointUpdate,
    EndpointWithSecret,
    delivery_out,
    endpoint_out,
)
from sticky.kernel.problems import FieldError, conflict, validation_failed

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])

Limit = Annotated[int, Query(ge=1, le=100)]
CursorParam = Annotated[str | None, Query(max_length=300)]


def _may(caller: Caller, permission: Literal["webhooks:read", "webhooks:write"]) -> None:
    caller.require_owner_side()
    assert caller.principal is not None  # owner-side callers hold a token
    caller.principal.require_permission(permission)


async def _webhooks(request: Request) -> Webhooks:
    webhooks: Webhooks = request.app.state.webhooks
    return webhooks


WebhooksDep = Annotated[Webhooks, Depends(_webhooks)]


def _check_url(url: str, require_https: bool) -> None:
    """A URL Sticky will call: absolute http(s), a host, no credentials, https in production."""
    problem = None
    parsed: httpx.URL | None
    try:
        parsed = httpx.URL(url)
        host = parsed.host  # decodes an xn-- label: a malformed one is a UnicodeError
    except (httpx.InvalidURL, TypeError, UnicodeError):
        parsed, host = None, ""
    if parsed is None or parsed.scheme not in ("http", "https") or not host:
        problem = "must be an absolute http:// or https:// URL with a host"
    elif parsed.userinfo:
        problem = "must not carry a user name or password"
    elif require_https and parsed.scheme != "https":
        problem = "must be an https:// URL"
    if problem:
        raise validation_failed([FieldError("url", problem)])


def _cursor(text: str | None) -> Cursor | None:
    try:
        return Cursor.decode(text) if text else None
    except InvalidCursor:
        raise bad_cursor() from None


async def _endpoint(webhooks: Webhooks, caller: Caller, endpoint_id: str) -> Endpoint:
    endpoint = await webhooks.endpoints.get(caller.user_id, endpoint_id)
    if endpoint is None:
        raise missing("webhook", endpoint_id)
    return endpoint


@router.post("", status_code=201, response_model=EndpointWithSecret)
async def create(
    body: EndpointCreate, caller: CallerDep, api: ApiDep, webhooks: WebhooksDep
) -> EndpointWithSecret:
    """Register an endpoint; the answer holds its signing secret, shown this once."""
    _may(caller, "webhooks:write")
    _check_url(body.url, webhooks.require_https)
    endpoint, secret = await webhooks.endpoints.create(
        caller.user_id,
        url=body.url,
        event_types=body.event_types,
        description=body.description,
        notify_email=body.notify_email,
        now=api.now(),
    )
    return EndpointWithSecret(**endpoint_out(endpoint).model_dump(), secret=secret)


@router.get("", response_model=EndpointPage)
async def list_endpoints(
    caller: CallerDep,
    api: ApiDep,
    webhooks: WebhooksDep,
    limit: Limit = 20,
    cursor: CursorParam = None,
) -> EndpointPage:
    """The account's endpoints, oldest first."""
    _may(caller, "webhooks:read")
    after = _cursor(cursor)
    rows, has_more = await webhooks.endpoints.page(
        caller.user_id, limit=limit, after=(after.created_at, after.id) if after else None
    )
    last = rows[-1] if rows and has_more else None
    return EndpointPage(
        data=[endpoint_out(row) for row in rows],
        has_more=has_more,
        next_cursor=Cursor(last.created_at, last.id).encode() if last else None,
    )


@router.get("/{endpoint_id}", response_model=EndpointOut)
async def get(
    endpoint_id: str, caller: CallerDep, api: ApiDep, webhooks: WebhooksDep
) -> EndpointOut:
    """One endpoint (never its secret)."""
    _may(caller, "webhooks:read")
    return endpoint_out(await _endpoint(webhooks, caller, endpoint_id))


@router.patch("/{endpoint_id}", response_model=EndpointOut)
async def update(
    endpoint_id: str, body: EndpointUpdate, caller: CallerDep, api: ApiDep, webhooks: WebhooksDep
) -> EndpointOut:
    """Change the fields named; ``enabled`` switches it off or back on (afresh)."""
    _may(caller, "webhooks:write")
    changes = body.model_dump(exclude_unset=True)
    for name in ("url", "event_types", "description", "enabled"):
        if name in changes and changes[name] is None:
            raise validation_failed([FieldError(to_camel(name), "cannot be null")])
    if "url" in changes:
        _check_url(changes["url"], webhooks.require_https)
    endpoint = await webhooks.endpoints.update(caller.user_id, endpoint_id, changes, api.now())
    if endpoint is None:
        raise missing("webhook", endpoint_id)
    if endpoint.enabled:
        webhooks.sender.wake()  # deliveries held while it was disabled are due again
    return endpoint_out(endpoint)


@router.delete("/{endpoint_id}", status_code=204)
async def delete(
    endpoint_id: str, caller: CallerDep, api: ApiDep, webhooks: WebhooksDep
) -> Response:
    """Remove the endpoint and its delivery log; nothing more is sent to it."""
    _may(caller, "webhooks:write")
    if not await webhooks.endpoints.delete(caller.user_id, endpoint_id):
        raise missing("webhook", endpoint_id)
    return Response(status_code=204)


@router.post("/{endpoint_id}/rotate-secret", response_model=EndpointWithSecret)
async def rotate_secret(
    endpoint_id: str, caller: CallerDep, api: ApiDep, webhooks: WebhooksDep
) -> EndpointWithSecret:
    """A new secret, shown once; the old one keeps signing beside it for 24 hours."""
    _may(caller, "webhooks:write")
    rotated = await webhooks.endpoints.rotate(
        caller.user_id, endpoint_id, api.now(), webhooks.policy.previous_secret_lasts
    )
    if rotated is None:
        raise missing("webhook", endpoint_id)
    endpoint, secret = rotated
    return EndpointWithSecret(**endpoint_out(endpoint).model_dump(), secret=secret)


@router.get("/{endpoint_id}/deliveries", response_model=DeliveryPage)
async def list_deliveries(
    endpoint_id: str,
    caller: CallerDep,
    api: ApiDep,
    webhooks: WebhooksDep,
    status: Annotated[Literal["pending", "succeeded", "failed"] | None, Query()] = None,
    limit: Limit = 20,
    cursor: CursorParam = None,
) -> DeliveryPage:
    """The endpoint's deliveries, newest first, each with its attempts."""
    _may(caller, "webhooks:read")
    await _endpoint(webhooks, caller, endpoint_id)
    before = _cursor(cursor)
    rows, has_more = await webhooks.deliveries.page(
        caller.user_id,
        endpoint_id,
        limit=limit,
        before=(before.created_at, before.id) if before else None,
        status=status,
    )
    last = rows[-1] if rows and has_more else None
    return DeliveryPage(
        data=[delivery_out(row) for row in rows],
        has_more=has_more,
        next_cursor=Cursor(last["created_at"], last["id"]).encode() if last else None,
    )


@router.get("/{endpoint_id}/deliveries/{delivery_id}", response_model=DeliveryWithBody)
async def get_delivery(
    endpoint_id: str, delivery_id: str, caller: CallerDep, api: ApiDep, webhooks: WebhooksDep
) -> DeliveryOut:
    """One delivery, with its attempts and the body it sends."""
    _may(caller, "webhooks:read")
    row = await webhooks.deliveries.get(caller.user_id, endpoint_id, delivery_id)
    if row is None:
        raise missing("delivery", delivery_id)
    return delivery_out(row, with_body=True)


@router.post(
    "/{endpoint_id}/deliveries/{delivery_id}/redeliver",
    status_code=202,
    response_model=DeliveryOut,
)
async def redeliver(
    endpoint_id: str, delivery_id: str, caller: CallerDep, api: ApiDep, webhooks: WebhooksDep
) -> DeliveryOut:
    """Send the delivery again now (signed afresh), retried on the usual schedule if it fails."""
    _may(caller, "webhooks:write")
    endpoint = await _endpoint(webhooks, caller, endpoint_id)
    if not endpoint.enabled:
        raise conflict(
            "The endpoint is disabled: enable it (PATCH with enabled: true) to redeliver.",
            slug="endpoint-disabled",
        )
    if not await webhooks.deliveries.redeliver(caller.user_id, endpoint_id, delivery_id, api.now()):
        raise missing("delivery", delivery_id)
    webhooks.sender.wake()
    row = await webhooks.deliveries.get(caller.user_id, endpoint_id, delivery_id)
    assert row is not None
    return delivery_out(row)

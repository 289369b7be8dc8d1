"""Webhook endpoints and deliveries on the wire (camelCase), and the rows behind them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import orjson
from pydantic import AfterValidator, Field, StringConstraints

from sticky.api.models import Incoming, Outgoing
from sticky.api.webhooks.endpoints import ANY_TYPE, Endpoint
from sticky.kernel.event_types import is_event_type

_EMAIL = r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$"


def _event_types(values: list[str]) -> list[str]:
    if ANY_TYPE in values and len(values) > 1:
        raise ValueError('"*" means every type: name it alone')
    unknown = [v for v in values if v != ANY_TYPE and not is_event_type(v)]
    if unknown:
        raise ValueError(
            f"{unknown[0]!r} is not an event type: use a built-in type, a custom type of the"
            ' form X_UPPER_SNAKE_CASE, or "*" for every type'
        )
    return list(dict.fromkeys(values))


EventTypes = Annotated[
    list[Annotated[str, StringConstraints(min_length=1, max_length=64)]],
    Field(min_length=1, max_length=100),
    AfterValidator(_event_types),
]
WebhookUrl = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2048)]
Description = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)]
Email = Annotated[str, StringConstraints(strip_whitespace=True, max_length=320, pattern=_EMAIL)]


class EndpointCreate(Incoming):
    url: WebhookUrl
    event_types: EventTypes = [ANY_TYPE]
    description: Description = ""
    notify_email: Email | None = None


class EndpointUpdate(Incoming):
    url: WebhookUrl | None = None
    event_types: EventTypes | None = None
    description: Description | None = None
    notify_email: Email | None = None
    enabled: bool | None = None


class EndpointOut(Outgoing):
    id: str
    user_id: str
    url: str
    description: str
    event_types: list[str]
    enabled: bool
    disabled_reason: str | None
    disabled_at: datetime | None
    notify_email: str | None
    failing_since: datetime | None
    previous_secret_expires_at: datetime | None
    created_at: datetime
    updated_at: datetime


class EndpointWithSecret(EndpointOut):
    secret: str


class EndpointPage(Outgoing):
    data: list[EndpointOut]
    has_more: bool
    next_cursor: str | None


class AttemptOut(Outgoing):
    attempt: int
    at: datetime
    ok: bool
    status_code: int | None
    latency_ms: float | None
    response_excerpt: str | None
    error: str | None
    manual: bool


class DeliveryOut(Outgoing):
    id: str
    endpoint_id: str
    event_id: str
    event_type: str
    status: str
    attempt_count: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None
    attempts: list[AttemptOut]


class DeliveryWithBody(DeliveryOut):
    body: dict[str, Any]


class DeliveryPage(Outgoing):
    data: list[DeliveryOut]
    has_more: bool
    next_cursor: str | None


def endpoint_out(endpoint: Endpoint) -> EndpointOut:
    return EndpointOut(
        id=endpoint.id,
        user_id=endpoint.user_id,
        url=endpoint.url,
        description=endpoint.description,
        event_types=list(endpoint.event_types),
        enabled=endpoint.enabled,
        disabled_reason=endpoint.disabled_reason,
        disabled_at=endpoint.disabled_at,
        notify_email=endpoint.notify_email,
        failing_since=endpoint.failing_since,
        previous_secret_expires_at=endpoint.previous_secret_expires_at,
        created_at=endpoint.created_at,
        updated_at=endpoint.updated_at,
    )


def delivery_out(row: dict[str, Any], *, with_body: bool = False) -> DeliveryOut:
    fields: dict[str, Any] = {
        "id": row["id"],
        "endpoint_id": row["endpoint_id"],
        "event_id": row["event_id"],
        "event_type": row["event_type"],
        "status": row["status"],
        "attempt_count": row["attempts"],
        "next_attempt_at": row["next_attempt_at"],
        "last_status_code": row["last_status_code"],
        "last_error": row["last_error"],
        "created_at": row["created_at"],
        "delivered_at": row["delivered_at"],
        "attempts": [
            AttemptOut(
                attempt=a["attempt"],
                at=a["at"],
                ok=a["ok"],
                status_code=a["status_code"],
                latency_ms=a["latency_ms"],
                response_excerpt=a["response_excerpt"],
                error=a["error"],
                manual=a["manual"],
            )
            for a in row["log"]
        ],
    }
    if with_body:
        return DeliveryWithBody(**fields, body=orjson.loads(row["body"]))
    return DeliveryOut(**fields)

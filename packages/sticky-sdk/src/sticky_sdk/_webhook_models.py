"""Webhook endpoints and their deliveries, as the api service answers them.

Frozen dataclasses with snake_case attributes, like :mod:`sticky_sdk._api_models`. An
endpoint's ``secret`` is only set on the answer of ``create`` and ``rotate_secret``: the
platform shows it once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sticky_sdk._exceptions import APIResponseValidationError
from sticky_sdk._parsing import Fields


def _optional_number(f: Fields, name: str, what: str) -> float | None:
    value = f.raw(name)
    if value is None:
        return None
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise APIResponseValidationError(f"{what}.{name} should be a number or null.")
    return float(value)


@dataclass(frozen=True)
class WebhookEndpoint:
    """Where Sticky posts the events of ``event_types`` (``("*",)``: every type), signed with
    the endpoint's secret. ``disabled_reason`` is ``"manual"`` or ``"failing"`` (Sticky
    disabled it after a day of failed deliveries) while ``enabled`` is false."""

    id: str
    user_id: str
    url: str
    event_types: tuple[str, ...]
    enabled: bool
    created_at: datetime
    updated_at: datetime
    description: str = ""
    disabled_reason: str | None = None
    disabled_at: datetime | None = None
    notify_email: str | None = None
    failing_since: datetime | None = None
    previous_secret_expires_at: datetime | None = None
    secret: str | None = field(default=None, repr=False)

    @classmethod
    def from_json(cls, data: object) -> WebhookEndpoint:
        f = Fields(data, "WebhookEndpoint")
        return cls(
            id=f.text("id"),
            user_id=f.text("userId"),
            url=f.text("url"),
            event_types=f.texts("eventTypes"),
            enabled=f.boolean("enabled"),
            created_at=f.timestamp("createdAt"),
            updated_at=f.timestamp("updatedAt"),
            description=f.optional_text("description") or "",
            disabled_reason=f.optional_text("disabledReason"),
            disabled_at=f.optional_timestamp("disabledAt"),
            notify_email=f.optional_text("notifyEmail"),
            failing_since=f.optional_timestamp("failingSince"),
            previous_secret_expires_at=f.optional_timestamp("previousSecretExpiresAt"),
            secret=f.optional_text("secret"),
        )


@dataclass(frozen=True)
class WebhookAttempt:
    """One try at a delivery: the answer's status (None when none came), how long it took,
    the start of the answer, or what went wrong. ``manual``: a redelivery someone asked for."""

    attempt: int
    at: datetime
    ok: bool
    status_code: int | None = None
    latency_ms: float | None = None
    response_excerpt: str | None = None
    error: str | None = None
    manual: bool = False

    @classmethod
    def from_json(cls, data: object) -> WebhookAttempt:
        f = Fields(data, "WebhookAttempt")
        return cls(
            attempt=f.integer("attempt"),
            at=f.timestamp("at"),
            ok=f.boolean("ok"),
            status_code=f.optional_integer("statusCode"),
            latency_ms=_optional_number(f, "latencyMs", "WebhookAttempt"),
            response_excerpt=f.optional_text("responseExcerpt"),
            error=f.optional_text("error"),
            manual=f.boolean("manual"),
        )


@dataclass(frozen=True)
class WebhookDelivery:
    """One event on its way to one endpoint: ``status`` is ``"pending"``, ``"succeeded"`` or
    ``"failed"`` (its retries ran out); ``attempts`` is its log, oldest first. ``body`` (what
    is sent) is only read by ``retrieve_delivery``."""

    id: str
    endpoint_id: str
    event_id: str
    event_type: str
    status: str
    attempt_count: int
    created_at: datetime
    next_attempt_at: datetime | None = None
    last_status_code: int | None = None
    last_error: str | None = None
    delivered_at: datetime | None = None
    attempts: tuple[WebhookAttempt, ...] = ()
    body: dict[str, Any] | None = None

    @classmethod
    def from_json(cls, data: object) -> WebhookDelivery:
        f = Fields(data, "WebhookDelivery")
        return cls(
            id=f.text("id"),
            endpoint_id=f.text("endpointId"),
            event_id=f.text("eventId"),
            event_type=f.text("eventType"),
            status=f.text("status"),
            attempt_count=f.integer("attemptCount"),
            created_at=f.timestamp("createdAt"),
            next_attempt_at=f.optional_timestamp("nextAttemptAt"),
            last_status_code=f.optional_integer("lastStatusCode"),
            last_error=f.optional_text("lastError"),
            delivered_at=f.optional_timestamp("deliveredAt"),
            attempts=tuple(WebhookAttempt.from_json(a) for a in f.items("attempts")),
            body=f.mapping("body") if f.raw("body") is not None else None,
        )

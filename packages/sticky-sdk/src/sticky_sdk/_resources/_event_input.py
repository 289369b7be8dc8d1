"""What callers hand the events resources, turned into the platform's camelCase JSON and query.

Events to append are mappings with snake_case keys (the same names as the keyword arguments
of ``events.create``); filters are keyword arguments. Mistakes a request could only be
refused for (an unknown key, a naive datetime, an empty batch) are caught before sending.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, TypedDict

from sticky_sdk._calls import QueryValue
from sticky_sdk._exceptions import StickyError

EVENT_KEYS = {
    "id": "id",
    "type": "type",
    "application_id": "applicationId",
    "thing_id": "thingId",
    "session_id": "sessionId",
    "payment_id": "paymentId",
    "custom_data": "customData",
    "created_at": "createdAt",
    "stream": "stream",
    "expected_version": "expectedVersion",
}
STREAM_EVENT_KEYS = {k: v for k, v in EVENT_KEYS.items() if k not in ("stream", "expected_version")}

FILTER_KEYS = {
    "type": "type",
    "application_id": "applicationId",
    "thing_id": "thingId",
    "session_id": "sessionId",
    "payment_id": "paymentId",
    "federated_user_id": "federatedUserId",
    "created_from": "createdFrom",
    "created_to": "createdTo",
}
STATS_GROUPS = ("day", "hour", "type", "thing", "application")


class EventFilters(TypedDict, total=False):
    """Which events: every filter given must match (``type``: any of those listed)."""

    type: str | Sequence[str]
    application_id: str
    thing_id: str
    session_id: str
    payment_id: str
    federated_user_id: str
    created_from: datetime | str  # inclusive
    created_to: datetime | str  # exclusive


def new_event_id() -> str:
    """An id for an event the caller did not name, fixed before the first attempt so that
    the SDK's retries of the append are acknowledged as duplicates, not stored twice."""
    return "evt_" + uuid.uuid4().hex


def timestamp_text(value: datetime | str, what: str) -> str:
    if isinstance(value, str):
        return value
    if value.tzinfo is None or value.utcoffset() is None:
        raise StickyError(f"{what} must be an aware datetime (with a timezone), not {value}.")
    return value.isoformat()


def event_body(event: Mapping[str, Any], keys: Mapping[str, str] = EVENT_KEYS) -> dict[str, Any]:
    """One event to append as the platform's JSON, with an id generated when it has none."""
    unknown = sorted(set(event) - keys.keys())
    if unknown:
        raise StickyError(f"Unknown event field(s) {unknown}; the fields are {sorted(keys)}.")
    if not isinstance(event.get("type"), str):
        raise StickyError("Every event needs a type (a string such as 'SESSION_READ').")
    body: dict[str, Any] = {"id": new_event_id()}
    for name, wire in keys.items():
        value = event.get(name)
        if value is None:
            continue
        if name == "created_at":
            value = timestamp_text(value, "created_at")
        elif name == "custom_data":
            value = dict(value)
        body[wire] = value
    return body


def batch_body(events: Iterable[Mapping[str, Any]], keys: Mapping[str, str]) -> list[Any]:
    bodies = [event_body(event, keys) for event in events]
    if not bodies:
        raise StickyError("There are no events to append: give at least one.")
    return bodies


def filter_params(filters: Mapping[str, Any]) -> dict[str, QueryValue | None]:
    """The query parameters of ``filters`` (keyword arguments, so checked by name here)."""
    unknown = sorted(set(filters) - FILTER_KEYS.keys())
    if unknown:
        raise TypeError(
            f"Unknown event filter(s) {unknown}; the filters are {sorted(FILTER_KEYS)}."
        )
    params: dict[str, QueryValue | None] = {}
    for name, value in filters.items():
        if value is None:
            continue
        if name == "type":
            value = value if isinstance(value, str) else ",".join(value)
        elif name in ("created_from", "created_to"):
            value = timestamp_text(value, name)
        params[FILTER_KEYS[name]] = value
    return params


def group_by_param(group_by: Sequence[str] | str) -> str:
    groups = group_by.split(",") if isinstance(group_by, str) else list(group_by)
    wrong = [group for group in groups if group not in STATS_GROUPS]
    if wrong:
        raise StickyError(f"Cannot group by {wrong}; group by any of {list(STATS_GROUPS)}.")
    return ",".join(groups)

"""The wire form of a stored event, computed once at append time and kept in ``body``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from sticky.events.domain import NewEvent, StoredEvent

_UTC_OFFSET = timedelta(0)


def iso_z(moment: datetime) -> str:
    """ISO 8601 in UTC with microseconds and 'Z': one width, so text order is time order."""
    if moment.utcoffset() == _UTC_OFFSET:  # already UTC, as nearly every event is
        return moment.isoformat(timespec="microseconds")[:26] + "Z"
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def encode_custom_data(custom_data: dict[str, Any]) -> str:
    try:
        return orjson.dumps(custom_data).decode()
    except orjson.JSONEncodeError as exc:  # a TypeError: say what it is, a bad value
        raise ValueError(f"customData cannot be stored as JSON ({exc})") from None


# The columns of an ``events`` row as :func:`row_of` lists them.
ROW_COLUMNS = (
    "position",
    "id",
    "type",
    "user_id",
    "application_id",
    "thing_id",
    "session_id",
    "payment_id",
    "federated_user_id",
    "custom_data",
    "created_at",
    "stream",
    "version",
    "body",
)
CREATED_AT = ROW_COLUMNS.index("created_at")


def row_of(event: NewEvent, position: int, version: int | None) -> tuple[Any, ...]:
    """The ``events`` row for ``event`` at ``position``, in ``ROW_COLUMNS`` order, with
    ``body``: the event as docs/events.md shows it (every key, in that order)."""
    custom_data_json = encode_custom_data(event.custom_data)
    body = orjson.dumps(
        {
            "id": event.id,
            "position": position,
            "type": event.type,
            "userId": event.user_id,
            "applicationId": event.application_id,
            "thingId": event.thing_id,
            "sessionId": event.session_id,
            "paymentId": event.payment_id,
            "federatedUserId": event.federated_user_id,
            "customData": event.custom_data,
            "createdAt": iso_z(event.created_at),
            "stream": event.stream,
            "version": version,
        }
    )
    return (
        position,
        event.id,
        event.type,
        event.user_id,
        event.application_id,
        event.thing_id,
        event.session_id,
        event.payment_id,
        event.federated_user_id,
        custom_data_json,
        event.created_at,
        event.stream,
        version,
        body.decode(),
    )


def stored_event(m: Any) -> StoredEvent:
    """A ``StoredEvent`` from a row mapping of ``events``."""
    return StoredEvent(
        position=m["position"],
        id=m["id"],
        type=m["type"],
        user_id=m["user_id"],
        created_at=m["created_at"],
        application_id=m["application_id"],
        thing_id=m["thing_id"],
        session_id=m["session_id"],
        payment_id=m["payment_id"],
        federated_user_id=m["federated_user_id"],
        custom_data=orjson.loads(m["custom_data"]),
        stream=m["stream"],
        version=m["version"],
    )


Content = tuple[Any, ...]


def content_of(event: NewEvent | StoredEvent) -> Content:
    """What must match for a repeated id to be the same event (a retry), not a new one.

    ``createdAt`` is left out: a retry that let the platform fill it in gets a later one.
    """
    return (
        event.type,
        event.application_id,
        event.thing_id,
        event.session_id,
        event.payment_id,
        event.federated_user_id,
        event.custom_data,
        event.stream,
    )

"""What the events API accepts and answers (camelCase on the wire)."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator
from pydantic.alias_generators import to_camel

from sticky.events.domain import EVENT_ID_PATTERN, MAX_POSITION, NO_STREAM, STREAM_PATTERN
from sticky.kernel.event_types import (
    BUILTIN_TYPES,
    MAX_CUSTOM_DATA_BYTES,
    REF_ID_PATTERN,
    is_event_type,
)

MAX_BATCH = 10_000
# Times a day inside the calendar's ends: at the ends themselves, converting to UTC or rounding
# to the hour or day (the rollups) overflows.
EARLIEST = datetime(1, 1, 2, tzinfo=UTC)
LATEST = datetime(9999, 12, 30, tzinfo=UTC)

EventId = Annotated[str, StringConstraints(pattern=EVENT_ID_PATTERN)]
StreamName = Annotated[str, StringConstraints(pattern=STREAM_PATTERN)]
RefId = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=REF_ID_PATTERN)]


def check_time(value: datetime) -> datetime:
    """``value`` (aware) if it lies between ``EARLIEST`` and ``LATEST``."""
    if EARLIEST <= value <= LATEST:
        return value
    raise ValueError(f"must lie between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d} (UTC)")


def _finite(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(_finite(item) for item in value.values())
    if isinstance(value, list):
        return all(_finite(item) for item in value)
    return True


def check_type(value: str) -> str:
    if is_event_type(value):
        return value
    raise ValueError(
        f"{value!r} is not an event type: use a built-in type ({', '.join(sorted(BUILTIN_TYPES))})"
        " or a custom type of the form X_UPPER_SNAKE_CASE (at most 64 characters)"
    )


class _Wire(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class EventIn(_Wire):
    """One event to append."""

    model_config = ConfigDict(extra="forbid")

    type: str = Field(max_length=64, description="A built-in type, or X_UPPER_SNAKE_CASE.")
    id: EventId | None = Field(default=None, description="Yours, for idempotent retries.")
    user_id: RefId | None = Field(default=None, description="Only services name it.")
    application_id: RefId | None = None
    thing_id: RefId | None = None
    session_id: RefId | None = None
    payment_id: RefId | None = None
    custom_data: dict[str, Any] = Field(
        default_factory=dict, description="An object of at most 64 KiB as JSON."
    )
    created_at: datetime | None = Field(default=None, description="Default: now.")
    stream: StreamName | None = None
    expected_version: int | None = Field(
        default=None,
        ge=NO_STREAM,
        le=MAX_POSITION,
        description="-1: the stream must not exist yet.",
    )

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        return check_type(value)

    @field_validator("custom_data")
    @classmethod
    def _bounded(cls, value: dict[str, Any]) -> dict[str, Any]:
        try:
            dumped = orjson.dumps(value)
            size = len(dumped)
        except TypeError as exc:  # nesting too deep, or integers beyond 64 bits
            raise ValueError(f"cannot be stored as JSON ({exc})") from None
        if size > MAX_CUSTOM_DATA_BYTES:
            raise ValueError(
                f"is {size} bytes as JSON, more than the limit of {MAX_CUSTOM_DATA_BYTES}"
            )
        # The request's parser takes NaN, Infinity and 1e400, and orjson writes them as null:
        # refused, rather than stored changed. Only data holding a null needs the walk.
        if b"null" in dumped and not _finite(value):
            raise ValueError("must hold only finite numbers (no NaN or Infinity)")
        return value

    @field_validator("created_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return check_time(value).astimezone(UTC)


EventBatch = Annotated[list[EventIn], Field(min_length=1, max_length=MAX_BATCH)]


class StreamAppend(_Wire):
    """Events for one stream, optionally with the version its last event must have."""

    model_config = ConfigDict(extra="forbid")

    expected_version: int | None = Field(default=None, ge=NO_STREAM, le=MAX_POSITION)
    events: EventBatch


class AppendedOut(_Wire):
    id: str
    position: int
    stream: str | None
    version: int | None
    duplicate: bool


class AppendResult(_Wire):
    data: list[AppendedOut]


class Checkpoint(_Wire):
    name: str
    position: int


class Head(_Wire):
    position: int = Field(description="The log's last position (0 when it is empty).")


class SetCheckpoint(_Wire):
    model_config = ConfigDict(extra="forbid")

    position: int = Field(ge=0, le=MAX_POSITION)

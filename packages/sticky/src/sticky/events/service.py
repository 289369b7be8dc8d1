"""Who may read and append which events, and the translation of the store's answers.

Every read is scoped to one user: the caller's own (owner, or a team member with
``events:read``), or, for the platform's own services only, the ``userId`` they name (or
every user). Appends by a team member are attributed to them (``federatedUserId``); a
service names the user each event belongs to.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, Request

from sticky.events.domain import (
    MAX_POSITION,
    Appended,
    DuplicateEventConflict,
    NewEvent,
    WrongExpectedVersion,
)
from sticky.events.exports import Exports
from sticky.events.live import Appends, Timing
from sticky.events.models import EventIn
from sticky.events.port import EventStore
from sticky.kernel.ids import ordered_ids
from sticky.kernel.problems import (
    FieldError,
    Problem,
    bad_request,
    conflict,
    forbidden,
    validation_failed,
)
from sticky.kernel.service import CurrentPrincipal
from sticky.kernel.tokens import Principal, Scope

READ = "events:read"
WRITE = "events:write"


def _allowed(principal: Principal, permission: str) -> None:
    if principal.scope == Scope.PUBLIC:
        raise forbidden(
            "The public key cannot read or record events; use the private key or sign in.",
            slug="insufficient-scope",
        )
    if principal.scope != Scope.SERVICE:
        principal.require_permission(permission)


def reading_scope(principal: Principal, user_id: str | None) -> str | None:
    """The user whose events the caller reads; None means every user (services only)."""
    _allowed(principal, READ)
    if principal.scope == Scope.SERVICE:
        return user_id
    if user_id is not None and user_id != principal.user_id:
        raise forbidden(
            "Only the platform's services name a userId; your events are your own.",
            slug="insufficient-scope",
        )
    return principal.user_id


def single_user(principal: Principal, user_id: str | None) -> str:
    """As :func:`reading_scope`, for reads that need one user (streams, stats)."""
    scoped = reading_scope(principal, user_id)
    if scoped is None:
        raise validation_failed([FieldError("userId", "is required for a service", "required")])
    return scoped


def to_new_events(
    principal: Principal,
    items: Sequence[EventIn],
    *,
    now: datetime,
    stream: str | None = None,
    expected_version: int | None = None,
) -> list[NewEvent]:
    """The events to store, owned and attributed; field errors name the item's index."""
    _allowed(principal, WRITE)
    errors: list[FieldError] = []
    events: list[NewEvent] = []
    federated = principal.team_member_id if principal.scope == Scope.TEAM_MEMBER else None
    fresh = iter(ordered_ids("evt", sum(1 for item in items if item.id is None)))
    for index, item in enumerate(items):
        owner = principal.user_id
        if principal.scope == Scope.SERVICE:
            if item.user_id is None:
                errors.append(
                    FieldError(f"{index}.userId", "is required for a service", "required")
                )
                continue
            owner = item.user_id
        elif item.user_id is not None and item.user_id != principal.user_id:
            raise forbidden(
                f"Event {index} names another user; only the platform's services name a userId.",
                slug="insufficient-scope",
            )
        if stream is not None and item.stream not in (None, stream):
            errors.append(
                FieldError(f"{index}.stream", f"differs from the stream {stream!r} of the URL")
            )
            continue
        expected = item.expected_version
        if index == 0 and expected_version is not None:
            expected = expected_version
        events.append(
            NewEvent(
                id=item.id or next(fresh),
                type=item.type,
                user_id=owner,
                created_at=item.created_at or now,
                application_id=item.application_id,
                thing_id=item.thing_id,
                session_id=item.session_id,
                payment_id=item.payment_id,
                federated_user_id=federated,
                custom_data=item.custom_data,
                stream=stream or item.stream,
                expected_version=expected,
                fresh_id=not item.id,
            )
        )
    if errors:
        raise validation_failed(errors)
    return events


def appended_json(done: Sequence[Appended]) -> dict[str, Any]:
    """The 201 body of an append (``AppendResult``), built without a model per event."""
    return {
        "data": [
            {
                "id": a.id,
                "position": a.position,
                "stream": a.stream,
                "version": a.version,
                "duplicate": a.duplicate,
            }
            for a in done
        ]
    }


def encode_cursor(position: int) -> str:
    return base64.urlsafe_b64encode(f"p{position}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if not text.startswith("p") or not text[1:].isdigit():
            raise ValueError(text)
        position = int(text[1:])
        if position > MAX_POSITION:
            raise ValueError(text)
        return position
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise bad_request(
            "The cursor is not one this endpoint returned.", slug="invalid-cursor"
        ) from None


@dataclass
class Events:
    """The store, the export worker and this process's followers, built once in the app's
    lifespan."""

    store: EventStore
    exports: Exports
    appends: Appends
    timing: Timing

    async def append(self, events: Sequence[NewEvent]) -> list[Appended]:
        try:
            done = await self.store.append(events)
        except WrongExpectedVersion as exc:
            raise Problem(
                409,
                "wrong-expected-version",
                "Conflict",
                f"The stream {exc.stream!r} is at version {exc.actual}, not the expected"
                f" {exc.expected}; nothing of the batch was written.",
                extra={
                    "stream": exc.stream,
                    "expectedVersion": exc.expected,
                    "actualVersion": exc.actual,
                },
            ) from None
        except DuplicateEventConflict as exc:
            raise conflict(
                f"The event id {exc.event_id!r} was already used for a different event;"
                " nothing of the batch was written.",
                slug="duplicate-event-id",
            ) from None
        self.appends.notify(
            (appended.position, event)
            for appended, event in zip(done, events, strict=True)
            if not appended.duplicate
        )
        return done

    @staticmethod
    def now() -> datetime:
        return datetime.now(UTC)


async def _events(request: Request) -> Events:
    events: Events = request.app.state.events
    return events


EventsDep = Annotated[Events, Depends(_events)]
Caller = CurrentPrincipal

"""``sticky.sessions``: consumer sessions, their sectors of data, and the events they record.

A session is read and written by itself (a client made with ``Sticky(session_id=...)``) and
by the merchant whose sticker it last tapped (the private key, a signed-in user, a team
member with ``applications:write``); nobody else sees it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sticky_sdk._api_models import RecordedEvent, Session
from sticky_sdk._calls import Call, path
from sticky_sdk._resources._api_input import fields_body
from sticky_sdk._resources._base import AsyncResource, SyncResource

Sector = Mapping[str, Any]


def retrieve_call(session_id: str, application_id: str | None) -> Call[Session]:
    where = path("/v1/sessions/{}", session_id)
    return Call("GET", where, Session.from_json, params={"applicationId": application_id})


def update_call(
    session_id: str,
    cross_user_sector: Sector | None,
    user_sector: Sector | None,
    application_sector: Sector | None,
    application_id: str | None,
) -> Call[Session]:
    body = fields_body(
        {
            "cross_user_sector": cross_user_sector,
            "user_sector": user_sector,
            "application_sector": application_sector,
            "application_id": application_id,
        }
    )
    return Call("PATCH", path("/v1/sessions/{}", session_id), Session.from_json, json=body)


def record_event_call(
    session_id: str,
    type: str,
    custom_data: Mapping[str, Any] | None,
    application_id: str | None,
    thing_id: str | None,
    idempotency_key: str | None,
) -> Call[RecordedEvent]:
    fields = {"custom_data": custom_data, "application_id": application_id, "thing_id": thing_id}
    body = {"type": type, **fields_body(fields)}
    return Call(
        "POST",
        path("/v1/sessions/{}/events", session_id),
        RecordedEvent.from_json,
        json=body,
        idempotency_key=idempotency_key,
    )


class Sessions(SyncResource):
    """Consumer sessions."""

    def retrieve(self, session_id: str, *, application_id: str | None = None) -> Session:
        """A session with its sectors; the application sector is ``application_id``'s (the
        flow the session last ran without one)."""
        return self._client._call(retrieve_call(session_id, application_id))

    def update(
        self,
        session_id: str,
        *,
        cross_user_sector: Sector | None = None,
        user_sector: Sector | None = None,
        application_sector: Sector | None = None,
        application_id: str | None = None,
    ) -> Session:
        """Replace the sectors given (whole; those left out stay); the application sector is
        ``application_id``'s (the session's flow without one)."""
        call = update_call(
            session_id, cross_user_sector, user_sector, application_sector, application_id
        )
        return self._client._call(call)

    def record_event(
        self,
        session_id: str,
        type: str,
        *,
        custom_data: Mapping[str, Any] | None = None,
        application_id: str | None = None,
        thing_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> RecordedEvent:
        """Record an event of the session (``CHECK_IN``, ``LD_V2``, ``MESSAGE``, ``TO_DO``,
        ``SESSION_READ``, ``CONNECTION_GOOD``, ``CONNECTION_BAD`` or your ``X_...`` type);
        the flow and thing default to the session's."""
        call = record_event_call(
            session_id, type, custom_data, application_id, thing_id, idempotency_key
        )
        return self._client._call(call)


class AsyncSessions(AsyncResource):
    """Consumer sessions."""

    async def retrieve(self, session_id: str, *, application_id: str | None = None) -> Session:
        """A session with its sectors; the application sector is ``application_id``'s (the
        flow the session last ran without one)."""
        return await self._client._call(retrieve_call(session_id, application_id))

    async def update(
        self,
        session_id: str,
        *,
        cross_user_sector: Sector | None = None,
        user_sector: Sector | None = None,
        application_sector: Sector | None = None,
        application_id: str | None = None,
    ) -> Session:
        """Replace the sectors given (whole; those left out stay); the application sector is
        ``application_id``'s (the session's flow without one)."""
        call = update_call(
            session_id, cross_user_sector, user_sector, application_sector, application_id
        )
        return await self._client._call(call)

    async def record_event(
        self,
        session_id: str,
        type: str,
        *,
        custom_data: Mapping[str, Any] | None = None,
        application_id: str | None = None,
        thing_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> RecordedEvent:
        """Record an event of the session (``CHECK_IN``, ``LD_V2``, ``MESSAGE``, ``TO_DO``,
        ``SESSION_READ``, ``CONNECTION_GOOD``, ``CONNECTION_BAD`` or your ``X_...`` type);
        the flow and thing default to the session's."""
        call = record_event_call(
            session_id, type, custom_data, application_id, thing_id, idempotency_key
        )
        return await self._client._call(call)

"""Consumer sessions over HTTP: their sectors, and the events a session records.

A session reads and writes itself (``Sticky-Session: <id>``); the merchant whose sticker it
last tapped reads and writes it too. Nobody else sees it.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from sticky.api.access import Caller, CallerDep, Resource
from sticky.api.context import Api, ApiDep
from sticky.api.models import SessionEvent, SessionOut, SessionUpdate
from sticky.api.recorder import Writes
from sticky.api.store import Row
from sticky.api.store.sessions import USER_SECTOR
from sticky.api.tap import tap_event
from sticky.api.views import check_references, missing
from sticky.kernel.event_types import is_custom_type
from sticky.kernel.problems import FieldError, forbidden, validation_failed
from sticky.kernel.service import json_response

router = APIRouter(prefix="/v1/sessions", tags=["sessions"])

# What a session may record about itself; payments and refunds are the api's to record.
SESSION_EVENT_TYPES = frozenset(
    {"SESSION_READ", "CHECK_IN", "LD_V2", "MESSAGE", "TO_DO", "CONNECTION_GOOD", "CONNECTION_BAD"}
)


async def _session(api: Api, caller: Caller, session_id: str) -> Row:
    if caller.scope == "session":
        if caller.session_id != session_id:
            raise forbidden("A session reads and writes only itself.", slug="insufficient-scope")
    else:
        caller.require_read(Resource.APPLICATIONS)
        if caller.reads_published_only:
            raise forbidden(
                "The public key cannot read sessions; use the session itself or the private key.",
                slug="insufficient-scope",
            )
    async with api.store.reading() as tx:
        row = await tx.sessions.get(session_id)
    if row is None or row["user_id"] != caller.user_id:
        raise missing("session", session_id)
    return row


async def _out(api: Api, row: Row, application_id: str | None) -> SessionOut:
    app = application_id or row["application_id"]
    async with api.store.reading() as tx:
        user_sector = await tx.sessions.sector(row["id"], row["user_id"], USER_SECTOR)
        app_sector = await tx.sessions.sector(row["id"], row["user_id"], app) if app else {}
    return SessionOut(
        id=row["id"],
        user_id=row["user_id"],
        application_id=row["application_id"],
        thing_id=row["thing_id"],
        cross_user_sector=row["cross_user_sector"],
        user_sector=user_sector,
        application_sector=app_sector,
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


@router.get("/{session_id}", response_model=SessionOut)
async def get(
    session_id: str,
    caller: CallerDep,
    api: ApiDep,
    application_id: Annotated[str | None, Query(alias="applicationId", max_length=40)] = None,
) -> SessionOut:
    """A session with its sectors (the application sector of ``applicationId`` or its flow)."""
    row = await _session(api, caller, session_id)
    return await _out(api, row, application_id)


@router.patch("/{session_id}", response_model=SessionOut)
async def update(
    session_id: str, body: SessionUpdate, caller: CallerDep, api: ApiDep
) -> SessionOut:
    """Replace the sectors named in the body."""
    if caller.scope != "session":
        caller.require_write(Resource.APPLICATIONS)
    row = await _session(api, caller, session_id)
    async with api.store.reading() as tx:
        await check_references(tx, row["user_id"], application_id=body.application_id)
    application_id = body.application_id or row["application_id"]
    if body.application_sector is not None and not application_id:
        raise validation_failed(
            [FieldError("applicationId", "is required to write an application sector")]
        )
    now = api.now()
    async with api.store.transaction() as tx:
        if body.cross_user_sector is not None:
            await tx.sessions.put_cross_user(session_id, body.cross_user_sector, now)
        if body.user_sector is not None:
            await tx.sessions.put_sector(
                session_id, row["user_id"], USER_SECTOR, body.user_sector, now
            )
        if body.application_sector is not None and application_id:
            await tx.sessions.put_sector(
                session_id, row["user_id"], application_id, body.application_sector, now
            )
        fresh = await tx.sessions.get(session_id)
    assert fresh is not None
    return await _out(api, fresh, application_id)


@router.post("/{session_id}/events", status_code=202)
async def record(session_id: str, body: SessionEvent, caller: CallerDep, api: ApiDep) -> Any:
    """Record an event of this session (``CHECK_IN``, ``LD_V2``, ``X_…``, ...)."""
    row = await _session(api, caller, session_id)
    if body.type not in SESSION_EVENT_TYPES and not is_custom_type(body.type):
        raise validation_failed(
            [
                FieldError(
                    "type",
                    "is not an event a session records: use one of "
                    + ", ".join(sorted(SESSION_EVENT_TYPES))
                    + " or a custom X_ type",
                )
            ]
        )
    # Its events go into the merchant's log: a flow or sticker of nobody's there is noise.
    async with api.store.reading() as tx:
        await check_references(
            tx, row["user_id"], application_id=body.application_id, thing_id=body.thing_id
        )
    event = tap_event(
        body.type,
        user_id=row["user_id"],
        application_id=body.application_id or row["application_id"],
        thing_id=body.thing_id or row["thing_id"],
        session_id=session_id,
        custom_data=body.custom_data,
        created_at=api.now(),
    )
    await api.recorder.record(Writes().add_events([event]))
    return json_response({"id": event["id"], "status": "recorded"}, status_code=202)

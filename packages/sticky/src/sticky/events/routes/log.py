"""The log: append events, read them by page or as one stream (NDJSON, CSV), and stats."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response, StreamingResponse
from pydantic import TypeAdapter
from starlette.requests import ClientDisconnect
from starlette.types import Receive, Scope, Send

from sticky.events.domain import MAX_POSITION, EventFilter, StatsQuery
from sticky.events.models import (
    AppendResult,
    EventBatch,
    EventIn,
    RefId,
    check_time,
    check_type,
)
from sticky.events.service import (
    Caller,
    Events,
    EventsDep,
    appended_json,
    decode_cursor,
    encode_cursor,
    reading_scope,
    single_user,
    to_new_events,
)
from sticky.events.store import StoreUnavailable
from sticky.events.wire import event_json
from sticky.kernel.bodies import json_body
from sticky.kernel.middleware import BodyLimitMiddleware
from sticky.kernel.problems import (
    FieldError,
    Problem,
    from_validation,
    problem_response,
    validation_failed,
)
from sticky.kernel.service import FastPath, current_principal, json_response

router = APIRouter(prefix="/v1/events", tags=["events"])

NDJSON = "application/x-ndjson"
CSV = "text/csv"
GROUPS = ("day", "hour", "type", "thing", "application")


def _types(values: list[str] | None) -> tuple[str, ...]:
    types: list[str] = []
    errors: list[FieldError] = []
    for value in values or []:
        for name in filter(None, (part.strip() for part in value.split(","))):
            try:
                types.append(check_type(name))
            except ValueError as exc:
                errors.append(FieldError("type", str(exc), "unknown_type"))
    if errors:
        raise validation_failed(errors)
    return tuple(dict.fromkeys(types))


def _time_range(created_from: datetime | None, created_to: datetime | None) -> None:
    for name, moment in (("createdFrom", created_from), ("createdTo", created_to)):
        if moment is None:
            continue
        if moment.tzinfo is None:
            raise validation_failed(
                [FieldError(name, "needs a time zone (end it with Z or +00:00)", "naive")]
            )
        try:
            check_time(moment)
        except ValueError as exc:
            raise validation_failed([FieldError(name, str(exc), "out_of_range")]) from None


async def event_filter(
    principal: Caller,
    type: Annotated[list[str] | None, Query(description="Repeat it or comma-separate.")] = None,
    application_id: Annotated[RefId | None, Query(alias="applicationId")] = None,
    thing_id: Annotated[RefId | None, Query(alias="thingId")] = None,
    session_id: Annotated[RefId | None, Query(alias="sessionId")] = None,
    payment_id: Annotated[RefId | None, Query(alias="paymentId")] = None,
    federated_user_id: Annotated[RefId | None, Query(alias="federatedUserId")] = None,
    created_from: Annotated[datetime | None, Query(alias="createdFrom")] = None,
    created_to: Annotated[datetime | None, Query(alias="createdTo")] = None,
    after: Annotated[
        int, Query(ge=0, le=MAX_POSITION, description="Only events after this position.")
    ] = 0,
    user_id: Annotated[RefId | None, Query(alias="userId", description="Services only.")] = None,
) -> EventFilter:
    """The caller's filters, scoped to the events the caller may read."""
    _time_range(created_from, created_to)
    return EventFilter(
        user_id=reading_scope(principal, user_id),
        types=_types(type),
        application_id=application_id,
        thing_id=thing_id,
        session_id=session_id,
        payment_id=payment_id,
        federated_user_id=federated_user_id,
        created_from=created_from,
        created_to=created_to,
        after=after,
    )


Filter = Annotated[EventFilter, Depends(event_filter)]


_BATCH: TypeAdapter[list[EventIn]] = TypeAdapter(EventBatch)
_BATCH_SCHEMA = _BATCH.json_schema(ref_template="#/components/schemas/{model}")
_BATCH_SCHEMA.pop("$defs", None)  # EventIn is among the components (the streams' body has it)


@router.post(
    "",
    status_code=201,
    response_model=AppendResult,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": _BATCH_SCHEMA}},
        }
    },
)
async def append_events(request: Request, principal: Caller, events: EventsDep) -> Response:
    """Append 1 to 10,000 events atomically; ids already stored are acknowledged again."""
    body = json_body(await request.body(), _BATCH)
    batch = to_new_events(principal, body, now=events.now())
    done = await events.append(batch)
    return json_response(appended_json(done), status_code=201)


class _Template:
    """What the kernel's metrics and logs read of a matched route: its template."""

    path = "/v1/events"


def _claims(scope: Scope) -> bool:
    method: str = scope["method"]
    path: str = scope["path"]
    return method == "POST" and path == "/v1/events"


async def _append(scope: Scope, receive: Receive, send: Send) -> None:
    """An append without the router: the route's own handler, so both ways answer the same."""
    scope["route"] = _Template
    request = Request(scope, receive)
    app = scope["app"]
    events: Events = app.state.events
    try:
        principal = await current_principal(request, request.headers.get("authorization"))
        response = await append_events(request, principal, events)
    except Problem as problem:
        response = problem_response(problem, request)
    except RequestValidationError as invalid:
        response = problem_response(from_validation(invalid), request)
    except StoreUnavailable:
        response = problem_response(UNAVAILABLE, request)
    except ClientDisconnect:
        return  # the body was refused as too large (already answered), or the client left
    await response(scope, receive, send)


UNAVAILABLE = Problem(
    503,
    "unavailable",
    "Service unavailable",
    "The event store cannot answer right now; nothing was written. Retry shortly.",
    headers={"Retry-After": "1"},
)


def append_fast_path(max_body_bytes: int) -> FastPath:
    """Appends are the events service's busiest request: the platform's taps arrive this way,
    and callers wait on them. They cost the kernel's request context, the body limit and the
    handler, not FastAPI's middleware, route matching and injection (13% of a one-event
    append's CPU, writing included)."""
    return FastPath(claims=_claims, handler=BodyLimitMiddleware(_append, max_body_bytes))


@router.get(
    "",
    responses={
        200: {
            "description": "A page of events (JSON), or every match as NDJSON or CSV.",
            "content": {NDJSON: {}, CSV: {}},
        }
    },
)
async def read_events(
    where: Filter,
    events: EventsDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Query(max_length=100)] = None,
    accept: Annotated[str, Header()] = "application/json",
) -> Response:
    """Events in position order: a page with a cursor, or all of them by Accept."""
    if cursor is not None:
        where = replace(where, after=max(where.after, decode_cursor(cursor)))
    if NDJSON in accept:
        return StreamingResponse(await events.exports.open(where, "ndjson"), media_type=NDJSON)
    if CSV in accept:
        return StreamingResponse(
            await events.exports.open(where, "csv"),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="events.csv"'},
        )
    found = await events.store.read(where, limit + 1)
    page = found[:limit]
    has_more = len(found) > limit
    return json_response(
        {
            "data": [event_json(e) for e in page],
            "hasMore": has_more,
            "nextCursor": encode_cursor(page[-1].position) if has_more else None,
        }
    )


@router.get("/stats")
async def event_stats(
    principal: Caller,
    events: EventsDep,
    group_by: Annotated[str, Query(alias="groupBy", description=", ".join(GROUPS))] = "",
    type: Annotated[list[str] | None, Query()] = None,
    application_id: Annotated[RefId | None, Query(alias="applicationId")] = None,
    thing_id: Annotated[RefId | None, Query(alias="thingId")] = None,
    created_from: Annotated[datetime | None, Query(alias="createdFrom")] = None,
    created_to: Annotated[datetime | None, Query(alias="createdTo")] = None,
    user_id: Annotated[RefId | None, Query(alias="userId", description="Services only.")] = None,
) -> Response:
    """Counts and revenue totals from the rollups, grouped as asked."""
    groups = tuple(dict.fromkeys(g.strip() for g in group_by.split(",") if g.strip()))
    unknown = [g for g in groups if g not in GROUPS]
    if unknown:
        raise validation_failed(
            [
                FieldError("groupBy", f"{g!r} is not one of {', '.join(GROUPS)}", "unknown")
                for g in unknown
            ]
        )
    _time_range(created_from, created_to)
    query = StatsQuery(
        user_id=single_user(principal, user_id),
        group_by=groups,
        types=_types(type),
        application_id=application_id,
        thing_id=thing_id,
        created_from=created_from,
        created_to=created_to,
    )
    rows = await events.store.stats(query)
    return json_response(
        {"data": [{**row.key, "count": row.count, "total": row.total} for row in rows]}
    )

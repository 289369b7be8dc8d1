"""Streams: the events of one thing (``payment-<id>``), in version order."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response

from sticky.events.domain import STREAM_PATTERN
from sticky.events.models import AppendResult, RefId, StreamAppend
from sticky.events.service import (
    Caller,
    EventsDep,
    appended_json,
    decode_cursor,
    encode_cursor,
    single_user,
    to_new_events,
)
from sticky.events.wire import event_json
from sticky.kernel.service import json_response

router = APIRouter(prefix="/v1/streams", tags=["streams"])

StreamName = Annotated[str, Path(pattern=STREAM_PATTERN)]


@router.get("/{stream}")
async def read_stream(
    stream: StreamName,
    principal: Caller,
    events: EventsDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Query(max_length=100)] = None,
    user_id: Annotated[RefId | None, Query(alias="userId", description="Services only.")] = None,
) -> Response:
    """The stream's events in version order, a page at a time (none: an empty page)."""
    owner = single_user(principal, user_id)
    after = -1 if cursor is None else decode_cursor(cursor)
    found = await events.store.read_stream(owner, stream, after, limit + 1)
    page = found[:limit]
    has_more = len(found) > limit
    last = page[-1].version if page else None
    return json_response(
        {
            "data": [event_json(e) for e in page],
            "hasMore": has_more,
            "nextCursor": encode_cursor(last) if has_more and last is not None else None,
        }
    )


@router.post("/{stream}", status_code=201, response_model=AppendResult)
async def append_to_stream(
    stream: StreamName, body: StreamAppend, principal: Caller, events: EventsDep
) -> Response:
    """Append events to one stream, optionally only if its last version is as expected."""
    batch = to_new_events(
        principal,
        body.events,
        now=events.now(),
        stream=stream,
        expected_version=body.expected_version,
    )
    done = await events.append(batch)
    return json_response(appended_json(done), status_code=201)

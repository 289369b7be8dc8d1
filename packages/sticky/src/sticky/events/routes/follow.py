"""Following the log live (Server-Sent Events or NDJSON) and durable subscriptions."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated

import orjson
from fastapi import APIRouter, Header, Path, Query
from fastapi.responses import Response, StreamingResponse

from sticky.events.domain import STREAM_PATTERN, StoredEvent
from sticky.events.live import follow, framed
from sticky.events.models import Checkpoint, Head, SetCheckpoint
from sticky.events.routes.log import NDJSON, Filter
from sticky.events.service import Caller, EventsDep
from sticky.events.wire import event_json, ndjson_line
from sticky.kernel.tokens import Principal, Scope

router = APIRouter(prefix="/v1/events", tags=["subscriptions"])

SubscriptionName = Annotated[str, Path(pattern=STREAM_PATTERN)]
# Proxies must pass each event on at once, not buffer the stream.
STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def _sse(event: StoredEvent) -> bytes:
    return b"id: %d\ndata: %s\n\n" % (event.position, orjson.dumps(event_json(event)))


def _services_only(principal: Principal) -> None:
    principal.require_scope(Scope.SERVICE)


@router.get(
    "/subscribe",
    responses={200: {"content": {"text/event-stream": {}, NDJSON: {}}}},
)
async def subscribe(
    where: Filter,
    principal: Caller,
    events: EventsDep,
    subscription: Annotated[str | None, Query(pattern=STREAM_PATTERN)] = None,
    accept: Annotated[str, Header()] = "text/event-stream",
    last_event_id: Annotated[int | None, Header(ge=0)] = None,
) -> Response:
    """Every matching event after ``after``, then each new one as it is appended."""
    after = max(where.after, last_event_id or 0)
    if subscription is not None:
        _services_only(principal)
        after = max(after, await events.store.get_checkpoint(subscription) or 0)
    items = follow(events.store, replace(where, after=after), events.appends, events.timing)
    if NDJSON in accept:
        body = framed(items, ndjson_line, b"\n")
        return StreamingResponse(body, media_type=NDJSON, headers=STREAM_HEADERS)
    body = framed(items, _sse, b": keep-alive\n\n")
    return StreamingResponse(body, media_type="text/event-stream", headers=STREAM_HEADERS)


@router.get("/head", response_model=Head)
async def head(principal: Caller, events: EventsDep) -> Head:
    """The log's last position (0 when it is empty), for subscribers choosing their types."""
    _services_only(principal)
    return Head(position=await events.store.last_position())


@router.get("/subscriptions/{name}", response_model=Checkpoint)
async def get_subscription(
    name: SubscriptionName, principal: Caller, events: EventsDep
) -> Checkpoint:
    """Where a durable subscription has got to (0 when it is new)."""
    _services_only(principal)
    return Checkpoint(name=name, position=await events.store.get_checkpoint(name) or 0)


@router.put("/subscriptions/{name}", response_model=Checkpoint)
async def set_subscription(
    name: SubscriptionName, body: SetCheckpoint, principal: Caller, events: EventsDep
) -> Checkpoint:
    """Save a durable subscription's checkpoint: the last position it has handled."""
    _services_only(principal)
    await events.store.set_checkpoint(name, body.position)
    return Checkpoint(name=name, position=body.position)

"""An event on the wire: the JSON object, its NDJSON line and its CSV row, in one key order."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import orjson

from sticky.events.domain import StoredEvent

# The documented order of every event's keys, and so of the CSV columns.
COLUMNS = (
    "id",
    "position",
    "type",
    "userId",
    "applicationId",
    "thingId",
    "sessionId",
    "paymentId",
    "federatedUserId",
    "customData",
    "createdAt",
    "stream",
    "version",
)


def timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def event_json(event: StoredEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "position": event.position,
        "type": event.type,
        "userId": event.user_id,
        "applicationId": event.application_id,
        "thingId": event.thing_id,
        "sessionId": event.session_id,
        "paymentId": event.payment_id,
        "federatedUserId": event.federated_user_id,
        "customData": event.custom_data,
        "createdAt": timestamp(event.created_at),
        "stream": event.stream,
        "version": event.version,
    }


def ndjson_line(event: StoredEvent) -> bytes:
    return orjson.dumps(event_json(event)) + b"\n"


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return orjson.dumps(value).decode()
    return value


def _rows(lines: list[bytes]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    for line in lines:
        if line.strip():
            record = orjson.loads(line)
            writer.writerow([_cell(record.get(column)) for column in COLUMNS])
    return buffer.getvalue().encode()


async def ndjson_to_csv(lines: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """A header, then one CSV row per NDJSON line (``customData`` as a JSON string).

    Each chunk is converted in a worker thread: a large export must not hold the event loop.
    """
    yield (",".join(COLUMNS) + "\r\n").encode()
    rest = b""
    async for chunk in lines:
        *complete, rest = (rest + chunk).split(b"\n")
        if complete:
            yield await asyncio.to_thread(_rows, complete)
    if rest.strip():
        yield _rows([rest])

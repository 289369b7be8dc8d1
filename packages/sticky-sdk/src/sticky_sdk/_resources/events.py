"""``sticky.events``: append to the event log, read it, export it, follow it, count it."""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, Literal, Unpack, overload

import httpx

from sticky_sdk._calls import Call, QueryValue
from sticky_sdk._exceptions import StickyError, connection_error
from sticky_sdk._following import NDJSON, RECOVERABLE, LineBuffer, Resumption, parse_line
from sticky_sdk._models import Appended, Event, StatsRow, appended_list, stats_list
from sticky_sdk._pagination import AsyncPager, Page, Pager, page_of
from sticky_sdk._resources._base import AsyncResource, SyncResource
from sticky_sdk._resources._event_input import (
    EVENT_KEYS,
    EventFilters,
    batch_body,
    filter_params,
    group_by_param,
)
from sticky_sdk._streaming import AsyncStream, Destination, Stream, adownload, download, raw

ExportFormat = Literal["ndjson", "csv"]
MEDIA_TYPES: dict[str, str] = {"ndjson": NDJSON, "csv": "text/csv"}

_read_page = page_of(Event.from_json)


def append_call(events: Iterable[Mapping[str, Any]]) -> Call[list[Appended]]:
    return Call("POST", "/v1/events", appended_list, json=batch_body(events, EVENT_KEYS))


def one_event(
    type: str,
    id: str | None,
    application_id: str | None,
    thing_id: str | None,
    session_id: str | None,
    payment_id: str | None,
    custom_data: Mapping[str, Any] | None,
    created_at: datetime | str | None,
    stream: str | None,
    expected_version: int | None,
) -> dict[str, Any]:
    return {
        "type": type,
        "id": id,
        "application_id": application_id,
        "thing_id": thing_id,
        "session_id": session_id,
        "payment_id": payment_id,
        "custom_data": custom_data,
        "created_at": created_at,
        "stream": stream,
        "expected_version": expected_version,
    }


def single(acks: list[Appended]) -> Appended:
    if len(acks) != 1:
        raise StickyError(f"One event was appended but {len(acks)} acknowledged.")
    return acks[0]


def list_page_call(
    cursor: str | None,
    after: int | None,
    limit: int | None,
    filters: Mapping[str, QueryValue | None],
) -> Call[Page[Event]]:
    params = {**filters, "after": after, "limit": limit, "cursor": cursor}
    return Call("GET", "/v1/events", _read_page, params=params)


def export_call(format: str, after: int | None, filters: Mapping[str, Any]) -> Call[Event]:
    if format not in MEDIA_TYPES:
        raise StickyError(f"Export as 'ndjson' or 'csv', not {format!r}.")
    params = {**filter_params(filters), "after": after}
    headers = {"Accept": MEDIA_TYPES[format]}
    return Call("GET", "/v1/events", Event.from_json, params=params, headers=headers)


def stats_call(
    group_by: Sequence[str] | str,
    type: str | Sequence[str] | None,
    application_id: str | None,
    thing_id: str | None,
    created_from: datetime | str | None,
    created_to: datetime | str | None,
) -> Call[list[StatsRow]]:
    filters = {
        "type": type,
        "application_id": application_id,
        "thing_id": thing_id,
        "created_from": created_from,
        "created_to": created_to,
    }
    params = {"groupBy": group_by_param(group_by), **filter_params(filters)}
    return Call("GET", "/v1/events/stats", stats_list, params=params)


class Events(SyncResource):
    """The event log."""

    def create(
        self,
        type: str,
        *,
        id: str | None = None,
        application_id: str | None = None,
        thing_id: str | None = None,
        session_id: str | None = None,
        payment_id: str | None = None,
        custom_data: Mapping[str, Any] | None = None,
        created_at: datetime | str | None = None,
        stream: str | None = None,
        expected_version: int | None = None,
    ) -> Appended:
        """Append one event; without an ``id`` one is generated, so retries store it once."""
        event = one_event(
            type, id, application_id, thing_id, session_id, payment_id,
            custom_data, created_at, stream, expected_version,
        )  # fmt: skip
        return single(self._client._call(append_call([event])))

    def create_many(self, events: Iterable[Mapping[str, Any]]) -> builtins.list[Appended]:
        """Append a batch atomically (1 to 10,000 events, each a mapping of ``create``'s
        arguments); the acknowledgements in the same order."""
        return self._client._call(append_call(events))

    def list(
        self, *, after: int | None = None, limit: int | None = None, **filters: Unpack[EventFilters]
    ) -> Pager[Event]:
        """Every matching event in position order, fetched ``limit`` (1-1,000) per page."""
        params = filter_params(filters)
        return self._client._paginate(lambda cursor: list_page_call(cursor, after, limit, params))

    def list_page(
        self,
        *,
        cursor: str | None = None,
        after: int | None = None,
        limit: int | None = None,
        **filters: Unpack[EventFilters],
    ) -> Page[Event]:
        """One page of matching events, from ``cursor`` (the first page without one)."""
        return self._client._call(list_page_call(cursor, after, limit, filter_params(filters)))

    @overload
    def export(
        self,
        destination: None = None,
        *,
        format: Literal["ndjson"] = "ndjson",
        after: int | None = None,
        **filters: Unpack[EventFilters],
    ) -> Stream[Event]: ...
    @overload
    def export(
        self,
        destination: None = None,
        *,
        format: Literal["csv"],
        after: int | None = None,
        **filters: Unpack[EventFilters],
    ) -> Stream[str]: ...
    @overload
    def export(
        self,
        destination: Destination,
        *,
        format: ExportFormat = "ndjson",
        after: int | None = None,
        **filters: Unpack[EventFilters],
    ) -> int: ...
    def export(
        self,
        destination: Destination | None = None,
        *,
        format: ExportFormat = "ndjson",
        after: int | None = None,
        **filters: Unpack[EventFilters],
    ) -> Stream[Event] | Stream[str] | int:
        """Every matching event as one streamed answer, in constant memory: written to a
        path or binary file (the number of bytes), else an iterator of events (NDJSON) or
        of lines (CSV, header first)."""
        call = export_call(format, after, filters)
        response = self._client._send(call, stream=True)
        if destination is not None:
            return download(response, destination)
        if format == "csv":
            return Stream(response, raw, decode=raw)
        return Stream(response, call.parse)

    def subscribe(
        self,
        after: int | None = None,
        *,
        subscription: str | None = None,
        max_reconnects: int | None = None,
        **filters: Unpack[EventFilters],
    ) -> Iterator[Event]:
        """Every matching event after ``after`` (or the ``subscription``'s checkpoint), then
        each new one as it is appended; reconnects by itself, resuming where it was."""
        resumption = Resumption(
            filter_params(filters), after, subscription, max_reconnects, self._client._retry
        )
        return self._follow(resumption)

    def _follow(self, resumption: Resumption) -> Iterator[Event]:
        while True:
            error: StickyError | None = None
            try:
                response = self._client._send(resumption.call(), stream=True)
                try:
                    lines = LineBuffer()
                    for chunk in response.iter_bytes():
                        for line in lines.feed(chunk):
                            event = parse_line(line)
                            if event is not None and resumption.fresh(event):
                                yield event
                finally:
                    response.close()
            except httpx.RequestError as exc:
                error = connection_error(exc)
            except RECOVERABLE as exc:
                error = exc
            self._client._sleep(resumption.reconnect_delay(error))

    def stats(
        self,
        group_by: Sequence[str] | str = (),
        *,
        type: str | Sequence[str] | None = None,
        application_id: str | None = None,
        thing_id: str | None = None,
        created_from: datetime | str | None = None,
        created_to: datetime | str | None = None,
    ) -> builtins.list[StatsRow]:
        """Counts and ``total`` sums of matching events, grouped by any of ``day``, ``hour``,
        ``type``, ``thing``, ``application``."""
        call = stats_call(group_by, type, application_id, thing_id, created_from, created_to)
        return self._client._call(call)


class AsyncEvents(AsyncResource):
    """The event log."""

    async def create(
        self,
        type: str,
        *,
        id: str | None = None,
        application_id: str | None = None,
        thing_id: str | None = None,
        session_id: str | None = None,
        payment_id: str | None = None,
        custom_data: Mapping[str, Any] | None = None,
        created_at: datetime | str | None = None,
        stream: str | None = None,
        expected_version: int | None = None,
    ) -> Appended:
        """Append one event; without an ``id`` one is generated, so retries store it once."""
        event = one_event(
            type, id, application_id, thing_id, session_id, payment_id,
            custom_data, created_at, stream, expected_version,
        )  # fmt: skip
        return single(await self._client._call(append_call([event])))

    async def create_many(self, events: Iterable[Mapping[str, Any]]) -> builtins.list[Appended]:
        """Append a batch atomically (1 to 10,000 events, each a mapping of ``create``'s
        arguments); the acknowledgements in the same order."""
        return await self._client._call(append_call(events))

    def list(
        self, *, after: int | None = None, limit: int | None = None, **filters: Unpack[EventFilters]
    ) -> AsyncPager[Event]:
        """Every matching event in position order with ``async for``, ``limit`` per page."""
        params = filter_params(filters)
        return self._client._paginate(lambda cursor: list_page_call(cursor, after, limit, params))

    async def list_page(
        self,
        *,
        cursor: str | None = None,
        after: int | None = None,
        limit: int | None = None,
        **filters: Unpack[EventFilters],
    ) -> Page[Event]:
        """One page of matching events, from ``cursor`` (the first page without one)."""
        return await self._client._call(
            list_page_call(cursor, after, limit, filter_params(filters))
        )

    @overload
    async def export(
        self,
        destination: None = None,
        *,
        format: Literal["ndjson"] = "ndjson",
        after: int | None = None,
        **filters: Unpack[EventFilters],
    ) -> AsyncStream[Event]: ...
    @overload
    async def export(
        self,
        destination: None = None,
        *,
        format: Literal["csv"],
        after: int | None = None,
        **filters: Unpack[EventFilters],
    ) -> AsyncStream[str]: ...
    @overload
    async def export(
        self,
        destination: Destination,
        *,
        format: ExportFormat = "ndjson",
        after: int | None = None,
        **filters: Unpack[EventFilters],
    ) -> int: ...
    async def export(
        self,
        destination: Destination | None = None,
        *,
        format: ExportFormat = "ndjson",
        after: int | None = None,
        **filters: Unpack[EventFilters],
    ) -> AsyncStream[Event] | AsyncStream[str] | int:
        """Every matching event as one streamed answer, in constant memory: written to a
        path or binary file (the number of bytes), else an async iterator of events (NDJSON)
        or of lines (CSV, header first)."""
        call = export_call(format, after, filters)
        response = await self._client._send(call, stream=True)
        if destination is not None:
            return await adownload(response, destination)
        if format == "csv":
            return AsyncStream(response, raw, decode=raw)
        return AsyncStream(response, call.parse)

    def subscribe(
        self,
        after: int | None = None,
        *,
        subscription: str | None = None,
        max_reconnects: int | None = None,
        **filters: Unpack[EventFilters],
    ) -> AsyncIterator[Event]:
        """Every matching event after ``after`` (or the ``subscription``'s checkpoint), then
        each new one as it is appended; reconnects by itself, resuming where it was."""
        resumption = Resumption(
            filter_params(filters), after, subscription, max_reconnects, self._client._retry
        )
        return self._follow(resumption)

    async def _follow(self, resumption: Resumption) -> AsyncIterator[Event]:
        while True:
            error: StickyError | None = None
            try:
                response = await self._client._send(resumption.call(), stream=True)
                try:
                    lines = LineBuffer()
                    async for chunk in response.aiter_bytes():
                        for line in lines.feed(chunk):
                            event = parse_line(line)
                            if event is not None and resumption.fresh(event):
                                yield event
                finally:
                    await response.aclose()
            except httpx.RequestError as exc:
                error = connection_error(exc)
            except RECOVERABLE as exc:
                error = exc
            await self._client._sleep(resumption.reconnect_delay(error))

    async def stats(
        self,
        group_by: Sequence[str] | str = (),
        *,
        type: str | Sequence[str] | None = None,
        application_id: str | None = None,
        thing_id: str | None = None,
        created_from: datetime | str | None = None,
        created_to: datetime | str | None = None,
    ) -> builtins.list[StatsRow]:
        """Counts and ``total`` sums of matching events, grouped by any of ``day``, ``hour``,
        ``type``, ``thing``, ``application``."""
        call = stats_call(group_by, type, application_id, thing_id, created_from, created_to)
        return await self._client._call(call)

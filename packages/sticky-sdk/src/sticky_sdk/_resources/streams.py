"""``sticky.streams``: the events of one stream (``payment-<id>``), in version order.

The platform pages a stream from its start; ``after_version`` is applied to the pages as
they arrive (docs/events.md names no query for it), so reading the tail of a long stream
still fetches the pages before it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from typing import Any

from sticky_sdk._calls import Call, path
from sticky_sdk._models import Appended, Event, appended_list
from sticky_sdk._pagination import AsyncPager, Page, Pager, page_of
from sticky_sdk._resources._base import AsyncResource, SyncResource
from sticky_sdk._resources._event_input import STREAM_EVENT_KEYS, batch_body

_read_page = page_of(Event.from_json)


def _after(version: int | None) -> Callable[[Any], Page[Event]]:
    def read(data: Any) -> Page[Event]:
        page = _read_page(data)
        if version is None:
            return page
        kept = tuple(e for e in page.data if e.version is None or e.version > version)
        return replace(page, data=kept)

    return read


def read_page_call(
    stream: str, cursor: str | None, after_version: int | None, limit: int | None
) -> Call[Page[Event]]:
    params = {"limit": limit, "cursor": cursor}
    return Call("GET", path("/v1/streams/{}", stream), _after(after_version), params=params)


def append_call(
    stream: str, events: Iterable[Mapping[str, Any]], expected_version: int | None
) -> Call[list[Appended]]:
    body: dict[str, Any] = {"events": batch_body(events, STREAM_EVENT_KEYS)}
    if expected_version is not None:
        body["expectedVersion"] = expected_version
    return Call("POST", path("/v1/streams/{}", stream), appended_list, json=body)


class Streams(SyncResource):
    """Streams of the event log."""

    def read(
        self, stream: str, *, after_version: int | None = None, limit: int | None = None
    ) -> Pager[Event]:
        """The stream's events after ``after_version`` (from 0 without one), page by page."""
        return self._client._paginate(
            lambda cursor: read_page_call(stream, cursor, after_version, limit)
        )

    def read_page(
        self,
        stream: str,
        *,
        cursor: str | None = None,
        after_version: int | None = None,
        limit: int | None = None,
    ) -> Page[Event]:
        """One page of the stream's events, from ``cursor`` (the first page without one)."""
        return self._client._call(read_page_call(stream, cursor, after_version, limit))

    def append(
        self,
        stream: str,
        events: Iterable[Mapping[str, Any]],
        *,
        expected_version: int | None = None,
    ) -> list[Appended]:
        """Append events to the stream atomically; ``expected_version`` -1: it must not exist
        yet, n: its last version must be n (else ``WrongExpectedVersionError``)."""
        return self._client._call(append_call(stream, events, expected_version))


class AsyncStreams(AsyncResource):
    """Streams of the event log."""

    def read(
        self, stream: str, *, after_version: int | None = None, limit: int | None = None
    ) -> AsyncPager[Event]:
        """The stream's events after ``after_version`` with ``async for``, page by page."""
        return self._client._paginate(
            lambda cursor: read_page_call(stream, cursor, after_version, limit)
        )

    async def read_page(
        self,
        stream: str,
        *,
        cursor: str | None = None,
        after_version: int | None = None,
        limit: int | None = None,
    ) -> Page[Event]:
        """One page of the stream's events, from ``cursor`` (the first page without one)."""
        return await self._client._call(read_page_call(stream, cursor, after_version, limit))

    async def append(
        self,
        stream: str,
        events: Iterable[Mapping[str, Any]],
        *,
        expected_version: int | None = None,
    ) -> list[Appended]:
        """Append events to the stream atomically; ``expected_version`` -1: it must not exist
        yet, n: its last version must be n (else ``WrongExpectedVersionError``)."""
        return await self._client._call(append_call(stream, events, expected_version))

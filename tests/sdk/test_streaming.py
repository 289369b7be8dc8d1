"""The streaming core later resources build on: NDJSON read line by line as it arrives."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from sticky_sdk import (
    APIConnectionError,
    APIResponseValidationError,
    AsyncSticky,
    NotFoundError,
    Sticky,
)
from sticky_sdk._calls import Call

CHUNKS = [
    b'{"position": 1, "type": "SESSION_READ"}\n{"posi',
    b'tion": 2}\n',
    b"\n",
    b'{"position"',
    b": 3}",
]


def events_call() -> Call[int]:
    def position(line: Any) -> int:
        return int(line["position"])

    return Call("GET", "/v1/events/stream", position, params={"after": 0})


class SyncChunks(httpx.SyncByteStream):
    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks
        self.closed = False

    def __iter__(self) -> Iterator[bytes]:
        yield from self.chunks

    def close(self) -> None:
        self.closed = True


class AsyncChunks(httpx.AsyncByteStream):
    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks
        self.closed = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self.chunks:
            yield chunk

    async def aclose(self) -> None:
        self.closed = True


def test_lines_are_read_across_chunks() -> None:
    body = SyncChunks(CHUNKS)
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, stream=body, headers={"content-type": "application/x-ndjson"})

    sticky = Sticky("http://sticky.test", transport=httpx.MockTransport(handler))
    with sticky._stream(events_call()) as stream:
        assert stream.headers["content-type"] == "application/x-ndjson"
        assert not body.closed
        assert list(stream) == [1, 2, 3]
    assert body.closed
    assert seen[0].url.params["after"] == "0"


async def test_async_lines_are_read_across_chunks() -> None:
    body = AsyncChunks(CHUNKS)

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, stream=body)

    sticky = AsyncSticky("http://sticky.test", transport=httpx.MockTransport(handler))
    async with await sticky._stream(events_call()) as stream:
        assert [position async for position in stream] == [1, 2, 3]
    assert body.closed


def test_an_error_answer_is_raised_before_streaming() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        problem = b'{"type": "https://sticky.dev/problems/not-found", "status": 404}'
        return httpx.Response(404, stream=SyncChunks([problem]))

    sticky = Sticky("http://sticky.test", transport=httpx.MockTransport(handler))
    with pytest.raises(NotFoundError):
        sticky._stream(events_call())


def test_a_line_that_is_not_json_is_reported() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, stream=SyncChunks([b'{"position": 1}\n<html>\n']))

    sticky = Sticky("http://sticky.test", transport=httpx.MockTransport(handler))
    stream = sticky._stream(events_call())
    items = iter(stream)
    assert next(items) == 1
    with pytest.raises(APIResponseValidationError, match="not JSON"):
        next(items)


def test_a_connection_lost_mid_stream_is_translated() -> None:
    class Broken(httpx.SyncByteStream):
        def __iter__(self) -> Iterator[bytes]:
            yield b'{"position": 1}\n'
            raise httpx.ReadError("connection reset")

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, stream=Broken())

    sticky = Sticky("http://sticky.test", transport=httpx.MockTransport(handler))
    with pytest.raises(APIConnectionError, match="connection reset"):
        list(sticky._stream(events_call()))

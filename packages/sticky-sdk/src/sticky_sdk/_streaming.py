"""Streamed answers: NDJSON read line by line, in constant memory, as the platform sends it.

A resource that streams returns a :class:`Stream` (or :class:`AsyncStream`) from the
client's ``_stream(call)``; each line is read by the call's ``parse``. Close the stream (or
use it as a context manager) to release the connection when stopping early.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator
from types import TracebackType
from typing import Any, Generic, TypeVar

import httpx

from sticky_sdk._exceptions import APIResponseValidationError, connection_error

T = TypeVar("T")


def _line(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        raise APIResponseValidationError(f"A streamed line is not JSON: {text[:80]!r}") from None


class Stream(Generic[T]):
    """The items of a streamed answer, one NDJSON line each."""

    def __init__(self, response: httpx.Response, parse: Callable[[Any], T]) -> None:
        self._response = response
        self._parse = parse

    @property
    def headers(self) -> httpx.Headers:
        return self._response.headers

    def __iter__(self) -> Iterator[T]:
        try:
            for text in self._response.iter_lines():
                if text.strip():
                    yield self._parse(_line(text))
        except httpx.RequestError as exc:
            raise connection_error(exc) from exc
        finally:
            self.close()

    def close(self) -> None:
        self._response.close()

    def __enter__(self) -> Stream[T]:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


class AsyncStream(Generic[T]):
    """The items of a streamed answer, one NDJSON line each, with ``async for``."""

    def __init__(self, response: httpx.Response, parse: Callable[[Any], T]) -> None:
        self._response = response
        self._parse = parse

    @property
    def headers(self) -> httpx.Headers:
        return self._response.headers

    async def __aiter__(self) -> AsyncIterator[T]:
        try:
            async for text in self._response.aiter_lines():
                if text.strip():
                    yield self._parse(_line(text))
        except httpx.RequestError as exc:
            raise connection_error(exc) from exc
        finally:
            await self.aclose()

    async def aclose(self) -> None:
        await self._response.aclose()

    async def __aenter__(self) -> AsyncStream[T]:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

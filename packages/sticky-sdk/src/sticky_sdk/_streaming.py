"""Streamed answers: NDJSON read line by line, in constant memory, as the platform sends it.

A resource that streams returns a :class:`Stream` (or :class:`AsyncStream`) from the
client's ``_stream(call)``; each line is read by the call's ``parse`` (or handed over as
text with ``decode=raw``, for CSV). Close the stream (or use it as a context manager) to
release the connection when stopping early. :func:`download` and :func:`adownload` copy an
answer's bytes to a file as they arrive.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Generic, TypeVar

import httpx

from sticky_sdk._exceptions import APIResponseValidationError, connection_error

T = TypeVar("T")


def _line(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        raise APIResponseValidationError(f"A streamed line is not JSON: {text[:80]!r}") from None


def raw(text: str) -> str:
    """A line as it came, for answers that are not NDJSON."""
    return text


Destination = str | os.PathLike[str] | IO[bytes]


class Stream(Generic[T]):
    """The items of a streamed answer, one NDJSON line each."""

    def __init__(
        self,
        response: httpx.Response,
        parse: Callable[[Any], T],
        decode: Callable[[str], Any] = _line,
    ) -> None:
        self._response = response
        self._parse = parse
        self._decode = decode

    @property
    def headers(self) -> httpx.Headers:
        return self._response.headers

    def __iter__(self) -> Iterator[T]:
        try:
            for text in self._response.iter_lines():
                if text.strip():
                    yield self._parse(self._decode(text))
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

    def __init__(
        self,
        response: httpx.Response,
        parse: Callable[[Any], T],
        decode: Callable[[str], Any] = _line,
    ) -> None:
        self._response = response
        self._parse = parse
        self._decode = decode

    @property
    def headers(self) -> httpx.Headers:
        return self._response.headers

    async def __aiter__(self) -> AsyncIterator[T]:
        try:
            async for text in self._response.aiter_lines():
                if text.strip():
                    yield self._parse(self._decode(text))
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


@contextlib.contextmanager
def _opened(destination: Destination) -> Iterator[IO[bytes]]:
    """The file to write to: a path is opened (and removed again if the copy fails)."""
    if not isinstance(destination, str | os.PathLike):
        yield destination
        return
    path = Path(destination)
    try:
        with path.open("wb") as file:
            yield file
    except BaseException:
        path.unlink(missing_ok=True)
        raise


def download(response: httpx.Response, destination: Destination) -> int:
    """Copy the answer's bytes to ``destination`` as they arrive; the number written."""
    written = 0
    try:
        with _opened(destination) as file:
            for chunk in response.iter_bytes():
                file.write(chunk)
                written += len(chunk)
    except httpx.RequestError as exc:
        raise connection_error(exc) from exc
    finally:
        response.close()
    return written


async def adownload(response: httpx.Response, destination: Destination) -> int:
    """:func:`download` for an async answer (the writes are local and short, so inline)."""
    written = 0
    try:
        with _opened(destination) as file:
            async for chunk in response.aiter_bytes():
                file.write(chunk)
                written += len(chunk)
    except httpx.RequestError as exc:
        raise connection_error(exc) from exc
    finally:
        await response.aclose()
    return written

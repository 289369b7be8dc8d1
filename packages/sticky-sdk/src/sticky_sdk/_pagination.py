"""Cursor pagination: one :class:`Page`, and pagers that follow ``nextCursor`` to the end.

Every list answers ``{"data": [...], "hasMore": bool, "nextCursor": str | null}``. A pager
fetches nothing until it is iterated, then one page at a time, so memory stays constant
however long the list.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sticky_sdk._exceptions import APIResponseValidationError
from sticky_sdk._parsing import Fields

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list, and the cursor of the next one."""

    data: tuple[T, ...]
    has_more: bool
    next_cursor: str | None = None

    def __iter__(self) -> Iterator[T]:
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)

    @classmethod
    def from_json(cls, data: object, item: Callable[[Any], T]) -> Page[T]:
        f = Fields(data, "Page")
        return cls(
            data=tuple(item(entry) for entry in f.items("data")),
            has_more=f.boolean("hasMore"),
            next_cursor=f.optional_text("nextCursor"),
        )


def page_of(item: Callable[[Any], T]) -> Callable[[Any], Page[T]]:
    """A reader of pages whose entries ``item`` reads."""

    def read(data: Any) -> Page[T]:
        return Page.from_json(data, item)

    return read


def _next_cursor(page: Page[Any], cursor: str | None) -> str | None:
    if not page.has_more or not page.next_cursor:
        return None
    if page.next_cursor == cursor:
        raise APIResponseValidationError(
            "The platform answered the cursor it was given as the next one; stopping."
        )
    return page.next_cursor


class Pager(Generic[T]):
    """Every item of a list, across pages. Iterate it, or walk :meth:`pages`."""

    def __init__(self, fetch: Callable[[str | None], Page[T]]) -> None:
        self._fetch = fetch

    def __iter__(self) -> Iterator[T]:
        for page in self.pages():
            yield from page.data

    def pages(self) -> Iterator[Page[T]]:
        cursor: str | None = None
        while True:
            page = self._fetch(cursor)
            yield page
            cursor = _next_cursor(page, cursor)
            if cursor is None:
                return


class AsyncPager(Generic[T]):
    """Every item of a list, across pages, with ``async for``; or walk :meth:`pages`."""

    def __init__(self, fetch: Callable[[str | None], Awaitable[Page[T]]]) -> None:
        self._fetch = fetch

    async def __aiter__(self) -> AsyncIterator[T]:
        async for page in self.pages():
            for item in page.data:
                yield item

    async def pages(self) -> AsyncIterator[Page[T]]:
        cursor: str | None = None
        while True:
            page = await self._fetch(cursor)
            yield page
            cursor = _next_cursor(page, cursor)
            if cursor is None:
                return

"""A process's short-lived copy of rows the tap reads on every request.

Entries live ``seconds``. Taps arriving together must never all go to the database at once:
when the entries of a busy sticker expired, every tap in flight missed at the same moment
and queued for the few pooled connections (a 100-250 ms stall for all of them, every
``seconds``). So an entry used in the last ``refresh`` seconds of its life is read again in
the background while it still answers, and a miss (a first use, or an entry left to expire)
is read once however many taps ask for it meanwhile. A value is never answered past its
expiry: another replica's change is seen within ``seconds``, as without the refresh.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

import structlog

log = structlog.get_logger("sticky.api.cache")

V = TypeVar("V")


class ReadThrough(Generic[V]):
    """``await get(key)``: the cached value, or ``load(key)``'s, read once for every caller."""

    def __init__(
        self,
        load: Callable[[str], Awaitable[V]],
        *,
        seconds: float,
        refresh: float,
        size: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 0 <= refresh < seconds:
            raise ValueError("refresh must be at least 0 and less than seconds")
        self._load = load
        self._seconds = seconds
        self._refresh = refresh
        self._size = size
        self._clock = clock
        self._entries: OrderedDict[str, tuple[float, V]] = OrderedDict()
        self._loading: dict[str, asyncio.Task[V]] = {}

    async def get(self, key: str) -> V:
        entry = self._entries.get(key)
        if entry is not None:
            expires, value = entry
            now = self._clock()
            if now < expires:
                if now >= expires - self._refresh and key not in self._loading:
                    self._start(key, background=True)
                return value
        task = self._loading.get(key) or self._start(key, background=False)
        # Shielded: a caller that goes away (its client hung up) must not cancel the read
        # the other callers are waiting for.
        return await asyncio.shield(task)

    def forget(self, key: str) -> None:
        """Drop ``key`` now (this process changed it); a read in flight is not kept either."""
        self._entries.pop(key, None)
        self._loading.pop(key, None)

    def close(self) -> None:
        """Cancel the reads in flight (the database is closing)."""
        for task in self._loading.values():
            task.cancel()
        self._loading.clear()

    def _start(self, key: str, *, background: bool) -> asyncio.Task[V]:
        task = asyncio.create_task(self._read(key), name=f"cache-read-{key}")
        task.add_done_callback(_note_refresh_failure if background else _retrieve)
        self._loading[key] = task
        return task

    async def _read(self, key: str) -> V:
        try:
            value = await self._load(key)
        finally:
            # Not ours any more when forgotten meanwhile: the value may predate the change.
            kept = self._loading.get(key) is asyncio.current_task()
            if kept:
                del self._loading[key]
        if kept:
            self._entries[key] = (self._clock() + self._seconds, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)
        return value


def _note_refresh_failure(task: asyncio.Task[object]) -> None:
    """A background refresh that failed: the entry answers until it expires, and the next use
    in its last moments reads again."""
    if not task.cancelled() and (error := task.exception()) is not None:
        log.warning("cache refresh failed", error=f"{type(error).__name__}: {error}")


def _retrieve(task: asyncio.Task[object]) -> None:
    """A read's failure reaches its callers; this keeps asyncio from also reporting it as
    never retrieved when every caller went away first."""
    if not task.cancelled():
        task.exception()

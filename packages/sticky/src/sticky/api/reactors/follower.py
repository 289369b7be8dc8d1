"""Following a durable subscription of the events service; reading a stream and the log's head.

A :class:`Follower` asks ``/v1/events/subscribe?subscription=<name>`` for every event after the
subscription's checkpoint (NDJSON), hands them to its handler in batches (whatever has arrived
while the previous batch was handled), and saves the checkpoint after they are handled, at
most twice a second. Killed at any moment, it starts again from the last saved checkpoint: the
handler sees an event at least once, so it must be idempotent. A handler that raises stops
the batch from counting as handled; the follower reconnects (with backoff) and gets it again.

It asks for fixed ``types``, or for those :class:`~sticky.api.reactors.wanted.WantedTypes`
chooses: checked again at each checkpoint, a change reconnects at once with the new filter
(and no stream at all while nothing is wanted), and the checkpoint saved is the one that
choice says is safe.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import structlog

from sticky.api.reactors.wanted import WantedTypes
from sticky.kernel.waiting import cancel_and_wait, within

log = structlog.get_logger("sticky.api.reactors")

Event = dict[str, Any]
Handler = Callable[[list[Event]], Awaitable[None]]
Headers = Callable[[], Awaitable[dict[str, str]]]
NDJSON = "application/x-ndjson"
_END = object()


@dataclass(frozen=True)
class FollowerTiming:
    checkpoint_seconds: float = 0.5  # save the checkpoint at most this often
    max_batch: int = 500
    first_retry_seconds: float = 0.5
    max_retry_seconds: float = 30.0
    read_timeout_seconds: float = 60.0  # the events service sends a keep-alive every 15 s


class Follower:
    def __init__(
        self,
        name: str,
        events: httpx.AsyncClient,
        headers: Headers,
        handle: Handler,
        *,
        types: Sequence[str] | WantedTypes = (),
        timing: FollowerTiming | None = None,
        forget_token: Callable[[], None] = lambda: None,
    ) -> None:
        self.name = name
        self._events = events
        self._headers = headers
        self._handle = handle
        self.wanted = types if isinstance(types, WantedTypes) else None
        self._types = () if isinstance(types, WantedTypes) else tuple(types)
        self._timing = timing or FollowerTiming()
        self._forget_token = forget_token
        self.position: int | None = None  # the last position handled
        self._saved: int | None = None
        self._ticked_at = 0.0
        self.handled = 0  # events handed to the handler (replays included)

    async def run(self) -> None:
        """Follow until cancelled, reconnecting after any failure."""
        failures = 0
        while True:
            try:
                await self.follow_once()
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failures += 1
                log.warning(
                    "subscription interrupted",
                    subscription=self.name,
                    position=self.position,
                    error=f"{type(exc).__name__}: {exc}",
                )
            delay = min(
                self._timing.max_retry_seconds,
                self._timing.first_retry_seconds * 2.0 ** max(failures - 1, 0),
            )
            await asyncio.sleep(delay)

    async def follow_once(self) -> None:
        """Catch up, then follow, until the connection ends or fails; a change of the types
        wanted reconnects at once."""
        if self.position is None:
            self.position = self._saved = await self._checkpoint()
        await self._check()
        while await self._connection():
            pass

    async def _connection(self) -> bool:
        """One connection (none while nothing is wanted); True: reconnect, the types changed."""
        assert self.position is not None
        if self.wanted is not None and self.wanted.nothing:
            return await self._idle()
        params: dict[str, Any] = {"subscription": self.name, "after": self.position}
        types = self._types if self.wanted is None else self.wanted.types
        if types:
            params["type"] = ",".join(sorted(types))
        headers = {**(await self._headers()), "Accept": NDJSON}
        timeout = httpx.Timeout(10.0, read=self._timing.read_timeout_seconds)
        async with self._events.stream(
            "GET", "/v1/events/subscribe", params=params, headers=headers, timeout=timeout
        ) as response:
            check_answer(response, self._forget_token)
            queue: asyncio.Queue[object] = asyncio.Queue(maxsize=self._timing.max_batch * 4)
            reader = asyncio.create_task(self._read(response, queue))
            try:
                return await self._consume(queue)
            finally:
                await cancel_and_wait(reader)

    async def _idle(self) -> bool:
        """Wait, checking, until something is wanted; the checkpoint follows the head."""
        assert self.wanted is not None
        while self.wanted.nothing:
            await self._save()
            await asyncio.sleep(self._timing.checkpoint_seconds)
            await self._check()
        return True

    async def _read(self, response: httpx.Response, queue: asyncio.Queue[object]) -> None:
        try:
            async for line in response.aiter_lines():
                await queue.put(line)
            await queue.put(_END)
        except Exception as exc:
            await queue.put(exc)

    async def _consume(self, queue: asyncio.Queue[object]) -> bool:
        """Hand over batches until the stream ends (False) or the types wanted change (True)."""
        while True:
            try:
                first = await within(self._timing.checkpoint_seconds, queue.get())
            except TimeoutError:
                if await self._tick():
                    return True
                continue
            batch, ended = [first], False
            while len(batch) < self._timing.max_batch and not queue.empty():
                batch.append(queue.get_nowait())
            events: list[Event] = []
            for item in batch:
                if item is _END:
                    ended = True
                    break
                if isinstance(item, BaseException):
                    await self._handle_batch(events)
                    raise item
                if isinstance(item, str) and item.strip():
                    events.append(orjson.loads(item))
            await self._handle_batch(events)
            if ended:
                await self._save()
                return False
            if await self._tick():
                return True

    async def _handle_batch(self, events: list[Event]) -> None:
        if not events:
            return
        await self._handle(events)
        self.handled += len(events)
        self.position = int(events[-1]["position"])

    async def _checkpoint(self) -> int:
        response = await self._events.get(
            f"/v1/events/subscriptions/{self.name}", headers=await self._headers()
        )
        check_answer(response, self._forget_token)
        return int(response.json()["position"])

    async def _tick(self) -> bool:
        """At most once per ``checkpoint_seconds``: check the types wanted, then save the
        checkpoint. True: the types changed, reconnect."""
        if time.monotonic() - self._ticked_at < self._timing.checkpoint_seconds:
            return False
        changed = await self._check()
        await self._save()
        return changed

    async def _check(self) -> bool:
        """Ask again which types are wanted (when they can change); True if they did."""
        self._ticked_at = time.monotonic()
        if self.wanted is None or self.position is None:
            return False
        check = await self.wanted.check(self.position)
        self.position = check.position
        if check.changed:
            types = None if self.wanted.types is None else sorted(self.wanted.types)
            log.info("following these types", subscription=self.name, types=types)
        return check.changed

    async def _save(self) -> None:
        if self.position is None:
            return
        safe = self.position if self.wanted is None else self.wanted.safe(self.position)
        if safe == self._saved:
            return
        response = await self._events.put(
            f"/v1/events/subscriptions/{self.name}",
            json={"position": safe},
            headers=await self._headers(),
        )
        check_answer(response, self._forget_token)
        self._saved = safe


def check_answer(response: httpx.Response, forget_token: Callable[[], None]) -> None:
    """Raise ``EventsUnavailable`` unless the events service answered well; a 401 also forgets
    the service token, so the next request asks auth for a new one."""
    if response.status_code == 401:
        forget_token()
    if not response.is_success:
        raise EventsUnavailable(f"the events service answered {response.status_code}")


class EventsUnavailable(Exception):
    """The events service did not answer as it should; the caller tries again later."""


class StreamReader:
    """Reads one stream's events (``payment-<id>``) for a user, as a service."""

    def __init__(self, events: httpx.AsyncClient, headers: Headers) -> None:
        self._events = events
        self._headers = headers

    async def read(self, user_id: str, stream: str) -> list[Event]:
        found: list[Event] = []
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"userId": user_id, "limit": 1000}
            if cursor is not None:
                params["cursor"] = cursor
            response = await self._events.get(
                f"/v1/streams/{stream}", params=params, headers=await self._headers()
            )
            if not response.is_success:
                raise EventsUnavailable(
                    f"reading {stream}: the events service answered {response.status_code}"
                )
            page = response.json()
            found.extend(page["data"])
            cursor = page.get("nextCursor")
            if not page.get("hasMore") or cursor is None:
                return found


class LogHead:
    """Reads the log's last position (``/v1/events/head``), as a service."""

    def __init__(
        self,
        events: httpx.AsyncClient,
        headers: Headers,
        forget_token: Callable[[], None] = lambda: None,
    ) -> None:
        self._events = events
        self._headers = headers
        self._forget_token = forget_token

    async def read(self) -> int:
        response = await self._events.get("/v1/events/head", headers=await self._headers())
        check_answer(response, self._forget_token)
        return int(response.json()["position"])

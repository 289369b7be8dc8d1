"""Following a durable subscription of the events service, and reading a stream's events.

A :class:`Follower` asks ``/v1/events/subscribe?subscription=<name>`` for every event after the
subscription's checkpoint (NDJSON), hands them to its handler in batches (whatever has arrived
while the previous batch was handled), and saves the checkpoint after they are handled, at
most twice a second. Killed at any moment, it starts again from the last saved checkpoint: the
handler sees an event at least once, so it must be idempotent. A handler that raises stops
the batch from counting as handled; the follower reconnects (with backoff) and gets it again.
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
        types: Sequence[str] = (),
        timing: FollowerTiming | None = None,
        forget_token: Callable[[], None] = lambda: None,
    ) -> None:
        self.name = name
        self._events = events
        self._headers = headers
        self._handle = handle
        self._types = tuple(types)
        self._timing = timing or FollowerTiming()
        self._forget_token = forget_token
        self.position: int | None = None  # the last position handled
        self._saved: int | None = None
        self._saved_at = 0.0
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
        """One connection: catch up, then follow, until it ends or fails."""
        if self.position is None:
            self.position = self._saved = await self._checkpoint()
        params: dict[str, Any] = {"subscription": self.name, "after": self.position}
        if self._types:
            params["type"] = ",".join(self._types)
        headers = {**(await self._headers()), "Accept": NDJSON}
        timeout = httpx.Timeout(10.0, read=self._timing.read_timeout_seconds)
        async with self._events.stream(
            "GET", "/v1/events/subscribe", params=params, headers=headers, timeout=timeout
        ) as response:
            self._check(response)
            queue: asyncio.Queue[object] = asyncio.Queue(maxsize=self._timing.max_batch * 4)
            reader = asyncio.create_task(self._read(response, queue))
            try:
                await self._consume(queue)
            finally:
                await cancel_and_wait(reader)

    async def _read(self, response: httpx.Response, queue: asyncio.Queue[object]) -> None:
        try:
            async for line in response.aiter_lines():
                await queue.put(line)
            await queue.put(_END)
        except Exception as exc:
            await queue.put(exc)

    async def _consume(self, queue: asyncio.Queue[object]) -> None:
        while True:
            try:
                first = await within(self._timing.checkpoint_seconds, queue.get())
            except TimeoutError:
                await self._save()
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
                return
            if time.monotonic() - self._saved_at >= self._timing.checkpoint_seconds:
                await self._save()

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
        self._check(response)
        return int(response.json()["position"])

    async def _save(self) -> None:
        if self.position is None or self.position == self._saved:
            return
        response = await self._events.put(
            f"/v1/events/subscriptions/{self.name}",
            json={"position": self.position},
            headers=await self._headers(),
        )
        self._check(response)
        self._saved, self._saved_at = self.position, time.monotonic()

    def _check(self, response: httpx.Response) -> None:
        if response.status_code == 401:
            self._forget_token()
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

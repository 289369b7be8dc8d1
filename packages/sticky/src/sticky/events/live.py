"""Following the log: catch up in batches, then wait for new positions and send them.

Another replica may append at any time, so followers poll the store (every
``poll_seconds``); appends made by this process also wake them at once, so the common case
has no polling delay. Every follower ends when the client goes away (the response is
cancelled) or when the app shuts down (``Follow.stop``).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, replace
from types import FrameType

from sticky.events.domain import EventFilter, StoredEvent
from sticky.events.port import EventStore
from sticky.kernel.waiting import wait_event

BATCH = 500


class Appends:
    """Wakes this process's followers when it has appended."""

    def __init__(self) -> None:
        self._next = asyncio.Event()
        self.stopping = asyncio.Event()

    def mark(self) -> asyncio.Event:
        """Taken before a read: it is set by any append after that read began."""
        return self._next

    def notify(self) -> None:
        self._next.set()
        self._next = asyncio.Event()

    def stop(self) -> None:
        self.stopping.set()
        self.notify()

    async def wait(self, mark: asyncio.Event, seconds: float) -> None:
        """Until an append since ``mark`` was taken, a stop, or ``seconds``."""
        if self.stopping.is_set():
            return
        await wait_event(mark, seconds)


@contextlib.contextmanager
def stopped_by_signals(appends: Appends) -> Iterator[None]:
    """End every follower as soon as the process is told to stop.

    uvicorn waits for open responses before it runs the lifespan's shutdown, so without this
    a follower would hold a stopping process until the graceful timeout cancels it. The
    server's own handlers still run after ours.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    loop = asyncio.get_running_loop()
    signals = (signal.SIGTERM, signal.SIGINT)
    previous = {sig: signal.getsignal(sig) for sig in signals}

    def handler(sig: int, frame: FrameType | None) -> None:
        loop.call_soon_threadsafe(appends.stop)
        chained = previous[signal.Signals(sig)]
        if callable(chained):
            chained(sig, frame)
        elif chained == signal.SIG_DFL:
            signal.signal(sig, signal.SIG_DFL)
            signal.raise_signal(sig)

    for sig in signals:
        signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, before in previous.items():
            if signal.getsignal(sig) is handler and before is not None:
                signal.signal(sig, before)


@dataclass(frozen=True)
class Timing:
    poll_seconds: float = 0.1
    heartbeat_seconds: float = 15.0


Item = StoredEvent | None  # None: nothing new for a while, send a heartbeat


async def follow(
    store: EventStore, where: EventFilter, appends: Appends, timing: Timing
) -> AsyncIterator[Item]:
    """Every matching event after ``where.after`` in position order, then each new one.

    A filter can match few events of many (a type among the taps): each read then starts from
    the head read just before it, not from the last match, or every wake-up would walk every
    event since that match again. That is safe because positions become visible in order: a
    read that began after the head was read sees every event up to it, so when it returns
    less than a page, no match up to the head is left.
    """
    position = where.after
    # Only a filter beyond the user can skip events: without one, the last match is the head.
    selective = replace(where, after=0) != EventFilter(user_id=where.user_id)
    loop = asyncio.get_running_loop()
    quiet_since = loop.time()
    while not appends.stopping.is_set():
        mark = appends.mark()
        head = await store.last_position() if selective else 0
        events = await store.read(replace(where, after=position), BATCH)
        for event in events:
            yield event
        if events:
            position = events[-1].position
            quiet_since = loop.time()
            if len(events) == BATCH:
                continue
        position = max(position, head)
        if loop.time() - quiet_since >= timing.heartbeat_seconds:
            quiet_since = loop.time()
            yield None
        await appends.wait(mark, timing.poll_seconds)


def framed(
    items: AsyncIterator[Item], frame: Callable[[StoredEvent], bytes], heartbeat: bytes
) -> AsyncIterator[bytes]:
    async def frames() -> AsyncIterator[bytes]:
        async for item in items:
            yield heartbeat if item is None else frame(item)

    return frames()

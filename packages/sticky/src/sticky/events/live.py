"""Following the log: catch up in batches, then wait for new positions and send them.

Another replica may append at any time, so followers poll the store (every
``poll_seconds``); appends made by this process also wake them at once, so the common case
has no polling delay. A follower woken by appends it can tell from here do not concern it
(say, taps, for a follower of payments) moves past them without a query. Every follower
ends when the client goes away (the response is cancelled) or when the app shuts down
(``Follow.stop``).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from types import FrameType

from sticky.events.domain import EventFilter, NewEvent, StoredEvent
from sticky.events.port import EventStore
from sticky.kernel.waiting import wait_event

BATCH = 500
# How many of this process's latest appended events it remembers for its followers.
REMEMBERED = 5_000


class Appends:
    """Wakes this process's followers when it has appended, and remembers what it appended.

    Positions become visible in order, so once this process has appended position ``p``,
    every position before it is in the log too. A follower at ``after`` whose every position
    from ``after + 1`` to the last one remembered here was appended by this process, none of
    them matching its filter, can move to that last one without reading: nothing it wants
    can be hidden in between. Any gap (another replica's events, memory that no longer
    reaches back that far) and it reads the store as ever.
    """

    def __init__(self, remembered: int = REMEMBERED) -> None:
        self._next = asyncio.Event()
        self.stopping = asyncio.Event()
        self._recent: dict[int, Seen] = {}
        self._order: deque[int] = deque()
        self._remembered = remembered
        self._last = 0

    def mark(self) -> asyncio.Event:
        """Taken before a read: it is set by any append after that read began."""
        return self._next

    def notify(self, appended: Iterable[tuple[int, NewEvent]] = ()) -> None:
        """Wakes the followers; ``appended``: the (position, event) pairs just committed."""
        for position, event in appended:
            if position in self._recent:
                continue
            self._recent[position] = Seen.of(event)
            self._order.append(position)
            self._last = max(self._last, position)
        while len(self._order) > self._remembered:
            del self._recent[self._order.popleft()]
        self._next.set()
        self._next = asyncio.Event()

    def passed(self, where: EventFilter, after: int) -> int | None:
        """Where a follower at ``after`` may move without reading, or None if it must read."""
        last = self._last
        if last <= after or where.created_from is not None or where.created_to is not None:
            return None
        recent = self._recent
        for position in range(after + 1, last + 1):
            event = recent.get(position)
            if event is None or concerns(where, event):
                return None
        return last

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


@dataclass(frozen=True, slots=True)
class Seen:
    """What a filter can ask of an appended event (its custom data is not kept)."""

    type: str
    user_id: str
    application_id: str | None
    thing_id: str | None
    session_id: str | None
    payment_id: str | None
    federated_user_id: str | None

    @classmethod
    def of(cls, event: NewEvent) -> Seen:
        return cls(
            event.type,
            event.user_id,
            event.application_id,
            event.thing_id,
            event.session_id,
            event.payment_id,
            event.federated_user_id,
        )


def concerns(where: EventFilter, event: Seen) -> bool:
    """Whether ``where`` (its time range aside) matches ``event``, as the store's read would."""
    return (
        (not where.types or event.type in where.types)
        and (where.user_id is None or event.user_id == where.user_id)
        and (where.application_id is None or event.application_id == where.application_id)
        and (where.thing_id is None or event.thing_id == where.thing_id)
        and (where.session_id is None or event.session_id == where.session_id)
        and (where.payment_id is None or event.payment_id == where.payment_id)
        and (where.federated_user_id is None or event.federated_user_id == where.federated_user_id)
    )


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
        passed = appends.passed(where, position)
        if passed is not None:
            position = passed
        else:
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

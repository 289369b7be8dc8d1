"""Recording events without holding up a tap, and without ever losing one.

A tap's writes (its session, its ``SESSION_READ`` event) go through one *group commit*: every
request that arrives while a transaction is being written joins the next one, so a burst of
taps costs a handful of fsyncs and statements, not some for each. The event lands in the
api's own outbox table, durable before the tap is answered; :class:`Deliverer` then hands
the outbox to the events service in order, with the city-level location from geo, whenever
it is reachable. An event the events service refuses for good is found by halving the
refused batch, and set aside as a dead letter so it does not hold up every event after it.
"""

from __future__ import annotations

import asyncio
import hashlib
import socket
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import structlog

from sticky.api.store import Store
from sticky.api.store.outbox import PendingEvent
from sticky.api.store.sessions import SessionSeen
from sticky.kernel.outgoing import service_client
from sticky.kernel.service_token import ServiceToken, ServiceTokenError
from sticky.kernel.settings import Settings
from sticky.kernel.waiting import cancel_and_wait, wait_event

log = structlog.get_logger("sticky.api.recorder")

_MAX_GROUP = 2000
# A group this small is written on the event loop's own thread (see ``Store.record_now``):
# well under a millisecond. A larger one (a backlog after a stall) goes to a worker thread.
_INLINE_ROWS = 500
# SQLite's own checkpoint interval is 1,000 pages of WAL; the inline connection never
# checkpoints, so the recorder has one run, from a thread, after about as many rows.
CHECKPOINT_ROWS = 2_000
# SQLite starts its WAL over (writes from its beginning again) only once a checkpoint has
# copied all of it, and a checkpoint that runs beside the writer never has: under steady taps
# the WAL grew for as long as they came, 16 MB a second at 1,000 taps/s, 37 at 3,000. So past
# this many pages (256 MiB of 4 KiB pages) the checkpoint copies the pages it missed, in the
# writers' turn, and the next write starts the WAL over. That turn is two disk flushes, 6-11 ms
# on a young database and 22-30 ms once it holds a few hundred thousand sessions, and every
# tap arriving meanwhile waits: at 64 MiB it came every 2 s at 3,000 taps/s, 1-2% of taps,
# the p99; at 256 MiB, every 7 s.
WAL_LIMIT_PAGES = 65_536

# The events service's answers that no retry changes: the batch itself is malformed, too
# large, invalid, or contradicts the log. 401 and 403 are about our credentials, and 408, 429
# and 5xx about the service's state: those are retried as they are. So is 404: the events
# service never answers it to an append, so it means a wrong URL, not a wrong event.
PERMANENT_REFUSALS = frozenset({400, 409, 413, 422})


@dataclass
class Writes:
    """What one request records: session rows and outbox rows (event id, JSON body)."""

    sessions: list[SessionSeen] = field(default_factory=list)
    events: list[tuple[str, str]] = field(default_factory=list)
    delivered_through: int | None = None  # outbox rows the events service has taken

    def add_events(self, events: list[dict[str, Any]], network: str | None = None) -> Writes:
        """Queue ``events`` for the outbox; ``network`` (an anonymized IP) is to be located."""
        self.events += [
            (e["id"], orjson.dumps({"event": e, "network": network}).decode()) for e in events
        ]
        return self


class Recorder:
    """Group commit: ``await record(writes)`` returns once they are committed.

    Every request waiting while a transaction is written joins the next one, and the whole
    group is written with one statement per table (``executemany``), so the database work
    per tap is a row, not a round trip.
    """

    def __init__(self, store: Store) -> None:
        self._store = store
        self._queue: asyncio.Queue[tuple[Writes, asyncio.Future[None]]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._checkpoint: asyncio.Task[None] | None = None
        self.inline_rows = 0
        """Rows written on the event loop's thread since the last checkpoint (SQLite)."""
        self.committed = asyncio.Event()  # set after each commit that added outbox rows

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="api-recorder")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        if self._checkpoint is not None:
            # Not cancelled: its thread would go on using the store as it closes.
            await asyncio.wait([self._checkpoint])

    async def record(self, writes: Writes) -> None:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((writes, done))
        await done

    async def _run(self) -> None:
        while True:
            group = [await self._queue.get()]
            while not self._queue.empty() and len(group) < _MAX_GROUP:
                group.append(self._queue.get_nowait())
            try:
                await self._write([writes for writes, _ in group])
            except Exception:
                # One bad member must not fail its neighbours: retry each on its own.
                for writes, done in group:
                    await self._alone(writes, done)
            else:
                for _, done in group:
                    if not done.done():
                        done.set_result(None)
            self.committed.set()

    async def _write(self, group: list[Writes]) -> None:
        sessions = [seen for writes in group for seen in writes.sessions]
        events = [row for writes in group for row in writes.events]
        delivered = [w.delivered_through for w in group if w.delivered_through is not None]
        through = max(delivered) if delivered else None
        now = datetime.now(UTC)
        async with self._store.writing():
            small = len(sessions) + len(events) <= _INLINE_ROWS
            if small and self._store.record_now(sessions, events, now, through):
                self.inline_rows += len(sessions) + len(events) + (through is not None)
                self._checkpoint_when_due()
                return
            await asyncio.to_thread(self._store.record_sync, sessions, events, now, through)

    def _checkpoint_when_due(self) -> None:
        running = self._checkpoint is not None and not self._checkpoint.done()
        if self.inline_rows >= CHECKPOINT_ROWS and not running:
            self.inline_rows = 0
            self._checkpoint = asyncio.create_task(self._checkpoint_now(), name="api-checkpoint")

    async def _checkpoint_now(self) -> None:
        try:
            pages = await asyncio.to_thread(self._store.checkpoint_sync)
            if pages > WAL_LIMIT_PAGES:
                async with self._store.writing():
                    await asyncio.to_thread(self._store.checkpoint_sync)
        except Exception as exc:  # the next one may succeed; SQLite checkpoints on close too
            log.warning("outbox checkpoint failed", error=f"{type(exc).__name__}: {exc}")

    async def _alone(self, writes: Writes, done: asyncio.Future[None]) -> None:
        try:
            await self._write([writes])
        except Exception as exc:
            if not done.done():
                done.set_exception(exc)
        else:
            if not done.done():
                done.set_result(None)


def replica_holder(settings: Settings) -> str:
    """Who holds the outbox lease: the same for a replica and its restart (its host and port
    name it), so a replica back from a crash takes the lease over at once instead of waiting
    out its dead self's; any other replica waits for the lease to expire."""
    where = f"{socket.gethostname()}:{settings.api_port}".encode()
    return f"dlv_{hashlib.sha256(where).hexdigest()[:24]}"


class Deliverer:
    """Hands the outbox to the events service, in order, from whichever replica holds the lease."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        token: ServiceToken,
        recorder: Recorder,
        *,
        batch: int = 1000,
        idle_seconds: float = 1.0,
        gather_seconds: float = 0.05,
        lease: timedelta = timedelta(seconds=30),
    ) -> None:
        self._store = store
        self._settings = settings
        self._token = token
        self._recorder = recorder
        self._wakeup = recorder.committed
        self._batch = batch
        self._idle = idle_seconds
        self._lease = lease
        self._gather = gather_seconds
        self._held_until: datetime | None = None
        self._holder = replica_holder(settings)
        self._places: dict[str, dict[str, Any] | None] = {}
        self._failures = 0
        self._limit = batch  # halved while a batch refused for good is searched
        self._refused_through: int | None = None  # the last seq of that batch

    async def run(self) -> None:
        events = service_client(self._settings.internal_url("events"), timeout=10.0)
        geo = service_client(self._settings.internal_url("geo"), timeout=2.0)
        async with events, geo:
            while True:
                try:
                    sent = await self.deliver(events, geo)
                except Exception as exc:
                    sent = 0
                    log.warning("outbox pass failed", error=f"{type(exc).__name__}: {exc}")
                if sent:
                    self._failures = 0
                    if sent < self._batch:
                        # Let a busy outbox fill a batch: fewer, larger deliveries cost the
                        # database (and the taps writing to it) far fewer commits.
                        await asyncio.sleep(self._gather)
                    continue
                delay = self._idle if self._failures == 0 else min(30.0, 2.0**self._failures / 4)
                await wait_event(self._wakeup, delay)
                self._wakeup.clear()

    async def deliver(self, events: httpx.AsyncClient, geo: httpx.AsyncClient) -> int:
        """Send the head of the outbox; answer how many events left it (taken by the events
        service, or set aside as a dead letter).

        A batch refused for good is halved and sent again at once: the events before the one
        refused go through, in order, and within about log2(batch) attempts that one is
        alone, and is set aside.
        """
        while True:
            if not await self._hold_lease():
                return 0
            async with self._store.reading() as tx:
                pending = await tx.outbox.head(self._limit)
            if not pending:
                return 0
            sent = await self._send(events, geo, pending)
            if sent is not None:
                return sent

    async def _send(
        self, events: httpx.AsyncClient, geo: httpx.AsyncClient, pending: list[PendingEvent]
    ) -> int | None:
        """One attempt; None when a refused batch was halved, to be tried again at once."""
        bodies = [orjson.loads(p.body) for p in pending]
        await self._locate(geo, bodies)
        batch = [body["event"] for body in bodies]
        try:
            response = await events.post(
                "/v1/events", content=orjson.dumps(batch), headers=await self._headers()
            )
        except (httpx.HTTPError, ServiceTokenError) as exc:
            return await self._failed(pending, f"events service unreachable: {exc}")
        if response.status_code in PERMANENT_REFUSALS:
            problem = problem_detail(response)
            if len(pending) == 1:
                return await self._set_aside(pending[0], response.status_code, problem)
            self._limit = len(pending) // 2
            self._refused_through = pending[-1].seq
            log.warning(
                "events refused; halving the batch to find the one refused",
                count=len(pending),
                status=response.status_code,
                detail=problem,
            )
            return None
        if response.status_code == 401:
            self._token.forget()
        if not response.is_success:
            return await self._failed(
                pending, f"events service answered {response.status_code}: {response.text[:300]}"
            )
        await self._recorder.record(Writes(delivered_through=pending[-1].seq))
        if self._refused_through is None or pending[-1].seq >= self._refused_through:
            self._limit, self._refused_through = self._batch, None
        return len(pending)

    async def _set_aside(self, refused: PendingEvent, status: int, problem: str) -> int:
        """Move the one event refused for good to the dead letters, and go on without it."""
        async with self._store.transaction() as tx:
            await tx.outbox.set_aside(refused.seq, status, problem, datetime.now(UTC))
        log.error(
            "event refused for good by the events service; set aside as a dead letter",
            event_id=refused.event_id,
            seq=refused.seq,
            status=status,
            detail=problem,
        )
        self._limit, self._refused_through = self._batch, None
        return 1

    async def _hold_lease(self) -> bool:
        """Hold the delivery lease, renewing it (a write) only when half of it has passed."""
        now = datetime.now(UTC)
        if self._held_until is not None and now < self._held_until - self._lease / 2:
            return True
        async with self._store.transaction() as tx:
            held = await tx.outbox.take_lease(self._holder, now, self._lease)
        self._held_until = now + self._lease if held else None
        return held

    async def _headers(self) -> dict[str, str]:
        return {**(await self._token.header()), "Content-Type": "application/json"}

    async def _failed(self, pending: list[PendingEvent], error: str) -> int:
        self._failures += 1
        async with self._store.transaction() as tx:
            await tx.outbox.note_failure([p.seq for p in pending], error)
        log.warning("events not delivered", count=len(pending), error=error)
        return 0

    async def _locate(self, geo: httpx.AsyncClient, bodies: list[dict[str, Any]]) -> None:
        """Add the city-level location of each event's network; unknown stays null."""
        networks = {b["network"] for b in bodies if b.get("network")}
        missing = [n for n in networks if n not in self._places]
        if missing:
            found = await asyncio.gather(*(self._lookup(geo, n) for n in missing))
            if len(self._places) > 50_000:
                self._places.clear()
            for network, (answered, place) in zip(missing, found, strict=True):
                if answered:  # geo down: ask again next time rather than remember "unknown"
                    self._places[network] = place
        for body in bodies:
            network = body.get("network")
            if network is not None:
                custom = body["event"].setdefault("customData", {})
                custom["location"] = self._places.get(network)

    async def _lookup(
        self, geo: httpx.AsyncClient, network: str
    ) -> tuple[bool, dict[str, Any] | None]:
        """(whether geo answered, the place or None when it does not know)."""
        try:
            response = await geo.get(f"/v1/geo/ip/{network}")
        except httpx.HTTPError:
            return False, None
        if not response.is_success:
            return response.status_code < 500, None
        found = response.json()
        if not found.get("known"):
            return True, None
        return True, {
            key: found.get(key) for key in ("country", "region", "city", "latitude", "longitude")
        }


def problem_detail(response: httpx.Response) -> str:
    """What a problem+json answer says was wrong (its detail, then each field error)."""
    try:
        problem = response.json()
    except ValueError:
        return response.text[:300]
    if not isinstance(problem, dict):
        return response.text[:300]
    said = [str(problem.get("detail") or problem.get("title") or "")]
    for error in problem.get("errors") or []:
        if isinstance(error, dict):
            said.append(f"{error.get('field')}: {error.get('message')}")
    return "; ".join(part for part in said if part)[:1000] or response.text[:300]

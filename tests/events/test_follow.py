"""Following the log over a real HTTP server: catch up, then live events, in position order."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import uvicorn

from sticky.events.app import create_app
from sticky.events.domain import EventFilter, NewEvent, StoredEvent
from sticky.events.live import Appends, Timing, follow
from sticky.events.store import open_store
from sticky.kernel.settings import Settings
from sticky.kernel.tokens import TokenVerifier, public_jwk
from tests.conftest import free_port
from tests.events.api_support import FAST, Signer, migrated
from tests.stack_fixture import stack_environment

ANN, BEA = "usr_ann", "usr_bea"


@pytest.fixture
async def events_db(tmp_path: Path) -> str:
    return await migrated(f"sqlite:///{tmp_path / 'events.sqlite3'}")


@contextlib.asynccontextmanager
async def serving(
    settings: Settings, database_url: str, timing: Timing = FAST
) -> AsyncIterator[tuple[str, Signer, uvicorn.Server]]:
    """The app under uvicorn on a free port (the in-process transport buffers whole bodies)."""
    app = create_app(
        settings.model_copy(update={"events_database_url": database_url}), timing=timing
    )
    signer = Signer.new()
    app.state.verifier = TokenVerifier(signer.keys)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        assert not task.done(), "the server did not start"
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}", signer, server
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


async def lines(response: httpx.Response) -> AsyncIterator[dict[str, Any] | None]:
    """NDJSON records; None for a heartbeat (a blank line)."""
    async for line in response.aiter_lines():
        yield orjson.loads(line) if line.strip() else None


async def test_catch_up_then_follow_live(settings: Settings, events_db: str) -> None:
    async with (
        serving(settings, events_db) as (url, signer, _),
        httpx.AsyncClient(base_url=url, timeout=10) as client,
    ):
        owner = signer.owner(ANN)

        async def append(*types: str, user: str = ANN) -> None:
            body = [{"type": t} for t in types]
            answer = await client.post("/v1/events", json=body, headers=signer.owner(user))
            assert answer.status_code == 201, answer.text

        await append("SESSION_READ", "CHECK_IN")
        headers = {**owner, "Accept": "application/x-ndjson"}
        async with client.stream("GET", "/v1/events/subscribe", headers=headers) as response:
            assert response.status_code == 200
            records = lines(response)
            caught_up = [await anext(records), await anext(records)]
            assert [r["type"] for r in caught_up if r] == ["SESSION_READ", "CHECK_IN"]
            await append("MESSAGE", user=BEA)  # not Ann's: never sent
            started = time.monotonic()
            await append("TO_DO", "X_LIVE")
            live: list[dict[str, Any]] = []
            while len(live) < 2:  # a heartbeat may come first: the appends can outlast 0.3 s
                record = await asyncio.wait_for(anext(records), 5)
                if record:
                    live.append(record)
            assert time.monotonic() - started < 1.0
            assert [r["type"] for r in live] == ["TO_DO", "X_LIVE"]
            positions = [r["position"] for r in caught_up + live if r]
            assert positions == sorted(positions)
            heartbeat = await asyncio.wait_for(anext(records), 5)
            assert heartbeat is None  # nothing new: a blank line keeps the connection open


async def test_a_follower_ends_when_its_client_goes(settings: Settings, events_db: str) -> None:
    # No heartbeat for a minute: only the disconnect itself can end the follower.
    quiet = Timing(poll_seconds=0.05, heartbeat_seconds=60)
    async with serving(settings, events_db, quiet) as (url, signer, server):
        async with (
            httpx.AsyncClient(base_url=url, timeout=10) as client,
            client.stream("GET", "/v1/events/subscribe", headers=signer.owner(ANN)) as answer,
        ):
            assert answer.status_code == 200
            assert len(server.server_state.tasks) == 1
        deadline = time.monotonic() + 10
        while server.server_state.tasks:
            assert time.monotonic() < deadline, "the follower outlived its client"
            await asyncio.sleep(0.02)


async def test_server_sent_events_resume_from_a_position(
    settings: Settings, events_db: str
) -> None:
    async with (
        serving(settings, events_db) as (url, signer, _),
        httpx.AsyncClient(base_url=url, timeout=10) as client,
    ):
        owner = signer.owner(ANN)
        appended = await client.post(
            "/v1/events", json=[{"type": "TO_DO"}, {"type": "MESSAGE"}], headers=owner
        )
        first = appended.json()["data"][0]["position"]
        headers = {**owner, "Last-Event-ID": str(first)}
        async with client.stream("GET", "/v1/events/subscribe", headers=headers) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            frame: list[str] = []
            async for line in response.aiter_lines():
                if line == "" and frame:
                    break
                frame.append(line)
        assert frame[0] == f"id: {first + 1}"
        assert orjson.loads(frame[1].removeprefix("data: "))["type"] == "MESSAGE"


async def test_a_durable_subscription_starts_from_its_checkpoint(
    settings: Settings, events_db: str
) -> None:
    async with (
        serving(settings, events_db) as (url, signer, _),
        httpx.AsyncClient(base_url=url, timeout=10) as client,
    ):
        service = signer.service("api")
        body = [{"type": "TO_DO", "userId": ANN, "customData": {"n": n}} for n in range(3)]
        done = (await client.post("/v1/events", json=body, headers=service)).json()["data"]
        checkpoint = {"position": done[0]["position"]}
        saved = await client.put(
            "/v1/events/subscriptions/receipts", json=checkpoint, headers=service
        )
        assert saved.status_code == 200
        headers = {**service, "Accept": "application/x-ndjson"}
        params = {"subscription": "receipts"}
        async with client.stream(
            "GET", "/v1/events/subscribe", params=params, headers=headers
        ) as response:
            records = lines(response)
            got = [await anext(records), await anext(records)]
        assert [r["customData"]["n"] for r in got if r] == [1, 2]
        owner = await client.get("/v1/events/subscribe", params=params, headers=signer.owner(ANN))
        assert owner.status_code == 403


@contextlib.contextmanager
def jwks(signer: Signer) -> Iterator[int]:
    """Auth's JWKS endpoint, publishing the test's key: the port it listens on."""
    document = json.dumps({"keys": [public_jwk(signer.key.public_key(), signer.kid)]}).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(document)))
            self.end_headers()
            self.wfile.write(document)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


async def test_sigterm_ends_open_subscriptions_at_once(tmp_path: Path) -> None:
    signer = Signer.new()
    data = tmp_path / "data"
    await migrated(f"sqlite:///{(data / 'events.sqlite3').resolve()}")
    with jwks(signer) as auth_port:
        env = stack_environment(data, STICKY_AUTH_PORT=str(auth_port))
        url = f"http://127.0.0.1:{env['STICKY_EVENTS_PORT']}"
        process = subprocess.Popen(
            [sys.executable, "-m", "sticky", "serve", "events"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            async with httpx.AsyncClient(base_url=url, timeout=10) as client:
                deadline = time.monotonic() + 20
                while True:
                    with contextlib.suppress(httpx.TransportError):
                        if (await client.get("/readyz")).status_code == 200:
                            break
                    assert process.poll() is None and time.monotonic() < deadline
                    await asyncio.sleep(0.05)
                headers = {**signer.owner(ANN), "Accept": "application/x-ndjson"}
                async with client.stream("GET", "/v1/events/subscribe", headers=headers) as answer:
                    assert answer.status_code == 200
                    stopped_at = time.monotonic()
                    process.send_signal(signal.SIGTERM)
                    async for _ in answer.aiter_lines():
                        pass  # the stream ends instead of hanging
            # uvicorn re-raises the signal once it has shut down gracefully.
            assert await asyncio.to_thread(process.wait, 8) in (0, -signal.SIGTERM)
            assert time.monotonic() - stopped_at < 5  # well inside the 10 s graceful timeout
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()


async def test_a_selective_follower_reads_on_from_the_head_not_from_its_last_match(
    events_db: str,
) -> None:
    """Few matches among many events: each read starts past what the previous one skipped."""
    store = open_store(events_db)
    afters: list[int] = []
    read = store.read

    async def recorded(where: EventFilter, limit: int) -> list[StoredEvent]:
        afters.append(where.after)
        return await read(where, limit)

    store.read = recorded  # type: ignore[method-assign]
    now = datetime.now(UTC)

    def event(n: int, kind: str) -> NewEvent:
        return NewEvent(id=f"evt_{n}", type=kind, user_id=ANN, created_at=now)

    appends = Appends()
    where = EventFilter(user_id=None, types=("SESSION_CART_PAY",))
    items = follow(store, where, appends, Timing(poll_seconds=0.05))
    try:
        await store.append([event(0, "SESSION_CART_PAY")])
        await store.append([event(n, "SESSION_READ") for n in range(1, 301)])
        first = await anext(items)
        assert first is not None and first.id == "evt_0"
        reading = asyncio.ensure_future(anext(items))
        await asyncio.sleep(0.2)  # a few polls find nothing new
        await store.append([event(301, "SESSION_CART_PAY")])
        appends.notify()
        second = await reading
        assert second is not None and second.id == "evt_301"
        assert afters[0] == 0
        assert set(afters[1:]) == {301}, afters  # never 1 again: the reads went on from the head
    finally:
        appends.stop()
        await items.aclose()
        await store.close()


async def test_an_unfiltered_follower_does_not_read_the_head(events_db: str) -> None:
    """Its last event is the head: the extra query would be spent on every wake-up."""
    store = open_store(events_db)
    heads = 0
    last_position = store.last_position

    async def counted() -> int:
        nonlocal heads
        heads += 1
        return await last_position()

    store.last_position = counted  # type: ignore[method-assign]
    now = datetime.now(UTC)
    appends = Appends()
    items = follow(store, EventFilter(user_id=ANN), appends, Timing(poll_seconds=0.05))
    try:
        await store.append([NewEvent(id="evt_1", type="TO_DO", user_id=ANN, created_at=now)])
        first = await anext(items)
        assert first is not None and first.id == "evt_1"
        reading = asyncio.ensure_future(anext(items))
        await asyncio.sleep(0.2)
        await store.append([NewEvent(id="evt_2", type="TO_DO", user_id=ANN, created_at=now)])
        appends.notify()
        second = await reading
        assert second is not None and second.id == "evt_2"
        assert heads == 0
    finally:
        appends.stop()
        await items.aclose()
        await store.close()


def _appended(store_positions: list[Any], events: list[NewEvent]) -> list[tuple[int, NewEvent]]:
    return [(done.position, event) for done, event in zip(store_positions, events, strict=True)]


async def test_a_follower_moves_past_this_process_s_appends_that_do_not_concern_it(
    events_db: str,
) -> None:
    """Taps appended here wake a follower of payments; it learns from memory that none is
    one, without a query. An event another replica appended, out of that memory, is read."""
    store = open_store(events_db)
    queries = 0
    read, last_position = store.read, store.last_position

    async def counted_read(where: EventFilter, limit: int) -> list[StoredEvent]:
        nonlocal queries
        queries += 1
        return await read(where, limit)

    async def counted_head() -> int:
        nonlocal queries
        queries += 1
        return await last_position()

    store.read = counted_read  # type: ignore[method-assign]
    store.last_position = counted_head  # type: ignore[method-assign]
    now = datetime.now(UTC)

    def event(n: int, kind: str, user: str = ANN) -> NewEvent:
        return NewEvent(id=f"evt_{n}", type=kind, user_id=user, created_at=now)

    async def append_here(*batch: NewEvent) -> None:
        appends.notify(_appended(await store.append(list(batch)), list(batch)))

    appends = Appends()
    where = EventFilter(user_id=ANN, types=("SESSION_CART_PAY",))
    # A long poll: every wake-up below comes from this process's own appends.
    items = follow(store, where, appends, Timing(poll_seconds=30))
    try:
        await append_here(event(0, "SESSION_CART_PAY"))
        first = await anext(items)
        assert first is not None and first.id == "evt_0"
        reading = asyncio.ensure_future(anext(items))
        await asyncio.sleep(0.05)
        before = queries
        for n in range(1, 41):  # taps, and a payment of another user
            await append_here(event(n, "SESSION_READ"), event(100 + n, "SESSION_CART_PAY", BEA))
            await asyncio.sleep(0)
        await asyncio.sleep(0.05)
        assert queries == before, "the follower queried for events it knew were not its own"
        assert not reading.done()

        # Another replica appends a payment (no memory of it here), then this process a tap:
        # the gap sends the follower to the store, which has the payment.
        await store.append([event(500, "SESSION_CART_PAY")])
        await append_here(event(501, "SESSION_READ"))
        second = await asyncio.wait_for(reading, 5)
        assert second is not None and second.id == "evt_500"
        assert queries > before

        # A matching event appended here is read from the store, with all its fields.
        reading = asyncio.ensure_future(anext(items))
        await append_here(event(502, "SESSION_READ"), event(503, "SESSION_CART_PAY"))
        third = await asyncio.wait_for(reading, 5)
        assert third is not None and third.id == "evt_503" and third.user_id == ANN
    finally:
        appends.stop()
        await items.aclose()
        await store.close()


def test_what_the_appends_remember_says_where_a_follower_may_move() -> None:
    now = datetime.now(UTC)

    def event(kind: str, user: str = ANN, **fields: Any) -> NewEvent:
        return NewEvent(id="evt", type=kind, user_id=user, created_at=now, **fields)

    appends = Appends(remembered=4)
    taps = EventFilter(user_id=None, types=("SESSION_READ",))
    pays = EventFilter(user_id=ANN, types=("SESSION_CART_PAY",))
    of_thing = EventFilter(user_id=ANN, thing_id="thg_1")
    assert appends.passed(pays, 0) is None  # nothing remembered: read
    appends.notify([(1, event("SESSION_READ")), (2, event("SESSION_READ", thing_id="thg_2"))])
    assert appends.passed(pays, 0) == 2
    assert appends.passed(taps, 0) is None  # position 1 is a tap: read it
    assert appends.passed(of_thing, 0) == 2
    assert appends.passed(pays, 2) is None  # nothing new: poll the store as ever
    appends.notify([(4, event("SESSION_READ"))])
    assert appends.passed(pays, 2) is None  # position 3 is not this process's: read
    appends.notify([(3, event("SESSION_CART_PAY", BEA))])
    assert appends.passed(pays, 2) == 4
    assert appends.passed(EventFilter(user_id=BEA), 2) is None
    ranged = EventFilter(user_id=ANN, types=("SESSION_CART_PAY",), created_from=now)
    assert appends.passed(ranged, 2) is None  # a time range is left to the store
    appends.notify([(5, event("TO_DO")), (6, event("TO_DO"))])  # forgets 1 and 2
    assert appends.passed(pays, 0) is None
    assert appends.passed(pays, 2) == 6

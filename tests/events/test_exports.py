"""The export worker: exports run in a process of their own, at a lower priority; a worker
that dies fails only the exports it was serving and is started again; it never outlives the
service that started it."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
import sqlalchemy as sa

from sticky.events.domain import EventFilter, NewEvent
from sticky.events.export_worker import NICENESS, direct_backend, nice_backend
from sticky.events.exports import Exports
from sticky.events.store import StoreUnavailable, open_store, reads
from sticky.kernel.database import create_engine
from sticky.kernel.settings import Settings
from tests.events.api_support import migrated, running_events

ANN = "usr_ann"


@pytest.fixture
async def sqlite_url(tmp_path: Path) -> str:
    return await migrated(f"sqlite:///{tmp_path / 'events.sqlite3'}")


def alive(pid: int) -> bool:
    """Running, and not a zombie waiting for its parent."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status


async def wait_for(condition: Callable[[], bool], seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        await asyncio.sleep(0.02)


async def fill(url: str, count: int, padding: int = 0) -> None:
    store = open_store(url)
    try:
        for first in range(0, count, 5000):
            await store.append(
                [
                    NewEvent(
                        id=f"evt_{n}",
                        type="SESSION_READ",
                        user_id=ANN,
                        created_at=datetime.now(UTC),
                        custom_data={"n": n, "pad": "x" * padding},
                    )
                    for n in range(first, min(count, first + 5000))
                ]
            )
    finally:
        await store.close()


async def collect(chunks: AsyncIterator[bytes]) -> bytes:
    return b"".join([chunk async for chunk in chunks])


async def test_exports_run_in_a_lower_priority_process(settings: Settings, sqlite_url: str) -> None:
    await fill(sqlite_url, 30)
    async with running_events(settings, sqlite_url) as ev:
        headers = {**ev.signer.owner(ANN), "Accept": "application/x-ndjson"}
        answer = await ev.client.get("/v1/events", headers=headers)
        assert answer.status_code == 200
        assert [orjson.loads(line)["customData"]["n"] for line in answer.content.splitlines()] == (
            list(range(30))
        )
        exports: Exports = ev.app.state.events.exports
        pid = exports.pid
        assert pid is not None and pid != os.getpid()
        mine = os.getpriority(os.PRIO_PROCESS, 0)
        assert os.getpriority(os.PRIO_PROCESS, pid) == min(19, mine + NICENESS)
        assert os.sched_getscheduler(pid) == os.SCHED_IDLE
    # The service's shutdown stops its worker.
    await wait_for(lambda: not alive(pid))


async def test_on_a_local_postgresql_the_exports_backend_is_lowered_too(
    settings: Settings, postgres_url: str
) -> None:
    url = await migrated(postgres_url)
    await fill(url, 30)
    database = url.rsplit("/", 1)[1]
    async with running_events(settings, url) as ev:
        headers = {**ev.signer.owner(ANN), "Accept": "application/x-ndjson"}
        answer = await ev.client.get("/v1/events", headers=headers)
        assert answer.status_code == 200 and len(answer.content.splitlines()) == 30
        appended = await ev.client.post(
            "/v1/events", json=[{"type": "SESSION_READ"}], headers=ev.signer.owner(ANN)
        )
        assert appended.status_code == 201, appended.text
        # Pooled connections stay open: the worker's backend is lowered, the service's not.
        import psycopg

        with psycopg.connect(url) as conn:
            pids = [
                pid
                for (pid,) in conn.execute(
                    "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                    (database,),
                )
            ]
        niceness = {pid: os.getpriority(os.PRIO_PROCESS, pid) for pid in pids}
        assert NICENESS in niceness.values(), niceness  # the export's backend
        assert 0 in niceness.values(), niceness  # the service's own (appends) are not


def test_only_a_direct_connection_names_its_backend() -> None:
    # TCP: the server must see this socket's own address and port (no pooler in between).
    with socket.create_server(("127.0.0.1", 0)) as server:
        client = socket.create_connection(server.getsockname())
        try:
            here, port = client.getsockname()
            assert direct_backend(client.fileno(), 1, here, port)
            assert not direct_backend(client.fileno(), 1, here, port + 1)  # a pooler's port
            assert not direct_backend(client.fileno(), 1, None, None)
        finally:
            client.close()
    # A Unix socket: the backend must be a child of the process listening there.
    ours, theirs = socket.socketpair()
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert direct_backend(theirs.fileno(), child.pid, None, None)  # our child
        assert not direct_backend(theirs.fileno(), os.getpid(), None, None)  # not a child
    finally:
        child.kill()
        child.wait()
        ours.close()
        theirs.close()


def test_only_a_postgres_process_of_this_machine_is_reniced() -> None:
    assert nice_backend(os.getpid()).startswith("left as it is (not a postgres backend")
    assert nice_backend(2**22 + 12345).startswith("left as it is")
    assert os.getpriority(os.PRIO_PROCESS, 0) == os.getpriority(os.PRIO_PROCESS, os.getpid())


async def test_a_killed_worker_fails_its_exports_and_is_started_again(sqlite_url: str) -> None:
    # Bigger than everything the socket and the reader buffer can hold, so the worker is
    # still writing when it is killed.
    await fill(sqlite_url, 40_000, padding=400)
    exports = Exports(sqlite_url, "warning")
    try:
        chunks = await exports.open(EventFilter(ANN), "ndjson")
        first = await anext(chunks)
        assert first.startswith(b'{"id":"evt_0"')
        pid = exports.pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        with pytest.raises(StoreUnavailable, match="before its last event"):
            async for _ in chunks:
                pass
        # The next export waits for the new worker and is whole.
        tail = await collect(await exports.open(EventFilter(ANN, after=39_990), "ndjson"))
        assert len(tail.splitlines()) == 10
        assert exports.starts == 2
        assert exports.pid not in (None, pid)
        csv = await collect(await exports.open(EventFilter(ANN, after=39_998), "csv"))
        assert csv.splitlines()[0].startswith(b"id,position,type,userId")
        assert len(csv.splitlines()) == 3
    finally:
        await exports.stop()
    with pytest.raises(StoreUnavailable):
        await exports.open(EventFilter(ANN), "ndjson")


SERVICE = """
import asyncio, sys
from sticky.events.domain import EventFilter
from sticky.events.exports import Exports

async def main():
    exports = Exports(sys.argv[1], "warning")
    chunks = await exports.open(EventFilter("u"), "ndjson")
    async for _ in chunks:
        pass
    print(exports.pid, flush=True)
    await asyncio.sleep(3600)

asyncio.run(main())
"""


async def test_the_worker_does_not_outlive_a_killed_service(sqlite_url: str) -> None:
    service = subprocess.Popen(
        [sys.executable, "-c", SERVICE, sqlite_url], stdout=subprocess.PIPE, text=True
    )
    try:
        assert service.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(service.stdout.readline), 30)
        worker = int(line)
        assert alive(worker)
        service.kill()  # SIGKILL: no shutdown runs; the worker sees its stdin close
        service.wait()
        await wait_for(lambda: not alive(worker))
    finally:
        service.kill()
        service.wait()


async def test_exports_taking_turns_query_one_smaller_page_at_a_time_in_turn(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = await migrated(database_url)
    await fill(url, 60)
    monkeypatch.setattr(reads, "EXPORT_BATCH", 10)
    monkeypatch.setattr(reads, "SHARED_EXPORT_BATCH", 5)
    engine = create_engine(url)
    active, most, pages = 0, 0, []

    @sa.event.listens_for(engine.sync_engine, "before_cursor_execute")
    def started(*_: Any) -> None:
        nonlocal active, most
        active += 1
        most = max(most, active)

    @sa.event.listens_for(engine.sync_engine, "after_cursor_execute")
    def ended(*_: Any) -> None:
        nonlocal active
        active -= 1

    turns = reads.Turns()

    async def export(name: str) -> list[int]:
        exported = []
        async with turns.exporting():
            async for chunk in reads.export(engine, EventFilter(user_id=ANN), turns):
                numbers = [orjson.loads(line)["customData"]["n"] for line in chunk.splitlines()]
                pages.append((name, len(numbers)))
                exported += numbers
                await asyncio.sleep(0)  # the client's side: the other exports' turn comes
        return exported

    try:
        together = await asyncio.gather(*(export(name) for name in "abc"))
        alone = await export("d")
    finally:
        await engine.dispose()
    assert together == [list(range(60))] * 3 and alone == list(range(60))
    assert most == 1  # never two page queries at once
    # A smaller page of each in turn while they share ("a" began alone: a full page);
    # full pages for an export alone.
    assert pages[:7] == [("a", 10), ("b", 5), ("c", 5), ("a", 5), ("b", 5), ("c", 5), ("a", 5)]
    assert [size for name, size in pages if name == "d"] == [10] * 6
    assert turns.running == 0

"""The taps' group commit: on SQLite it is written on the event loop's own thread when the
write lock is free, from a worker thread (the loop going on meanwhile) when another
connection holds it, and its WAL is checkpointed from a thread; on PostgreSQL it is always
written from a thread. Whichever way, every tap is in the outbox once ``record`` returns."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from sticky.api import recorder as recording
from sticky.api.recorder import CHECKPOINT_ROWS, Writes
from sticky.api.store.sessions import SessionSeen
from sticky.api.tap import tap_event
from sticky.kernel.ids import new_id
from tests.api.support import RunningApi, api_settings, running_api

USER = "usr_recorder"


def _taps(count: int) -> Writes:
    created = datetime.now(UTC)
    events = [
        tap_event(
            "SESSION_READ",
            user_id=USER,
            application_id=None,
            thing_id="thg_recorder",
            session_id=new_id("ses"),
            custom_data={"n": n},
            created_at=created,
        )
        for n in range(count)
    ]
    return Writes().add_events(events, "203.0.113.0")


@pytest.fixture
async def sqlite_api(tmp_path: Path) -> AsyncIterator[RunningApi]:
    async with running_api(api_settings(tmp_path, f"sqlite:///{tmp_path / 'api.db'}")) as api:
        yield api


def _database_file(api: RunningApi) -> Path:
    database = make_url(api.state.store.url).database
    assert database
    return Path(database)


async def test_a_recorded_tap_is_in_the_outbox_on_either_backend(api: RunningApi) -> None:
    store, recorder = api.state.store, api.state.recorder
    await recorder.record(_taps(3))
    assert [e["customData"]["n"] for e in await api.outbox()] == [0, 1, 2]
    if store.url.startswith("sqlite"):
        assert recorder.inline_rows == 3  # written on the loop's thread
    else:
        assert recorder.inline_rows == 0  # a round trip per statement: from a thread


async def test_a_group_waits_in_a_thread_while_another_connection_writes(
    sqlite_api: RunningApi,
) -> None:
    recorder = sqlite_api.state.recorder
    other = sqlite3.connect(_database_file(sqlite_api), isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # holds SQLite's write lock
    try:
        recording = asyncio.create_task(recorder.record(_taps(2)))
        started = time.monotonic()
        ticks = 0
        while ticks < 10 and time.monotonic() - started < 5:
            await asyncio.sleep(0.01)
            ticks += 1
        # The loop went on (the write waits in SQLite's busy handler, on a thread): a write
        # waiting on the loop's thread would have stopped it for the handler's 10 s.
        assert ticks >= 10
        assert not recording.done()
    finally:
        other.execute("ROLLBACK")
        other.close()
    await asyncio.wait_for(recording, 10)
    assert [e["customData"]["n"] for e in await sqlite_api.outbox()] == [0, 1]
    assert recorder.inline_rows == 0  # nothing was half-written inline first


async def test_a_failing_group_writes_nothing_inline(sqlite_api: RunningApi) -> None:
    recorder = sqlite_api.state.recorder
    duplicate = _taps(1)
    duplicate.events.append(duplicate.events[0])  # the same event id twice: refused whole
    with pytest.raises(Exception, match="UNIQUE"):
        await recorder.record(duplicate)
    assert await sqlite_api.outbox() == []
    assert recorder.inline_rows == 0
    await recorder.record(_taps(1))
    assert len(await sqlite_api.outbox()) == 1
    assert recorder.inline_rows == 1


async def test_the_wal_is_checkpointed_from_a_thread_not_by_the_inline_writes(
    sqlite_api: RunningApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, recorder = sqlite_api.state.store, sqlite_api.state.recorder
    database = _database_file(sqlite_api)
    checkpoints: list[str] = []
    checkpoint = store.checkpoint_sync

    def noted() -> int:
        checkpoints.append(threading.current_thread().name)
        return checkpoint()

    monkeypatch.setattr(store, "checkpoint_sync", noted)
    await recorder.record(_taps(1))  # the inline connection exists, its pragmas set
    size = database.stat().st_size
    written = 0
    while written + 400 < CHECKPOINT_ROWS:
        await recorder.record(_taps(400))
        written += 400
    # Thousands of rows, all still in the WAL: the inline connection never checkpoints.
    assert database.stat().st_size == size
    assert checkpoints == []
    await recorder.record(_taps(400))
    pending: Any = recorder._checkpoint
    assert pending is not None
    await asyncio.wait_for(pending, 10)
    assert len(checkpoints) == 1 and checkpoints[0] != "MainThread"
    assert database.stat().st_size > size  # the pages reached the database file
    assert recorder.inline_rows == 0
    assert len(await sqlite_api.outbox()) == written + 401


async def test_rows_written_inline_are_stored_as_the_engine_stores_them(
    sqlite_api: RunningApi,
) -> None:
    store = sqlite_api.state.store
    at = datetime(2026, 12, 5, 9, 30, tzinfo=UTC)  # no microseconds: still written as .000000

    def group(tag: str, thing_id: str | None = None) -> tuple[Any, ...]:
        seen = [SessionSeen(f"ses_{tag}", USER, "app_stored", thing_id, at)]
        return seen, [(f"evt_{tag}", '{"type": "SESSION_READ"}')], at

    assert store.record_now(*group("inline"))  # the raw connection, on this thread
    await asyncio.to_thread(store.record_sync, *group("engine"))  # SQLAlchemy's engine

    database = sqlite3.connect(_database_file(sqlite_api))
    try:

        def stored(table: str) -> list[tuple[Any, ...]]:
            """Each row's values, then each value's SQLite type, oldest row first."""
            names = [c[1] for c in database.execute(f"PRAGMA table_info({table})")]
            kinds = ", ".join(f"typeof({name})" for name in names)
            query = f"SELECT *, {kinds} FROM {table} ORDER BY created_at, rowid"
            return database.execute(query).fetchall()

        inline, engine = stored("sessions")
        assert inline[0] == "ses_inline"
        assert inline[1:] == engine[1:]  # every column but the id: values and types alike
        assert "2026-12-05 09:30:00.000000" in inline
        first, second = stored("event_outbox")
        assert first[:2] == (1, "evt_inline")
        assert first[2:] == second[2:]

        # A session tapping again is repointed, and delivered rows go in the same transaction.
        seen, _, _ = group("inline", "thg_again")
        assert store.record_now(seen, [("evt_later", "{}")], at, delivered_through=1)
        repointed = database.execute("SELECT thing_id FROM sessions WHERE id = 'ses_inline'")
        assert repointed.fetchone() == ("thg_again",)
        left = database.execute("SELECT event_id FROM event_outbox ORDER BY seq").fetchall()
        assert left == [("evt_engine",), ("evt_later",)]
    finally:
        database.close()


def _wal(database: Path) -> Path:
    return database.with_name(database.name + "-wal")


async def test_a_wal_past_its_limit_starts_over(
    sqlite_api: RunningApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A checkpoint beside a writer that commits all the time never copies the whole WAL, so
    SQLite never starts it over and it grows for as long as taps come. Past
    ``WAL_LIMIT_PAGES`` the recorder copies the pages it missed in the writers' turn (taps
    meanwhile wait for theirs, none is lost), and the next write starts the WAL over."""
    store, recorder = sqlite_api.state.store, sqlite_api.state.recorder
    database = _database_file(sqlite_api)
    monkeypatch.setattr(recording, "WAL_LIMIT_PAGES", 10)
    turns: list[bool] = []
    checkpoint = store.checkpoint_sync

    def noted() -> int:
        assert store._turn is not None
        turns.append(store._turn.locked())
        return checkpoint()

    monkeypatch.setattr(store, "checkpoint_sync", noted)
    written = 0
    while written < CHECKPOINT_ROWS:
        await recorder.record(_taps(400))
        written += 400
    pending: Any = recorder._checkpoint
    assert pending is not None
    during = asyncio.create_task(recorder.record(_taps(5)))  # a tap while it catches up
    await asyncio.wait_for(pending, 10)
    await asyncio.wait_for(during, 10)
    # Twice: the first beside the writers (one of them may hold the turn just then, so
    # whether it is held says nothing), the second in the writers' turn.
    assert len(turns) == 2 and turns[1] is True
    grown = _wal(database).stat().st_size
    await recorder.record(_taps(400))
    assert _wal(database).stat().st_size == grown  # written from the WAL's beginning again
    assert len(await sqlite_api.outbox()) == written + 405

"""SQLite's write-ahead log stays small while readers never stop (checkpoint starvation)."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from sticky.events.domain import NewEvent
from sticky.events.store import open_store, writer
from sticky.kernel.migrations import upgrade

LIMIT = 1 << 20


def _batch(first: int, count: int) -> list[NewEvent]:
    now = datetime.now(UTC)
    return [
        NewEvent(
            id=f"evt_wal_{n:08d}",
            type="SESSION_READ",
            user_id="usr_wal",
            created_at=now,
            thing_id=f"thg_{n % 50}",
            custom_data={"note": "x" * 200},
        )
        for n in range(first, first + count)
    ]


@pytest.fixture
def overlapping_readers(tmp_path: Path) -> Iterator[Path]:
    """Two connections taking turns so that one always holds a read snapshot: the WAL can be
    copied into the database but never started again from its beginning by the writer's own
    (passive) checkpoints, as under a steady stream of subscription reads and exports."""
    path = tmp_path / "events.sqlite3"
    upgrade("sticky.events", f"sqlite:///{path}")
    stop = threading.Event()

    def read() -> None:
        readers = [sqlite3.connect(path, isolation_level=None) for _ in range(2)]
        turn = 0
        while not stop.is_set():
            current, previous = readers[turn % 2], readers[(turn + 1) % 2]
            current.execute("BEGIN")
            current.execute("SELECT count(*) FROM checkpoints").fetchone()
            if previous.in_transaction:
                previous.execute("COMMIT")
            stop.wait(0.002)
            turn += 1
        for reader in readers:
            reader.close()

    thread = threading.Thread(target=read)
    thread.start()
    try:
        yield path
    finally:
        stop.set()
        thread.join()


async def test_the_wal_is_truncated_once_past_its_limit_despite_readers(
    overlapping_readers: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writer, "WAL_LIMIT_BYTES", LIMIT)
    # Scaled down with the limit: these appends take well under the service's one second
    # between tries, so one try the readers kept busy (a reader thread descheduled past
    # WAL_WAIT_MS on a loaded machine) would otherwise leave no second try in the test.
    monkeypatch.setattr(writer, "_WAL_RETRY_SECONDS", 0.05)
    wal = overlapping_readers.with_name(overlapping_readers.name + "-wal")
    store = open_store(f"sqlite:///{overlapping_readers}")
    largest = 0
    try:
        for first in range(0, 12_000, 300):
            await store.append(_batch(first, 300))
            largest = max(largest, wal.stat().st_size)
            await asyncio.sleep(0)
        assert await store.last_position() == 12_000
    finally:
        await store.close()
    # One group's pages past the limit at most; without truncation it passes 20 MB here.
    assert largest < 4 * LIMIT, f"the WAL reached {largest / 2**20:.1f} MiB"


async def test_a_failed_truncation_fails_no_append(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The WAL is truncated after the group's callers are answered, and its failure is only
    logged: every append is acknowledged, and the writer goes on."""

    def broken(self: writer.GroupWriter) -> bool:
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(writer, "WAL_LIMIT_BYTES", 0)
    monkeypatch.setattr(writer.GroupWriter, "_truncate_wal", broken)
    path = tmp_path / "events.sqlite3"
    upgrade("sticky.events", f"sqlite:///{path}")
    store = open_store(f"sqlite:///{path}")
    try:
        first = await store.append(_batch(0, 10))
        second = await store.append(_batch(10, 10))
        assert [a.position for a in first + second] == list(range(1, 21))
    finally:
        await store.close()

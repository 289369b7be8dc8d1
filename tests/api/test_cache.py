"""The tap's read-through cache: one read for many callers, refreshed before it expires."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator
from typing import Any

import pytest
import structlog

from sticky.api.cache import ReadThrough


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Source:
    """The database, as the cache sees it: a value per key, read when the test says so."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}
        self.reads: list[str] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.failure: Exception | None = None

    async def load(self, key: str) -> Any:
        self.reads.append(key)
        await self.gate.wait()
        if self.failure is not None:
            raise self.failure
        return self.values.get(key)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def source() -> Source:
    return Source()


@pytest.fixture
def cache(clock: Clock, source: Source) -> Iterator[ReadThrough[Any]]:
    cache: ReadThrough[Any] = ReadThrough(
        source.load, seconds=5.0, refresh=1.0, size=100, clock=clock
    )
    yield cache
    cache.close()


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_callers_missing_together_share_one_read(
    cache: ReadThrough[Any], source: Source
) -> None:
    source.values["thg_a"] = "A"
    source.gate.clear()
    callers = [asyncio.create_task(cache.get("thg_a")) for _ in range(32)]
    await settle()
    assert source.reads == ["thg_a"]
    source.gate.set()
    assert await asyncio.gather(*callers) == ["A"] * 32
    assert await cache.get("thg_a") == "A"
    assert source.reads == ["thg_a"]


async def test_an_entry_in_its_last_moments_answers_at_once_and_is_read_again_behind(
    cache: ReadThrough[Any], source: Source, clock: Clock
) -> None:
    source.values["thg_a"] = "old"
    assert await cache.get("thg_a") == "old"
    clock.now += 3.9  # not yet in the refresh window
    assert await cache.get("thg_a") == "old"
    assert source.reads == ["thg_a"]

    source.values["thg_a"] = "new"
    source.gate.clear()  # the database is slow: nobody waits for it
    clock.now += 0.2
    answers = [await cache.get("thg_a") for _ in range(10)]
    assert answers == ["old"] * 10
    await settle()
    assert source.reads == ["thg_a", "thg_a"]  # one refresh, however many callers

    source.gate.set()
    await settle()
    assert await cache.get("thg_a") == "new"
    clock.now += 4.5  # the refreshed entry's life started at its read
    assert await cache.get("thg_a") == "new"
    assert len(source.reads) == 2


async def test_a_value_is_never_answered_past_its_expiry(
    cache: ReadThrough[Any], source: Source, clock: Clock
) -> None:
    source.values["thg_a"] = "old"
    await cache.get("thg_a")
    source.values["thg_a"] = "new"
    source.gate.clear()
    clock.now += 5.0
    waiting = asyncio.create_task(cache.get("thg_a"))
    await settle()
    assert not waiting.done()  # expired: the caller waits for the read
    source.gate.set()
    assert await waiting == "new"


async def test_a_forgotten_key_is_read_again_and_a_read_in_flight_is_not_kept(
    cache: ReadThrough[Any], source: Source
) -> None:
    source.values["thg_a"] = "before"
    source.gate.clear()
    early = asyncio.create_task(cache.get("thg_a"))
    await settle()
    source.values["thg_a"] = "after"  # changed through this process while the read ran
    cache.forget("thg_a")
    source.gate.set()
    await early  # what it read may be either; it must not be cached
    assert await cache.get("thg_a") == "after"
    assert source.reads == ["thg_a", "thg_a"]
    assert await cache.get("thg_a") == "after"
    assert source.reads == ["thg_a", "thg_a"]


async def test_a_failed_read_reaches_every_caller_and_the_next_use_reads_again(
    cache: ReadThrough[Any], source: Source
) -> None:
    source.failure = RuntimeError("database is locked")
    source.gate.clear()
    callers = [asyncio.create_task(cache.get("thg_a")) for _ in range(3)]
    await settle()
    source.gate.set()
    results = await asyncio.gather(*callers, return_exceptions=True)
    assert [str(result) for result in results] == ["database is locked"] * 3
    source.failure = None
    source.values["thg_a"] = "A"
    assert await cache.get("thg_a") == "A"
    assert len(source.reads) == 2


async def test_a_failed_refresh_keeps_the_entry_until_it_expires(
    cache: ReadThrough[Any], source: Source, clock: Clock
) -> None:
    source.values["thg_a"] = "A"
    await cache.get("thg_a")
    source.failure = RuntimeError("database is locked")
    clock.now += 4.5
    with structlog.testing.capture_logs() as logs:
        assert await cache.get("thg_a") == "A"
        await settle()
    assert [entry["event"] for entry in logs] == ["cache refresh failed"]
    assert "database is locked" in logs[0]["error"]
    source.failure = None
    source.values["thg_a"] = "B"
    assert await cache.get("thg_a") == "A"  # still within its life; read again behind
    await settle()
    assert len(source.reads) == 3
    assert await cache.get("thg_a") == "B"


async def test_a_caller_that_goes_away_leaves_the_read_to_the_others(
    cache: ReadThrough[Any], source: Source
) -> None:
    source.values["thg_a"] = "A"
    source.gate.clear()
    leaving = asyncio.create_task(cache.get("thg_a"))
    staying = asyncio.create_task(cache.get("thg_a"))
    await settle()
    leaving.cancel()
    await settle()
    source.gate.set()
    assert await staying == "A"
    assert leaving.cancelled()
    assert source.reads == ["thg_a"]


async def test_a_failure_nobody_waits_for_is_not_reported_as_unretrieved(
    cache: ReadThrough[Any], source: Source
) -> None:
    reported: list[dict[str, Any]] = []
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda _, context: reported.append(context))
    source.failure = RuntimeError("gone")
    source.gate.clear()
    caller = asyncio.create_task(cache.get("thg_a"))
    await settle()
    caller.cancel()
    source.gate.set()
    await settle()
    gc.collect()
    await settle()
    loop.set_exception_handler(None)
    assert reported == []


async def test_close_cancels_the_reads_in_flight(cache: ReadThrough[Any], source: Source) -> None:
    source.gate.clear()
    caller = asyncio.create_task(cache.get("thg_a"))
    await settle()
    cache.close()
    with pytest.raises(asyncio.CancelledError):
        await caller


async def test_the_oldest_entries_go_past_its_size(source: Source, clock: Clock) -> None:
    cache: ReadThrough[Any] = ReadThrough(source.load, seconds=5, refresh=1, size=2, clock=clock)
    for key in ("a", "b", "c"):
        await cache.get(key)
    await cache.get("b")
    await cache.get("c")
    assert source.reads == ["a", "b", "c"]
    await cache.get("a")
    assert source.reads == ["a", "b", "c", "a"]


def test_the_refresh_window_must_fit_in_an_entrys_life(source: Source) -> None:
    with pytest.raises(ValueError, match="refresh"):
        ReadThrough(source.load, seconds=5, refresh=5, size=10)

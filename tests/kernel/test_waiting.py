"""Deadlines that keep a cancellation: a loop woken and cancelled in one tick still stops."""

from __future__ import annotations

import asyncio

import pytest
import structlog.testing

from sticky.kernel.waiting import cancel_and_wait, wait_event, within


async def _sleeper(wakeup: asyncio.Event) -> None:
    """The shape of every background loop here: work, then sleep on a wake-up event."""
    while True:
        await wait_event(wakeup, 10)
        wakeup.clear()


@pytest.mark.parametrize("ticks", range(6))
async def test_a_loop_woken_and_cancelled_at_once_stops(ticks: int) -> None:
    # With 3.11's asyncio.wait_for in place of wait_event, half of these never stop.
    wakeup = asyncio.Event()
    task = asyncio.create_task(_sleeper(wakeup))
    await asyncio.sleep(0.01)
    wakeup.set()
    for _ in range(ticks):
        await asyncio.sleep(0)
    task.cancel()
    done, _ = await asyncio.wait([task], timeout=2)
    assert done == {task} and task.cancelled()


async def test_wait_event_answers_whether_the_event_was_set() -> None:
    event = asyncio.Event()
    assert await wait_event(event, 0.01) is False
    asyncio.get_running_loop().call_later(0.01, event.set)
    assert await wait_event(event, 5) is True


async def test_within_returns_the_result_or_times_out_and_cancels() -> None:
    assert await within(5, asyncio.sleep(0, result="done")) == "done"
    started = asyncio.Event()

    async def slow() -> None:
        started.set()
        await asyncio.sleep(10)

    task = asyncio.ensure_future(slow())
    with pytest.raises(TimeoutError):
        await within(0.05, task)
    assert started.is_set() and task.cancelled()


async def test_cancel_and_wait_says_when_a_task_had_died() -> None:
    async def broken() -> None:
        raise RuntimeError("the database went away")

    async def sleeping() -> None:
        await asyncio.sleep(10)

    died, alive = asyncio.ensure_future(broken()), asyncio.ensure_future(sleeping())
    await asyncio.sleep(0)
    with structlog.testing.capture_logs() as logs:
        await cancel_and_wait(died, alive, None)
    assert alive.cancelled()
    [entry] = logs
    assert entry["log_level"] == "error" and "the database went away" in entry["error"]

"""Waiting with a deadline without losing a cancellation.

On Python 3.11, ``asyncio.wait_for`` returns the inner result when the waiting task is cancelled
in the same tick as the inner awaitable finishes: the cancellation is swallowed (bpo-42130;
3.12 rebuilt ``wait_for`` on ``asyncio.timeout``). A background loop that sleeps on its wake-up
event that way ignores a shutdown that cancels it just after waking it, and runs for ever.
``asyncio.timeout`` keeps the cancellation, so every deadline here is built on it, and ruff
bans ``asyncio.wait_for`` in this codebase.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any, TypeVar

import structlog

T = TypeVar("T")
log = structlog.get_logger("sticky.kernel.waiting")


async def wait_event(event: asyncio.Event, seconds: float) -> bool:
    """Until ``event`` is set or ``seconds`` pass; answer whether it was set."""
    try:
        async with asyncio.timeout(seconds):
            await event.wait()
    except TimeoutError:
        return False
    return True


async def within(seconds: float, awaitable: Awaitable[T]) -> T:
    """``awaitable``'s result, or TimeoutError after ``seconds`` (it is then cancelled)."""
    async with asyncio.timeout(seconds):
        return await awaitable


async def cancel_and_wait(*tasks: asyncio.Future[Any] | None) -> None:
    """Cancel ``tasks`` and wait until they have ended.

    Unlike ``with suppress(CancelledError): await task``, a cancellation of the caller itself
    while it waits is not swallowed with the task's.
    """
    pending = {task for task in tasks if task is not None}
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.wait(pending)
    for task in pending:
        if not task.cancelled() and task.exception() is not None:
            # It had died before it was cancelled: say so rather than lose it.
            log.error("background task failed", task=repr(task), error=repr(task.exception()))

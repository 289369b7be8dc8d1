"""Running a worker process's main coroutine on the event loop the services run on.

uvicorn runs every service on uvloop (``loop="auto"``); the worker processes the services
start (the api's sandbox, the events service's exports) run on it too. Their loops are
crossed many times a second (a frame in, an answer from another thread, a frame out), and
uvloop's crossings cost a fraction of asyncio's own. Where uvloop is not installed (it is not
on Windows), asyncio's loop runs them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def run(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(main)``, on uvloop when it is installed."""
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(main)

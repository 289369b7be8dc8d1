"""The sandbox worker process: reads run requests on stdin, answers on stdout, one asyncio loop.

Started by ``Sandbox`` as ``python -m sticky.api.sandbox.worker``; exits when its stdin closes
(the api process closed it or died), or at once when isolates stay stuck in builtins that
ignore termination, since only the process's end stops those threads.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sys
import time
from typing import Any

from sticky.api.sandbox import protocol
from sticky.api.sandbox.engine import Engine
from sticky.kernel.proctitle import name_process

# stdlib logging: structlog would add ~0.3 s to every worker start.
log = logging.getLogger("sticky.api.sandbox.worker")

STUCK_EXIT = 3


class _Requests(asyncio.Protocol):
    def __init__(self, engine: Engine, out: int, done: asyncio.Future[None]) -> None:
        self._engine = engine
        self._out = out
        self._done = done
        self._frames = protocol.FrameReader()
        self._tasks: set[asyncio.Task[None]] = set()

    def data_received(self, data: bytes) -> None:
        for message in self._frames.feed(data):
            task = asyncio.get_running_loop().create_task(self._answer(message))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self._done.done():
            self._done.set_result(None)

    async def _answer(self, message: Any) -> None:
        started = time.perf_counter()
        request_id = message[0]
        try:
            _, owner, key, source, input_json, limit_ms = message
            reply, compiled = await self._engine.run(
                owner, key, source, input_json, limit_ms / 1000, request_id
            )
        except Exception as exc:
            log.exception("sandbox: a run failed")
            reply, compiled = ("exception", f"sandbox error: {type(exc).__name__}", [], 0), False
        elapsed_ms = (time.perf_counter() - started) * 1000
        frame = protocol.encode([request_id, *reply, elapsed_ms, compiled])
        with contextlib.suppress(BrokenPipeError):  # the api process is gone: so are we, soon
            protocol.write_all(self._out, frame)


def _stuck() -> None:
    log.error("sandbox: isolates ignore termination; the worker exits to stop them")
    sys.stderr.flush()
    os._exit(STUCK_EXIT)


async def serve(out: int, *, memory_limit: int, max_cached: int) -> None:
    def stopping(request_id: int, started: bool) -> None:
        event = protocol.STOPPING if started else protocol.STOPPED
        protocol.write_all(out, protocol.encode([protocol.NOTICE_ID, event, request_id]))

    loop = asyncio.get_running_loop()
    engine = Engine(
        memory_limit=memory_limit, max_cached=max_cached, on_stuck=_stuck, on_stopping=stopping
    )
    version = await engine.start()
    protocol.write_all(out, protocol.encode([protocol.NOTICE_ID, protocol.READY, version]))
    done: asyncio.Future[None] = loop.create_future()
    transport, _ = await loop.connect_read_pipe(
        lambda: _Requests(engine, out, done), os.fdopen(0, "rb", buffering=0, closefd=False)
    )
    try:
        await done
    finally:
        transport.close()
        await engine.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--memory-limit", type=int, required=True)
    parser.add_argument("--max-cached", type=int, required=True)
    args = parser.parse_args()
    name_process("sticky-sandbox")
    # Isolate threads need the GIL for a moment to hand a result over: let them have it soon.
    sys.setswitchinterval(0.001)
    # Replies own the real stdout; anything else printed goes to stderr.
    out = os.dup(1)
    os.dup2(2, 1)
    asyncio.run(serve(out, memory_limit=args.memory_limit, max_cached=args.max_cached))
    # Skips joining threads that may be stuck in V8 builtins: the process's end stops them.
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main()

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
from sticky.api.sandbox.engine import Engine, Reply
from sticky.kernel import loops, scheduling
from sticky.kernel.proctitle import name_process

# stdlib logging: structlog would add ~0.3 s to every worker start.
log = logging.getLogger("sticky.api.sandbox.worker")

STUCK_EXIT = 3


class _Requests(asyncio.Protocol):
    """Starts each run as its frame arrives; the replies ready in one loop round go out in
    one write, so a batch's answers wake the api's reader thread once, not once each."""

    def __init__(self, engine: Engine, out: int, done: asyncio.Future[None]) -> None:
        self._engine = engine
        self._out = out
        self._done = done
        self._frames = protocol.FrameReader()
        self._replies: list[bytes] = []

    def data_received(self, data: bytes) -> None:
        for message in self._frames.feed(data):
            self._start(message)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self._done.done():
            self._done.set_result(None)

    def _start(self, message: Any) -> None:
        started = time.perf_counter()
        request_id = message[0]
        try:
            _, owner, key, source, input_json, limit_ms = message
            answer = self._engine.submit(
                owner, key, source, input_json, limit_ms / 1000, request_id
            )
        except Exception as exc:
            self._failed(request_id, started, exc)
            return
        answer.add_done_callback(lambda done: self._answer(request_id, started, done))

    def _answer(
        self, request_id: int, started: float, done: asyncio.Future[tuple[Reply, bool]]
    ) -> None:
        if done.cancelled():
            self._failed(request_id, started, asyncio.CancelledError())
        elif (exc := done.exception()) is not None:
            self._failed(request_id, started, exc)
        else:
            self._reply(request_id, started, *done.result())

    def _failed(self, request_id: int, started: float, exc: BaseException) -> None:
        log.error("sandbox: a run failed", exc_info=exc)
        reply: Reply = ("exception", f"sandbox error: {type(exc).__name__}", [], 0)
        self._reply(request_id, started, reply, False)

    def _reply(self, request_id: int, started: float, reply: Reply, compiled: bool) -> None:
        elapsed_ms = (time.perf_counter() - started) * 1000
        if not self._replies:
            asyncio.get_running_loop().call_soon(self._flush)
        self._replies.append(protocol.encode([request_id, *reply, elapsed_ms, compiled]))

    def _flush(self) -> None:
        frames, self._replies = self._replies, []
        with contextlib.suppress(BrokenPipeError):  # the api process is gone: so are we, soon
            protocol.write_all(self._out, b"".join(frames))


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
    # The api waits for the answers, but its event loop serves every other tap meanwhile: the
    # worker's wake-ups (a batch of runs arriving) must not take its CPU in the middle of that.
    scheduling.yield_to_the_api()
    # Isolate threads need the GIL for a moment to hand a result over: let them have it soon.
    sys.setswitchinterval(0.001)
    # Replies own the real stdout; anything else printed goes to stderr.
    out = os.dup(1)
    os.dup2(2, 1)
    loops.run(serve(out, memory_limit=args.memory_limit, max_cached=args.max_cached))
    # Skips joining threads that may be stuck in V8 builtins: the process's end stops them.
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main()

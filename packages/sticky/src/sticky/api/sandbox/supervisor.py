"""``Sandbox``: the api process's handle on its sandbox worker process, safe from any thread.

Each run is one request frame on the worker's stdin and one reply frame on its stdout (the
frames an event loop asks for in one round go in one write). The sandbox's own event loop
(the api's), when it has one, reads the replies itself; otherwise a reader thread does. The
reader matches replies to their waiters: a ``concurrent.futures.Future`` that ``run`` waits
on, or an asyncio future of ``run_async``'s loop, settled at once on the reader's own loop,
and for another loop all of one read's answers handed over in one call (a wake-up of the
loop costs more than the answer). When the worker dies (V8 aborts its process on some
allocations) or hangs, a new one starts, and the runs the dead one held are sent again, one
at a time: a run that kills a second worker fails as ``memory``, and ``Culprits`` refuses
its logic from then on.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import itertools
import logging
import os
import select
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Mapping
from concurrent.futures import Future, InvalidStateError
from dataclasses import dataclass, field
from typing import Any

import orjson

from sticky.api.sandbox import protocol
from sticky.api.sandbox.culprits import CRASHED, Culprits, Logic
from sticky.api.sandbox.outcome import LogicOutcome, failed, from_reply

# stdlib logging: structlog would add ~0.3 s to every worker start.
log = logging.getLogger("sticky.api.sandbox")

MAX_SOURCE = 64 * 1024
GRACE_SECONDS = 5.0
WATCH_SECONDS = 0.25
START_SECONDS = 30.0
MAX_FAILED_STARTS = 3
REVIVE_SECONDS = 10.0
PIPE_BYTES = 1 << 20


class _Waiter:
    """Where a run's outcome goes: a thread's ``Future``, or an asyncio future on its loop."""

    __slots__ = ("future", "loop")

    def __init__(
        self,
        future: Future[LogicOutcome] | asyncio.Future[LogicOutcome],
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self.future = future
        self.loop = loop

    def settle_here(self, outcome: LogicOutcome) -> None:
        """Sets the outcome from the thread that owns the waiter (its loop's, for asyncio)."""
        if not self.future.done():
            self.future.set_result(outcome)


Settled = list[tuple[_Waiter, LogicOutcome]]


@dataclass(eq=False)
class _Worker:
    process: subprocess.Popen[bytes]
    stdin: int
    stdout: int
    started: float = field(default_factory=time.monotonic)
    ready: threading.Event = field(default_factory=threading.Event)
    write_lock: threading.Lock = field(default_factory=threading.Lock)
    writable: bool = True
    outgoing: dict[asyncio.AbstractEventLoop, list[bytes]] = field(default_factory=dict)
    listening: bool = False  # its replies are read by the sandbox's event loop
    watch: asyncio.TimerHandle | None = None

    def send(self, frame: bytes) -> None:
        # A dead worker's runs are sent again by its reader thread: a failed write can be ignored.
        with self.write_lock, contextlib.suppress(OSError):
            if self.writable:
                protocol.write_all(self.stdin, frame)

    def send_soon(self, frame: bytes, loop: asyncio.AbstractEventLoop) -> None:
        """Sends the frame with the others ``loop`` asks for in this round, in one write (call
        on ``loop``'s thread): they reach the worker together, go into V8 as one batch, and
        their replies come back together, instead of each run waking both processes."""
        with self.write_lock:
            frames = self.outgoing.get(loop)
            if frames is not None:
                frames.append(frame)
                return
            self.outgoing[loop] = [frame]
        loop.call_soon(self._flush, loop)

    def _flush(self, loop: asyncio.AbstractEventLoop) -> None:
        with self.write_lock, contextlib.suppress(OSError):
            frames = self.outgoing.pop(loop, [])
            if self.writable:
                protocol.write_all(self.stdin, b"".join(frames))

    def close_stdin(self) -> None:
        with self.write_lock:
            if self.writable:
                self.writable = False
                with contextlib.suppress(OSError):
                    os.close(self.stdin)


@dataclass(eq=False)
class _Run:
    waiter: _Waiter
    frame: bytes
    logic: Logic
    worker: _Worker | None
    deadline: float
    attempts: int = 1


class Sandbox:
    """Runs merchants' routing logic in a separate process, one V8 isolate per version."""

    def __init__(
        self,
        *,
        time_limit_ms: float = 20,
        memory_limit_bytes: int = 32 * 1024 * 1024,
        max_cached: int = 512,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        """``loop``: the event loop that will wait on most runs (the api's): it reads the
        worker's replies itself, so an answer reaches its tap without waking a reader thread
        that then waits for the GIL and wakes the loop. Without one, a thread reads them."""
        self._loop = loop
        self._limit_ms = float(time_limit_ms)
        self._command = [
            sys.executable,
            "-m",
            "sticky.api.sandbox.worker",
            f"--memory-limit={memory_limit_bytes}",
            f"--max-cached={max_cached}",
        ]
        self._lock = threading.Lock()
        self._ids = itertools.count(protocol.NOTICE_ID + 1)
        self._runs: dict[int, _Run] = {}
        self._culprits = Culprits(max_cached)
        self._suspects: deque[int] = deque()
        self._probe: int | None = None
        self._failed_starts = 0
        self._revive_at = 0.0
        self._closed = False
        self.compilations = 0
        """How many times a version's source was compiled (each new version, each rebuild)."""
        self.restarts = 0
        """How many times the worker process was replaced."""
        self._worker: _Worker | None = self._spawn()

    def run(
        self, version_key: str, owner: str, source: str, input: Mapping[str, Any]
    ) -> LogicOutcome:
        """Runs the logic and blocks until its outcome (about the time limit at most)."""
        if self._loop is not None and _running_loop() is self._loop:
            raise RuntimeError("the sandbox's own event loop reads its replies: use run_async")
        future: Future[LogicOutcome] = Future()
        self._submit(version_key, owner, source, input, _Waiter(future))
        return future.result()

    async def run_async(
        self, version_key: str, owner: str, source: str, input: Mapping[str, Any]
    ) -> LogicOutcome:
        """Like ``run``, without blocking the event loop; any number may run at once."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[LogicOutcome] = loop.create_future()
        self._submit(version_key, owner, source, input, _Waiter(future, loop))
        return await future

    def close(self) -> None:
        """Stops the worker; runs still waiting fail, later runs fail at once."""
        with self._lock:
            self._closed = True
            runs, self._runs = list(self._runs.values()), {}
            worker, self._worker = self._worker, None
        _settle([(r.waiter, failed("exception", "the sandbox is closed")) for r in runs])
        if worker is None:
            return
        worker.close_stdin()
        if not worker.ready.is_set():
            worker.process.kill()  # still starting: it holds nothing yet
        try:
            worker.process.wait(timeout=2)
        except subprocess.TimeoutExpired:
            worker.process.kill()
            worker.process.wait()
        if self._loop is not None:
            if _running_loop() is self._loop:
                self._unlisten(worker)
            else:
                with contextlib.suppress(RuntimeError):  # closed: it reads nothing any more
                    self._loop.call_soon_threadsafe(self._unlisten, worker)

    def _submit(
        self, key: str, owner: str, source: str, input: Mapping[str, Any], waiter: _Waiter
    ) -> None:
        if len(source) > MAX_SOURCE:
            message = f"the logic is {len(source)} characters long; the limit is {MAX_SOURCE}"
            waiter.settle_here(failed("syntax", message))
            return
        input_json = orjson.dumps(input, default=_plain).decode()
        refused = None
        with self._lock:
            worker = self._worker or self._revive()
            logic = (owner, key, source)
            if worker is None:
                refused = failed("exception", "the sandbox is not running")
            elif (refusal := self._culprits.refusal(logic)) is not None:
                refused = failed("memory", refusal)
            else:
                request_id = next(self._ids)
                request = [request_id, owner, key, source, input_json, self._limit_ms]
                frame = protocol.encode(request)
                self._runs[request_id] = _Run(waiter, frame, logic, worker, self._deadline(worker))
        if refused is not None:
            waiter.settle_here(refused)  # on the caller's own thread (its loop's, for asyncio)
        elif worker is not None and waiter.loop is not None:
            worker.send_soon(frame, waiter.loop)
        elif worker is not None:
            worker.send(frame)

    def _revive(self) -> _Worker | None:
        """Under the lock: after workers failed to start, tries another now and then."""
        if self._closed or time.monotonic() < self._revive_at:
            return None
        self._worker = self._spawn()
        return self._worker

    def _deadline(self, worker: _Worker) -> float:
        if not worker.ready.is_set():
            return worker.started + START_SECONDS
        return time.monotonic() + self._limit_ms / 1000 + GRACE_SECONDS

    def _spawn(self) -> _Worker:
        process = subprocess.Popen(  # noqa: S603 - our own module, run by our own interpreter
            self._command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, start_new_session=True
        )
        assert process.stdin is not None and process.stdout is not None
        stdin, stdout = os.dup(process.stdin.fileno()), os.dup(process.stdout.fileno())
        process.stdin.close()
        process.stdout.close()
        for fd in (stdin, stdout):
            with contextlib.suppress(OSError, AttributeError):
                fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE_BYTES)
        worker = _Worker(process, stdin, stdout)
        if self._loop is not None:
            os.set_blocking(stdout, False)
            with contextlib.suppress(RuntimeError):  # the loop is closed: a thread reads
                self._loop.call_soon_threadsafe(self._listen, worker)
                return worker
            os.set_blocking(stdout, True)
        reader = threading.Thread(target=self._read, args=(worker,), name="sandbox", daemon=True)
        reader.start()
        return worker

    def _read(self, worker: _Worker) -> None:
        """A reader thread: the worker's replies, until it is gone; its watch, meanwhile."""
        frames = protocol.FrameReader()
        watched = time.monotonic()
        try:
            while True:
                readable, _, _ = select.select([worker.stdout], [], [], WATCH_SECONDS)
                if readable:
                    data = os.read(worker.stdout, 1 << 16)
                    if not data:
                        break
                    self._answer(worker, frames.feed(data))
                if time.monotonic() - watched >= WATCH_SECONDS:
                    watched = time.monotonic()
                    self._watch(worker)
        finally:
            os.close(worker.stdout)
            self._replace(worker)

    def _listen(self, worker: _Worker) -> None:
        """On the sandbox's loop: the same as ``_read``, the loop reading when replies come."""
        assert self._loop is not None
        if worker.process.poll() is not None and self._worker is not worker:
            os.close(worker.stdout)  # replaced or closed before the loop got here
            return
        frames = protocol.FrameReader()
        worker.listening = True
        self._loop.add_reader(worker.stdout, self._readable, worker, frames)
        worker.watch = self._loop.call_later(WATCH_SECONDS, self._watch_on_loop, worker)

    def _readable(self, worker: _Worker, frames: protocol.FrameReader) -> None:
        try:
            data = os.read(worker.stdout, 1 << 16)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if data:
            self._answer(worker, frames.feed(data))
            return
        self._unlisten(worker)
        # Waiting for the dead worker's exit, and starting another, would block the loop.
        replacing = threading.Thread(
            target=self._replace, args=(worker,), name="sandbox-replace", daemon=True
        )
        replacing.start()

    def _watch_on_loop(self, worker: _Worker) -> None:
        if worker.listening:
            self._watch(worker)
            assert self._loop is not None
            worker.watch = self._loop.call_later(WATCH_SECONDS, self._watch_on_loop, worker)

    def _unlisten(self, worker: _Worker) -> None:
        """On the sandbox's loop: stop reading the worker, and close its end of the pipe."""
        if not worker.listening:
            return
        worker.listening = False
        assert self._loop is not None
        self._loop.remove_reader(worker.stdout)
        if worker.watch is not None:
            worker.watch.cancel()
        os.close(worker.stdout)

    def _answer(self, worker: _Worker, messages: list[Any]) -> None:
        settled: Settled = []
        for message in messages:
            probe = self._deliver(worker, message, settled)
            if probe is not None:
                _settle(settled, probe)
                settled = []
        _settle(settled)

    def _deliver(self, worker: _Worker, message: list[Any], settled: Settled) -> _Run | None:
        """Adds the reply's outcome to ``settled``; answers the next probe to send, if any."""
        if message[0] == protocol.NOTICE_ID:
            self._notice(worker, message[1], message[2])
            return None
        request_id, status, value, console, dropped, elapsed_ms, compiled = message
        with self._lock:
            run = self._runs.pop(request_id, None)
            if run is None:
                return None
            self.compilations += bool(compiled)
            probe = None
            if request_id == self._probe:
                self._probe = None
                probe = self._next_probe(settled)
        settled.append((run.waiter, from_reply(status, value, console, dropped, elapsed_ms)))
        return probe

    def _notice(self, worker: _Worker, event: str, detail: Any) -> None:
        with self._lock:
            if event == protocol.READY:
                worker.ready.set()
                self._failed_starts = 0
                for run in self._runs.values():
                    if run.worker is worker:
                        run.deadline = self._deadline(worker)
            elif event == protocol.STOPPING and detail in self._runs:
                self._culprits.stopping(detail, self._runs[detail].logic)
            elif event == protocol.STOPPED:
                self._culprits.stopped(detail)

    def _watch(self, worker: _Worker) -> None:
        """Kills the worker when a run of its waits past any sane time: it hangs."""
        now = time.monotonic()
        with self._lock:
            late = any(r.worker is worker and r.deadline < now for r in self._runs.values())
        if late and worker.process.poll() is None:
            log.error("sandbox: worker %s hangs; killing it", worker.process.pid)
            worker.process.kill()

    def _replace(self, worker: _Worker) -> None:
        """The worker is gone: start another, and send it again the runs the dead one held.

        Any of those runs may be the one that killed it, so they go back one at a time (as
        probes, while other traffic flows): a run that kills a second worker is the culprit.
        """
        code = worker.process.wait()
        worker.close_stdin()
        settled: Settled = []
        with self._lock:
            if self._worker is not worker:
                return  # closed
            log.error("sandbox: worker %s died (exit %s)", worker.process.pid, code)
            self._culprits.worker_died()
            self._failed_starts += not worker.ready.is_set()
            if self._failed_starts >= MAX_FAILED_STARTS:
                log.error("sandbox: the worker cannot start: %s", " ".join(self._command))
                self._worker = None
                self._revive_at = time.monotonic() + REVIVE_SECONDS
                runs, self._runs = list(self._runs.values()), {}
                self._suspects.clear()
                settled = [
                    (r.waiter, failed("exception", "the sandbox cannot start")) for r in runs
                ]
                probe = None
            else:
                self._worker = self._spawn()
                self.restarts += 1
                probe = self._retry(worker, settled)
        _settle(settled, probe)

    def _retry(self, dead: _Worker, settled: Settled) -> _Run | None:
        """Under the lock: queues the dead worker's runs as suspects; a second death bans."""
        for request_id, run in list(self._runs.items()):
            if run.worker is not dead:
                continue
            if request_id == self._probe:
                self._probe = None
            if run.attempts < 2:
                run.attempts += 1
                run.worker = None
                self._suspects.append(request_id)
                continue
            del self._runs[request_id]
            self._culprits.ban(run.logic)
            settled.append((run.waiter, failed("memory", CRASHED)))
        return self._next_probe(settled)

    def _next_probe(self, settled: Settled) -> _Run | None:
        """Under the lock: the next suspect to send, alone, unless one is out already."""
        while self._probe is None and self._suspects and self._worker is not None:
            request_id = self._suspects.popleft()
            run = self._runs.get(request_id)
            if run is None:
                continue
            refusal = self._culprits.refusal(run.logic)
            if refusal is not None:
                del self._runs[request_id]
                settled.append((run.waiter, failed("memory", refusal)))
                continue
            run.worker = self._worker
            run.deadline = self._deadline(self._worker)
            self._probe = request_id
            return run
        return None


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _settle(settled: Settled, probe: _Run | None = None) -> None:
    """Hands outcomes to their waiters from any thread: at once to those of the loop running
    here, in one call to each other event loop."""
    here = _running_loop()
    by_loop: dict[asyncio.AbstractEventLoop, Settled] = {}
    for waiter, outcome in settled:
        if waiter.loop is None:
            with contextlib.suppress(InvalidStateError):
                waiter.future.set_result(outcome)
        elif waiter.loop is here:
            waiter.settle_here(outcome)
        else:
            by_loop.setdefault(waiter.loop, []).append((waiter, outcome))
    for loop, answers in by_loop.items():
        with contextlib.suppress(RuntimeError):  # that loop is closed: nobody waits any more
            loop.call_soon_threadsafe(_settle_here, answers)
    if probe is not None and probe.worker is not None:
        probe.worker.send(probe.frame)


def _settle_here(settled: Settled) -> None:
    for waiter, outcome in settled:
        waiter.settle_here(outcome)


def _plain(value: object) -> object:
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, list | tuple | set | frozenset):
        return list(value)
    return str(value)

"""The sandbox worker's engine: a V8 isolate per (owner, version), compiled once, run under limits.

Everything here runs on the worker process's event loop. Runs call mini-racer's cancelable
``eval_cancelable`` only, so the loop never waits on an isolate's thread; creating, freeing
and garbage-collecting isolates (a blocking C call each) happens on one thread of its own. A
few blank isolates with the prelude are kept warm so a new or rebuilt version costs a compile,
not an isolate; versions idle for minutes give their isolate back and compile again when next
used.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

import orjson
from py_mini_racer import JSEvalException, JSOOMException, MiniRacer, init_mini_racer, mini_racer

from sticky.api.sandbox.prelude import PRELUDE
from sticky.kernel.waiting import within

Reply = tuple[str, Any, list[str], int]

# stdlib logging: structlog would add ~0.3 s to every worker start.
log = logging.getLogger("sticky.api.sandbox")

SPARES = 2
IDLE_SECONDS = 300.0
SWEEP_SECONDS = 30.0
STOP_GRACE = 0.5
STOP_GRACE_MIN = 0.015
SETUP_SECONDS = 2.0
QUEUE_SECONDS = 1.0
STUCK_SECONDS = 1.0
STOP_WAIT_SECONDS = 0.25
BURY_SECONDS = 60.0
MAX_BATCH = 32
BATCH_SHARE = 0.25  # a batch is sized to take this share of one run's time limit
MIN_RUN_MS = 0.1
COLLECT_SHARE = 8  # collect after evaluating this fraction of the memory limit in source


class Isolate:
    """One MiniRacer (its own V8 isolate and thread) with the prelude installed."""

    def __init__(self, maker: AbstractContextManager[MiniRacer], racer: MiniRacer) -> None:
        self._maker = maker
        self.racer = racer
        self.evaluated = 0
        """Characters of source evaluated since the last collection: see ``collect``."""

    async def eval(self, code: str) -> Any:
        self.evaluated += len(code)
        return await self.racer.eval_cancelable(code)

    def collect(self) -> None:
        """Blocking: a full garbage collection, run on the isolate's own thread.

        Every run evaluates a script of its own (the call with its input), and leaves it
        behind, with its compilation-cache entry, as about twice its size in garbage. V8
        plans its full collections against its own heap limit (over a gigabyte), not
        against ours, so the garbage piles up until the memory limit, which counts it,
        stops a healthy run: about one in 35,000 under the 32 MB default.
        """
        self.evaluated = 0
        self.racer.low_memory_notification()

    @classmethod
    def open(cls, loop: asyncio.AbstractEventLoop, memory_limit: int) -> Isolate:
        """Blocking: creates the isolate, bound to ``loop``; call it off that loop."""
        maker = mini_racer(loop)
        racer = maker.__enter__()
        racer.set_hard_memory_limit(memory_limit)
        return cls(maker, racer)

    def close(self) -> None:
        """Blocking: stops whatever JavaScript still runs and frees the isolate.

        Leaving ``mini_racer()`` would free the context too, then drop the ctypes callback the
        context calls Python with. But when another thread is inside a call on that context at
        that moment (freeing a value, say), V8 tears the context down later, on that thread,
        and may still call back: into freed memory, a segfault (1 in ~1,000 timeouts here). So
        the context is freed directly, and the engine keeps ``maker`` (which holds the
        callback) a while longer: see ``Engine._bury``.
        """
        with contextlib.suppress(Exception):
            context = self.racer._ctx  # private: mini-racer has no public way to do this
            if context is not None:
                init_mini_racer(ignore_duplicate_init=True).mr_free_context(context._ctx)


@dataclass(eq=False)
class _Pending:
    input_json: str
    limit: float
    tag: int
    answer: asyncio.Future[tuple[Reply, bool]]
    queued: float


@dataclass(eq=False)
class _Entry:
    source: str
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    isolate: Isolate | None = None
    failure: Reply | None = None
    stopping: asyncio.Future[None] | None = None
    evicted: bool = False
    used: float = field(default_factory=time.monotonic)
    pending: deque[_Pending] = field(default_factory=deque)
    draining: bool = False
    run_ms: float | None = None  # a run's recent time inside V8: how many fit in one batch


class Engine:
    """Compiled routing logic by (owner, version key), least recently used first out."""

    def __init__(
        self,
        *,
        memory_limit: int,
        max_cached: int,
        on_stuck: Callable[[], None],
        on_stopping: Callable[[int, bool], None],
    ) -> None:
        self._loop = asyncio.get_running_loop()
        self._memory_limit = memory_limit
        self._max_cached = max_cached
        self._on_stuck = on_stuck
        self._on_stopping = on_stopping
        self._entries: OrderedDict[tuple[str, str], _Entry] = OrderedDict()
        self._spares: list[Isolate] = []
        self._filling = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopping: dict[asyncio.Future[None], float] = {}
        self._buried: deque[tuple[float, Isolate]] = deque()
        self.calls = 0
        """How many calls into V8 ran logic (a batch of runs is one)."""
        # One thread makes and frees every isolate: mini-racer 0.14 segfaults when a context
        # is made while another is made or freed on another thread (every few compiles here).
        self._isolates = ThreadPoolExecutor(1, "sandbox-isolates")

    async def start(self) -> str:
        """Warms the spare isolates; answers the V8 version."""
        self._spares.append(await self._new_isolate())
        self._refill()
        self._spawn(self._sweep())
        self._spawn(self._watch_stops())
        return self._spares[0].racer.v8_version

    async def run(
        self, owner: str, key: str, source: str, input_json: str, limit: float, tag: int
    ) -> tuple[Reply, bool]:
        """One run of ``source`` on ``input_json``; also says whether it had to compile.

        Runs of one version wait their turn in arrival order, and those waiting together go
        into V8 as one batch (see ``_drain``). When the run leaves its isolate to be stopped,
        ``on_stopping(tag, True)`` is called before this returns, and ``on_stopping(tag,
        False)`` once the isolate is gone.
        """
        return await self.submit(owner, key, source, input_json, limit, tag)

    def submit(
        self, owner: str, key: str, source: str, input_json: str, limit: float, tag: int
    ) -> asyncio.Future[tuple[Reply, bool]]:
        """``run`` without a coroutine of its own: the future of its answer."""
        entry = self._entry(owner, key, source)
        entry.used = time.monotonic()
        answer: asyncio.Future[tuple[Reply, bool]] = self._loop.create_future()
        entry.pending.append(_Pending(input_json, limit, tag, answer, self._loop.time()))
        if not entry.draining:
            entry.draining = True
            self._spawn(self._drain(entry))
        return answer

    async def _drain(self, entry: _Entry) -> None:
        """Runs the entry's waiting runs, as many at a time as fit well within one time limit.

        A call into V8 costs far more around the logic than the logic itself (~200 µs against
        ~10 µs here), so under load one ``__sticky.runMany`` answers a whole batch. The batch
        has one run's time limit; when it fails as a whole (too slow together, out of memory,
        or broken), each of its runs is run again alone, under its own limit.
        """
        batch: list[_Pending] = []
        try:
            while entry.pending:
                batch = self._next_batch(entry)
                if not batch:
                    continue
                async with entry.lock:
                    try:
                        answers = await self._run_batch(entry, batch)
                    finally:
                        if entry.evicted:
                            self._stop(entry)
                for item, answer in zip(batch, answers, strict=True):
                    if not item.answer.done():
                        item.answer.set_result(answer)
                batch = []
        except BaseException as exc:
            for item in [*batch, *entry.pending]:
                if not item.answer.done():
                    item.answer.set_exception(exc)
            entry.pending.clear()
            if not isinstance(exc, Exception):
                raise
        finally:
            entry.draining = False

    def _next_batch(self, entry: _Entry) -> list[_Pending]:
        now = self._loop.time()
        batch: list[_Pending] = []
        size = 1
        while entry.pending and len(batch) < size:
            item = entry.pending.popleft()
            if item.answer.done():
                continue  # its caller is gone
            if now - item.queued > QUEUE_SECONDS:
                waited: Reply = ("timeout", "too many runs of this logic are waiting", [], 0)
                item.answer.set_result((waited, False))
                continue
            if not batch and entry.run_ms is not None:
                share = item.limit * 1000 * BATCH_SHARE
                size = max(1, min(MAX_BATCH, int(share / max(entry.run_ms, MIN_RUN_MS))))
            batch.append(item)
        return batch

    async def _run_batch(self, entry: _Entry, batch: list[_Pending]) -> list[tuple[Reply, bool]]:
        first = batch[0]
        failure, compiled = await self._prepare(entry, first.limit)
        if failure is not None:
            return [(failure, False)] * len(batch)
        if len(batch) == 1:
            reply = await self._execute(entry, first.input_json, first.limit, first.tag)
            return [(reply, compiled)]
        replies = await self._execute_many(entry, batch)
        if replies is not None:
            return [(reply, compiled and n == 0) for n, reply in enumerate(replies)]
        answers: list[tuple[Reply, bool]] = []
        for item in batch:
            failure, again = await self._prepare(entry, item.limit)
            reply = failure or await self._execute(entry, item.input_json, item.limit, item.tag)
            answers.append((reply, again or (compiled and not answers)))
        return answers

    async def _prepare(self, entry: _Entry, limit: float) -> tuple[Reply | None, bool]:
        """Ready to run: the isolate stopped by the last run gone, the source compiled.

        Answers why the logic cannot run (or None), and whether it compiled.
        """
        if entry.failure is not None:
            return entry.failure, False
        if entry.stopping is not None:
            try:
                await within(max(limit, STOP_WAIT_SECONDS), asyncio.shield(entry.stopping))
            except TimeoutError:
                message = "the previous run of this logic is still being stopped"
                return ("timeout", message, [], 0), False
            entry.stopping = None
        if entry.isolate is not None:
            if entry.isolate.evaluated > self._memory_limit // COLLECT_SHARE:
                await self._loop.run_in_executor(self._isolates, entry.isolate.collect)
            return None, False
        failure = await self._compile(entry, limit)
        return failure, failure is None

    async def close(self) -> None:
        """Frees the isolates, waiting a little for those still running; call before exiting."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        isolates = [e.isolate for e in self._entries.values() if e.isolate] + self._spares
        self._entries.clear()
        self._spares = []
        waits = [self._loop.run_in_executor(self._isolates, i.close) for i in isolates]
        if waits or self._stopping:
            await asyncio.wait([*waits, *self._stopping], timeout=SETUP_SECONDS)

    def _entry(self, owner: str, key: str, source: str) -> _Entry:
        entry = self._entries.get((owner, key))
        if entry is not None and entry.source == source:
            self._entries.move_to_end((owner, key))
            return entry
        if entry is not None:
            self._spawn(self._evict(entry))
        entry = self._entries[owner, key] = _Entry(source)
        while len(self._entries) > self._max_cached:
            _, old = self._entries.popitem(last=False)
            self._spawn(self._evict(old))
        return entry

    async def _evict(self, entry: _Entry) -> None:
        entry.evicted = True
        async with entry.lock:
            self._stop(entry)

    async def _sweep(self) -> None:
        """Frees the isolates of versions idle for a while (about 1 MB each); keeps the source."""
        while True:
            await asyncio.sleep(SWEEP_SECONDS)
            idle_since = time.monotonic() - IDLE_SECONDS
            for entry in list(self._entries.values()):
                if entry.isolate and entry.used < idle_since and not entry.lock.locked():
                    self._stop(entry)

    async def _compile(self, entry: _Entry, limit: float) -> Reply | None:
        isolate = self._spares.pop() if self._spares else await self._new_isolate()
        self._refill()
        try:
            async with asyncio.timeout(max(limit, SETUP_SECONDS)):
                code = f"__sticky.compile({orjson.dumps(entry.source).decode()})"
                raw = await isolate.eval(code)
        except TimeoutError:
            self._discard(isolate)
            return "timeout", "the logic took too long to compile", [], 0
        except JSEvalException:
            over = isolate.racer.was_hard_memory_limit_reached()
            self._discard(isolate)
            return ("memory" if over else "exception"), "the logic cannot be compiled", [], 0
        if raw == "":
            entry.isolate = isolate
            return None
        # A failed compile changed nothing in the isolate: it is as good as a spare.
        self._spares.append(isolate)
        decoded = _decode(raw)
        entry.failure = decoded[0] if decoded else ("syntax", "the logic cannot be compiled", [], 0)
        return entry.failure

    async def _execute(self, entry: _Entry, input_json: str, limit: float, tag: int) -> Reply:
        """Runs once; the limit applies to the time measured inside V8.

        The isolate is only terminated a little past the limit, so a run that finished in
        time but whose reply was late (a busy machine) keeps its result and its isolate.
        """
        isolate = entry.isolate
        assert isolate is not None
        code = f"__sticky.run({orjson.dumps(input_json).decode()})"
        self.calls += 1
        try:
            async with _Deadline(self._loop, limit + max(limit * STOP_GRACE, STOP_GRACE_MIN)):
                raw = await isolate.eval(code)
        except TimeoutError:
            self._stop(entry, tag)
            return "timeout", _too_long(limit), [], 0
        except JSOOMException:
            self._stop(entry, tag)
            return "memory", "the logic used more memory than allowed", [], 0
        except JSEvalException as exc:
            over = isolate.racer.was_hard_memory_limit_reached()
            self._stop(entry, tag)
            if over:
                return "memory", "the logic used more memory than allowed", [], 0
            return "exception", f"the logic broke its sandbox: {exc}".split("\n")[0], [], 0
        decoded = _decode(raw)
        if decoded is None:
            return "exception", "the logic's output could not be read", [], 0
        return _within_limit(entry, decoded, limit)

    async def _execute_many(self, entry: _Entry, batch: list[_Pending]) -> list[Reply] | None:
        """Runs a batch in one call, under one run's limit; None when it failed as a whole."""
        isolate = entry.isolate
        assert isolate is not None
        limit = batch[0].limit
        inputs = "[" + ",".join(item.input_json for item in batch) + "]"
        code = f"__sticky.runMany({orjson.dumps(inputs).decode()})"
        self.calls += 1
        try:
            async with _Deadline(self._loop, limit + max(limit * STOP_GRACE, STOP_GRACE_MIN)):
                raw = await isolate.eval(code)
        except (TimeoutError, JSEvalException):
            self._stop(entry, batch[0].tag)
            return None
        try:
            outputs = orjson.loads(raw) if isinstance(raw, str) else None
        except orjson.JSONDecodeError:
            outputs = None
        if not isinstance(outputs, list) or len(outputs) != len(batch):
            return None
        replies: list[Reply] = []
        for item, output in zip(batch, outputs, strict=True):
            decoded = _decode(output)
            if decoded is None:
                replies.append(("exception", "the logic's output could not be read", [], 0))
            else:
                replies.append(_within_limit(entry, decoded, item.limit))
        return replies

    def _stop(self, entry: _Entry, tag: int | None = None) -> None:
        """Throws the entry's isolate away (it may be mid-termination); the next run rebuilds."""
        isolate, entry.isolate = entry.isolate, None
        if isolate is None:
            return
        entry.stopping = self._discard(isolate)
        if tag is not None:
            self._on_stopping(tag, True)
            entry.stopping.add_done_callback(lambda _: self._on_stopping(tag, False))

    async def _watch_stops(self) -> None:
        """Calls ``on_stuck`` when an isolate takes too long to stop.

        Some builtins (``new Array(2 ** 27).fill(0)``) ignore termination and keep a core busy
        for many seconds; only the worker's exit stops them.
        """
        while True:
            await asyncio.sleep(STUCK_SECONDS / 4)
            now = time.monotonic()
            if any(now - started > STUCK_SECONDS for started in self._stopping.values()):
                self._on_stuck()

    def _discard(self, isolate: Isolate) -> asyncio.Future[None]:
        stopping = self._loop.run_in_executor(self._isolates, isolate.close)
        self._stopping[stopping] = time.monotonic()
        stopping.add_done_callback(lambda _: self._bury(stopping, isolate))
        return stopping

    def _bury(self, stopped: asyncio.Future[None], isolate: Isolate) -> None:
        """Keeps a closed isolate's Python side (its callback) a minute: see ``Isolate.close``."""
        self._stopping.pop(stopped, None)
        now = time.monotonic()
        self._buried.append((now, isolate))
        while self._buried and self._buried[0][0] < now - BURY_SECONDS:
            self._buried.popleft()

    async def _new_isolate(self) -> Isolate:
        isolate = await self._loop.run_in_executor(
            self._isolates, Isolate.open, self._loop, self._memory_limit
        )
        try:
            async with asyncio.timeout(SETUP_SECONDS):
                await isolate.eval(PRELUDE)
        except BaseException:
            self._discard(isolate)
            raise
        return isolate

    def _refill(self) -> None:
        if not self._filling and len(self._spares) < SPARES:
            self._filling = True
            self._spawn(self._fill())

    async def _fill(self) -> None:
        try:
            while len(self._spares) < SPARES:
                self._spares.append(await self._new_isolate())
        except Exception:
            log.exception("sandbox: a spare isolate could not be made")
        finally:
            self._filling = False

    def _spawn(self, coro: Any) -> None:
        task = self._loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


class _Deadline:
    """``asyncio.timeout`` that lets replies already queued on the loop land first.

    When the loop runs behind, the reply of a run that finished in time can wait in its queue
    past the deadline; expiring one loop round later (behind it) keeps such a run, and its
    isolate, from counting as a timeout.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, seconds: float) -> None:
        self._loop = loop
        self._seconds = seconds
        self._window = asyncio.timeout(None)
        self._open = False

    async def __aenter__(self) -> None:
        await self._window.__aenter__()
        self._open = True
        when = self._loop.time() + self._seconds
        self._timer = self._loop.call_at(when, self._loop.call_soon, self._expire)

    def _expire(self) -> None:
        if self._open:
            self._window.reschedule(-1.0)

    async def __aexit__(self, *exc_info: Any) -> None:
        self._open = False
        self._timer.cancel()
        await self._window.__aexit__(*exc_info)


def _within_limit(entry: _Entry, decoded: tuple[Reply, float], limit: float) -> Reply:
    """The run's reply, or ``timeout`` when it ran past the limit; notes how long it ran."""
    reply, ran_ms = decoded
    entry.run_ms = ran_ms if entry.run_ms is None else 0.8 * entry.run_ms + 0.2 * ran_ms
    if ran_ms > limit * 1000:
        return "timeout", _too_long(limit), reply[2], reply[3]
    return reply


def _too_long(limit: float) -> str:
    return f"the logic ran longer than {limit * 1000:g} ms"


def _decode(raw: object) -> tuple[Reply, float] | None:
    """The prelude's answer and how long the logic ran, or None when the logic garbled it."""
    if not isinstance(raw, str):
        return None
    try:
        status, value, console, dropped, ran_ms = orjson.loads(raw)
    except (orjson.JSONDecodeError, ValueError, TypeError):
        return None
    if not isinstance(status, str) or not isinstance(console, list):
        return None
    if not isinstance(dropped, int) or not isinstance(ran_ms, int | float):
        return None
    return (status, value, console, dropped), ran_ms

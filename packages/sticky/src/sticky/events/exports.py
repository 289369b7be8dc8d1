"""Whole exports (NDJSON, CSV) run in the export worker, a separate process, not here.

An export reads and encodes hundreds of megabytes; done in the service's process it would
compete for the event loop (and the GIL) with every append. So the service starts one export
worker (:mod:`sticky.events.export_worker`) as it starts, keeps it running, restarts it if it
dies, and only relays its bytes: one read and one write per chunk
of a few megabytes. The worker runs at a lower CPU priority.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import structlog

from sticky.events.domain import EventFilter
from sticky.events.export_worker import FRAME, encode_request
from sticky.events.store import StoreUnavailable
from sticky.kernel.waiting import cancel_and_wait, within

STARTUP_SECONDS = 15.0  # how long an export waits for a worker that is starting
_RESTART_DELAYS = (0.1, 0.5, 1.0, 2.0, 5.0)
_STREAM_LIMIT = 8 * 1024 * 1024  # a frame (one page of the export) fits in the buffer

log = structlog.get_logger("sticky.events.export")


class Exports:
    """The export worker, from the service's side: start it, supervise it, relay exports."""

    def __init__(self, database_url: str, log_level: str = "info") -> None:
        self._database_url = database_url
        self._log_level = log_level
        self._directory: Path | None = None
        self._process: asyncio.subprocess.Process | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._stopping = False
        self.starts = 0  # worker processes started so far (a restart adds one)

    @property
    def socket(self) -> Path:
        if self._directory is None:
            # A directory only this user can enter: the socket answers whoever connects.
            self._directory = Path(tempfile.mkdtemp(prefix="sticky-events-export-"))
        return self._directory / "export.sock"

    @property
    def pid(self) -> int | None:
        process = self._process
        return process.pid if process is not None and process.returncode is None else None

    def start(self) -> None:
        """Start the worker in the background (the first export waits for it if need be)."""
        if self._supervisor is None and not self._stopping:
            self._supervisor = asyncio.create_task(self._supervise(), name="events-exports")

    async def open(self, where: EventFilter, format: str) -> AsyncIterator[bytes]:
        """The export's chunks. Returns once the worker has begun to answer, so a worker
        that cannot be reached (or dies first) is a StoreUnavailable, a 503, rather than a
        truncated 200."""
        if self._stopping:
            raise StoreUnavailable("the events service is stopping")
        self.start()
        assert self._supervisor is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + STARTUP_SECONDS
        while True:
            try:
                reader, writer = await asyncio.open_unix_connection(
                    self.socket, limit=_STREAM_LIMIT
                )
            except (FileNotFoundError, ConnectionRefusedError) as exc:
                failure: Exception = exc  # not listening yet: starting, or restarting
            else:
                try:
                    writer.write(encode_request(where, format))
                    (size,) = FRAME.unpack(await reader.readexactly(FRAME.size))
                    return _relay(reader, writer, size)
                except (asyncio.IncompleteReadError, ConnectionError) as exc:
                    writer.close()  # a worker dying as it accepted: try the next one
                    failure = exc
            if loop.time() > deadline or self._supervisor.done():
                raise StoreUnavailable(f"the export worker is not answering: {failure}")
            await asyncio.sleep(0.02)

    async def _supervise(self) -> None:
        failures = 0
        while not self._stopping:
            with contextlib.suppress(FileNotFoundError):
                self.socket.unlink()
            began = asyncio.get_running_loop().time()
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "sticky.events.export_worker",
                stdin=asyncio.subprocess.PIPE,
            )
            self._process = process
            self.starts += 1
            assert process.stdin is not None
            config = {
                "database_url": self._database_url,
                "socket": str(self.socket),
                "log_level": self._log_level,
            }
            # The URL goes on stdin, not the command line, where anyone could read it.
            process.stdin.write(orjson.dumps(config) + b"\n")
            code = await process.wait()
            if self._stopping:
                return
            lived = asyncio.get_running_loop().time() - began
            failures = 0 if lived > 30 else failures + 1
            delay = _RESTART_DELAYS[min(failures, len(_RESTART_DELAYS) - 1)]
            log.warning("export worker exited", exit_code=code, restart_in=delay)
            await asyncio.sleep(delay)

    async def stop(self) -> None:
        """Stop the worker (it exits when its standard input closes) and clean up."""
        self._stopping = True
        process = self._process
        if process is not None and process.returncode is None:
            assert process.stdin is not None
            process.stdin.close()
            try:
                await within(5, process.wait())
            except TimeoutError:
                process.kill()
                await process.wait()
        await cancel_and_wait(self._supervisor)
        if self._directory is not None:
            shutil.rmtree(self._directory, ignore_errors=True)


async def _relay(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, size: int
) -> AsyncIterator[bytes]:
    """The frames' payloads, from one whose ``size`` is already read to the last (size 0)."""
    try:
        while size:
            try:
                yield await reader.readexactly(size)
                (size,) = FRAME.unpack(await reader.readexactly(FRAME.size))
            except (asyncio.IncompleteReadError, ConnectionError) as exc:
                # The response has begun: failing here ends it unfinished, which the
                # client sees (no last chunk), rather than a silently short export.
                raise StoreUnavailable("the export ended before its last event") from exc
    finally:
        writer.close()

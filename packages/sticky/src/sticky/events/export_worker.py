"""The export worker: a process of its own that reads whole exports out of the log.

The events service starts it (``python -m sticky.events.export_worker``) and sends it, on
standard input, one JSON line: the database URL, the Unix socket to listen on, and the log
level. Each connection to the socket asks for one export (a JSON line: the filter and the
format) and gets it back in frames: a 4-byte big-endian length and that many bytes of NDJSON
or CSV, then a frame of length 0 when the export is complete. A connection that closes
without that last frame is an export that failed. The worker lowers its own priority, so on
a busy machine the service's appends and taps get the CPU first, and it exits when its
standard input closes: when the service stops or dies, however it dies.

On PostgreSQL most of an export's work is the database server's: its backend reads and sends
every row. When that backend runs on this machine (and this process may), the worker lowers
its priority too, so a full export stops competing with the appends' backends for the CPU.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import struct
import sys
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa
import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from sticky.events.domain import EventFilter
from sticky.events.store import reads
from sticky.events.wire import ndjson_to_csv
from sticky.kernel import loops
from sticky.kernel.database import create_engine
from sticky.kernel.logs import configure_logging
from sticky.kernel.proctitle import name_process

# The lowest priority: on a busy CPU the kernel gives a nice-0 process (the service, taps)
# about seventy times the worker's share; on an idle one the worker still runs at full speed.
NICENESS = 19
FRAME = struct.Struct(">I")
END = FRAME.pack(0)
FORMATS = ("ndjson", "csv")

log = structlog.get_logger("sticky.events.export")


def encode_request(where: EventFilter, format: str) -> bytes:
    """The request line for one export (the service's side of the protocol)."""
    return orjson.dumps({"where": where.__dict__, "format": format}) + b"\n"


def decode_request(line: bytes) -> tuple[EventFilter, str]:
    request = orjson.loads(line)
    fields: dict[str, Any] = dict(request["where"])
    fields["types"] = tuple(fields["types"])
    for name in ("created_from", "created_to"):
        if fields[name] is not None:
            fields[name] = datetime.fromisoformat(fields[name])
    format = request["format"]
    if format not in FORMATS:
        raise ValueError(f"unknown export format {format!r}")
    return EventFilter(**fields), format


def _chunks(
    engine: AsyncEngine, where: EventFilter, format: str, turns: reads.Turns
) -> AsyncIterator[bytes]:
    chunks = reads.export(engine, where, turns)
    return ndjson_to_csv(chunks) if format == "csv" else chunks


async def _serve_one(
    engine: AsyncEngine,
    turns: reads.Turns,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
) -> None:
    try:
        where, format = decode_request(await reader.readline())
        async with turns.exporting():
            async for chunk in _chunks(engine, where, format, turns):
                writer.write(FRAME.pack(len(chunk)))
                writer.write(chunk)
                await writer.drain()
        writer.write(END)
        await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError):
        pass  # the service hung up: its client went away
    except Exception as exc:
        # The service sees a connection closed before the last frame: a failed export.
        log.error("export failed", error=repr(exc))
    finally:
        writer.close()


async def _until_stdin_closes() -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while await reader.read(4096):
        pass


def _nice_backend(dbapi_connection: Any, _record: Any) -> None:
    """Lower the priority of this connection's PostgreSQL backend, when it is provably ours."""
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("SELECT pg_backend_pid(), host(inet_client_addr()), inet_client_port()")
        pid, client_host, client_port = cursor.fetchone()
    finally:
        cursor.close()
    outcome = "left as it is (not a direct connection to a server on this machine)"
    fd = dbapi_connection.driver_connection.pgconn.socket
    if direct_backend(fd, int(pid), client_host, client_port):
        outcome = nice_backend(int(pid))
    log.info("export backend priority", backend=pid, outcome=outcome)


def direct_backend(fd: int, pid: int, client_host: str | None, client_port: int | None) -> bool:
    """Whether backend ``pid`` serves the connection on socket ``fd`` directly, on this
    machine: over TCP the server sees this socket's own address and port (no pooler, no
    forwarded port between); over a Unix socket the backend is a child of the process that
    listens there (its credentials come with the socket)."""
    with socket.socket(fileno=os.dup(fd)) as sock:
        if sock.family == socket.AF_UNIX:
            credentials = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12)
            listener: int = struct.unpack("3i", credentials)[0]
            try:
                stat = Path(f"/proc/{pid}/stat").read_text()
            except OSError:
                return False
            return int(stat.rsplit(")", 1)[1].split()[1]) == listener
        host, port = sock.getsockname()[:2]
        return bool((client_host, client_port) == (host, port))


def nice_backend(pid: int) -> str:
    """Renice process ``pid`` if it is a PostgreSQL backend (``postgres: ...``); say what
    happened."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            if not cmdline.read(64).startswith(b"postgres:"):
                return "left as it is (not a postgres backend of this machine)"
        os.setpriority(os.PRIO_PROCESS, pid, NICENESS)
    except OSError as exc:
        return f"left as it is ({type(exc).__name__})"
    return "lowered"


async def serve(database_url: str, socket_path: str) -> None:
    engine = create_engine(database_url)
    if engine.dialect.name == "postgresql":
        host = sa.make_url(database_url).host or ""
        if host in ("", "localhost", "127.0.0.1", "::1"):
            sa.event.listen(engine.sync_engine, "connect", _nice_backend)

    # The exports' page queries take turns, one at a time, first come first served: four
    # exports scanning side by side kept four database backends busy on a machine whose
    # appends need one (on PostgreSQL a one-event append's p99 went from 6 to 24 ms); in
    # turns, on smaller pages, they keep about one busy for a short while at a time.
    turns = reads.Turns()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _serve_one(engine, turns, reader, writer)

    server = await asyncio.start_unix_server(handle, socket_path)
    try:
        await _until_stdin_closes()
    finally:
        server.close()
        await engine.dispose()


def lower_priority() -> None:
    """Nice 19, then Linux's ``SCHED_IDLE``: the worker runs only when no normal process wants
    the CPU, and a tap's process waking up takes the CPU from it at once. At nice 19 alone the
    kernel's scheduler (EEVDF) may let it finish its slice first: with two exports running,
    paced taps' p99 was 14.6-15.2 ms against 11.0-11.2 ms with ``SCHED_IDLE``
    (``bench/tap.py``). Threads the worker starts later inherit both. Where either is refused
    (another kernel), the worker runs with what it got."""
    with contextlib.suppress(OSError):
        os.nice(NICENESS)
    with contextlib.suppress(OSError, AttributeError):
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))


def main() -> None:
    config = orjson.loads(sys.stdin.buffer.readline())
    name_process("sticky-exports")
    configure_logging("events-export", config.get("log_level", "info"))
    lower_priority()
    loops.run(serve(config["database_url"], config["socket"]))


if __name__ == "__main__":
    main()

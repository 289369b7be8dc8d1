"""How fast the events service appends, exports and answers analytics. Not a test.

    uv run python bench/events.py [--backend sqlite|postgres|both] [--events N] [--quick]

Each backend gets a private ``sticky up`` (free ports, a temporary data directory, cheap
argon2); for PostgreSQL the script creates a fresh database on
``postgresql://postgres@127.0.0.1:5432`` (``--postgres``), points
``STICKY_EVENTS_DATABASE_URL`` at it and drops it afterwards. Two users sign up through the
gateway (verified by the development mailbox): the *writer* sends every HTTP append, the
*reader* owns the generated data set, so each measurement sees exactly the events it names.
Requests go through the gateway (Caddy), the public path, unless ``--direct`` sends them
straight to the events service's own port.

1. appends per second over HTTP: single-event requests and batches of 1,000 taps, with 1, 8
   and 64 concurrent writers (an ``httpx.AsyncClient`` each, bodies encoded once), for a
   fixed time each; the anchor is EventStoreDB's published 15,000 writes/s;
2. export: the reader's 1,000,000 events (``--export-events``) as NDJSON (``GET /v1/events``,
   ``Accept: application/x-ndjson``) through the gateway and straight to the service, read
   by ``curl`` into a pipe and counted line by line here. The events are generated
   in-process through the store API (``append``, as the service calls it: log rows and
   projection in one transaction, batches of 10,000): no HTTP client competing for the CPU;
3. isolation: p99 of a one-event append while idle, and while four whole NDJSON exports of
   the reader's events run at once (``curl`` processes writing to /dev/null), twice: with
   the ``curl`` clients at nice 19 (standing for clients on other machines: the load
   generator shares this machine's two cores with the platform, and its reading alone can
   keep both busy) and at nice 0;
4. ``stats`` latency: the data set grown to ``--events`` (default 1,000,000: generating
   10,000,000 takes longer here than the whole run should; the table says how long), then
   sequential ``GET /v1/events/stats`` requests. Stats reads only the hourly projection, so
   its row count is printed beside the events'.

On PostgreSQL the script runs ``ANALYZE`` as the data set grows, as autovacuum would on a
table growing at a normal pace (a bulk load outruns it).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import random
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import jwt
import orjson
import psycopg
import sqlalchemy as sa
import structlog

from sticky.events.domain import NewEvent
from sticky.events.store import open_store
from sticky.kernel.database import create_engine

PORTS = ("GATEWAY", "AUTH", "API", "EVENTS", "MAIL", "GEO", "MAILBOX", "SMTP_SINK")
PASSWORD = "correct horse battery staple"
EXPORT_EVENTS = 1_000_000
DEFAULT_EVENTS = 1_000_000  # 10,000,000 takes too long to generate here (see the table)
GENERATION_BATCH = 10_000
EVENTSTOREDB_WRITES = 15_000  # published appends/s (single node)
EXPORT_TARGET = 300_000  # events/s
STATS_P99_TARGET_MS = 50.0
ISOLATION_TARGET = 2.0
TOKEN_IN_LINK = re.compile(r"token=([A-Za-z0-9_\-]+)")


@dataclass(frozen=True)
class Options:
    events: int
    append_seconds: float
    writers: tuple[int, ...]
    export_events: int
    stats_requests: int
    idle_samples: int
    days: int
    things: int
    applications: int
    direct: bool
    postgres: str


# ---------------------------------------------------------------- the stack


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Stack:
    process: subprocess.Popen[bytes]
    env: dict[str, str]
    data_dir: Path

    @property
    def gateway(self) -> str:
        return f"http://localhost:{self.env['STICKY_GATEWAY_PORT']}"

    @property
    def events(self) -> str:
        return f"http://127.0.0.1:{self.env['STICKY_EVENTS_PORT']}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(30)


def start_stack(data_dir: Path, events_database_url: str | None) -> Stack:
    """``sticky up`` on free ports with its own data; returns once it says it is ready."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STICKY_")}
    ports: set[int] = set()
    while len(ports) < len(PORTS):
        ports.add(free_port())
    env.update({f"STICKY_{name}_PORT": str(port) for name, port in zip(PORTS, ports, strict=True)})
    env.update(
        STICKY_ENV="development",
        STICKY_DATA_DIR=str(data_dir),
        STICKY_ARGON2_TIME_COST="1",
        STICKY_ARGON2_MEMORY_KIB="1024",
        STICKY_ACCESS_TOKEN_TTL_SECONDS="7200",  # outlives the whole run
        STICKY_LOG_LEVEL="warning",  # an access log line per request would be measured too
    )
    if events_database_url:
        env["STICKY_EVENTS_DATABASE_URL"] = events_database_url
    data_dir.mkdir(parents=True)
    log = data_dir / "stdout.log"
    with log.open("wb") as out, (data_dir / "stderr.log").open("wb") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "sticky", "up"], stdout=out, stderr=err, env=env
        )
    deadline = time.monotonic() + 60
    while b'"stack ready"' not in log.read_bytes():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            errors = (data_dir / "stderr.log").read_text()[-3000:]
            raise SystemExit(f"sticky up did not start:\n{log.read_text()[-3000:]}\n{errors}")
        time.sleep(0.05)
    return Stack(process, env, data_dir)


def events_database_url(stack: Stack) -> str:
    url = stack.env.get("STICKY_EVENTS_DATABASE_URL")
    return url or f"sqlite:///{(stack.data_dir / 'events.sqlite3').resolve()}"


@dataclass(frozen=True)
class User:
    id: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def sign_up(stack: Stack, name: str) -> User:
    """A verified, signed-in user, made through the gateway like any developer's."""
    email = f"{name}-{uuid.uuid4().hex[:10]}@example.com"
    with httpx.Client(base_url=stack.gateway, timeout=30) as http:
        body = {"name": name.title(), "email": email, "password": PASSWORD}
        http.post("/v1/auth/sign-up", json=body).raise_for_status()
        token = None
        for _ in range(300):
            messages = http.get("/mail/api/messages", params={"to": email}).json()["data"]
            found = [m for m in messages if "confirm" in m["subject"].lower()]
            if found and (match := TOKEN_IN_LINK.search(found[0]["text"])):
                token = match.group(1)
                break
            time.sleep(0.1)
        if token is None:
            raise SystemExit(f"no verification email reached {email}")
        http.post("/v1/auth/verify-email", json={"token": token}).raise_for_status()
        answer = http.post("/v1/auth/sign-in", json={"email": email, "password": PASSWORD})
        answer.raise_for_status()
    access = answer.json()["accessToken"]
    claims = jwt.decode(access, options={"verify_signature": False})
    return User(claims["sub"], access)


# ---------------------------------------------------------------- measuring


def percentile(samples: Sequence[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def tap(index: int) -> dict[str, object]:
    """A tap as the api records it: a SESSION_READ with the city it came from."""
    return {
        "type": "SESSION_READ",
        "thingId": f"thg_bench{index % 50:04d}",
        "applicationId": f"app_bench{index % 5:02d}",
        "sessionId": f"ses_{secrets.token_hex(8)}",
        "customData": {"city": "Leeds", "country": "GB"},
    }


@dataclass
class AppendRun:
    batch: int
    writers: int
    events: int
    seconds: float
    latencies: list[float] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.events / self.seconds


async def append_load(url: str, user: User, batch: int, writers: int, seconds: float) -> AppendRun:
    """``writers`` loops posting the same ``batch``-event body for ``seconds``.

    Each writer has an ``httpx.AsyncClient`` of its own: one client's pool scans all its
    connections for every request, which at 64 connections costs more CPU than the service.
    """
    body = orjson.dumps([tap(i) for i in range(batch)])
    headers = {**user.headers, "Content-Type": "application/json"}
    run = AppendRun(batch, writers, 0, 0.0)
    async with contextlib.AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(httpx.AsyncClient(timeout=120, headers=headers))
            for _ in range(writers)
        ]
        for answer in await asyncio.gather(*(client.post(url, content=body) for client in clients)):
            answer.raise_for_status()  # every connection open before the clock starts
        began = time.perf_counter()
        deadline = began + seconds

        async def writer(client: httpx.AsyncClient) -> None:
            while time.perf_counter() < deadline:
                sent = time.perf_counter()
                answer = await client.post(url, content=body)
                if answer.status_code != 201:
                    raise SystemExit(f"append answered {answer.status_code}: {answer.text[:500]}")
                run.latencies.append(time.perf_counter() - sent)
                run.events += batch

        await asyncio.gather(*(writer(client) for client in clients))
        run.seconds = time.perf_counter() - began
    return run


def curl_export(
    url: str, user: User, sink: int | None, niceness: int = 0
) -> subprocess.Popen[bytes]:
    """``curl`` reading the whole NDJSON export: a client that costs the machine little."""
    command = ["nice", "-n", str(niceness)] if niceness else []
    command += ["curl", "-sS", "--fail", "-N", "-H", f"Authorization: Bearer {user.token}"]
    command += ["-H", "Accept: application/x-ndjson", url]
    return subprocess.Popen(command, stdout=sink if sink is not None else subprocess.PIPE)


def export_once(url: str, user: User) -> tuple[int, int, float]:
    """Lines, bytes and seconds of one whole export, every line counted."""
    began = time.perf_counter()
    process = curl_export(url, user, None)
    assert process.stdout is not None
    lines = size = 0
    while chunk := os.read(process.stdout.fileno(), 1 << 20):
        lines += chunk.count(b"\n")
        size += len(chunk)
    if process.wait() != 0:
        raise SystemExit(f"the export failed (curl exited {process.returncode})")
    return lines, size, time.perf_counter() - began


async def single_appends(url: str, user: User, until: asyncio.Future[None] | int) -> list[float]:
    """Latencies of one-event appends, one after another: ``until`` a count, or a future."""
    latencies: list[float] = []
    headers = {**user.headers, "Content-Type": "application/json"}
    async with httpx.AsyncClient(timeout=60, headers=headers) as client:
        for _ in range(5):
            (await client.post(url, content=orjson.dumps([tap(0)]))).raise_for_status()
        while (len(latencies) < until) if isinstance(until, int) else not until.done():
            body = orjson.dumps([tap(len(latencies))])
            sent = time.perf_counter()
            answer = await client.post(url, content=body)
            latencies.append(time.perf_counter() - sent)
            if answer.status_code != 201:
                raise SystemExit(f"append answered {answer.status_code}: {answer.text[:500]}")
    return latencies


@dataclass
class Isolation:
    idle: list[float]
    loaded: list[float]
    exports_seconds: float


async def isolation(
    url: str, export_url: str, writer: User, reader: User, idle_samples: int, niceness: int
) -> Isolation:
    """One-event appends by ``writer``, idle, then while four exports of ``reader``'s run.

    The exports' ``curl`` clients run at ``niceness``: at 19 they stand for clients on other
    machines (their reading then takes only CPU the platform leaves idle); at 0 they compete
    with the platform for this machine's two cores like any of its processes.
    """
    idle = await single_appends(url, writer, idle_samples)
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()
    with open(os.devnull, "wb") as sink:
        began = time.perf_counter()
        exports = [curl_export(export_url, reader, sink.fileno(), niceness) for _ in range(4)]

        def wait_all() -> list[int]:
            codes = [process.wait() for process in exports]
            loop.call_soon_threadsafe(done.set_result, None)
            return codes

        waiting = loop.run_in_executor(None, wait_all)
        loaded = await single_appends(url, writer, done)
        codes = await waiting
        exports_seconds = time.perf_counter() - began
    if any(codes):
        raise SystemExit(f"an export failed under load (curl exit codes {codes})")
    return Isolation(idle, loaded, exports_seconds)


async def stats_latency(
    base: str, user: User, params: dict[str, str], requests: int
) -> tuple[list[float], int]:
    async with httpx.AsyncClient(base_url=base, timeout=120, headers=user.headers) as client:
        answer = await client.get("/v1/events/stats", params=params)
        if answer.status_code != 200:
            raise SystemExit(f"stats answered {answer.status_code}: {answer.text[:500]}")
        groups = len(answer.json()["data"])
        latencies = []
        for _ in range(requests):
            sent = time.perf_counter()
            (await client.get("/v1/events/stats", params=params)).raise_for_status()
            latencies.append(time.perf_counter() - sent)
    return latencies, groups


# ---------------------------------------------------------------- the data set

TYPES = (  # a merchant's mix: mostly taps, some purchases
    ("SESSION_READ", 0.80),
    ("CHECK_IN", 0.06),
    ("SESSION_CART_PAY", 0.05),
    ("LD_V2", 0.03),
    ("MESSAGE", 0.025),
    ("CONNECTION_GOOD", 0.02),
    ("SESSION_CART_PAY_FAIL", 0.01),
    ("SESSION_CART_REFUND", 0.005),
)
PAYMENT_TYPES = {"SESSION_CART_PAY", "SESSION_CART_PAY_FAIL", "SESSION_CART_REFUND"}
CITIES = ("Leeds", "York", "Bristol", "Glasgow", "Cardiff", "Belfast", "London", "Norwich")
DATA_END = datetime(2026, 12, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Shape:
    """What the reader's events look like: ``days`` up to DATA_END, ``things`` stickers."""

    total: int
    days: int
    things: int
    applications: int

    @property
    def begin(self) -> datetime:
        return DATA_END - timedelta(days=self.days)

    def batch(self, start: int, stop: int, user_id: str, rng: random.Random) -> list[NewEvent]:
        """Events ``start`` to ``stop`` of ``total``, in time order like a real log."""
        span = self.days * 86400.0
        names = [name for name, _ in TYPES]
        types = rng.choices(names, [weight for _, weight in TYPES], k=stop - start)
        batch = []
        for index, kind in zip(range(start, stop), types, strict=True):
            thing = rng.randrange(self.things)
            data: dict[str, object] = {"city": CITIES[thing % len(CITIES)], "country": "GB"}
            payment = None
            if kind in PAYMENT_TYPES:
                payment = f"pay_{rng.getrandbits(64):016x}"
                data = {"total": rng.randrange(100, 5000), "currency": "GBP"}
            batch.append(
                NewEvent(
                    id=f"evt_bench_{index:010d}",
                    type=kind,
                    user_id=user_id,
                    created_at=self.begin + timedelta(seconds=span * (index + 0.5) / self.total),
                    application_id=f"app_bench{thing % self.applications:03d}",
                    thing_id=f"thg_bench{thing:05d}",
                    session_id=f"ses_{rng.getrandbits(64):016x}",
                    payment_id=payment,
                    custom_data=data,
                )
            )
        return batch


async def generate(url: str, user_id: str, shape: Shape, start: int, stop: int) -> float:
    """Append events ``start`` to ``stop`` through the store API; the seconds it took."""
    rng = random.Random(start)
    store = open_store(url)
    try:
        began, analyzed = time.perf_counter(), max(start, GENERATION_BATCH // 2)
        for first in range(start, stop, GENERATION_BATCH):
            last = min(stop, first + GENERATION_BATCH)
            await store.append(shape.batch(first, last, user_id, rng))
            if last >= 2 * analyzed:
                await analyze(url)
                analyzed = last
        return time.perf_counter() - began
    finally:
        await store.close()
        await analyze(url)


async def analyze(url: str) -> None:
    """On PostgreSQL, what autovacuum does as a table grows: a bulk load outruns it, and
    without statistics the planner scans the log to check an append's ids (100x slower)."""
    engine = create_engine(url)
    try:
        if engine.dialect.name == "postgresql":
            async with engine.begin() as connection:
                await connection.execute(sa.text("ANALYZE"))
    finally:
        await engine.dispose()


async def counts(url: str, user_id: str) -> tuple[int, int]:
    """The reader's events and rollup rows (every rollup), counted in the database."""
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            where = {"user": user_id}
            events = await connection.scalar(
                sa.text("SELECT count(*) FROM events WHERE user_id = :user"), where
            )
            rows = await connection.scalar(
                sa.text("SELECT count(*) FROM rollups WHERE user_id = :user"), where
            )
            if connection.dialect.name == "postgresql":
                # What autovacuum does shortly after a bulk load; without it the planner
                # guesses on tables it has never seen.
                await connection.execute(sa.text("ANALYZE"))
        return int(events or 0), int(rows or 0)
    finally:
        await engine.dispose()


# ---------------------------------------------------------------- one backend

Row = tuple[str, str, str]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}{'s' if count != 1 else ''}"


class Bench:
    """One backend's measurements, in the order they need their data."""

    def __init__(self, stack: Stack, options: Options) -> None:
        self.stack, self.options = stack, options
        self.base = stack.events if options.direct else stack.gateway
        self.url = events_database_url(stack)
        self.shape = Shape(
            max(options.events, options.export_events),
            options.days,
            options.things,
            options.applications,
        )
        self.rows: list[Row] = []
        self.writer = sign_up(stack, "writer")
        self.reader = sign_up(stack, "reader")

    def add(self, name: str, value: str, note: str) -> None:
        self.rows.append((name, value, note))
        print(f"  {name}: {value} ({note})", file=sys.stderr, flush=True)

    async def appends(self) -> None:
        for batch in (1, 1000):
            for writers in self.options.writers:
                run = await append_load(
                    f"{self.base}/v1/events",
                    self.writer,
                    batch,
                    writers,
                    self.options.append_seconds,
                )
                requests, latencies = len(run.latencies), run.latencies
                self.add(
                    f"append, {plural(batch, 'event')}/request, {plural(writers, 'writer')}",
                    f"{run.rate:,.0f} events/s",
                    f"{requests / run.seconds:,.0f} req/s, p50 {ms(percentile(latencies, 0.5))},"
                    f" p99 {ms(percentile(latencies, 0.99))};"
                    f" {run.rate / EVENTSTOREDB_WRITES:.2f}x EventStoreDB's 15,000 writes/s",
                )

    async def generate(self, start: int, stop: int) -> None:
        seconds = await generate(self.url, self.reader.id, self.shape, start, stop)
        rate = (stop - start) / seconds
        self.add(
            f"generate events {start + 1:,} to {stop:,} in-process (store.append)",
            f"{rate:,.0f} events/s",
            f"{seconds:.0f} s in batches of {GENERATION_BATCH:,} (log + projection);"
            f" 10,000,000 would take ~{10_000_000 / rate / 60:.0f} min",
        )

    def export(self) -> int:
        wanted = self.options.export_events
        routes = [("the gateway", self.stack.gateway), ("the events port", self.stack.events)]
        for route, base in routes:
            lines, size, seconds = export_once(f"{base}/v1/events", self.reader)
            if lines != wanted:
                raise SystemExit(f"the export had {lines:,} lines, not {wanted:,}")
            self.add(
                f"export {lines:,} events as NDJSON via {route}",
                f"{lines / seconds:,.0f} events/s",
                f"{seconds:.2f} s, {size / seconds / 2**20:,.0f} MiB/s, {size / lines:.0f} B/event;"
                f" target > {EXPORT_TARGET:,}/s",
            )
        return wanted

    async def isolation(self, exported: int) -> None:
        url = f"{self.base}/v1/events"
        clients = (
            (19, "export clients at nice 19, standing for other machines"),
            (0, "export clients at nice 0, on this machine's two cores"),
        )
        for niceness, who in clients:
            result = await isolation(
                url, url, self.writer, self.reader, self.options.idle_samples, niceness
            )
            idle, loaded = result.idle, result.loaded
            idle_p99, loaded_p99 = percentile(idle, 0.99), percentile(loaded, 0.99)
            self.add(
                "one-event append, idle: p99",
                ms(idle_p99),
                f"p50 {ms(percentile(idle, 0.5))}, {len(idle)} appends one after another",
            )
            self.add(
                f"one-event append, 4 exports of {exported:,} running: p99",
                ms(loaded_p99),
                f"p50 {ms(percentile(loaded, 0.5))}, {len(loaded)} appends;"
                f" the exports took {result.exports_seconds:.1f} s together ({who})",
            )
            self.add(
                f"isolation: loaded p99 / idle p99, clients at nice {niceness}",
                f"{loaded_p99 / idle_p99:.2f}x",
                f"target <= {ISOLATION_TARGET:.0f}x",
            )

    async def stats(self) -> None:
        total, projection = await counts(self.url, self.reader.id)
        self.add(
            "stats data: events / rollup rows",
            f"{total:,} / {projection:,}",
            f"{self.shape.days} days, {self.shape.things} things, {self.shape.applications}"
            f" applications, {len(TYPES)} types; stats reads only the rollups",
        )
        last_week = {"createdFrom": (DATA_END - timedelta(days=7)).isoformat()}
        many, few = self.options.stats_requests, max(10, self.options.stats_requests // 4)
        variants: list[tuple[dict[str, str], int]] = [
            ({"groupBy": "day,type"}, many),
            ({"groupBy": "hour", **last_week}, few),
            ({"groupBy": "thing"}, few),
            ({"groupBy": "application", "type": "SESSION_CART_PAY"}, few),
        ]
        for params, requests in variants:
            latencies, groups = await stats_latency(self.base, self.reader, params, requests)
            query = "&".join(f"{k}={v}" for k, v in params.items())
            self.add(
                f"stats ?{query}",
                f"p99 {ms(percentile(latencies, 0.99))}",
                f"p50 {ms(percentile(latencies, 0.5))}, {requests} requests, {groups:,} groups;"
                f" target p99 < {STATS_P99_TARGET_MS:.0f} ms",
            )


async def measure(stack: Stack, options: Options) -> list[Row]:
    bench = Bench(stack, options)
    await bench.appends()
    await bench.generate(0, options.export_events)
    exported = bench.export()
    await bench.isolation(exported)
    if options.events > options.export_events:
        await bench.generate(options.export_events, options.events)
    await bench.stats()
    return bench.rows


def create_database(server: str) -> tuple[str, str]:
    name = f"sticky_bench_events_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    return name, f"{server.rstrip('/')}/{name}"


def drop_database(server: str, name: str) -> None:
    with psycopg.connect(server, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run_backend(backend: str, options: Options, root: Path) -> list[Row]:
    print(f"{backend}:", file=sys.stderr, flush=True)
    database = url = None
    if backend == "postgres":
        database, url = create_database(options.postgres)
    try:
        stack = start_stack(root / backend, url)
        try:
            return asyncio.run(measure(stack, options))
        finally:
            stack.stop()
    finally:
        if database:
            drop_database(options.postgres, database)


def print_table(title: str, rows: list[Row]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    print(title)
    for row in rows:
        cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        print("  " + "  ".join(cells).rstrip())
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument(
        "--events", type=int, help=f"the stats data set (default {DEFAULT_EVENTS:,})"
    )
    parser.add_argument(
        "--export-events", type=int, help=f"the export data set (default {EXPORT_EVENTS:,})"
    )
    parser.add_argument("--quick", action="store_true", help="a smoke run: small and short")
    parser.add_argument(
        "--stats-requests", type=int, help="for groupBy=day,type (a quarter for the others)"
    )
    parser.add_argument("--direct", action="store_true", help="skip the gateway")
    parser.add_argument("--days", type=int, default=90, help="the data set's time span")
    parser.add_argument("--things", type=int, default=100, help="stickers in the data set")
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432")
    arguments = parser.parse_args()
    # The in-process store's routine lines (the WAL's checkpoints) would split the tables.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    quick = arguments.quick
    export_events = arguments.export_events or (100_000 if quick else EXPORT_EVENTS)
    options = Options(
        events=arguments.events or (200_000 if quick else DEFAULT_EVENTS),
        append_seconds=1.5 if quick else 5.0,
        writers=(1, 8, 64),
        export_events=export_events,
        stats_requests=arguments.stats_requests or (40 if quick else 200),
        idle_samples=50 if quick else 200,
        days=arguments.days,
        things=arguments.things,
        applications=max(1, arguments.things // 10),
        direct=arguments.direct,
        postgres=arguments.postgres,
    )
    backends = ("sqlite", "postgres") if arguments.backend == "both" else (arguments.backend,)
    route = "straight to the events service" if options.direct else "through the gateway (Caddy)"
    load = os.getloadavg()[0]
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="sticky-bench-events-") as tmp:
        tables = {backend: run_backend(backend, options, Path(tmp)) for backend in backends}
    print(
        f"Sticky events benchmark ({os.cpu_count()} cores, Python {sys.version.split()[0]},"
        f" load average {load:.1f} at the start; HTTP {route}; {time.perf_counter() - began:.0f} s)"
    )
    print()
    for backend, rows in tables.items():
        print_table(f"{backend}:", rows)


if __name__ == "__main__":
    main()

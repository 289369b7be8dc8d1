"""Group commit: one writer task turns every append waiting in this process into one
transaction and one flush to disk, run start to end on the writer's own thread.

Each call stays atomic and is checked on its own, against the log plus the calls before it in
the same group: a call that fails its expected version or repeats an id with new content is
answered with that error, and the others are written (so is a call holding an event the
database would refuse: a ValueError, rather than a failed group). Positions are the last one
plus 1, assigned while holding the log's write lock (SQLite's single writer, taken by BEGIN
IMMEDIATE; a PostgreSQL advisory lock), so commit order is position order and a reader
following ``after=p`` never misses an event committed later with a smaller position. The
transaction uses a synchronous connection on a thread of its own: one hand-off from the
event loop per group, however many statements it holds.

On SQLite the writer also keeps the write-ahead log small. Each commit's own (passive)
checkpoint copies the log into the database, but only a checkpoint that finds no reader in
the log lets it start again from its beginning; while subscriptions and exports keep reading,
there always is one, and the log grew without end (36 GB in one benchmark). So once the file
passes ``WAL_LIMIT_BYTES`` the writer, once the group's callers are answered, asks for a
truncating checkpoint, waiting at most ``WAL_WAIT_MS`` for the readers in the log to finish
(new readers read the database file by then), and tries again a second later when they did
not.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import orjson
import psycopg
import sqlalchemy as sa
import structlog
from sqlalchemy.exc import DBAPIError, IntegrityError

from sticky.events.domain import (
    Appended,
    DuplicateEventConflict,
    EventsError,
    NewEvent,
    StoredEvent,
    WrongExpectedVersion,
)
from sticky.events.store.errors import StoreUnavailable
from sticky.events.store.projection import (
    POSTGRES_UPSERT,
    Tally,
    revenue,
    sqlite_time,
    upsert,
    upsert_document,
)
from sticky.events.store.reads import FIELDS
from sticky.events.store.tables import ID_LENGTH, STREAM_LENGTH, events
from sticky.events.store.wire import (
    CREATED_AT,
    ROW_COLUMNS,
    Content,
    content_of,
    row_of,
    stored_event,
)
from sticky.kernel.database import BUSY_TIMEOUT_MS

T = TypeVar("T")

log = structlog.get_logger("sticky.events.writer")

# Any constant will do, as long as nothing else in the database takes it.
LOG_LOCK = 0x571C_E7E5
MAX_GROUP_EVENTS = 20_000
_LOOKUP_CHUNK = 1000
_ATTEMPTS = 3
WAL_LIMIT_BYTES = 64 << 20
WAL_WAIT_MS = 50
_WAL_RETRY_SECONDS = 1.0

Known = tuple[Content, int, str | None, int | None]  # content, position, stream, version


@dataclass
class _Job:
    events: Sequence[NewEvent]
    future: asyncio.Future[list[Appended]]


@dataclass
class _Plan:
    appended: list[Appended]
    rows: list[tuple[Any, ...]]
    ids: dict[tuple[str, str], Known]
    versions: dict[tuple[str, str], int]
    new: list[NewEvent]


# Columns in ROW_COLUMNS order.
_SQLITE_INSERT = (
    "INSERT INTO events (position, id, type, user_id, application_id, thing_id, session_id,"
    " payment_id, federated_user_id, custom_data, created_at, stream, version, body)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
# One JSON document for the whole group: psycopg (pure Python here) adapts one parameter
# instead of fourteen per event, and the server parses the document in C.
_POSTGRES_INSERT = (
    "INSERT INTO events (position, id, type, user_id, application_id, thing_id, session_id,"
    " payment_id, federated_user_id, custom_data, created_at, stream, version, body)"
    " SELECT position, id, type, user_id, application_id, thing_id, session_id, payment_id,"
    " federated_user_id, custom_data, created_at, stream, version, body"
    " FROM json_populate_recordset(NULL::events, %s)"
)


_POSTGRES_HEAD = "SELECT coalesce(max(position), 0) FROM events"
# The columns are the table's own names (FIELDS), not input.
_POSTGRES_IDS = (
    f"SELECT {', '.join(column.name for column in FIELDS)} FROM events"  # noqa: S608
    " WHERE user_id = %s AND id IN (SELECT json_array_elements_text(%s::json))"
)
_POSTGRES_VERSIONS = (
    "SELECT user_id, stream, max(version) FROM events"
    " WHERE user_id = %s AND stream IN (SELECT json_array_elements_text(%s::json))"
    " GROUP BY user_id, stream"
)


class GroupWriter:
    """The process's only writer: a task that groups appends, and one thread that runs each
    group's transaction start to end, so a commit costs one hop off the event loop."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="events-writer")
        self._queue: asyncio.Queue[_Job | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self.transactions = 0  # groups committed: with ``appends``, how well commits group
        self.appends = 0
        database = engine.url.database
        sqlite = engine.dialect.name == "sqlite" and database not in (None, "", ":memory:")
        self._wal = f"{database}-wal" if sqlite else None
        self._wal_retry_at = 0.0

    async def stop(self) -> None:
        """Write what is queued, then stop."""
        self._closed = True
        if self._task is not None:
            self._queue.put_nowait(None)
            task, self._task = self._task, None
            await task
        self._thread.shutdown(wait=True)
        self.engine.dispose()

    async def run(self, work: Callable[[sa.Connection], T], *, log_lock: bool = False) -> T:
        """``work`` in a transaction of its own on the writer's thread, after the appends
        queued before it (``log_lock``: holding the log's write lock on PostgreSQL too)."""

        def transaction() -> T:
            with self.engine.begin() as conn:
                if log_lock and conn.dialect.name == "postgresql":
                    conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({LOG_LOCK})")
                return work(conn)

        return await asyncio.get_running_loop().run_in_executor(self._thread, transaction)

    async def append(self, batch: Sequence[NewEvent]) -> list[Appended]:
        if self._closed:
            raise StoreUnavailable("the event store is closed")
        if not batch:
            return []
        if self._task is None:
            # Started by the first append, in the loop that will use it.
            self._task = asyncio.create_task(self._run(), name="events-group-writer")
        future: asyncio.Future[list[Appended]] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Job(batch, future))
        return await future

    async def _run(self) -> None:
        stopping = False
        loop = asyncio.get_running_loop()
        while not stopping:
            job = await self._queue.get()
            if job is None:
                break
            group, size = [job], len(job.events)
            while size < MAX_GROUP_EVENTS and not self._queue.empty():
                more = self._queue.get_nowait()
                if more is None:
                    stopping = True
                    break
                group.append(more)
                size += len(more.events)
            # A caller that gave up before its turn was never acknowledged: skip it.
            group = [j for j in group if not j.future.done()]
            if not group:
                continue
            outcomes = await loop.run_in_executor(self._thread, self._write, group)
            for job, outcome in zip(group, outcomes, strict=True):
                if job.future.done():
                    continue
                if isinstance(outcome, list):
                    job.future.set_result(outcome)
                else:
                    job.future.set_exception(outcome)
            # Once the group's callers are answered: the next group waits, they do not.
            if self._wal_too_large():
                await loop.run_in_executor(self._thread, self._shrink_wal)

    def _write(self, group: list[_Job]) -> list[list[Appended] | Exception]:
        """Each job's outcome (on the writer's thread): its answer, or why it failed."""
        failure: Exception = StoreUnavailable("the append failed")
        for attempt in range(_ATTEMPTS):
            try:
                return self._transaction(group)
            except (IntegrityError, psycopg.IntegrityError) as exc:
                # Only a writer that bypassed the lock gets here; the next try rereads.
                cause = exc.orig if isinstance(exc, IntegrityError) else exc
                failure = StoreUnavailable(f"the log changed under the writer: {cause}")
                if attempt + 1 == _ATTEMPTS:
                    break
            except (DBAPIError, psycopg.Error, OSError) as exc:
                failure = StoreUnavailable(f"the events database is unavailable: {exc}")
                break
            except Exception as exc:  # the callers must hear of it, whatever it is
                failure = StoreUnavailable(f"the append failed: {exc!r}")
                break
        return [failure] * len(group)

    def _transaction(self, group: list[_Job]) -> list[list[Appended] | Exception]:
        if self.engine.dialect.name == "postgresql":
            return self._pipelined(group)
        with self.engine.begin() as conn:
            last = int(
                conn.scalar(sa.select(sa.func.coalesce(sa.func.max(events.c.position), 0))) or 0
            )
            everything = [e for job in group for e in job.events]
            ids = _stored_ids(conn, everything)
            versions = _stream_versions(conn, everything)
            outcomes, rows, tally = _plan_group(group, last, ids, versions)
            if rows:
                _insert_sqlite(conn, rows)
                upsert(conn, tally)
        self.transactions += 1
        self.appends += len(group)
        return outcomes

    def _pipelined(self, group: list[_Job]) -> list[list[Appended] | Exception]:
        """The PostgreSQL transaction in two round trips instead of seven.

        psycopg's pipeline mode sends statements without waiting for each answer. They still
        run one after another, each with a snapshot of its own taken when it starts, so the
        reads queued behind the lock see everything committed before the lock was granted.
        Under load every round trip waits for the server's backend to be scheduled again.
        """
        everything = [e for job in group for e in job.events]
        with self.engine.connect() as conn:
            raw: psycopg.Connection[Any] = conn.connection.driver_connection  # type: ignore[assignment]
            try:
                with raw.pipeline():
                    raw.execute(f"SELECT pg_advisory_xact_lock({LOG_LOCK})")
                    head = raw.execute(_POSTGRES_HEAD)
                    id_reads = [
                        (user, raw.execute(_POSTGRES_IDS, (user, orjson.dumps(chunk).decode())))
                        for user, chunk in _caller_ids(everything)
                    ]
                    version_reads = [
                        raw.execute(_POSTGRES_VERSIONS, (user, orjson.dumps(chunk).decode()))
                        for user, chunk in _lookups((e.user_id, e.stream) for e in everything)
                    ]
                    found = head.fetchone()
                    last = int(found[0]) if found else 0
                    ids: dict[tuple[str, str], Known] = {}
                    for user, cursor in id_reads:
                        names = [column.name for column in cursor.description or ()]
                        for row in cursor.fetchall():
                            stored = stored_event(dict(zip(names, row, strict=True)))
                            ids[(user, stored.id)] = _known(stored)
                    versions = {
                        (user, stream): int(version)
                        for cursor in version_reads
                        for user, stream, version in cursor.fetchall()
                    }
                    outcomes, rows, tally = _plan_group(group, last, ids, versions)
                    if rows:
                        raw.execute(_POSTGRES_INSERT, (_insert_document(rows),))
                        rollups = upsert_document(tally)
                        if rollups is not None:
                            raw.execute(POSTGRES_UPSERT, (rollups,))
                    raw.commit()
            except BaseException:
                with contextlib.suppress(psycopg.Error):
                    raw.rollback()
                raise
        self.transactions += 1
        self.appends += len(group)
        return outcomes

    def _wal_too_large(self) -> bool:
        """Whether the SQLite WAL is past its limit (and not waiting to be tried again)."""
        if self._wal is None or time.monotonic() < self._wal_retry_at:
            return False
        try:
            return os.stat(self._wal).st_size > WAL_LIMIT_BYTES
        except OSError:
            return False

    def _shrink_wal(self) -> None:
        """On the writer's thread, between groups: see the module's docstring. A failure is
        logged and tried again later, never reported to an append."""
        try:
            busy = self._truncate_wal()
        except Exception as exc:  # nothing waits on this but the next group
            busy = True
            log.warning("wal checkpoint failed", error=repr(exc))
        if busy:
            self._wal_retry_at = time.monotonic() + _WAL_RETRY_SECONDS
            log.info("wal checkpoint waits for readers")

    def _truncate_wal(self) -> bool:
        """A truncating checkpoint, waiting ``WAL_WAIT_MS`` at most; whether readers kept
        it from finishing."""
        connection = self.engine.raw_connection()
        try:
            cursor = connection.cursor()
            cursor.execute(f"PRAGMA busy_timeout={WAL_WAIT_MS}")
            try:
                busy, _, _ = cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            finally:
                cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
                cursor.close()
        finally:
            connection.close()
        return bool(busy)


def _plan_group(
    group: list[_Job],
    last: int,
    ids: dict[tuple[str, str], Known],
    versions: dict[tuple[str, str], int],
) -> tuple[list[list[Appended] | Exception], list[tuple[Any, ...]], Tally]:
    """Each job's outcome, the rows to insert and the rollups to add, after ``last``."""
    outcomes: list[list[Appended] | Exception] = []
    rows: list[tuple[Any, ...]] = []
    tally = Tally()
    for job in group:
        try:
            plan = _plan(job.events, last, ids, versions)
        except (EventsError, ValueError) as exc:
            outcomes.append(exc)
            continue
        outcomes.append(plan.appended)
        ids.update(plan.ids)
        versions.update(plan.versions)
        rows.extend(plan.rows)
        last += len(plan.rows)
        for e in plan.new:
            tally.add(
                e.user_id,
                e.created_at,
                e.type,
                e.application_id,
                e.thing_id,
                revenue(e.custom_data),
            )
    return outcomes, rows, tally


def _insert_document(rows: list[tuple[Any, ...]]) -> str:
    """The rows as the one JSON parameter of ``_POSTGRES_INSERT``."""
    return orjson.dumps([dict(zip(ROW_COLUMNS, row, strict=True)) for row in rows]).decode()


def _insert_sqlite(conn: sa.Connection, rows: list[tuple[Any, ...]]) -> None:
    stored = []
    for row in rows:
        values = list(row)
        values[CREATED_AT] = sqlite_time(row[CREATED_AT])
        stored.append(tuple(values))
    conn.exec_driver_sql(_SQLITE_INSERT, stored)


def _plan(
    batch: Sequence[NewEvent],
    last: int,
    ids: dict[tuple[str, str], Known],
    versions: dict[tuple[str, str], int],
) -> _Plan:
    """Positions and versions for one call, or the error that refuses it whole."""
    plan = _Plan([], [], {}, {}, [])
    position = last
    checked: set[tuple[str, str]] = set()
    for e in batch:
        _check(e)
        key = (e.user_id, e.id)
        prior = plan.ids.get(key) or ids.get(key)
        stream_key = None if e.stream is None else (e.user_id, e.stream)
        first_of_stream = stream_key is not None and stream_key not in checked
        if stream_key is not None:
            checked.add(stream_key)
        if prior is not None:
            content, at, stream, stored_version = prior
            if content != content_of(e):
                raise DuplicateEventConflict(e.id)
            plan.appended.append(Appended(e.id, at, stream, stored_version, duplicate=True))
            continue
        version: int | None = None
        if e.stream is not None and stream_key is not None:
            current = plan.versions.get(stream_key, versions.get(stream_key, -1))
            if first_of_stream and e.expected_version not in (None, current):
                assert e.expected_version is not None
                raise WrongExpectedVersion(e.stream, e.expected_version, current)
            version = current + 1
            plan.versions[stream_key] = version
        position += 1
        plan.ids[key] = (content_of(e), position, e.stream, version)
        plan.rows.append(row_of(e, position, version))
        plan.new.append(e)
        plan.appended.append(Appended(e.id, position, e.stream, version, duplicate=False))
    return plan


def _check(e: NewEvent) -> None:
    """Refuse, for this call alone, what the database would refuse for the whole group."""
    if e.created_at.tzinfo is None:
        raise ValueError(f"event {e.id[:64]!r}: createdAt must be an aware datetime")
    for name, value, longest in (
        ("id", e.id, ID_LENGTH),
        ("type", e.type, ID_LENGTH),
        ("userId", e.user_id, ID_LENGTH),
        ("applicationId", e.application_id, ID_LENGTH),
        ("thingId", e.thing_id, ID_LENGTH),
        ("sessionId", e.session_id, ID_LENGTH),
        ("paymentId", e.payment_id, ID_LENGTH),
        ("federatedUserId", e.federated_user_id, ID_LENGTH),
        ("stream", e.stream, STREAM_LENGTH),
    ):
        if value is None:
            continue
        if not 0 < len(value) <= longest or "\x00" in value:
            raise ValueError(f"event {e.id[:64]!r}: {name} must be 1 to {longest} characters")


def _chunks(values: Iterable[str]) -> list[list[str]]:
    ordered = sorted(set(values))
    return [ordered[i : i + _LOOKUP_CHUNK] for i in range(0, len(ordered), _LOOKUP_CHUNK)]


def _lookups(pairs: Iterable[tuple[str, str | None]]) -> list[tuple[str, list[str]]]:
    """(user, values) to look up, a chunk at a time."""
    return [(user, chunk) for user, wanted in _by_user(pairs).items() for chunk in _chunks(wanted)]


def _caller_ids(batch: Iterable[NewEvent]) -> list[tuple[str, list[str]]]:
    """The ids the callers chose, to look up: a retry's are stored already."""
    return _lookups((e.user_id, e.id) for e in batch if not e.fresh_id)


def _by_user(pairs: Iterable[tuple[str, str | None]]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for user, value in pairs:
        if value is not None:
            grouped.setdefault(user, []).append(value)
    return grouped


def _one_of(values: list[str]) -> sa.ScalarSelect[Any]:
    """``values`` as one JSON parameter, unpacked by SQLite (PostgreSQL's statements do the
    same with ``json_array_elements_text``): a thousand ids cost one bind (and one short
    statement to parse and plan) instead of a thousand."""
    document = sa.literal(orjson.dumps(values).decode(), sa.Text)
    return sa.select(sa.column("value")).select_from(sa.func.json_each(document)).scalar_subquery()


def _known(stored: StoredEvent) -> Known:
    return content_of(stored), stored.position, stored.stream, stored.version


def _stored_ids(conn: sa.Connection, batch: Sequence[NewEvent]) -> dict[tuple[str, str], Known]:
    found: dict[tuple[str, str], Known] = {}
    for user, chunk in _caller_ids(batch):
        rows = conn.execute(
            sa.select(*FIELDS).where(events.c.user_id == user, events.c.id.in_(_one_of(chunk)))
        )
        for row in rows:
            stored = stored_event(row._mapping)
            found[(user, stored.id)] = _known(stored)
    return found


def _stream_versions(conn: sa.Connection, batch: Sequence[NewEvent]) -> dict[tuple[str, str], int]:
    found: dict[tuple[str, str], int] = {}
    for user, chunk in _lookups((e.user_id, e.stream) for e in batch):
        rows = conn.execute(
            sa.select(events.c.stream, sa.func.max(events.c.version))
            .where(events.c.user_id == user, events.c.stream.in_(_one_of(chunk)))
            .group_by(events.c.stream)
        )
        for stream, version in rows:
            found[(user, stream)] = int(version)
    return found

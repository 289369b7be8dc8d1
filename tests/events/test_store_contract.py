"""The event store's contract, on SQLite and on PostgreSQL alike."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, pool

from sticky.events.domain import (
    NO_STREAM,
    Appended,
    DuplicateEventConflict,
    EventFilter,
    NewEvent,
    StatsQuery,
    StoredEvent,
    WrongExpectedVersion,
)
from sticky.events.port import EventStore
from sticky.events.store import SqlEventStore, StoreUnavailable, metadata, open_store
from sticky.events.wire import ndjson_line
from sticky.kernel.database import sync_url
from sticky.kernel.migrations import upgrade

T0 = datetime(2026, 12, 4, 16, 20, 0, 123456, tzinfo=UTC)
ALICE, BOB = "usr_alice", "usr_bob"


def event(n: int | str, user: str = ALICE, **fields: Any) -> NewEvent:
    fields.setdefault("type", "SESSION_READ")
    fields.setdefault("created_at", T0)
    return NewEvent(id=f"evt_{n}", user_id=user, **fields)


async def everything(store: EventStore, where: EventFilter, page: int = 7) -> list[StoredEvent]:
    """Every matching event, read in keyset pages."""
    found: list[StoredEvent] = []
    while batch := await store.read(where, page):
        found.extend(batch)
        where = EventFilter(**{**where.__dict__, "after": batch[-1].position})
    return found


async def count_rows(store: SqlEventStore, table: str) -> int:
    async with store._reads.connect() as conn:
        return int(await conn.scalar(sa.text(f"SELECT count(*) FROM {table}")) or 0)


def test_the_store_is_an_event_store() -> None:
    store: EventStore = SqlEventStore.open("sqlite://")
    assert callable(store.append)


def test_the_migrations_build_exactly_the_tables(database_url: str) -> None:
    upgrade("sticky.events", database_url)
    engine = create_engine(sync_url(database_url), poolclass=pool.NullPool)
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), metadata)
    engine.dispose()
    assert differences == []


async def test_an_event_round_trips_with_every_field(store: SqlEventStore) -> None:
    full = NewEvent(
        id="evt_full",
        type="SESSION_CART_PAY",
        user_id=ALICE,
        created_at=T0,
        application_id="app_1",
        thing_id="thg_1",
        session_id="ses_1",
        payment_id="pay_1",
        federated_user_id="tm_1",
        custom_data={"total": 1250, "currency": "GBP", "nested": {"é": [1, None, True]}},
        stream="payment-pay_1",
        expected_version=NO_STREAM,
    )
    bare = event("bare", created_at=T0.replace(microsecond=0))
    assert await store.append([full, bare]) == [
        Appended("evt_full", 1, "payment-pay_1", 0, duplicate=False),
        Appended("evt_bare", 2, None, None, duplicate=False),
    ]
    first, second = await store.read(EventFilter(ALICE), 10)
    assert first == StoredEvent(
        position=1,
        id="evt_full",
        type="SESSION_CART_PAY",
        user_id=ALICE,
        created_at=T0,
        application_id="app_1",
        thing_id="thg_1",
        session_id="ses_1",
        payment_id="pay_1",
        federated_user_id="tm_1",
        custom_data=full.custom_data,
        stream="payment-pay_1",
        version=0,
    )
    assert second.created_at == T0.replace(microsecond=0)
    assert (second.custom_data, second.stream, second.version) == ({}, None, None)
    # The stored wire form is byte for byte what the API would render from the fields.
    exported = b"".join([chunk async for chunk in store.export(EventFilter(ALICE))])
    assert exported == ndjson_line(first) + ndjson_line(second)
    assert b'"createdAt":"2026-12-04T16:20:00.000000Z"' in exported
    assert await store.last_position() == 2


async def test_an_empty_log(store: SqlEventStore) -> None:
    assert await store.last_position() == 0
    assert await store.read(EventFilter(None), 10) == []
    assert [chunk async for chunk in store.export(EventFilter(None))] == []
    assert await store.append([]) == []


async def test_positions_follow_commit_order_under_concurrent_appenders(
    store: SqlEventStore,
) -> None:
    tasks, appends = 8, 50
    seen: list[int] = []
    done = asyncio.Event()

    async def appender(task: int) -> list[int]:
        positions = []
        for i in range(appends):
            batch = [event(f"{task}-{i}-{j}") for j in range(1 + (i % 3))]
            positions += [a.position for a in await store.append(batch)]
        return positions

    async def follower() -> None:
        # A reader following the log must never see a position skipped and filled later.
        after = 0
        while True:
            finished = done.is_set()
            for e in await store.read(EventFilter(None, after=after), 1000):
                assert e.position == after + 1
                after = e.position
                seen.append(after)
            if finished:
                return
            await asyncio.sleep(0)

    following = asyncio.create_task(follower())
    results = await asyncio.gather(*(appender(t) for t in range(tasks)))
    done.set()
    await following
    total = sum(len(r) for r in results)
    for positions in results:
        assert positions == sorted(positions)
    assert sorted(p for r in results for p in r) == list(range(1, total + 1))
    assert seen == list(range(1, total + 1))
    # Appends waiting together were committed together.
    assert store.writer.transactions < tasks * appends


async def test_replicas_share_one_gap_free_log(store: SqlEventStore, database_url: str) -> None:
    # A second process's store: its writer serialises with ours only through the database.
    other = open_store(database_url)
    try:

        async def appender(replica: SqlEventStore, name: str) -> list[int]:
            positions = []
            for i in range(40):
                batch = [event(f"{name}-{i}-{j}", stream=f"s-{name}") for j in range(3)]
                positions += [a.position for a in await replica.append(batch)]
            return positions

        results = await asyncio.gather(
            *(appender(s, f"{n}{i}") for i in range(3) for n, s in (("a", store), ("b", other)))
        )
    finally:
        await other.close()
    everyone = sorted(p for r in results for p in r)
    assert everyone == list(range(1, len(everyone) + 1))
    stored = await everything(store, EventFilter(ALICE), page=100)
    assert [e.position for e in stored] == everyone
    for name in ("a0", "b0", "a2"):
        versions = [e.version for e in await store.read_stream(ALICE, f"s-{name}", -1, 500)]
        assert versions == list(range(120))


async def test_commits_are_durable(store: SqlEventStore) -> None:
    # The writer's own connection: the one every append commits on.
    def settings(conn: sa.Connection) -> tuple[Any, ...]:
        if conn.dialect.name == "sqlite":
            return (
                conn.exec_driver_sql("PRAGMA journal_mode").scalar(),
                conn.exec_driver_sql("PRAGMA synchronous").scalar(),
            )
        return (
            conn.exec_driver_sql("SHOW synchronous_commit").scalar(),
            conn.exec_driver_sql("SHOW plan_cache_mode").scalar(),
        )

    found = await store.writer.run(settings)
    assert found in (("wal", 2), ("on", "force_custom_plan"))  # 2: synchronous=FULL
    async with store._reads.connect() as conn:
        if conn.dialect.name == "postgresql":
            assert (await conn.exec_driver_sql("SHOW synchronous_commit")).scalar() == "on"


async def test_a_retry_is_acknowledged_not_stored_twice(store: SqlEventStore) -> None:
    batch = [
        event(1, stream="s", custom_data={"a": 1, "b": [1, 2]}),
        event(2, stream="s"),
        event(3, thing_id="thg_1"),
    ]
    first = await store.append(batch)
    later = await store.append([event(4)])
    # createdAt may differ on a retry (the platform filled it in the first time).
    retry = event(1, stream="s", custom_data={"b": [1, 2], "a": 1}, created_at=T0 + timedelta(1))
    again = await store.append([retry, *batch[1:]])
    assert [a.duplicate for a in first + again] == [False] * 3 + [True] * 3
    assert [(a.position, a.stream, a.version) for a in again] == [
        (a.position, a.stream, a.version) for a in first
    ]
    assert later[0].position == 4
    assert await store.last_position() == 4
    # A retried stream batch with its expected version still answers as a retry.
    retried = await store.append(
        [event(1, stream="s", custom_data={"a": 1, "b": [1, 2]}, expected_version=NO_STREAM)]
    )
    assert retried[0].duplicate


async def test_the_same_id_twice_in_one_batch(store: SqlEventStore) -> None:
    answer = await store.append([event(1), event(2), event(1)])
    assert [(a.id, a.position, a.duplicate) for a in answer] == [
        ("evt_1", 1, False),
        ("evt_2", 2, False),
        ("evt_1", 1, True),
    ]
    with pytest.raises(DuplicateEventConflict):
        await store.append([event(3), event(3, type="CHECK_IN")])
    assert await store.last_position() == 2


async def test_ids_are_per_user(store: SqlEventStore) -> None:
    await store.append([event(1, user=ALICE)])
    answer = await store.append([event(1, user=BOB, type="CHECK_IN")])
    assert not answer[0].duplicate


async def test_a_failing_batch_writes_nothing(store: SqlEventStore) -> None:
    await store.append([event(1, custom_data={"total": 5}), event("s0", stream="s")])
    before = await store.stats(StatsQuery(ALICE, ("type",)))
    stats_rows = await count_rows(store, "rollups")
    with pytest.raises(DuplicateEventConflict) as conflict:
        await store.append([event(2), event(3, type="X_NEW"), event(1, type="CHECK_IN")])
    assert conflict.value.event_id == "evt_1"
    with pytest.raises(WrongExpectedVersion) as wrong:
        await store.append([event(4), event(5, stream="s", expected_version=3)])
    assert (wrong.value.stream, wrong.value.expected, wrong.value.actual) == ("s", 3, 0)
    with pytest.raises(WrongExpectedVersion):
        await store.append([event(6, stream="t", expected_version=0)])
    assert await store.last_position() == 2
    assert await count_rows(store, "events") == 2
    assert await count_rows(store, "rollups") == stats_rows
    assert await store.stats(StatsQuery(ALICE, ("type",))) == before
    # The failures left no trace: the next append takes the next position.
    assert (await store.append([event(2)]))[0].position == 3


async def test_streams_and_expected_versions(store: SqlEventStore) -> None:
    first = await store.append(
        [event(1, stream="a", expected_version=NO_STREAM), event(2, stream="a"), event(3)]
    )
    assert [(a.stream, a.version) for a in first] == [("a", 0), ("a", 1), (None, None)]
    # Only the first event of a stream in a batch is checked; the rest follow on.
    more = await store.append(
        [
            event(4, stream="a", expected_version=1),
            event(5, stream="b", expected_version=NO_STREAM),
            event(6, stream="a", expected_version=1),
        ]
    )
    assert [a.version for a in more] == [2, 0, 3]
    assert (await store.append([event(7, stream="a")]))[0].version == 4
    with pytest.raises(WrongExpectedVersion):
        await store.append([event(8, stream="a", expected_version=NO_STREAM)])
    # Streams are per user.
    assert (await store.append([event(9, user=BOB, stream="a", expected_version=-1)]))[
        0
    ].version == 0

    stream = await store.read_stream(ALICE, "a", -1, 100)
    assert [(e.id, e.version) for e in stream] == [
        ("evt_1", 0),
        ("evt_2", 1),
        ("evt_4", 2),
        ("evt_6", 3),
        ("evt_7", 4),
    ]
    assert [e.version for e in await store.read_stream(ALICE, "a", 1, 2)] == [2, 3]
    assert await store.read_stream(BOB, "b", -1, 10) == []


async def test_concurrent_writers_with_one_expected_version_one_wins(
    store: SqlEventStore,
) -> None:
    await store.append([event("open", stream="cart", expected_version=NO_STREAM)])

    async def attempt(n: int) -> list[Appended] | BaseException:
        try:
            return await store.append([event(f"pay{n}", stream="cart", expected_version=0)])
        except WrongExpectedVersion as exc:
            return exc

    results = await asyncio.gather(*(attempt(n) for n in range(10)))
    winners = [r for r in results if isinstance(r, list)]
    losers = [r for r in results if isinstance(r, WrongExpectedVersion)]
    assert len(winners) == 1
    assert len(losers) == 9
    assert all(r.actual == 1 for r in losers)
    assert [e.version for e in await store.read_stream(ALICE, "cart", -1, 10)] == [0, 1]


async def test_a_group_commit_answers_each_call_on_its_own(store: SqlEventStore) -> None:
    await store.append([event("taken"), event("s0", stream="s")])
    transactions = store.writer.transactions

    calls = [[event(f"ok{n}")] for n in range(20)]
    calls[5] = [event("x1"), event("taken", type="CHECK_IN")]
    calls[9] = [event("x2"), event("s1", stream="s", expected_version=5)]
    # Two calls racing for one stream in one group: the first wins, the second is told.
    calls[12] = [event("r1", stream="race", expected_version=NO_STREAM)]
    calls[13] = [event("r2", stream="race", expected_version=NO_STREAM)]
    results = await asyncio.gather(*(store.append(c) for c in calls), return_exceptions=True)
    assert isinstance(results[5], DuplicateEventConflict)
    assert isinstance(results[9], WrongExpectedVersion)
    assert isinstance(results[13], WrongExpectedVersion)
    written = [r for r in results if isinstance(r, list)]
    assert len(written) == 17
    positions = [a.position for r in written for a in r]
    assert positions == list(range(3, 3 + 17))
    assert store.writer.transactions - transactions <= 3
    ids = {e.id for e in await store.read(EventFilter(ALICE), 100)}
    assert "evt_x1" not in ids
    assert "evt_x2" not in ids
    assert "evt_r1" in ids


async def test_an_unstorable_event_fails_only_its_own_call(store: SqlEventStore) -> None:
    calls = [
        [event("fine1")],
        [event("naive", created_at=T0.replace(tzinfo=None))],
        [event("long", thing_id="t" * 65)],
        [event("nul", session_id="a\x00b")],
        [event("json", custom_data={"when": object()})],
        [event("fine2", stream="s" * 128)],
    ]
    results = await asyncio.gather(*(store.append(c) for c in calls), return_exceptions=True)
    assert [type(r).__name__ for r in results] == ["list"] + ["ValueError"] * 4 + ["list"]
    assert await store.last_position() == 2


async def test_filters_and_tenancy(store: SqlEventStore) -> None:
    batch = []
    for n in range(60):
        batch.append(
            event(
                n,
                user=ALICE if n % 4 else BOB,
                type=("SESSION_READ", "CHECK_IN", "X_DOOR_OPENED")[n % 3],
                application_id=f"app_{n % 2}",
                thing_id=f"thg_{n % 5}",
                session_id=f"ses_{n % 6}",
                payment_id=f"pay_{n % 7}" if n % 2 else None,
                federated_user_id="tm_1" if n % 10 == 1 else None,
                created_at=T0 + timedelta(minutes=n),
            )
        )
    await store.append(batch)
    stored = await everything(store, EventFilter(None))
    assert len(stored) == 60

    def expect(pick: Any) -> list[str]:
        return [e.id for e in stored if pick(e)]

    cases: list[tuple[dict[str, Any], Any]] = [
        ({}, lambda e: True),
        ({"types": ("CHECK_IN",)}, lambda e: e.type == "CHECK_IN"),
        ({"types": ("CHECK_IN", "X_DOOR_OPENED")}, lambda e: e.type != "SESSION_READ"),
        ({"application_id": "app_1"}, lambda e: e.application_id == "app_1"),
        ({"thing_id": "thg_3"}, lambda e: e.thing_id == "thg_3"),
        ({"session_id": "ses_2"}, lambda e: e.session_id == "ses_2"),
        ({"payment_id": "pay_3"}, lambda e: e.payment_id == "pay_3"),
        ({"federated_user_id": "tm_1"}, lambda e: e.federated_user_id == "tm_1"),
        (
            {"created_from": T0 + timedelta(minutes=10), "created_to": T0 + timedelta(minutes=20)},
            lambda e: T0 + timedelta(minutes=10) <= e.created_at < T0 + timedelta(minutes=20),
        ),
        ({"after": 30}, lambda e: e.position > 30),
        (
            {"types": ("SESSION_READ",), "thing_id": "thg_1", "application_id": "app_1"},
            lambda e: (e.type, e.thing_id, e.application_id) == ("SESSION_READ", "thg_1", "app_1"),
        ),
    ]
    for fields, pick in cases:
        for user in (ALICE, BOB, None):
            where = EventFilter(user, **fields)
            wanted = expect(lambda e, u=user, p=pick: (u is None or e.user_id == u) and p(e))
            assert wanted or user is not None, fields
            assert [e.id for e in await everything(store, where)] == wanted, (user, fields)
            lines = b"".join([c async for c in store.export(where)]).splitlines()
            assert [orjson.loads(line)["id"] for line in lines] == wanted
            if user is not None:
                assert {e.user_id for e in await store.read(where, 1000)} <= {user}
    assert await store.read_stream(BOB, "s", -1, 10) == []


async def test_an_export_streams_every_event_in_order(store: SqlEventStore) -> None:
    n, batch = 20_000, 2000
    for start in range(0, n, batch):
        await store.append(
            [
                event(i, type="CHECK_IN" if i % 2 else "SESSION_READ", custom_data={"i": i})
                for i in range(start, start + batch)
            ]
        )
    await store.append([event("bob", user=BOB)])
    chunks = [chunk async for chunk in store.export(EventFilter(ALICE))]
    assert len(chunks) > 1
    assert all(chunk.endswith(b"\n") for chunk in chunks)
    lines = b"".join(chunks).splitlines()
    assert [orjson.loads(line)["customData"]["i"] for line in lines] == list(range(n))
    sample = random.Random(7).sample(range(n), 20)
    for index in sample:
        (stored,) = await store.read(EventFilter(ALICE, after=index), 1)
        assert lines[index] + b"\n" == ndjson_line(stored)
    odd = b"".join([c async for c in store.export(EventFilter(ALICE, types=("CHECK_IN",)))])
    assert len(odd.splitlines()) == n // 2
    tail = b"".join([c async for c in store.export(EventFilter(ALICE, after=n - 3))])
    assert len(tail.splitlines()) == 3


async def test_checkpoints(store: SqlEventStore) -> None:
    assert await store.get_checkpoint("receipts") is None
    await store.set_checkpoint("receipts", 10)
    await store.set_checkpoint("webhooks", 3)
    await store.set_checkpoint("receipts", 42)
    assert await store.get_checkpoint("receipts") == 42
    assert await store.get_checkpoint("webhooks") == 3


def brute_force(stored: list[StoredEvent], query: StatsQuery) -> dict[Any, tuple[int, int]]:
    found: Counter[Any] = Counter()
    totals: Counter[Any] = Counter()
    for e in stored:
        if e.user_id != query.user_id or (query.types and e.type not in query.types):
            continue
        if query.thing_id is not None and e.thing_id != query.thing_id:
            continue
        if query.created_from is not None and e.created_at < query.created_from:
            continue
        if query.created_to is not None and e.created_at >= query.created_to:
            continue
        key: dict[str, Any] = {}
        if "day" in query.group_by:
            key["day"] = e.created_at.date().isoformat()
        if "hour" in query.group_by:
            key["hour"] = e.created_at.strftime("%Y-%m-%dT%H:00:00Z")
        if "type" in query.group_by:
            key["type"] = e.type
        if "thing" in query.group_by:
            key["thingId"] = e.thing_id
        if "application" in query.group_by:
            key["applicationId"] = e.application_id
        k = tuple(key.items())
        found[k] += 1
        total = e.custom_data.get("total")
        if isinstance(total, int) and not isinstance(total, bool):
            totals[k] += total
    return {k: (found[k], totals[k]) for k in found}


async def test_stats_agree_with_the_log_and_survive_a_rebuild(store: SqlEventStore) -> None:
    rng = random.Random(42)
    for b in range(5):
        await store.append(
            [
                event(
                    f"{b}-{i}",
                    user=rng.choice([ALICE, ALICE, BOB]),
                    type=rng.choice(["SESSION_READ", "SESSION_CART_PAY", "X_DOOR_OPENED"]),
                    application_id=rng.choice(["app_1", "app_2", None]),
                    thing_id=rng.choice(["thg_1", "thg_2", "thg_3", None]),
                    custom_data=rng.choice(
                        [{}, {"total": rng.randint(1, 9999)}, {"total": "12"}, {"total": 1.5}]
                    ),
                    created_at=T0 + timedelta(minutes=rng.randint(-3000, 3000)),
                )
                for i in range(200)
            ]
        )
    stored = await everything(store, EventFilter(None), page=1000)
    queries = [
        StatsQuery(ALICE, ()),
        StatsQuery(ALICE, ("day",)),
        StatsQuery(ALICE, ("hour",)),
        StatsQuery(ALICE, ("day", "type")),
        StatsQuery(ALICE, ("type", "thing", "application")),
        StatsQuery(BOB, ("day", "thing"), types=("SESSION_CART_PAY", "X_DOOR_OPENED")),
        StatsQuery(ALICE, ("application",), thing_id="thg_2"),
        StatsQuery(
            ALICE,
            ("day",),
            created_from=T0.replace(minute=0, second=0, microsecond=0) - timedelta(hours=5),
            created_to=T0.replace(minute=0, second=0, microsecond=0) + timedelta(hours=20),
        ),
    ]

    async def answers() -> list[dict[Any, tuple[int, int]]]:
        found = []
        for query in queries:
            rows = await store.stats(query)
            found.append({tuple(r.key.items()): (r.count, r.total) for r in rows})
            assert found[-1] == brute_force(stored, query), query
        return found

    before = await answers()
    assert before[0][()][0] == len([e for e in stored if e.user_id == ALICE])
    assert await store.rebuild_projections() == 1000
    assert await answers() == before
    rows = await store.stats(StatsQuery(ALICE, ("hour", "type")))
    assert all(set(r.key) == {"hour", "type"} for r in rows)
    assert rows[0].key["hour"].endswith(":00:00Z")
    with pytest.raises(ValueError, match="cannot group by"):
        await store.stats(StatsQuery(ALICE, ("week",)))


async def test_a_closed_store_refuses_appends(database_url: str) -> None:
    await asyncio.to_thread(upgrade, "sticky.events", database_url)
    store = open_store(database_url)
    pending = [asyncio.create_task(store.append([event(n)])) for n in range(5)]
    await asyncio.sleep(0)
    await store.close()
    # What was queued before close() was written, not dropped.
    assert [len(await p) for p in pending] == [1] * 5
    with pytest.raises(StoreUnavailable):
        await store.append([event(9)])


async def test_an_unmigrated_database_is_unavailable(database_url: str) -> None:
    store = open_store(database_url)
    try:
        with pytest.raises(StoreUnavailable):
            await store.append([event(1)])
        with pytest.raises(StoreUnavailable):
            await store.read(EventFilter(ALICE), 10)
        ready, _ = await store.readiness()
        assert not ready
    finally:
        await store.close()


async def test_a_group_that_fails_midway_writes_nothing_and_the_writer_goes_on(
    store: SqlEventStore, database_url: str
) -> None:
    """The rollups table gone: the log rows are sent, the rollups fail, and the whole group
    is rolled back (on PostgreSQL both are in one pipelined round trip with the commit)."""
    await store.append([event(1)])
    engine = create_engine(sync_url(database_url), poolclass=pool.NullPool)

    def rename(old: str, new: str) -> None:
        with engine.begin() as conn:
            conn.exec_driver_sql(f"ALTER TABLE {old} RENAME TO {new}")

    await asyncio.to_thread(rename, "rollups", "rollups_away")
    try:
        with pytest.raises(StoreUnavailable):
            await store.append([event(2), event(3)])
    finally:
        await asyncio.to_thread(rename, "rollups_away", "rollups")
        engine.dispose()
    assert [e.id for e in await everything(store, EventFilter(ALICE))] == ["evt_1"]
    done = await store.append([event(2)])
    assert [(a.id, a.position, a.duplicate) for a in done] == [("evt_2", 2, False)]
    assert await count_rows(store, "events") == 2

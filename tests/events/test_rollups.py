"""The analytics rollups, on SQLite and PostgreSQL: every query shape agrees with the log,
live maintenance agrees with a rebuild, and the migration carries existing numbers over."""

from __future__ import annotations

import asyncio
import itertools
import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from alembic import command

from sticky.events.domain import EventFilter, NewEvent, StatsQuery, StoredEvent
from sticky.events.store import SqlEventStore, open_store
from sticky.events.store.projection import ROLLUPS, choose, hour_of
from sticky.events.store.stats import segments
from sticky.kernel.migrations import alembic_config, upgrade

ALICE, BOB = "usr_alice", "usr_bob"
# Midnight, so that whole days and the hours around them are both exercised.
DAY0 = datetime(2026, 12, 1, tzinfo=UTC)
TYPES = ("SESSION_READ", "SESSION_CART_PAY", "X_DOOR_OPENED")


def random_events(seed: int, count: int) -> list[NewEvent]:
    rng = random.Random(seed)
    return [
        NewEvent(
            id=f"evt_{seed}_{i}",
            type=rng.choice(TYPES),
            user_id=rng.choice([ALICE, ALICE, BOB]),
            created_at=DAY0 + timedelta(seconds=rng.randrange(4 * 86400)),
            application_id=rng.choice(["app_1", "app_2", None]),
            thing_id=rng.choice(["thg_1", "thg_2", "thg_3", None]),
            custom_data=rng.choice([{}, {"total": rng.randint(1, 999)}, {"total": "7"}]),
        )
        for i in range(count)
    ]


def expected(stored: list[StoredEvent], query: StatsQuery) -> dict[Any, tuple[int, int]]:
    """The answer from the log itself, with the documented whole-hour bounds."""
    counts: Counter[Any] = Counter()
    totals: Counter[Any] = Counter()
    for e in stored:
        hour = hour_of(e.created_at)
        if e.user_id != query.user_id or (query.types and e.type not in query.types):
            continue
        if query.application_id is not None and e.application_id != query.application_id:
            continue
        if query.thing_id is not None and e.thing_id != query.thing_id:
            continue
        if query.created_from is not None and hour < hour_of(query.created_from):
            continue
        if query.created_to is not None and hour >= query.created_to:
            continue
        key: dict[str, Any] = {}
        if "day" in query.group_by:
            key["day"] = hour.date().isoformat()
        if "hour" in query.group_by:
            key["hour"] = hour.strftime("%Y-%m-%dT%H:00:00Z")
        for name, wire, value in (
            ("type", "type", e.type),
            ("thing", "thingId", e.thing_id),
            ("application", "applicationId", e.application_id),
        ):
            if name in query.group_by:
                key[wire] = value
        k = tuple(key.items())
        counts[k] += 1
        total = e.custom_data.get("total")
        totals[k] += total if isinstance(total, int) else 0
    return {k: (counts[k], totals[k]) for k in counts}


def queries() -> list[StatsQuery]:
    groupings = [
        (*time, *dims)
        for time in ((), ("day",), ("hour",))
        for size in range(3)
        for dims in itertools.combinations(("type", "thing", "application"), size)
    ]
    filters: list[dict[str, Any]] = [
        {},
        {"types": ("SESSION_CART_PAY",)},
        {"types": ("SESSION_READ", "X_DOOR_OPENED")},
        {"application_id": "app_2"},
        {"thing_id": "thg_1"},
        {"types": ("SESSION_READ",), "thing_id": "thg_3"},
    ]
    ranges: list[dict[str, Any]] = [
        {},
        {"created_from": DAY0 + timedelta(days=1), "created_to": DAY0 + timedelta(days=3)},
        {  # inside hours, across days: hourly edges around whole days
            "created_from": DAY0 + timedelta(hours=5, minutes=30),
            "created_to": DAY0 + timedelta(days=2, hours=7, minutes=1),
        },
        {"created_from": DAY0 + timedelta(days=2, hours=3, minutes=59)},
        {"created_to": DAY0 + timedelta(days=1, hours=20)},
        {  # within one day
            "created_from": DAY0 + timedelta(days=1, hours=2),
            "created_to": DAY0 + timedelta(days=1, hours=9, seconds=1),
        },
        {"created_from": DAY0 + timedelta(days=3), "created_to": DAY0 + timedelta(days=1)},
    ]
    rng = random.Random(3)
    found = [
        StatsQuery(ALICE, grouping, **f, **r)
        for grouping in groupings
        for f in filters
        for r in ranges
    ]
    return [*rng.sample(found, 150), StatsQuery(BOB, ("day", "type", "thing", "application"))]


async def rollup_rows(store: SqlEventStore) -> list[tuple[Any, ...]]:
    async with store._reads.connect() as conn:
        rows = await conn.execute(sa.text("SELECT * FROM rollups"))
        return sorted(tuple(row) for row in rows)


async def test_every_query_shape_agrees_with_the_log_and_with_a_rebuild(
    store: SqlEventStore,
) -> None:
    for seed in range(4):  # several groups, so buckets are added to as well as made
        await store.append(random_events(seed, 250))
    await asyncio.gather(*(store.append(random_events(10 + n, 1)) for n in range(20)))
    stored = await store.read(EventFilter(None), 2000)
    assert len(stored) == 1020
    answers = []
    for query in queries():
        rows = await store.stats(query)
        answer = {tuple(r.key.items()): (r.count, r.total) for r in rows}
        assert answer == expected(stored, query), query
        answers.append(answer)
    live = await rollup_rows(store)
    assert {row[1] for row in live} == {r.name for r in ROLLUPS}
    assert await store.rebuild_projections() == 1020
    assert await rollup_rows(store) == live
    assert [
        {tuple(r.key.items()): (r.count, r.total) for r in await store.stats(q)} for q in queries()
    ] == answers


async def test_the_migration_carries_the_numbers_over(database_url: str) -> None:
    await asyncio.to_thread(upgrade, "sticky.events", database_url)
    store = open_store(database_url)
    try:
        await store.append(random_events(1, 300))
        before = await rollup_rows(store)
    finally:
        await store.close()
    # Down to the single hourly table of revision 0001, then up again: the rollups are
    # summed back from it.
    config = alembic_config("sticky.events", database_url)
    await asyncio.to_thread(command.downgrade, config, "0001")
    await asyncio.to_thread(upgrade, "sticky.events", database_url)
    store = open_store(database_url)
    try:
        assert await rollup_rows(store) == before
        ready, _ = await store.readiness()
        assert ready
    finally:
        await store.close()


def test_a_query_reads_the_rollup_that_holds_exactly_its_dimensions() -> None:
    assert choose("day", ["type"], []).name == "day:type"
    assert choose("day", [], []).name == "day:"
    # A filtered dimension comes first, so the filter is an index seek.
    assert choose("day", ["thing", "type"], ["type"]).name == "day:type,thing"
    assert choose("day", ["thing", "type"], ["thing"]).name == "day:thing,type"
    assert choose("day", ["application", "type"], ["type"]).name == "day:type,application"
    # No pair of application and thing: the three-dimension rollup answers.
    assert choose("day", ["application", "thing"], []).name == "day:thing,application,type"
    # Hourly pairs with things are not kept either.
    assert choose("hour", ["thing", "type"], ["type"]).name == "hour:thing,application,type"


def test_a_range_is_whole_days_with_hours_at_its_edges() -> None:
    def query(**bounds: Any) -> StatsQuery:
        return StatsQuery(ALICE, ("day",), **bounds)

    assert segments(query()) == [("day", None, None)]
    assert segments(query(created_from=DAY0 + timedelta(hours=5, minutes=1))) == [
        ("hour", DAY0 + timedelta(hours=5), DAY0 + timedelta(days=1)),
        ("day", DAY0 + timedelta(days=1), None),
    ]
    assert segments(query(created_to=DAY0 + timedelta(days=2, minutes=1))) == [
        ("day", None, DAY0 + timedelta(days=2)),
        ("hour", DAY0 + timedelta(days=2), DAY0 + timedelta(days=2, hours=1)),
    ]
    within = query(created_from=DAY0 + timedelta(hours=1), created_to=DAY0 + timedelta(hours=3))
    assert segments(within) == [("hour", DAY0 + timedelta(hours=1), DAY0 + timedelta(hours=3))]
    assert segments(query(created_from=DAY0, created_to=DAY0)) == []
    hourly = StatsQuery(ALICE, ("hour",), created_from=DAY0)
    assert segments(hourly) == [("hour", DAY0, None)]

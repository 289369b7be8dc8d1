"""The hourly analytics projection: counts and revenue per user, hour, type, app and thing.

Buckets are updated in the append's own transaction, so the numbers never disagree with the
log; ``stats`` answers from them alone, and ``rebuild`` recomputes them from the log.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from sticky.events.domain import StatsQuery, StatsRow
from sticky.events.store.tables import NONE_KEY, events, hourly_stats

Bucket = tuple[str, datetime, str, str, str]  # user, hour, type, application, thing
GROUPS = ("day", "hour", "type", "thing", "application")
_REBUILD_BATCH = 5000
_WIRE_NAMES = (("type", "type"), ("thing", "thingId"), ("application", "applicationId"))


class Tally:
    """Counts and totals per bucket, accumulated in memory before one upsert."""

    def __init__(self) -> None:
        self.buckets: defaultdict[Bucket, list[int]] = defaultdict(lambda: [0, 0])

    def add(
        self,
        user_id: str,
        created_at: datetime,
        type_: str,
        application_id: str | None,
        thing_id: str | None,
        custom_data: dict[str, Any],
    ) -> None:
        hour = created_at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        bucket = (user_id, hour, type_, application_id or NONE_KEY, thing_id or NONE_KEY)
        counts = self.buckets[bucket]
        counts[0] += 1
        counts[1] += revenue(custom_data)

    def rows(self) -> list[dict[str, Any]]:
        return [
            {
                "user_id": user,
                "hour": hour,
                "type": type_,
                "application_id": app,
                "thing_id": thing,
                "count": count,
                "total": total,
            }
            for (user, hour, type_, app, thing), (count, total) in self.buckets.items()
        ]


def revenue(custom_data: dict[str, Any]) -> int:
    total = custom_data.get("total")
    # bool is an int in Python; a flag is not money.
    return total if isinstance(total, int) and not isinstance(total, bool) else 0


async def add_to_buckets(conn: AsyncConnection, tally: Tally) -> None:
    rows = tally.rows()
    if not rows:
        return
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    statement = insert(hourly_stats)
    statement = statement.on_conflict_do_update(
        index_elements=["user_id", "hour", "type", "application_id", "thing_id"],
        set_={
            "count": hourly_stats.c.count + statement.excluded.count,
            "total": hourly_stats.c.total + statement.excluded.total,
        },
    )
    await conn.execute(statement, rows)


async def rebuild(conn: AsyncConnection) -> int:
    """Recompute every bucket from the log, in batches; the caller holds the write lock."""
    await conn.execute(hourly_stats.delete())
    tally, after, read = Tally(), 0, 0
    columns = (
        events.c.position,
        events.c.user_id,
        events.c.created_at,
        events.c.type,
        events.c.application_id,
        events.c.thing_id,
        events.c.custom_data,
    )
    while True:
        batch = (
            await conn.execute(
                sa.select(*columns)
                .where(events.c.position > after)
                .order_by(events.c.position)
                .limit(_REBUILD_BATCH)
            )
        ).all()
        if not batch:
            break
        for position, user, created_at, type_, app, thing, custom_data in batch:
            tally.add(user, created_at, type_, app, thing, orjson.loads(custom_data))
            after = position
        read += len(batch)
    await add_to_buckets(conn, tally)
    return read


def _hour_bounds(query: StatsQuery) -> list[sa.ColumnElement[bool]]:
    # Buckets are whole hours: a bound inside an hour takes the hour it falls in.
    conditions: list[sa.ColumnElement[bool]] = []
    if query.created_from is not None:
        start = query.created_from.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        conditions.append(hourly_stats.c.hour >= start)
    if query.created_to is not None:
        conditions.append(hourly_stats.c.hour < query.created_to)
    return conditions


async def stats(conn: AsyncConnection, query: StatsQuery) -> list[StatsRow]:
    unknown = set(query.group_by) - set(GROUPS)
    if unknown:
        raise ValueError(f"cannot group by {', '.join(sorted(unknown))}")
    s = hourly_stats.c
    keys: list[sa.ColumnElement[Any]] = []
    if "day" in query.group_by or "hour" in query.group_by:
        keys.append(s.hour)
    if "type" in query.group_by:
        keys.append(s.type)
    if "thing" in query.group_by:
        keys.append(s.thing_id)
    if "application" in query.group_by:
        keys.append(s.application_id)
    conditions = [s.user_id == query.user_id, *_hour_bounds(query)]
    if query.types:
        conditions.append(s.type.in_(query.types))
    if query.application_id is not None:
        conditions.append(s.application_id == query.application_id)
    if query.thing_id is not None:
        conditions.append(s.thing_id == query.thing_id)
    statement = (
        sa.select(*keys, sa.func.sum(s.count), sa.func.sum(s.total))
        .where(*conditions)
        .group_by(*keys)
    )
    rows = (await conn.execute(statement)).all()
    return _fold(query.group_by, [tuple(row) for row in rows])


def _fold(group_by: Sequence[str], rows: Iterable[tuple[Any, ...]]) -> list[StatsRow]:
    """Wire keys per row, with hours folded into days where the grouping asks for days."""
    merged: dict[tuple[Any, ...], list[int]] = {}
    timed = "day" in group_by or "hour" in group_by
    for row in rows:
        values = list(row[:-2])
        key: dict[str, Any] = {}
        if timed:
            hour: datetime = values.pop(0)
            if "day" in group_by:
                key["day"] = hour.date().isoformat()
            if "hour" in group_by:
                key["hour"] = hour.strftime("%Y-%m-%dT%H:00:00Z")
        for name, wire in (
            ("type", "type"),
            ("thing", "thingId"),
            ("application", "applicationId"),
        ):
            if name in group_by:
                value = values.pop(0)
                key[wire] = None if value == NONE_KEY else value
        counts = merged.setdefault(tuple(key.items()), [0, 0])
        counts[0] += int(row[-2] or 0)
        counts[1] += int(row[-1] or 0)
    result = [StatsRow(dict(k), c, t) for k, (c, t) in merged.items() if c]
    result.sort(key=lambda r: tuple((v is not None, str(v)) for v in r.key.values()))
    return result

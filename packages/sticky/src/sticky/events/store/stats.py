"""Answering ``/v1/events/stats`` from the rollups, never from the log.

A time range is cut into whole days (read from a daily rollup) and the hours before the first
and after the last whole day (from an hourly one); grouping by hour reads hourly rollups only.
``createdFrom``/``createdTo`` select whole hours: an hour is in the range when it starts before
``createdTo`` and not before the hour holding ``createdFrom``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from sticky.events.domain import StatsQuery, StatsRow
from sticky.events.store.projection import choose, hour_of
from sticky.events.store.tables import rollups

GROUPS = ("day", "hour", "type", "thing", "application")
# Wire names of the dimensions, in the order a row's keys are shown.
_WIRE = (("type", "type"), ("thing", "thingId"), ("application", "applicationId"))
_HOUR = timedelta(hours=1)
_DAY = timedelta(days=1)

Segment = tuple[str, datetime | None, datetime | None]  # grain, start, end (exclusive)


def _ceil(moment: datetime, step: timedelta) -> datetime:
    floor = moment.replace(minute=0, second=0, microsecond=0)
    if step == _DAY:
        floor = floor.replace(hour=0)
    return floor if floor == moment else floor + step


def segments(query: StatsQuery) -> list[Segment]:
    """The hourly and daily pieces that together cover the query's whole hours."""
    start = None if query.created_from is None else hour_of(query.created_from)
    end = None if query.created_to is None else _ceil(query.created_to.astimezone(UTC), _HOUR)
    if start is not None and end is not None and start >= end:
        return []
    if "hour" in query.group_by:
        return [("hour", start, end)]
    first_day = None if start is None else _ceil(start, _DAY)
    last_day = None if end is None else end.replace(hour=0)
    if first_day is not None and last_day is not None and first_day >= last_day:
        return [("hour", start, end)]
    pieces: list[Segment] = []
    if start is not None and first_day is not None and start < first_day:
        pieces.append(("hour", start, first_day))
    pieces.append(("day", first_day, last_day))
    if end is not None and last_day is not None and last_day < end:
        pieces.append(("hour", last_day, end))
    return pieces


def _filters(query: StatsQuery) -> dict[str, tuple[str, ...]]:
    found: dict[str, tuple[str, ...]] = {}
    if query.types:
        found["type"] = query.types
    if query.application_id is not None:
        found["application"] = (query.application_id,)
    if query.thing_id is not None:
        found["thing"] = (query.thing_id,)
    return found


def _statement(query: StatsQuery, segment: Segment, timed: bool) -> sa.Select[Any]:
    grain, start, end = segment
    grouped = [name for name, _ in _WIRE if name in query.group_by]
    filters = _filters(query)
    rollup = choose(grain, [*grouped, *filters], filters)
    r = rollups.c
    key = {dim: r[f"key{i + 1}"] for i, dim in enumerate(rollup.dims)}
    conditions = [r.user_id == query.user_id, r.rollup == rollup.name]
    if start is not None:
        conditions.append(r.bucket >= start)
    if end is not None:
        conditions.append(r.bucket < end)
    for dim, values in filters.items():
        conditions.append(key[dim] == values[0] if len(values) == 1 else key[dim].in_(values))
    columns = [r.bucket] if timed else []
    columns += [key[dim] for dim in grouped]
    return (
        sa.select(*columns, sa.func.sum(r.count), sa.func.sum(r.total))
        .where(*conditions)
        .group_by(*columns)
    )


async def stats(conn: AsyncConnection, query: StatsQuery) -> list[StatsRow]:
    unknown = set(query.group_by) - set(GROUPS)
    if unknown:
        raise ValueError(f"cannot group by {', '.join(sorted(unknown))}")
    timed = "day" in query.group_by or "hour" in query.group_by
    by_day, by_hour = "day" in query.group_by, "hour" in query.group_by
    names = [wire for name, wire in _WIRE if name in query.group_by]
    times: dict[Any, tuple[str, ...]] = {}
    # Keyed by the stored values ('' for none): they sort as the answer is ordered.
    merged: dict[tuple[Any, ...], list[int]] = {}
    for segment in segments(query):
        result = await conn.execute(_statement(query, segment, timed))
        for row in result:
            key: tuple[Any, ...] = tuple(row[:-2])
            if timed:
                shown = times.get(key[0])
                if shown is None:
                    shown = times[key[0]] = _when(key[0], by_day, by_hour)
                key = shown + key[1:]
            counts = merged.get(key)
            if counts is None:
                merged[key] = [int(row[-2] or 0), int(row[-1] or 0)]
            else:
                counts[0] += int(row[-2] or 0)
                counts[1] += int(row[-1] or 0)
    wire = (["day"] if by_day else []) + (["hour"] if by_hour else []) + names
    shown_at = len(wire) - len(names)
    answer = []
    for key in sorted(merged):
        count, total = merged[key]
        if count:
            values = [*key[:shown_at], *(v or None for v in key[shown_at:])]
            answer.append(StatsRow(dict(zip(wire, values, strict=True)), count, total))
    return answer


def _when(bucket: datetime, by_day: bool, by_hour: bool) -> tuple[str, ...]:
    """A bucket as the answer shows it: its day, its hour, or both."""
    shown: tuple[str, ...] = ()
    if by_day:
        shown += (bucket.date().isoformat(),)
    if by_hour:
        shown += (bucket.strftime("%Y-%m-%dT%H:00:00Z"),)
    return shown

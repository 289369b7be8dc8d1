"""The analytics projection: counts and revenue per user, in rollups by hour and by day.

Each rollup keeps one row per user, UTC hour (or day) and value of its dimensions (of
``type``, ``application``, ``thing``), so a query reads the rollup whose dimensions are exactly
what it groups and filters by, at the coarsest time grain that answers it, and touches about
as many rows as (buckets in range x groups). Rows are updated in the append's own
transaction, so the numbers never disagree with the log; ``rebuild`` recomputes them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from operator import itemgetter
from typing import Any

import orjson
import sqlalchemy as sa

from sticky.events.store.tables import NONE_KEY, events, rollups

DIMENSIONS = ("type", "application", "thing")
# Dimension orders of the rollups. The first dimension is the one an equality filter can
# seek on (the second index); pairs are kept in both orders so that either side may be the
# filter. {application, thing} has no pair of its own: a thing belongs to one application,
# so the three-dimension rollup (thing first) answers it with few extra rows. Hourly pairs
# with ``thing`` are left out: they are as large as the three-dimension hourly rollup, and
# hourly questions about things are answered from that one.
_DAILY: tuple[tuple[str, ...], ...] = (
    (),
    ("type",),
    ("application",),
    ("thing",),
    ("type", "application"),
    ("application", "type"),
    ("type", "thing"),
    ("thing", "type"),
    ("thing", "application", "type"),
)
_HOURLY = tuple(dims for dims in _DAILY if len(dims) != 2 or "thing" not in dims)
_FLUSH_BUCKETS = 100_000  # finest buckets held in memory by a rebuild before an upsert


@dataclass(frozen=True)
class Rollup:
    grain: str  # "hour" or "day"
    dims: tuple[str, ...]  # key1, key2, key3 in this order
    name: str  # "day:thing,type"


ROLLUPS = tuple(
    Rollup(grain, dims, f"{grain}:{','.join(dims)}")
    for grain, orders in (("hour", _HOURLY), ("day", _DAILY))
    for dims in orders
)
# Per rollup: its name, whether it is hourly, and which of (type, application, thing, '')
# fill key1..key3; so a finest bucket becomes a rollup's row with one C call.
_SPECS = tuple(
    (
        r.name,
        r.grain == "hour",
        itemgetter(*[DIMENSIONS.index(d) for d in r.dims], *[3] * (3 - len(r.dims))),
    )
    for r in ROLLUPS
)

# user, hour, type, application, thing: the finest bucket, from which every rollup is summed.
Finest = tuple[str, datetime, str, str, str]


def revenue(custom_data: dict[str, Any]) -> int:
    total = custom_data.get("total")
    # bool is an int in Python; a flag is not money.
    return total if isinstance(total, int) and not isinstance(total, bool) else 0


def hour_of(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


class Tally:
    """Counts and totals per finest bucket, summed into every rollup before one upsert."""

    def __init__(self) -> None:
        self.buckets: defaultdict[Finest, list[int]] = defaultdict(lambda: [0, 0])

    def add(
        self,
        user_id: str,
        created_at: datetime,
        type_: str,
        application_id: str | None,
        thing_id: str | None,
        total: int,
    ) -> None:
        app, thing = application_id or NONE_KEY, thing_id or NONE_KEY
        counts = self.buckets[(user_id, hour_of(created_at), type_, app, thing)]
        counts[0] += 1
        counts[1] += total

    def __len__(self) -> int:
        return len(self.buckets)

    def rollup_rows(self) -> Iterator[tuple[Any, ...]]:
        """(user, rollup, bucket, key1, key2, key3, count, total), one per row to upsert."""
        summed: dict[tuple[Any, ...], list[int]] = {}
        for (user, hour, type_, app, thing), (count, total) in self.buckets.items():
            day = hour.replace(hour=0)
            values = (type_, app, thing, NONE_KEY)
            for name, hourly, keys in _SPECS:
                key = (user, name, hour if hourly else day, *keys(values))
                sums = summed.get(key)
                if sums is None:
                    summed[key] = [count, total]
                else:
                    sums[0] += count
                    sums[1] += total
        for key, (count, total) in summed.items():
            yield (*key, count, total)


# The upsert, per dialect, in the writer's (synchronous) transaction. SQLite binds tuples in
# C; PostgreSQL gets one JSON document (psycopg adapts one parameter instead of thousands).
_COLUMNS = ("user_id", "rollup", "bucket", "key1", "key2", "key3", "count", "total")
_SQLITE_UPSERT = (
    "INSERT INTO rollups (user_id, rollup, bucket, key1, key2, key3, count, total)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (user_id, rollup, bucket, key1, key2, key3)"
    " DO UPDATE SET count = count + excluded.count, total = total + excluded.total"
)
POSTGRES_UPSERT = (
    "INSERT INTO rollups (user_id, rollup, bucket, key1, key2, key3, count, total)"
    " SELECT user_id, rollup, bucket, key1, key2, key3, count, total"
    " FROM json_populate_recordset(NULL::rollups, %s)"
    " ON CONFLICT (user_id, rollup, bucket, key1, key2, key3) DO UPDATE"
    " SET count = rollups.count + excluded.count, total = rollups.total + excluded.total"
)


_UTC_OFFSET = timedelta(0)


def sqlite_time(moment: datetime) -> str:
    """How SQLAlchemy's DateTime stores a (naive UTC) time on SQLite: text in one width."""
    if moment.utcoffset() == _UTC_OFFSET:  # already UTC, as nearly every event is
        return moment.isoformat(" ", "microseconds")[:26]
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def _document(rows: list[tuple[Any, ...]]) -> str:
    return orjson.dumps([dict(zip(_COLUMNS, row, strict=True)) for row in rows]).decode()


def upsert_document(tally: Tally) -> str | None:
    """The rollups to add as the one JSON parameter of ``POSTGRES_UPSERT``, if any."""
    rows = list(tally.rollup_rows())
    return _document(rows) if rows else None


def upsert(conn: sa.Connection, tally: Tally) -> None:
    """Add ``tally`` to the rollups, inside the caller's transaction."""
    rows = list(tally.rollup_rows())
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(POSTGRES_UPSERT, (_document(rows),))
    else:
        times: dict[datetime, str] = {}
        tuples = []
        for row in rows:
            bucket = times.get(row[2])
            if bucket is None:
                bucket = times[row[2]] = sqlite_time(row[2])
            tuples.append((row[0], row[1], bucket, *row[3:]))
        conn.exec_driver_sql(_SQLITE_UPSERT, tuples)


def rebuild(conn: sa.Connection, batch: int = 5000) -> int:
    """Recompute every rollup from the log, in batches; the caller holds the write lock."""
    conn.execute(rollups.delete())
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
        rows = conn.execute(
            sa.select(*columns)
            .where(events.c.position > after)
            .order_by(events.c.position)
            .limit(batch)
        ).all()
        if not rows:
            break
        for position, user, created_at, type_, app, thing, custom_data in rows:
            tally.add(user, created_at, type_, app, thing, revenue(orjson.loads(custom_data)))
            after = position
        read += len(rows)
        if len(tally) >= _FLUSH_BUCKETS:
            upsert(conn, tally)
            tally = Tally()
    upsert(conn, tally)
    return read


def choose(grain: str, needed: Iterable[str], filtered: Iterable[str]) -> Rollup:
    """The rollup of ``grain`` with the fewest dimensions that holds every ``needed`` one,
    preferring one whose first dimension is ``filtered`` (an index seek, not a range scan)."""
    need, filters = set(needed), set(filtered)
    candidates = [r for r in ROLLUPS if r.grain == grain and need <= set(r.dims)]
    return min(
        candidates,
        key=lambda r: (len(r.dims), bool(filters) and r.dims[0] not in filters),
    )

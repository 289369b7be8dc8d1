"""Analytics rollups by hour and by day replace the single hourly projection.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04

The rollups are summed from ``hourly_stats`` (which holds every dimension at the finest
grain), so an existing database keeps its numbers without rereading the log.
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = 64
# The rollups of this revision (sticky.events.store.projection.ROLLUPS), frozen here.
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
_COLUMN = {"type": "type", "application": "application_id", "thing": "thing_id"}
_FINEST = "hour:thing,application,type"
_ROLLUP_COLUMNS = ("user_id", "rollup", "bucket", "key1", "key2", "key3", "count", "total")


def _hourly_table() -> sa.TableClause:
    names = ("user_id", "hour", "type", "application_id", "thing_id", "count", "total")
    return sa.table("hourly_stats", *(sa.column(name) for name in names))


def _day(dialect: str) -> str:
    if dialect == "postgresql":
        return "date_trunc('day', hour AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"
    # SQLite keeps times as text, 'YYYY-MM-DD HH:MM:SS.ffffff'.
    return "substr(hour, 1, 10) || ' 00:00:00.000000'"


def upgrade() -> None:
    op.create_table(
        "rollups",
        sa.Column("user_id", sa.String(_ID), nullable=False),
        sa.Column("rollup", sa.String(32), nullable=False),
        sa.Column("bucket", sa.DateTime(timezone=True), nullable=False),
        sa.Column("key1", sa.String(_ID), nullable=False),
        sa.Column("key2", sa.String(_ID), nullable=False),
        sa.Column("key3", sa.String(_ID), nullable=False),
        sa.Column("count", sa.BigInteger, nullable=False),
        sa.Column("total", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint(
            "user_id", "rollup", "bucket", "key1", "key2", "key3", name="pk_rollups"
        ),
        sqlite_with_rowid=False,
        postgresql_with={"fillfactor": 70},
    )
    op.create_index(
        "ix_rollups_user_id_rollup_key1_bucket", "rollups", ["user_id", "rollup", "key1", "bucket"]
    )
    dialect = op.get_bind().dialect.name
    hourly = _hourly_table()
    target = sa.table("rollups", *(sa.column(name) for name in _ROLLUP_COLUMNS))
    for grain, orders in (("hour", _HOURLY), ("day", _DAILY)):
        bucket = hourly.c.hour if grain == "hour" else sa.literal_column(_day(dialect))
        for dims in orders:
            keys: list[sa.ColumnElement[Any]] = [hourly.c[_COLUMN[d]] for d in dims]
            keys += [sa.literal("")] * (3 - len(dims))
            summed = sa.select(
                hourly.c.user_id,
                sa.literal(f"{grain}:{','.join(dims)}"),
                bucket,
                *keys,
                sa.func.sum(hourly.c.count),
                sa.func.sum(hourly.c.total),
            ).group_by(hourly.c.user_id, bucket, *keys)
            op.execute(target.insert().from_select(list(_ROLLUP_COLUMNS), summed))
    op.drop_table("hourly_stats")


def downgrade() -> None:
    op.create_table(
        "hourly_stats",
        sa.Column("user_id", sa.String(_ID), nullable=False),
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("application_id", sa.String(_ID), nullable=False),
        sa.Column("thing_id", sa.String(_ID), nullable=False),
        sa.Column("count", sa.BigInteger, nullable=False),
        sa.Column("total", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint(
            "user_id", "hour", "type", "application_id", "thing_id", name="pk_hourly_stats"
        ),
    )
    finest = sa.table("rollups", *(sa.column(name) for name in _ROLLUP_COLUMNS))
    # The finest rollup's keys are thing, application, type.
    columns = ["user_id", "hour", "thing_id", "application_id", "type", "count", "total"]
    rows = sa.select(
        finest.c.user_id,
        finest.c.bucket,
        finest.c.key1,
        finest.c.key2,
        finest.c.key3,
        finest.c.count,
        finest.c.total,
    ).where(finest.c.rollup == _FINEST)
    op.execute(_hourly_table().insert().from_select(columns, rows))
    op.drop_index("ix_rollups_user_id_rollup_key1_bucket", table_name="rollups")
    op.drop_table("rollups")

"""The events database's tables (SQLAlchemy Core): the log, checkpoints, analytics rollups."""

from __future__ import annotations

import sqlalchemy as sa

from sticky.kernel.database import UTCDateTime

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_name)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# Projection keys cannot be NULL (NULLs are distinct in a unique key): '' stands for "none".
NONE_KEY = ""


ID_LENGTH = _ID = 64  # the longest id a caller may choose (docs/events.md)
STREAM_LENGTH = 128
# On SQLite an INTEGER PRIMARY KEY is the rowid: the table itself is kept in log order.
POSITION = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

events = sa.Table(
    "events",
    metadata,
    # Assigned by the writer as last + 1 under the write lock, never by a sequence: a
    # sequence hands out numbers in start order, and commits land in another order.
    sa.Column("position", POSITION, primary_key=True, autoincrement=False),
    sa.Column("id", sa.String(_ID), nullable=False),
    sa.Column("type", sa.String(64), nullable=False),
    sa.Column("user_id", sa.String(_ID), nullable=False),
    sa.Column("application_id", sa.String(_ID), nullable=True),
    sa.Column("thing_id", sa.String(_ID), nullable=True),
    sa.Column("session_id", sa.String(_ID), nullable=True),
    sa.Column("payment_id", sa.String(_ID), nullable=True),
    sa.Column("federated_user_id", sa.String(_ID), nullable=True),
    sa.Column("custom_data", sa.Text, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("stream", sa.String(STREAM_LENGTH), nullable=True),
    sa.Column("version", sa.BigInteger, nullable=True),
    # The wire form, encoded once at append time, so an export only streams stored text.
    sa.Column("body", sa.Text, nullable=False),
    sa.UniqueConstraint("user_id", "id", name="uq_events_user_id_id"),
    sa.UniqueConstraint("user_id", "stream", "version", name="uq_events_user_id_stream_version"),
    # Every filter index ends in position: a filtered page is one range scan in log order.
    sa.Index("ix_events_user_id_position", "user_id", "position"),
    sa.Index("ix_events_user_id_type_position", "user_id", "type", "position"),
    sa.Index("ix_events_user_id_application_id_position", "user_id", "application_id", "position"),
    sa.Index("ix_events_user_id_thing_id_position", "user_id", "thing_id", "position"),
    sa.Index("ix_events_user_id_session_id_position", "user_id", "session_id", "position"),
    sa.Index("ix_events_user_id_payment_id_position", "user_id", "payment_id", "position"),
    sa.Index("ix_events_user_id_created_at_position", "user_id", "created_at", "position"),
)

checkpoints = sa.Table(
    "checkpoints",
    metadata,
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("position", sa.BigInteger, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

# The analytics projection: one row per user, rollup, UTC hour or day, and the rollup's keys
# (see projection.ROLLUPS: ``key1``..``key3`` hold its dimensions in its order, '' the rest).
# The primary key serves a time range (every row of one rollup for some buckets); the second
# index serves an equality filter on the rollup's first dimension within a time range.
rollups = sa.Table(
    "rollups",
    metadata,
    sa.Column("user_id", sa.String(_ID), nullable=False),
    sa.Column("rollup", sa.String(32), nullable=False),
    sa.Column("bucket", UTCDateTime, nullable=False),
    sa.Column("key1", sa.String(_ID), nullable=False),
    sa.Column("key2", sa.String(_ID), nullable=False),
    sa.Column("key3", sa.String(_ID), nullable=False),
    sa.Column("count", sa.BigInteger, nullable=False),
    sa.Column("total", sa.BigInteger, nullable=False),
    sa.PrimaryKeyConstraint(
        "user_id", "rollup", "bucket", "key1", "key2", "key3", name="pk_rollups"
    ),
    sa.Index("ix_rollups_user_id_rollup_key1_bucket", "user_id", "rollup", "key1", "bucket"),
    # SQLite: the table is its primary key's B-tree, one fewer to update per new bucket.
    sqlite_with_rowid=False,
    # PostgreSQL: room on each page for a bucket's next versions, so adding to a count is a
    # heap-only update that touches no index.
    postgresql_with={"fillfactor": 70},
)

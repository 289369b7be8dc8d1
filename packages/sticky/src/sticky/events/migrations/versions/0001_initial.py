"""The event log, subscription checkpoints and the hourly analytics projection.

Revision ID: 0001
Revises:
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = 64
# On SQLite an INTEGER PRIMARY KEY is the rowid: the table itself is kept in log order.
_POSITION = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

_FILTER_INDEXES = ("type", "application_id", "thing_id", "session_id", "payment_id", "created_at")


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("position", _POSITION, nullable=False, autoincrement=False),
        sa.Column("id", sa.String(_ID), nullable=False),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("user_id", sa.String(_ID), nullable=False),
        sa.Column("application_id", sa.String(_ID), nullable=True),
        sa.Column("thing_id", sa.String(_ID), nullable=True),
        sa.Column("session_id", sa.String(_ID), nullable=True),
        sa.Column("payment_id", sa.String(_ID), nullable=True),
        sa.Column("federated_user_id", sa.String(_ID), nullable=True),
        sa.Column("custom_data", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stream", sa.String(128), nullable=True),
        sa.Column("version", sa.BigInteger, nullable=True),
        sa.Column("body", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("position", name="pk_events"),
        sa.UniqueConstraint("user_id", "id", name="uq_events_user_id_id"),
        sa.UniqueConstraint(
            "user_id", "stream", "version", name="uq_events_user_id_stream_version"
        ),
    )
    op.create_index("ix_events_user_id_position", "events", ["user_id", "position"])
    for column in _FILTER_INDEXES:
        op.create_index(
            f"ix_events_user_id_{column}_position", "events", ["user_id", column, "position"]
        )

    op.create_table(
        "checkpoints",
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("position", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_checkpoints"),
    )

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


def downgrade() -> None:
    op.drop_table("hourly_stats")
    op.drop_table("checkpoints")
    for column in _FILTER_INDEXES:
        op.drop_index(f"ix_events_user_id_{column}_position", table_name="events")
    op.drop_index("ix_events_user_id_position", table_name="events")
    op.drop_table("events")

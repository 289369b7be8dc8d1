"""events the events service refused for good, set aside from the outbox

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-12
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from sticky.kernel.database import UTCDateTime

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "outbox_dead_letters",
        sa.Column(
            "id",
            sa.Integer().with_variant(sa.BigInteger(), "postgresql"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("event_id", sa.String(length=40), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("refused_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    # Before 0004 a refused event stayed in the outbox: put the dead letters back there (at
    # its end, once per event id) rather than drop them with their table.
    op.execute(
        "INSERT INTO event_outbox (event_id, body, created_at, attempts, last_error)"
        " SELECT d.event_id, d.body, d.created_at, d.attempts, d.error"
        " FROM outbox_dead_letters d"
        " WHERE d.id = (SELECT max(l.id) FROM outbox_dead_letters l WHERE l.event_id = d.event_id)"
        " AND NOT EXISTS (SELECT 1 FROM event_outbox o WHERE o.event_id = d.event_id)"
        " ORDER BY d.id"
    )
    op.drop_table("outbox_dead_letters")

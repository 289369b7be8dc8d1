"""payments (the projection of payment streams), payhook de-duplication, payment settings

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from sticky.kernel.database import UTCDateTime

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "payments",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("user_id", sa.String(length=40), nullable=False),
        sa.Column("session_id", sa.String(length=40), nullable=True),
        sa.Column("application_id", sa.String(length=40), nullable=True),
        sa.Column("thing_id", sa.String(length=40), nullable=True),
        sa.Column("cart", sa.JSON(), nullable=False),
        sa.Column("subtotal", sa.BigInteger(), nullable=False),
        sa.Column("discount", sa.BigInteger(), nullable=False),
        sa.Column("tip", sa.BigInteger(), nullable=False),
        sa.Column("total", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("gateway", sa.String(length=40), nullable=False),
        sa.Column("customer", sa.JSON(), nullable=True),
        sa.Column("user_payment_id", sa.String(length=200), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("reference", sa.String(length=200), nullable=True),
        sa.Column("failure", sa.JSON(), nullable=True),
        sa.Column("session_paid_at", UTCDateTime(), nullable=True),
        sa.Column("session_failed_at", UTCDateTime(), nullable=True),
        sa.Column("refunded_at", UTCDateTime(), nullable=True),
        sa.Column("refunded_total", sa.BigInteger(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=64), nullable=True),
        sa.Column("charge_reference", sa.String(length=200), nullable=True),
        sa.Column("refund_reserved", sa.BigInteger(), nullable=False),
        sa.Column("redirect_url", sa.Text(), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("user_id", "idempotency_key", name="uq_payments_idempotency"),
    )
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.create_index(
            "ix_payments_user_created", ["user_id", "created_at", "id"], unique=False
        )
        batch_op.create_index(
            "ix_payments_charge_reference", ["gateway", "charge_reference"], unique=False
        )
        batch_op.create_index("ix_payments_session", ["session_id"], unique=False)

    op.create_table(
        "payhook_events",
        sa.Column("gateway", sa.String(length=40), nullable=False),
        sa.Column("event_id", sa.String(length=200), nullable=False),
        sa.Column("payment_id", sa.String(length=40), nullable=True),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("gateway", "event_id"),
    )
    op.create_table(
        "payment_settings",
        sa.Column("user_id", sa.String(length=40), nullable=False),
        sa.Column("stripe_keys", sa.Text(), nullable=True),
        sa.Column("stripe_hint", sa.JSON(), nullable=True),
        sa.Column("checkout_secret", sa.Text(), nullable=True),
        sa.Column("checkout_secret_at", UTCDateTime(), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("user_id"),
    )


def downgrade() -> None:
    op.drop_table("payment_settings")
    op.drop_table("payhook_events")
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.drop_index("ix_payments_session")
        batch_op.drop_index("ix_payments_charge_reference")
        batch_op.drop_index("ix_payments_user_created")
    op.drop_table("payments")

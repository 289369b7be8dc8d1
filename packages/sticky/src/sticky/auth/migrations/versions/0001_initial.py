"""Users, one-time tokens, API keys, team members, refresh and signing keys, counters, outbox.

Revision ID: 0001
Revises:
Create Date: 2024-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _at(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("password_hash", sa.String(200), nullable=False),
        _at("email_verified_at", nullable=True),
        _at("created_at"),
        _at("updated_at"),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
        sa.UniqueConstraint("email", name="uq_users_email"),
    )
    for table in ("email_verification_tokens", "password_reset_tokens"):
        op.create_table(
            table,
            sa.Column("token_hash", sa.String(64), nullable=False),
            sa.Column(
                "user_id",
                sa.String(40),
                sa.ForeignKey("users.id", name=f"fk_{table}_user_id_users", ondelete="CASCADE"),
                nullable=False,
            ),
            _at("created_at"),
            _at("expires_at"),
            _at("used_at", nullable=True),
            sa.PrimaryKeyConstraint("token_hash", name=f"pk_{table}"),
        )
        op.create_index(f"ix_{table}_user_id", table, ["user_id"])

    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column(
            "user_id",
            sa.String(40),
            sa.ForeignKey("users.id", name="fk_api_keys_user_id_users", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("type", sa.String(10), nullable=False),
        sa.Column("key", sa.String(100), nullable=True),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("last4", sa.String(4), nullable=False),
        _at("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_api_keys"),
        sa.UniqueConstraint("key_hash", name="uq_api_keys_key_hash"),
        sa.UniqueConstraint("user_id", "type", name="uq_api_keys_user_id_type"),
    )

    op.create_table(
        "team_members",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column(
            "user_id",
            sa.String(40),
            sa.ForeignKey("users.id", name="fk_team_members_user_id_users", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("permissions", sa.JSON, nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("key_last4", sa.String(4), nullable=False),
        _at("created_at"),
        _at("updated_at"),
        sa.PrimaryKeyConstraint("id", name="pk_team_members"),
        sa.UniqueConstraint("key_hash", name="uq_team_members_key_hash"),
        sa.UniqueConstraint("user_id", "email", name="uq_team_members_user_id_email"),
    )
    op.create_index(
        "ix_team_members_user_id_created_at", "team_members", ["user_id", "created_at", "id"]
    )

    op.create_table(
        "refresh_tokens",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column(
            "user_id",
            sa.String(40),
            sa.ForeignKey("users.id", name="fk_refresh_tokens_user_id_users", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("family_id", sa.String(40), nullable=False),
        sa.Column("parent_id", sa.String(40), nullable=True),
        sa.Column("access_token_id", sa.String(40), nullable=False),
        _at("created_at"),
        _at("expires_at"),
        _at("spent_at", nullable=True),
        _at("revoked_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_refresh_tokens"),
        sa.UniqueConstraint("token_hash", name="uq_refresh_tokens_token_hash"),
    )
    for column in ("user_id", "family_id", "access_token_id"):
        op.create_index(f"ix_refresh_tokens_{column}", "refresh_tokens", [column])

    op.create_table(
        "signing_keys",
        sa.Column("kid", sa.String(40), nullable=False),
        sa.Column("generation", sa.Integer, nullable=False),
        sa.Column("private_key", sa.Text, nullable=False),
        sa.Column("public_jwk", sa.JSON, nullable=False),
        _at("created_at"),
        sa.PrimaryKeyConstraint("kid", name="pk_signing_keys"),
        sa.UniqueConstraint("generation", name="uq_signing_keys_generation"),
    )

    op.create_table(
        "rate_limits",
        sa.Column("bucket", sa.String(400), nullable=False),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("resets_at", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("bucket", name="pk_rate_limits"),
    )
    op.create_index("ix_rate_limits_resets_at", "rate_limits", ["resets_at"])

    op.create_table(
        "mail_outbox",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("recipient", sa.String(320), nullable=False),
        sa.Column("template", sa.String(40), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        _at("created_at"),
        sa.Column("attempts", sa.Integer, nullable=False),
        _at("next_attempt_at"),
        _at("leased_until", nullable=True),
        sa.Column("lease_id", sa.String(40), nullable=True),
        _at("sent_at", nullable=True),
        _at("failed_at", nullable=True),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_mail_outbox"),
    )
    op.create_index("ix_mail_outbox_recipient", "mail_outbox", ["recipient"])
    op.create_index("ix_mail_outbox_next_attempt_at", "mail_outbox", ["next_attempt_at"])

    op.create_table(
        "idempotency_keys",
        sa.Column("owner", sa.String(64), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("status", sa.Integer, nullable=True),
        sa.Column("response", sa.Text, nullable=True),
        _at("created_at"),
        _at("locked_until"),
        sa.PrimaryKeyConstraint("owner", "key", name="pk_idempotency_keys"),
    )
    op.create_index("ix_idempotency_keys_created_at", "idempotency_keys", ["created_at"])


def downgrade() -> None:
    for table in (
        "idempotency_keys",
        "mail_outbox",
        "rate_limits",
        "signing_keys",
        "refresh_tokens",
        "team_members",
        "api_keys",
        "password_reset_tokens",
        "email_verification_tokens",
        "users",
    ):
        op.drop_table(table)

"""Auth's tables (SQLAlchemy Core). Secrets are stored hashed or encrypted, never in clear."""

from __future__ import annotations

import sqlalchemy as sa

from sticky.kernel.database import UTCDateTime
from sticky.kernel.idempotency import idempotency_table

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_name)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


def _user_fk() -> sa.ForeignKey:
    return sa.ForeignKey("users.id", ondelete="CASCADE")


users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("email", sa.String(320), nullable=False, unique=True),
    sa.Column("password_hash", sa.String(200), nullable=False),
    sa.Column("email_verified_at", UTCDateTime, nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)


def _one_time_tokens(name: str) -> sa.Table:
    return sa.Table(
        name,
        metadata,
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("user_id", sa.String(40), _user_fk(), nullable=False, index=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("expires_at", UTCDateTime, nullable=False),
        sa.Column("used_at", UTCDateTime, nullable=True),
    )


email_verification_tokens = _one_time_tokens("email_verification_tokens")
password_reset_tokens = _one_time_tokens("password_reset_tokens")

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("user_id", sa.String(40), _user_fk(), nullable=False),
    sa.Column("type", sa.String(10), nullable=False),
    # Only the publishable key is kept in clear; the private key is only ever hashed.
    sa.Column("key", sa.String(100), nullable=True),
    sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("last4", sa.String(4), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("user_id", "type", name="uq_api_keys_user_id_type"),
)

team_members = sa.Table(
    "team_members",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("user_id", sa.String(40), _user_fk(), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("email", sa.String(320), nullable=False),
    sa.Column("permissions", sa.JSON, nullable=False),
    sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("key_last4", sa.String(4), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("user_id", "email", name="uq_team_members_user_id_email"),
    sa.Index("ix_team_members_user_id_created_at", "user_id", "created_at", "id"),
)

refresh_tokens = sa.Table(
    "refresh_tokens",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("user_id", sa.String(40), _user_fk(), nullable=False, index=True),
    sa.Column("family_id", sa.String(40), nullable=False, index=True),
    sa.Column("parent_id", sa.String(40), nullable=True),
    # The access token issued beside this refresh token: how a request finds its session.
    sa.Column("access_token_id", sa.String(40), nullable=False, index=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False),
    sa.Column("spent_at", UTCDateTime, nullable=True),
    sa.Column("revoked_at", UTCDateTime, nullable=True),
)

signing_keys = sa.Table(
    "signing_keys",
    metadata,
    sa.Column("kid", sa.String(40), primary_key=True),
    # Unique, so two processes racing to add "the next key" cannot both succeed.
    sa.Column("generation", sa.Integer, nullable=False, unique=True),
    sa.Column("private_key", sa.Text, nullable=False),
    sa.Column("public_jwk", sa.JSON, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

rate_limits = sa.Table(
    "rate_limits",
    metadata,
    sa.Column("bucket", sa.String(400), primary_key=True),
    sa.Column("count", sa.Integer, nullable=False),
    sa.Column("resets_at", sa.Float, nullable=False, index=True),
)

mail_outbox = sa.Table(
    "mail_outbox",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("recipient", sa.String(320), nullable=False, index=True),
    sa.Column("template", sa.String(40), nullable=False),
    # Encrypted: it carries one-time tokens; emptied once the mail service has the message.
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("next_attempt_at", UTCDateTime, nullable=False, index=True),
    sa.Column("leased_until", UTCDateTime, nullable=True),
    sa.Column("lease_id", sa.String(40), nullable=True),
    sa.Column("sent_at", UTCDateTime, nullable=True),
    sa.Column("failed_at", UTCDateTime, nullable=True),
    sa.Column("last_error", sa.Text, nullable=True),
)

# Answers to requests sent with an Idempotency-Key (kept by the kernel's middleware).
idempotency_keys = idempotency_table(metadata)

"""The webhook tables: endpoints users register, one delivery per (endpoint, event), and the
log of every attempt to deliver it.

They join the api's shared ``metadata`` (migration ``0003``). A delivery is unique per
``(endpoint_id, event_id)``, so the reactor may see an event twice (its subscription is at least
once) and still queue it once. Deliveries are claimed with a lease (``locked_until``, ``lease``)
like the mail outbox, so replicas never send the same attempt twice at the same time.
"""

from __future__ import annotations

import sqlalchemy as sa

from sticky.api.store.tables import metadata
from sticky.kernel.database import UTCDateTime

webhook_endpoints = sa.Table(
    "webhook_endpoints",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("user_id", sa.String(40), nullable=False),
    sa.Column("url", sa.String(2048), nullable=False),
    sa.Column("description", sa.String(500), nullable=False),
    sa.Column("event_types", sa.JSON(), nullable=False),  # type names, or ["*"]
    sa.Column("enabled", sa.Boolean(), nullable=False),
    sa.Column("disabled_reason", sa.String(20)),  # "manual" or "failing"
    sa.Column("disabled_at", UTCDateTime()),
    sa.Column("notify_email", sa.String(320)),
    sa.Column("secret", sa.Text(), nullable=False),  # encrypted with STICKY_SECRET_KEY
    sa.Column("previous_secret", sa.Text()),  # still signed with until it expires
    sa.Column("previous_secret_expires_at", UTCDateTime()),
    sa.Column("failing_since", UTCDateTime()),  # first failed attempt since the last success
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
)
sa.Index(
    "ix_webhook_endpoints_user_created",
    webhook_endpoints.c.user_id,
    webhook_endpoints.c.created_at,
    webhook_endpoints.c.id,
)

webhook_deliveries = sa.Table(
    "webhook_deliveries",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("endpoint_id", sa.String(40), nullable=False),
    sa.Column("user_id", sa.String(40), nullable=False),
    sa.Column("event_id", sa.String(64), nullable=False),
    sa.Column("event_type", sa.String(64), nullable=False),
    sa.Column("body", sa.Text(), nullable=False),  # the JSON sent, encoded once
    sa.Column("status", sa.String(20), nullable=False),  # pending, succeeded, failed
    sa.Column("attempts", sa.Integer(), nullable=False),
    # Attempts made before the current schedule began (a redelivery starts it again).
    sa.Column("retries_from", sa.Integer(), nullable=False),
    sa.Column("next_attempt_at", UTCDateTime()),  # null unless pending
    sa.Column("locked_until", UTCDateTime()),
    sa.Column("lease", sa.String(40)),
    sa.Column("last_status_code", sa.Integer()),
    sa.Column("last_error", sa.Text()),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.Column("delivered_at", UTCDateTime()),
    sa.UniqueConstraint("endpoint_id", "event_id", name="uq_webhook_deliveries_endpoint_event"),
)
sa.Index(
    "ix_webhook_deliveries_due", webhook_deliveries.c.status, webhook_deliveries.c.next_attempt_at
)
sa.Index(
    "ix_webhook_deliveries_endpoint_created",
    webhook_deliveries.c.endpoint_id,
    webhook_deliveries.c.created_at,
    webhook_deliveries.c.id,
)

webhook_attempts = sa.Table(
    "webhook_attempts",
    metadata,
    sa.Column("delivery_id", sa.String(40), primary_key=True),
    sa.Column("attempt", sa.Integer(), primary_key=True),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.Column("ok", sa.Boolean(), nullable=False),
    sa.Column("status_code", sa.Integer()),  # null when no answer came
    sa.Column("latency_ms", sa.Float()),
    sa.Column("response_excerpt", sa.Text()),
    sa.Column("error", sa.Text()),
    sa.Column("manual", sa.Boolean(), nullable=False),  # a redelivery someone asked for
)

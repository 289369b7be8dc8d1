"""The payments tables: the payment projection, payhook de-duplication, merchants' settings.

``payments`` is a projection of each payment's event stream (``payment-<id>``), kept in the
same transaction as the outbox rows that carry those events, plus a few operational columns
the events do not hold (the idempotency key, the gateway's charge reference, refunds in
flight). ``payhook_events`` remembers every gateway event applied, so a replay is refused by
a unique key. ``payment_settings`` holds a merchant's Stripe keys and checkout signing secret,
both sealed with a key derived from ``STICKY_SECRET_KEY``.
"""

from __future__ import annotations

import sqlalchemy as sa

from sticky.api.store.tables import metadata
from sticky.kernel.database import UTCDateTime

payments = sa.Table(
    "payments",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("user_id", sa.String(40), nullable=False),
    sa.Column("session_id", sa.String(40)),
    sa.Column("application_id", sa.String(40)),
    sa.Column("thing_id", sa.String(40)),
    sa.Column("cart", sa.JSON(), nullable=False),
    sa.Column("subtotal", sa.BigInteger(), nullable=False),
    sa.Column("discount", sa.BigInteger(), nullable=False),
    sa.Column("tip", sa.BigInteger(), nullable=False),
    sa.Column("total", sa.BigInteger(), nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("gateway", sa.String(40), nullable=False),
    sa.Column("customer", sa.JSON()),
    sa.Column("user_payment_id", sa.String(200)),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("reference", sa.String(200)),  # the provider's, once paid (from SESSION_CART_PAY)
    sa.Column("failure", sa.JSON()),  # {code, message} once failed
    sa.Column("session_paid_at", UTCDateTime()),
    sa.Column("session_failed_at", UTCDateTime()),
    sa.Column("refunded_at", UTCDateTime()),
    sa.Column("refunded_total", sa.BigInteger(), nullable=False),
    sa.Column("version", sa.Integer(), nullable=False),  # the stream's last event's version
    sa.Column("created_at", UTCDateTime(), nullable=False),
    # Operational: not in the events, so not part of the projection.
    sa.Column("idempotency_key", sa.String(64)),
    sa.Column("charge_reference", sa.String(200)),
    sa.Column("refund_reserved", sa.BigInteger(), nullable=False),
    sa.Column("redirect_url", sa.Text()),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.UniqueConstraint("user_id", "idempotency_key", name="uq_payments_idempotency"),
)
sa.Index("ix_payments_user_created", payments.c.user_id, payments.c.created_at, payments.c.id)
sa.Index("ix_payments_charge_reference", payments.c.gateway, payments.c.charge_reference)
sa.Index("ix_payments_session", payments.c.session_id)

payhook_events = sa.Table(
    "payhook_events",
    metadata,
    sa.Column("gateway", sa.String(40), primary_key=True),
    sa.Column("event_id", sa.String(200), primary_key=True),
    sa.Column("payment_id", sa.String(40)),
    sa.Column("received_at", UTCDateTime(), nullable=False),
)

payment_settings = sa.Table(
    "payment_settings",
    metadata,
    sa.Column("user_id", sa.String(40), primary_key=True),
    sa.Column("stripe_keys", sa.Text()),  # seal_keys(...)
    sa.Column("stripe_hint", sa.JSON()),  # masked keys, to show without opening the seal
    sa.Column("checkout_secret", sa.Text()),  # crypto.encrypt(...)
    sa.Column("checkout_secret_at", UTCDateTime()),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
)

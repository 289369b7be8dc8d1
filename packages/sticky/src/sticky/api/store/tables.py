"""The api service's tables: what a merchant owns (things, flows, products, categories),
consumer sessions, and the outbox of events waiting for the events service.

Every owned row carries ``user_id``, and every query names it: another user's id is simply
not found. Lists page by ``(user_id, created_at, id)``, which each owned table indexes.
"""

from __future__ import annotations

import sqlalchemy as sa

from sticky.kernel.database import UTCDateTime
from sticky.kernel.idempotency import idempotency_table

metadata = sa.MetaData()


def _owned(name: str, *columns: sa.Column[object] | sa.Index) -> sa.Table:
    table = sa.Table(
        name,
        metadata,
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("user_id", sa.String(40), nullable=False),
        *columns,
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    sa.Index(f"ix_{name}_user_created", table.c.user_id, table.c.created_at, table.c.id)
    return table


things = _owned(
    "things",
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("design_id", sa.String(100)),
    sa.Column("application_id", sa.String(40)),
    sa.Column("product_id", sa.String(40)),
    sa.Column("tags", sa.JSON(), nullable=False),
    sa.Column("location", sa.JSON()),
    sa.Column("custom_data", sa.JSON(), nullable=False),
    sa.Column("their_id", sa.String(200)),
    sa.Column("is_virtual", sa.Boolean(), nullable=False),
    sa.Column("is_kid_safe", sa.Boolean(), nullable=False),
)
sa.Index("ix_things_user_application", things.c.user_id, things.c.application_id)
sa.Index("ix_things_user_design", things.c.user_id, things.c.design_id)

applications = _owned(
    "applications",
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("public_name", sa.String(200)),
    sa.Column("logic", sa.Text()),  # the draft's routing logic; None: go to the settings' app
    sa.Column("settings", sa.JSON(), nullable=False),
    sa.Column("draft_version", sa.Integer(), nullable=False),
    sa.Column("live_version", sa.Integer()),
)

# Every version ever made live, so "make live" is reversible and taps name what they ran.
application_versions = sa.Table(
    "application_versions",
    metadata,
    sa.Column("application_id", sa.String(40), primary_key=True),
    sa.Column("version", sa.Integer(), primary_key=True),
    sa.Column("user_id", sa.String(40), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("public_name", sa.String(200)),
    sa.Column("logic", sa.Text()),
    sa.Column("settings", sa.JSON(), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
)

products = _owned(
    "products",
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("description", sa.Text(), nullable=False),
    sa.Column("price", sa.BigInteger(), nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("categories", sa.JSON(), nullable=False),
    sa.Column("is_enabled", sa.Boolean(), nullable=False),
    sa.Column("media", sa.JSON(), nullable=False),
    sa.Column("questions", sa.JSON(), nullable=False),
    sa.Column("their_id", sa.String(200)),
)

categories = _owned(
    "categories",
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("description", sa.Text(), nullable=False),
    sa.Column("availability", sa.JSON(), nullable=False),
)

# A consumer's browser session. The cookie names it on every user's stickers; ``user_id`` is
# the merchant whose sticker it last tapped, the one its session credential reads from.
sessions = sa.Table(
    "sessions",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("user_id", sa.String(40), nullable=False),
    sa.Column("application_id", sa.String(40)),
    sa.Column("thing_id", sa.String(40)),
    sa.Column("cross_user_sector", sa.JSON(), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
)

# The user and application sectors: ``application_id`` is "" for the user sector.
session_sectors = sa.Table(
    "session_sectors",
    metadata,
    sa.Column("session_id", sa.String(40), primary_key=True),
    sa.Column("user_id", sa.String(40), primary_key=True),
    sa.Column("application_id", sa.String(40), primary_key=True),
    sa.Column("data", sa.JSON(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
)

# Users the api has set up (their virtual test sticker and first flow exist).
accounts = sa.Table(
    "accounts",
    metadata,
    sa.Column("user_id", sa.String(40), primary_key=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
)

# Events recorded here (taps, logic errors) wait for the events service in this table, in
# ``seq`` order; any replica may deliver them, leased so two never send the same row.
event_outbox = sa.Table(
    "event_outbox",
    metadata,
    sa.Column(
        "seq",
        sa.Integer().with_variant(sa.BigInteger(), "postgresql"),
        primary_key=True,
        autoincrement=True,
    ),
    sa.Column("event_id", sa.String(40), nullable=False, unique=True),
    sa.Column("body", sa.Text(), nullable=False),  # the event as the events service takes it
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("locked_until", UTCDateTime()),
    sa.Column("lease", sa.String(40)),
    sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("last_error", sa.Text()),
)

# Events the events service refused for good (a 4xx no retry can change), moved out of the
# outbox so the events after them are delivered; kept whole, with the refusal, to be looked
# at. Its own key: SQLite may hand a deleted outbox ``seq`` to a later event.
outbox_dead_letters = sa.Table(
    "outbox_dead_letters",
    metadata,
    sa.Column(
        "id",
        sa.Integer().with_variant(sa.BigInteger(), "postgresql"),
        primary_key=True,
        autoincrement=True,
    ),
    sa.Column("seq", sa.BigInteger(), nullable=False),  # its place in the outbox
    sa.Column("event_id", sa.String(40), nullable=False),
    sa.Column("body", sa.Text(), nullable=False),  # the outbox row's body, unchanged
    sa.Column("created_at", UTCDateTime(), nullable=False),  # when it was recorded
    sa.Column("attempts", sa.Integer(), nullable=False),
    sa.Column("status_code", sa.Integer(), nullable=False),
    sa.Column("error", sa.Text(), nullable=False),
    sa.Column("refused_at", UTCDateTime(), nullable=False),
)

# One row: the replica that holds it delivers the outbox, so events leave in ``seq`` order.
outbox_lease = sa.Table(
    "outbox_lease",
    metadata,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
    sa.Column("holder", sa.String(40)),
    sa.Column("locked_until", UTCDateTime()),
)

idempotency_keys = idempotency_table(metadata)

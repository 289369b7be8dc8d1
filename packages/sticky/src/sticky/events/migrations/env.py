"""Alembic environment for the events database (driven by ``sticky.kernel.migrations``)."""

from alembic import context

from sticky.events.store.tables import metadata
from sticky.kernel.migrations import run_env

run_env(context, metadata)

"""Alembic environment of the api service (run by ``sticky migrate``)."""

from alembic import context

from sticky.api.store.tables import metadata
from sticky.kernel.migrations import run_env

run_env(context, metadata)

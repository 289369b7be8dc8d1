"""Alembic environment for auth's database (driven by ``sticky.kernel.migrations``)."""

from alembic import context

from sticky.auth.store.tables import metadata
from sticky.kernel.migrations import run_env

run_env(context, metadata)

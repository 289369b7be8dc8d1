"""Alembic environment of the mail service (run by ``sticky migrate``)."""

from alembic import context

from sticky.kernel.migrations import run_env
from sticky.mail.schema import metadata

run_env(context, metadata)

"""Alembic migration history of auth's database."""

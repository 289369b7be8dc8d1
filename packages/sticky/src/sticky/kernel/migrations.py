"""Alembic, one migration history per service, driven from code (no alembic.ini).

Each service ships ``sticky/<service>/migrations`` with an ``env.py`` that calls
:func:`run_env` and a ``versions`` folder. ``sticky migrate`` upgrades to head; ``/readyz``
reports whether the database is at head.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import MetaData, create_engine, inspect, pool, text
from sqlalchemy.ext.asyncio import AsyncEngine

from sticky.kernel.database import add_sqlite_pragmas, ensure_sqlite_directory, sync_url


def alembic_config(package: str, url: str) -> Config:
    location = str(resources.files(package).joinpath("migrations"))
    config = Config()
    config.set_main_option("script_location", location)
    config.set_main_option("sqlalchemy.url", sync_url(url).render_as_string(hide_password=False))
    config.attributes["configure_logger"] = False
    return config


def upgrade(package: str, url: str, revision: str = "head") -> None:
    ensure_sqlite_directory(url)
    command.upgrade(alembic_config(package, url), revision)


def head_revision(package: str) -> str | None:
    script = ScriptDirectory.from_config(alembic_config(package, "sqlite://"))
    return script.get_current_head()


async def current_revision(engine: AsyncEngine) -> str | None:
    """The revision the database is at (None when never migrated).

    Read straight from Alembic's version table: readiness asks every few seconds, and a
    full MigrationContext would log its set-up each time.
    """

    def read(connection: Any) -> str | None:
        if not inspect(connection).has_table("alembic_version"):
            return None
        row = connection.execute(text("SELECT version_num FROM alembic_version")).first()
        return None if row is None else str(row[0])

    async with engine.connect() as connection:
        return await connection.run_sync(read)


def run_env(context: Any, metadata: MetaData) -> None:
    """The body of every service's ``env.py``."""
    url = context.config.get_main_option("sqlalchemy.url")
    engine = create_engine(url, poolclass=pool.NullPool)
    if engine.dialect.name == "sqlite":
        add_sqlite_pragmas(engine)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=metadata,
            render_as_batch=engine.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()

"""Migrations as a one-off step: every service with a database brought to its head revision.

``sticky migrate`` runs this, and so does ``sticky up`` before it starts the services (which
never change their schema themselves; their ``/readyz`` says whether it is at head).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sticky.kernel.settings import ConfigurationError, Settings
from sticky.stack.registry import ProcessType


class MigrationError(Exception):
    """A database could not be brought to its head revision."""


@dataclass(frozen=True)
class Migrated:
    service: str
    revision: str | None
    database: str  # the URL, without its password


def migrate(settings: Settings, types: Sequence[ProcessType]) -> list[Migrated]:
    """Upgrade each service's database to head, in order."""
    types = [p for p in types if p.migrations is not None]
    if not types:
        return []
    from sqlalchemy.engine import make_url

    from sticky.kernel import migrations
    from sticky.kernel.database import DatabaseURLError

    done: list[Migrated] = []
    for process_type in types:
        assert process_type.migrations is not None
        url = settings.database_url(process_type.name)
        variable = f"STICKY_{process_type.name.upper()}_DATABASE_URL"
        try:
            migrations.upgrade(process_type.migrations, url)
            revision = migrations.head_revision(process_type.migrations)
        except DatabaseURLError as exc:
            raise ConfigurationError(f"{variable} is invalid: {exc}") from None
        except Exception as exc:
            raise MigrationError(
                f"The {process_type.name} database could not be migrated"
                f" ({type(exc).__name__}: {exc})."
            ) from exc
        shown = make_url(url).render_as_string(hide_password=True)
        done.append(Migrated(process_type.name, revision, shown))
    return done

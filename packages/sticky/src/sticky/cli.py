"""The ``sticky`` command: run the platform, one service, migrations, key rotation.

    sticky up                    every service, each its own process, behind Caddy
    sticky serve <service>       one service in the foreground (a process type)
    sticky migrate [<service>]   bring databases to their head revision (a one-off step)
    sticky signing-keys rotate   add a signing key for new access tokens
    sticky events rebuild        recompute the events analytics projections from the log
    sticky gateway config        print the gateway's generated Caddyfile
    sticky version

Configuration comes only from ``STICKY_*`` variables. A configuration error prints one
sentence naming the variable and exits with status 2. Imports are deferred to the command
that needs them, so the command answers quickly.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sticky.kernel.settings import Settings

# Exit statuses.
OK = 0
FAILED = 1
USAGE = 2  # a configuration error, an unknown service (argparse uses 2 for usage errors too)


def _settings() -> Settings:
    from sticky.kernel.settings import load_settings

    return load_settings()


def _logged_settings() -> Settings:
    """Settings, with logs as JSON lines on stdout like every process's (for admin commands)."""
    from sticky.kernel.logs import configure_logging

    settings = _settings()
    configure_logging("cli", settings.log_level)
    return settings


def _up(args: argparse.Namespace) -> int:
    from sticky.stack.supervisor import Supervisor

    return Supervisor(_settings()).run()


def _serve(args: argparse.Namespace) -> int:
    from sticky.kernel.settings import ConfigurationError
    from sticky.stack.process import run_service
    from sticky.stack.registry import find

    settings = _settings()
    process_type = find(args.service)
    if process_type.dev_only and not settings.is_development:
        raise ConfigurationError(
            f"The {process_type.name} service runs only in development, and STICKY_ENV is"
            f" {settings.env.value}."
        )
    run_service(process_type, settings)
    return OK


def _migrate(args: argparse.Namespace) -> int:
    from sticky.stack.migrate import migrate
    from sticky.stack.registry import REGISTRY, find

    settings = _logged_settings()
    types = [find(args.service)] if args.service else list(REGISTRY)
    done = migrate(settings, types)
    for migrated in done:
        print(f"{migrated.service}: at revision {migrated.revision} ({migrated.database})")
    if args.service and not done:
        print(f"{args.service}: has no database to migrate")
    return OK


def _rotate_signing_key(args: argparse.Namespace) -> int:
    import asyncio

    from sticky.auth.signing import rotate_signing_key

    kid = asyncio.run(rotate_signing_key(_logged_settings()))
    print(
        f"Added signing key {kid}: published in the JWKS now, it signs new access tokens"
        " within seconds; tokens signed with earlier keys stay valid until they expire."
    )
    return OK


def _rebuild_projections(args: argparse.Namespace) -> int:
    import asyncio

    from sticky.events.store import open_store

    settings = _logged_settings()

    async def rebuild() -> int:
        store = open_store(settings.database_url("events"))
        try:
            return await store.rebuild_projections()
        finally:
            await store.close()

    count = asyncio.run(rebuild())
    print(f"Rebuilt the events projections from {count} events.")
    return OK


def _outbox(work: Callable[[Any], Awaitable[int]]) -> int:
    """Run ``work(transaction)`` on the api's database, in one transaction."""
    import asyncio

    from sticky.api.store import Store

    settings = _logged_settings()

    async def run() -> int:
        store = Store(settings.database_url("api"))
        try:
            async with store.transaction() as tx:
                return await work(tx)
        finally:
            await store.close()

    return asyncio.run(run())


def _dead_letters(args: argparse.Namespace) -> int:
    shown: list[str] = []

    async def listing(tx: Any) -> int:
        for letter in await tx.outbox.dead_letters(args.limit):
            refused = letter.refused_at.strftime("%Y-%m-%dT%H:%M:%SZ")
            error = " ".join(letter.error.split())[:120]
            shown.append(f"{letter.event_id}  {letter.status_code}  {refused}  {error}")
        count: int = await tx.outbox.dead_letter_count()
        return count

    count = _outbox(listing)
    for line in shown:
        print(line)
    print(f"{count} dead letter{'' if count == 1 else 's'}." if count else "No dead letters.")
    return OK


def _redrive(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    if not args.event_ids and not args.all:
        print("Name the events to queue again, or say --all.", file=sys.stderr)
        return USAGE
    event_ids = None if args.all else list(args.event_ids)

    async def redrive(tx: Any) -> int:
        queued: int = await tx.outbox.redrive(event_ids, datetime.now(UTC))
        return queued

    queued = _outbox(redrive)
    print(f"Queued {queued} dead letter{'' if queued == 1 else 's'} again, at the outbox's end.")
    return OK


def _gateway_config(args: argparse.Namespace) -> int:
    from sticky.stack.gateway import caddyfile

    sys.stdout.write(caddyfile(_settings()))
    return OK


def _version(args: argparse.Namespace) -> int:
    from importlib.metadata import version

    print(f"sticky {version('sticky')}")
    return OK


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sticky", description="Sticky: reality's application layer."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="<command>")

    up = commands.add_parser("up", help="run the whole platform locally behind the gateway")
    up.set_defaults(handler=_up)

    serve = commands.add_parser("serve", help="run one service in the foreground")
    serve.add_argument("service", help="auth, mail, mailbox, ...")
    serve.set_defaults(handler=_serve)

    migrate = commands.add_parser("migrate", help="bring databases to their head revision")
    migrate.add_argument("service", nargs="?", help="only this service (default: all)")
    migrate.set_defaults(handler=_migrate)

    keys = commands.add_parser("signing-keys", help="manage the access-token signing keys")
    key_commands = keys.add_subparsers(dest="action", required=True, metavar="<action>")
    rotate = key_commands.add_parser("rotate", help="add a key that signs new tokens")
    rotate.set_defaults(handler=_rotate_signing_key)

    events = commands.add_parser("events", help="the event log")
    events_commands = events.add_subparsers(dest="action", required=True, metavar="<action>")
    rebuild = events_commands.add_parser("rebuild", help="recompute projections from the log")
    rebuild.set_defaults(handler=_rebuild_projections)

    outbox = commands.add_parser("outbox", help="the api's event outbox")
    outbox_commands = outbox.add_subparsers(dest="action", required=True, metavar="<action>")
    letters = outbox_commands.add_parser(
        "dead-letters", help="list the events the events service refused for good"
    )
    letters.add_argument("--limit", type=int, default=100, help="at most this many (100)")
    letters.set_defaults(handler=_dead_letters)
    redrive = outbox_commands.add_parser("redrive", help="queue dead letters again")
    redrive.add_argument("event_ids", nargs="*", metavar="EVENT_ID", help="these events only")
    redrive.add_argument("--all", action="store_true", help="every dead letter, oldest first")
    redrive.set_defaults(handler=_redrive)

    gateway = commands.add_parser("gateway", help="the gateway (Caddy)")
    gateway_commands = gateway.add_subparsers(dest="action", required=True, metavar="<action>")
    config = gateway_commands.add_parser("config", help="print the generated Caddyfile")
    config.set_defaults(handler=_gateway_config)

    version = commands.add_parser("version", help="print the version")
    version.set_defaults(handler=_version)
    return parser


def _sentence(message: str) -> str:
    message = message.strip()
    return message if message.endswith((".", "!", "?")) else message + "."


# Errors the user can act on: (module, class, exit status). Anything else is a bug and keeps
# its traceback.
_FAILURES = (
    ("sticky.kernel.settings", "ConfigurationError", USAGE),
    ("sticky.stack.registry", "UnknownService", USAGE),
    ("sticky.stack.gateway", "GatewayError", FAILED),
    ("sticky.stack.migrate", "MigrationError", FAILED),
)


def _known_failure(exc: Exception) -> int | None:
    # Only a module already imported can have raised, so nothing is imported here.
    for module_name, class_name, status in _FAILURES:
        module = sys.modules.get(module_name)
        if module is not None and isinstance(exc, getattr(module, class_name)):
            return status
    return None


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        status: int = args.handler(args)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        code = _known_failure(exc)
        if code is None:
            raise
        print(f"sticky: {_sentence(str(exc))}", file=sys.stderr)
        return code
    return status

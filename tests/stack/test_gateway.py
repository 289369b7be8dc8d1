"""The generated Caddy configuration, validated by Caddy and routing real requests.

The upstreams here are small real HTTP servers that answer with what they received, so the
tests see exactly which service a path reaches and which headers the gateway added.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from sticky.kernel.settings import Settings
from sticky.stack.gateway import (
    UPSTREAM_TRY_SECONDS,
    caddy_binary,
    caddy_command,
    caddy_environment,
    caddyfile,
    write_config,
)
from sticky.stack.registry import REGISTRY, ProcessType
from tests.conftest import free_port

# Services still to come, so that routing is tested with the catch-all in place.
# The real geo is internal only; routed here, nothing listens on its port.
DOWN = ProcessType("geo", "x:y", routes=("/v1/geo/*",))
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
TRACEPARENT = re.compile(r"^00-[0-9a-f]{32}-[0-9a-f]{16}-01$")


def caddy(action: str, config: Path, settings: Settings) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        caddy_command(config, action),
        env=caddy_environment(settings),
        capture_output=True,
        text=True,
        timeout=30,
    )


def variants(tmp_path: Path) -> dict[str, Settings]:
    return {
        "development": Settings(env="development", data_dir=tmp_path),
        "all interfaces": Settings(env="development", data_dir=tmp_path, host="0.0.0.0"),
        "tls in front": Settings(
            env="production",
            data_dir=tmp_path,
            secret_key="s" * 40,
            service_key="k" * 40,
            public_url="https://sticky.example",
        ),
        "tls here": Settings(
            env="production",
            data_dir=tmp_path,
            secret_key="s" * 40,
            service_key="k" * 40,
            public_url="https://sticky.example:8443",
            gateway_port=8443,
        ),
    }


@pytest.mark.parametrize("variant", ["development", "all interfaces", "tls in front", "tls here"])
def test_caddy_validates_the_generated_config(tmp_path: Path, variant: str) -> None:
    settings = variants(tmp_path)[variant]
    config = write_config(settings, REGISTRY)
    result = caddy("validate", config, settings)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Valid configuration" in result.stdout + result.stderr
    assert "not formatted" not in result.stdout + result.stderr


def test_the_config_says_what_it_does(tmp_path: Path) -> None:
    development, _, in_front, here = variants(tmp_path).values()
    text = caddyfile(development)
    assert "admin off" in text and "auto_https off" in text
    assert f"storage file_system {(tmp_path / 'caddy' / 'data').resolve()}" in text
    assert "http://:8080 {" in text and "bind 127.0.0.1" in text
    assert "reverse_proxy 127.0.0.1:8101" in text and "reverse_proxy 127.0.0.1:8106" in text
    assert "8104" not in text  # mail is internal only
    assert "mailbox" not in caddyfile(in_front)  # development only
    assert "http://:8080 {" in caddyfile(in_front)  # TLS ends in front of the gateway
    assert "https://sticky.example:8443 {" in caddyfile(here)
    assert "auto_https off" not in caddyfile(here)


def test_caddy_comes_with_the_environment() -> None:
    binary = caddy_binary()
    version = subprocess.run([str(binary), "version"], capture_output=True, text=True)
    assert version.stdout.startswith("v2.")


class Echo(BaseHTTPRequestHandler):
    """Answers with its name, the path and the headers it was sent."""

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        payload = {
            "service": self.server.name,  # type: ignore[attr-defined]
            "method": self.command,
            "path": self.path,
            "headers": {k.lower(): v for k, v in self.headers.items()},
            "body": body,
        }
        data = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = _answer

    def log_message(self, *args: Any) -> None:
        pass


@dataclass
class Gateway:
    url: str


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    servers = {}
    for name in ("auth", "api", "events", "mailbox"):
        server = ThreadingHTTPServer(("127.0.0.1", free_port()), Echo)
        server.name = name  # type: ignore[attr-defined]
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers[name] = server
    ports = {f"{name}_port": s.server_address[1] for name, s in servers.items()}
    settings = Settings(
        env="test",
        data_dir=tmp_path_factory.mktemp("gateway"),
        gateway_port=free_port(),
        geo_port=free_port(),
        **ports,  # type: ignore[arg-type]
    )
    config = write_config(settings, [*REGISTRY, DOWN])
    process = subprocess.Popen(
        caddy_command(config),
        env=caddy_environment(settings),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{settings.gateway_port}"
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                if httpx.get(f"{url}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, process.stdout.read().decode()  # type: ignore[union-attr]
            assert time.monotonic() < deadline, "Caddy did not start"
            time.sleep(0.05)
        yield Gateway(url)
    finally:
        process.terminate()
        process.wait(10)
        for server in servers.values():
            server.shutdown()
            server.server_close()


@pytest.mark.parametrize(
    ("path", "service"),
    [
        ("/v1/auth/sign-in", "auth"),
        ("/v1/users/me", "auth"),
        ("/v1/keys", "auth"),
        ("/v1/keys/private/rotate", "auth"),
        ("/v1/team-members", "auth"),
        ("/v1/team-members/tm_1/key/rotate", "auth"),
        ("/.well-known/jwks.json", "auth"),
        ("/v1/events", "events"),
        ("/v1/events/export?format=ndjson", "events"),
        ("/v1/streams/payment-1", "events"),
        ("/v1/things/abc", "api"),
        ("/v1/authors", "api"),
        ("/t/thing1", "api"),
        ("/go/flow/app1", "api"),
        ("/v2/payhook/stripe", "api"),
        ("/mail", "mailbox"),
        ("/mail/api/messages", "mailbox"),
    ],
)
def test_each_prefix_reaches_its_service(gateway: Gateway, path: str, service: str) -> None:
    response = httpx.get(gateway.url + path)
    assert response.status_code == 200
    assert response.json()["service"] == service
    assert response.json()["path"] == path


def test_a_body_passes_through(gateway: Gateway) -> None:
    response = httpx.post(f"{gateway.url}/v1/auth/sign-in", json={"email": "a@b.c"})
    assert response.json()["method"] == "POST"
    assert json.loads(response.json()["body"]) == {"email": "a@b.c"}


def test_a_request_without_ids_gets_them(gateway: Gateway) -> None:
    response = httpx.get(f"{gateway.url}/v1/users/me")
    received = response.json()["headers"]
    request_id = received["x-request-id"]
    assert UUID.match(request_id)
    assert TRACEPARENT.match(received["traceparent"])
    assert received["traceparent"].split("-")[1] == request_id.replace("-", "")
    assert response.headers["x-request-id"] == request_id
    again = httpx.get(f"{gateway.url}/v1/users/me").json()["headers"]
    assert again["x-request-id"] != request_id
    assert again["traceparent"] != received["traceparent"]


def test_a_request_with_ids_keeps_them(gateway: Gateway) -> None:
    traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    response = httpx.get(
        f"{gateway.url}/v1/things/1",
        headers={"X-Request-ID": "req-from-client", "traceparent": traceparent},
    )
    received = response.json()["headers"]
    assert received["x-request-id"] == "req-from-client"
    assert received["traceparent"] == traceparent
    assert response.headers["x-request-id"] == "req-from-client"


def test_a_malformed_traceparent_is_replaced(gateway: Gateway) -> None:
    response = httpx.get(f"{gateway.url}/v1/things/1", headers={"traceparent": "nonsense"})
    assert TRACEPARENT.match(response.json()["headers"]["traceparent"])


def test_an_unknown_path_is_a_404_problem(gateway: Gateway) -> None:
    response = httpx.get(f"{gateway.url}/wp-admin.php", headers={"X-Request-ID": "r-404"})
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["x-request-id"] == "r-404"
    problem = response.json()
    assert problem["type"] == "https://sticky.dev/problems/not-found"
    assert problem["status"] == 404
    assert problem["title"] and problem["detail"]
    assert UUID.match(httpx.get(f"{gateway.url}/nope").headers["x-request-id"])


def test_the_gateway_answers_its_own_health(gateway: Gateway) -> None:
    response = httpx.get(f"{gateway.url}/healthz")
    assert response.json() == {"status": "alive", "service": "gateway"}


def test_a_service_that_is_down_is_a_502_problem(gateway: Gateway) -> None:
    started = time.monotonic()
    response = httpx.get(f"{gateway.url}/v1/geo/here", headers={"X-Request-ID": "r-502"})
    assert time.monotonic() - started >= UPSTREAM_TRY_SECONDS - 0.5  # it waited for a restart
    assert response.status_code == 502
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["x-request-id"] == "r-502"
    problem = response.json()
    assert problem["type"] == "https://sticky.dev/problems/bad-gateway"
    assert problem["status"] == 502
    assert "geo" in problem["detail"]


def test_caddy_collects_garbage_less_often_unless_told(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(env="development", data_dir=tmp_path)
    monkeypatch.delenv("GOGC", raising=False)
    assert caddy_environment(settings)["GOGC"] == "400"
    monkeypatch.setenv("GOGC", "100")  # the operator's own choice wins
    assert caddy_environment(settings)["GOGC"] == "100"


@pytest.mark.parametrize(("cpus", "threads"), [(1, "1"), (2, "1"), (3, "1"), (8, "4")])
def test_caddy_runs_go_on_half_the_cpus_unless_told(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cpus: int, threads: str
) -> None:
    settings = Settings(env="development", data_dir=tmp_path)
    monkeypatch.delenv("GOMAXPROCS", raising=False)
    monkeypatch.setattr(os, "sched_getaffinity", lambda _: set(range(cpus)), raising=False)
    assert caddy_environment(settings)["GOMAXPROCS"] == threads
    monkeypatch.delattr(os, "sched_getaffinity")  # macOS has none: all the CPUs count
    monkeypatch.setattr(os, "cpu_count", lambda: cpus)
    assert caddy_environment(settings)["GOMAXPROCS"] == threads
    monkeypatch.setenv("GOMAXPROCS", "2")
    assert caddy_environment(settings)["GOMAXPROCS"] == "2"

"""``sticky serve <service>``: one process type in the foreground, stopping gracefully."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.stack_fixture import stack_environment


def test_a_request_in_flight_when_sigterm_arrives_still_gets_its_answer(tmp_path: Path) -> None:
    env = stack_environment(tmp_path / "data")
    port = int(env["STICKY_AUTH_PORT"])
    migrate = subprocess.run(
        [sys.executable, "-m", "sticky", "migrate", "auth"], env=env, capture_output=True
    )
    assert migrate.returncode == 0, migrate.stderr
    log = tmp_path / "auth.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "sticky", "serve", "auth"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert server.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)

        body = json.dumps({"email": "nobody@example.com", "password": "not-the-password-1"})
        head = (
            f"POST /v1/auth/sign-in HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        client = socket.create_connection(("127.0.0.1", port), timeout=15)
        # A slow client: the headers and half the body now, the rest after SIGTERM.
        client.sendall(head.encode() + body[:10].encode())
        time.sleep(0.3)
        server.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 10
        while "Shutting down" not in log.read_text():
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.02)
        time.sleep(0.3)
        assert server.poll() is None  # waiting for the request in flight
        client.sendall(body[10:].encode())
        answer = b""
        while chunk := client.recv(65536):
            answer += chunk
        client.close()
        status_line, _, rest = answer.partition(b"\r\n")
        assert status_line == b"HTTP/1.1 401 Unauthorized", answer
        problem = json.loads(rest.partition(b"\r\n\r\n")[2])
        assert problem["type"] == "https://sticky.dev/problems/invalid-credentials"
        assert server.wait(10) is not None
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    # Stopped: nothing listens any more.
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0

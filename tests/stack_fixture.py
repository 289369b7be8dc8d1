"""The whole platform running for end-to-end tests: ``sticky up`` as a real subprocess.

Every port is a free one and the data directory is temporary, so stacks never clash with each
other or with a developer's own ``sticky up``. To use the session's stack in a test package,
import the fixture in its ``conftest.py``::

    from tests.stack_fixture import stack  # noqa: F401

    def test_sign_up(stack: RunningStack) -> None:
        httpx.post(f"{stack.base_url}/v1/auth/sign-up", json={...})
        httpx.get(f"{stack.mailbox_api_url}/messages", params={"to": email})

:func:`start_stack` starts a private one (for tests that stop or break it).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from sticky.kernel.settings import Settings
from sticky.stack import proctree
from tests.conftest import free_port

PORT_VARIABLES = (
    "STICKY_GATEWAY_PORT",
    "STICKY_AUTH_PORT",
    "STICKY_API_PORT",
    "STICKY_EVENTS_PORT",
    "STICKY_MAIL_PORT",
    "STICKY_GEO_PORT",
    "STICKY_MAILBOX_PORT",
    "STICKY_SMTP_SINK_PORT",
)
START_SECONDS = 30.0


def stack_environment(data_dir: Path, **overrides: str) -> dict[str, str]:
    """The environment of a test stack: this one's, minus any STICKY_*, plus fresh ports."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STICKY_")}
    ports: set[int] = set()
    while len(ports) < len(PORT_VARIABLES):
        ports.add(free_port())
    env.update(zip(PORT_VARIABLES, (str(port) for port in sorted(ports)), strict=True))
    env.update(
        STICKY_ENV="test",
        STICKY_DATA_DIR=str(data_dir),
        # Cheap password hashing: the end-to-end tests sign in a lot.
        STICKY_ARGON2_TIME_COST="1",
        STICKY_ARGON2_MEMORY_KIB="1024",
        PYTHONUNBUFFERED="1",
    )
    if env.pop("PYTHONDONTWRITEBYTECODE", None):
        # Each stack imports the whole platform in a fresh interpreter; compiling it anew
        # every time would triple the start. The cache lives outside the source tree.
        env["PYTHONPYCACHEPREFIX"] = str(Path(tempfile.gettempdir()) / "sticky-test-pycache")
    env.update(overrides)
    return env


@dataclass
class RunningStack:
    base_url: str  # the gateway: every public route
    mailbox_api_url: str  # the development mailbox's API: GET {this}/messages
    data_dir: Path
    process: subprocess.Popen[bytes]
    env: dict[str, str]  # what it runs with (every STICKY_* variable)
    stdout: Path  # JSON lines, one per log record
    stderr: Path  # the table of URLs, and anything unexpected
    settings: Settings = field(init=False)

    def __post_init__(self) -> None:
        sticky = {
            k.removeprefix("STICKY_").lower(): v
            for k, v in self.env.items()
            if k.startswith("STICKY_")
        }
        self.settings = Settings(**sticky)  # type: ignore[arg-type]

    def internal_url(self, service: str) -> str:
        """Where ``service`` listens itself, bypassing the gateway."""
        return self.settings.internal_url(service)

    def logs(self) -> list[dict[str, Any]]:
        """Every whole log line so far, parsed. The stack may be writing a line as we read the
        file: whatever follows the last newline is not a line yet."""
        records = []
        written = self.stdout.read_bytes()
        for line in written[: written.rfind(b"\n") + 1].splitlines():
            if line.strip():
                records.append(json.loads(line))
        return records

    def processes(self) -> dict[str, int]:
        """The living children by name (``auth``, ``mail``, ``gateway`` for Caddy...)."""
        found = {}
        for child in proctree.descendants(self.process.pid):
            name = "gateway" if child.name == "caddy" else child.name.removeprefix("sticky-")
            found[name] = child.pid
        return found

    def wait_for_log(self, predicate: Any, timeout: float = START_SECONDS) -> dict[str, Any]:
        """The first log record for which ``predicate(record)`` is true, waiting for it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for record in self.logs():
                if predicate(record):
                    return record
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"no such log line; the stack said:\n{self.output()}")

    def output(self) -> str:
        return (
            self.stdout.read_text()[-8000:] + "\n--- stderr ---\n" + self.stderr.read_text()[-4000:]
        )

    def stop(self, timeout: float = 15.0) -> int:
        """SIGTERM, then wait for ``sticky up`` to exit; its exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            for child in proctree.descendants(self.process.pid):
                os.kill(child.pid, signal.SIGKILL)
            self.process.kill()
            self.process.wait()
            raise


def start_stack(data_dir: Path, **overrides: str) -> RunningStack:
    """Run ``sticky up`` and return once it says every process is ready."""
    data_dir.mkdir(parents=True, exist_ok=True)
    env = stack_environment(data_dir, **overrides)
    stdout, stderr = data_dir / "stdout.log", data_dir / "stderr.log"
    with stdout.open("wb") as out, stderr.open("wb") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "sticky", "up"], stdout=out, stderr=err, env=env
        )
    base_url = f"http://localhost:{env['STICKY_GATEWAY_PORT']}"
    running = RunningStack(
        base_url=base_url,
        mailbox_api_url=f"{base_url}/mail/api",
        data_dir=data_dir,
        process=process,
        env=env,
        stdout=stdout,
        stderr=stderr,
    )
    try:
        running.wait_for_log(lambda record: record.get("event") == "stack ready")
    except AssertionError:
        running.stop()
        raise
    return running


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    """The platform, started once per test session, stopped at its end."""
    running = start_stack(tmp_path_factory.mktemp("stack"))
    yield running
    running.stop()


@pytest.fixture
def private_stack(tmp_path: Path) -> Iterator[RunningStack]:
    """A stack of this test's own, for tests that stop or break it."""
    running = start_stack(tmp_path / "stack")
    yield running
    if running.process.poll() is None:
        running.stop()

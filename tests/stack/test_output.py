"""The stack's stdout: whole JSON lines, each naming its service; and the restart backoff."""

from __future__ import annotations

import io
import json
import os
import time
from pathlib import Path

from sticky.kernel.settings import Settings
from sticky.stack.output import LineRelay, decorate, json_line
from sticky.stack.process import fork_child
from sticky.stack.supervisor import MAX_DELAY, Supervisor, restart_delay


def test_a_services_line_passes_unchanged() -> None:
    line = b'{"event":"request","service":"auth","status":200}'
    assert decorate(line, "auth") == line + b"\n"


def test_a_line_without_a_service_gets_the_childs_name() -> None:
    record = json.loads(decorate(b'{"level":"warn","event":"admin endpoint disabled"}', "gateway"))
    assert record == {"level": "warn", "event": "admin endpoint disabled", "service": "gateway"}


def test_a_line_that_is_not_json_is_wrapped() -> None:
    record = json.loads(decorate(b"Traceback (most recent call last):", "mail"))
    assert record == {
        "event": "Traceback (most recent call last):",
        "level": "info",
        "service": "mail",
    }
    assert json.loads(decorate(b"{not json", "mail"))["event"] == "{not json"
    assert decorate(b"   ", "mail") == b""


def test_lines_are_passed_on_whole_however_the_bytes_arrive() -> None:
    out = io.BytesIO()
    relay = LineRelay("auth", out)
    relay.feed(b'{"event":"one","serv')
    assert out.getvalue() == b""
    relay.feed(b'ice":"auth"}\n{"event":"two"}\n{"event":"thr')
    assert len(out.getvalue().splitlines()) == 2
    relay.feed(b'ee"}')  # the child died before its newline
    relay.close()
    events = [json.loads(line)["event"] for line in out.getvalue().splitlines()]
    assert events == ["one", "two", "three"]


def test_a_child_that_dies_mid_line_ends_its_line_before_the_next_one(tmp_path: Path) -> None:
    """The pipe outlives restarts: a process killed between its line and its newline must not
    glue that line to the first one of the process started after it."""
    out = io.BytesIO()
    supervisor = Supervisor(Settings(env="development", data_dir=tmp_path), types=[], out=out)
    bodies = [
        lambda: os.write(1, b'{"event":"last words","service":"demo"}'),
        lambda: os.write(1, b'{"event":"started","service":"demo"}\n'),
    ]
    child = supervisor._child(
        "demo", 0, "/readyz", lambda fd: fork_child("demo", bodies.pop(0), fd)
    )
    for _ in range(2):
        supervisor._launch(child)
        deadline = time.monotonic() + 10
        while child.pid is not None and time.monotonic() < deadline:
            supervisor._pump(0.05)
        assert child.pid is None
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    written = [line["event"] for line in lines if line.get("logger") != "sticky.stack"]
    assert written == ["last words", "started"]


def test_the_supervisors_own_lines_look_like_the_services() -> None:
    record = json.loads(json_line("service exited", service="auth", level="warning", restart=1))
    assert record["event"] == "service exited"
    assert record["service"] == "auth"
    assert record["level"] == "warning"
    assert record["logger"] == "sticky.stack"
    assert record["time"].endswith("Z")


def test_restarts_back_off_exponentially_up_to_a_ceiling() -> None:
    assert [restart_delay(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 4.0, 8.0]
    assert restart_delay(50) == MAX_DELAY

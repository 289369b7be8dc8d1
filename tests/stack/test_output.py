"""The stack's stdout: whole JSON lines, each naming its service; and the restart backoff."""

from __future__ import annotations

import io
import json

from sticky.stack.output import LineRelay, decorate, json_line
from sticky.stack.supervisor import MAX_DELAY, restart_delay


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

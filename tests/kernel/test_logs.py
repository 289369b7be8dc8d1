"""Log lines: JSON on stdout, carrying the request id and trace id of the request they are for.

Each case runs in a fresh interpreter, as a service does: logging is configured once, before
the app is built, and structlog keeps the loggers it made then.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from typing import Any

import orjson

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"

_SERVE = f"""
import asyncio, logging, sys
import structlog
from sticky.kernel import tracing
from sticky.kernel.logs import configure_logging
from sticky.kernel.metrics import HttpMetrics
from sticky.kernel.middleware import RequestContextMiddleware

configure_logging("demo", sys.argv[1])
log = structlog.get_logger("test")

class Route:
    path = "/t/{{thing_id}}"

async def app(scope, receive, send):
    scope["route"] = Route
    log.warning("inside")
    logging.getLogger("library").warning("library inside")
    await send({{"type": "http.response.start", "status": 302, "headers": []}})
    await send({{"type": "http.response.body", "body": b""}})

async def receive():
    return {{"type": "http.request"}}

async def send(message):
    pass

headers = [(b"x-request-id", b"rid-1"), (b"traceparent", b"00-{TRACE}-00f067aa0ba902b7-01")]
scope = {{"type": "http", "method": "GET", "path": "/t/abc", "headers": headers}}
asyncio.run(RequestContextMiddleware(app, HttpMetrics("demo"))(scope, receive, send))
assert tracing.current.get() is None
log.warning("outside")
"""


def _serve(level: str) -> list[dict[str, Any]]:
    """One request through the middleware, whose handler logs through structlog and through
    the standard library; then a line outside any request."""
    done = subprocess.run(
        [sys.executable, "-c", _SERVE, level], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return [orjson.loads(line) for line in done.stdout.splitlines()]


def test_lines_written_for_a_request_carry_its_ids_and_others_none() -> None:
    lines = _serve("info")
    by_event = {line["event"]: line for line in lines}
    assert set(by_event) == {"inside", "library inside", "request", "outside"}
    for event in ("inside", "library inside", "request"):
        assert by_event[event]["request_id"] == "rid-1"
        assert by_event[event]["trace_id"] == TRACE
        assert by_event[event]["service"] == "demo"
    assert by_event["request"]["route"] == "/t/{thing_id}"
    assert by_event["request"]["status"] == 302
    assert "request_id" not in by_event["outside"]
    assert "trace_id" not in by_event["outside"]


def test_below_info_no_request_line_is_written() -> None:
    lines = _serve("warning")
    assert [line["event"] for line in lines] == ["inside", "library inside", "outside"]
    assert lines[0]["request_id"] == "rid-1"


_WRITES = """
import io, logging, sys
import structlog
from sticky.kernel.logs import configure_logging

class Recorder(io.RawIOBase):
    writes = []
    def writable(self):
        return True
    def write(self, data):
        self.writes.append(bytes(data))
        return len(data)

# What PYTHONUNBUFFERED makes of stdout: no buffer, every write a syscall of its own.
recorder = Recorder()
sys.stdout = io.TextIOWrapper(recorder, write_through=True)
configure_logging("demo")
structlog.get_logger("test").warning("from structlog")
logging.getLogger("library").warning("from the standard library")
sys.stderr.write(repr(Recorder.writes))
"""


def test_each_line_is_one_write_even_unbuffered() -> None:
    """Another process writes into the same pipe (the api's sandbox worker, the events'
    exporter): a line written in two pieces could get a line of theirs between them."""
    done = subprocess.run([sys.executable, "-c", _WRITES], capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr
    writes = ast.literal_eval(done.stderr.decode())
    assert len(writes) == 2
    for data in writes:
        assert data.endswith(b"\n")
        assert data.count(b"\n") == 1
        assert orjson.loads(data)["service"] == "demo"

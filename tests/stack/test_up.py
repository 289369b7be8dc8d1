"""``sticky up`` as a real subprocess: ready, routed, supervised, and stopped leaving nothing."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import time

import httpx
import pytest

from sticky.stack import proctree
from tests.stack_fixture import RunningStack

pytestmark = pytest.mark.stack

SERVICES = ("auth", "api", "events", "geo", "mail", "mailbox")
HELPERS = ("sandbox", "exports")  # the api's routing-logic worker, the events' exporter
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def test_everything_is_ready_and_the_table_says_where(stack: RunningStack) -> None:
    table = stack.stderr.read_text()
    assert "Sticky is up in" in table
    assert stack.base_url in table
    assert f"{stack.base_url}/mail" in table
    for service in SERVICES:
        assert stack.internal_url(service) in table
        assert httpx.get(f"{stack.internal_url(service)}/readyz").status_code == 200
    ready = stack.wait_for_log(lambda record: record["event"] == "stack ready")
    assert set(ready["processes"]) == {"gateway", *SERVICES}
    assert set(stack.processes()) == {"gateway", *SERVICES, *HELPERS}


def test_every_process_but_the_api_yields_the_cpu_to_it(stack: RunningStack) -> None:
    """SCHED_BATCH, every thread: their wake-ups never preempt the api's event loop. The
    exports worker goes further: SCHED_IDLE, it runs only on a CPU nobody else wants."""
    processes = stack.processes()
    assert set(processes) == {"gateway", *SERVICES, *HELPERS}
    for name, pid in processes.items():
        policies = set()
        for thread in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(ProcessLookupError):  # a thread that just ended
                policies.add(os.sched_getscheduler(int(thread)))
        expected = {"api": os.SCHED_OTHER, "exports": os.SCHED_IDLE}.get(name, os.SCHED_BATCH)
        assert policies == {expected}, (name, policies)


def test_every_log_line_is_json_naming_its_service(stack: RunningStack) -> None:
    records = stack.logs()  # would fail on a line that is not JSON
    services = {record["service"] for record in records}
    assert {"stack", "gateway", *SERVICES} <= services
    assert all(record.get("event") for record in records)


def test_the_gateway_routes_to_the_services(stack: RunningStack) -> None:
    jwks = httpx.get(f"{stack.base_url}/.well-known/jwks.json")
    assert jwks.status_code == 200
    assert jwks.json()["keys"]
    mailbox = httpx.get(f"{stack.mailbox_api_url}/messages")
    assert mailbox.status_code == 200
    assert "data" in mailbox.json()
    page = httpx.get(f"{stack.base_url}/mail")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    sign_in = httpx.post(
        f"{stack.base_url}/v1/auth/sign-in",
        json={"email": "nobody@example.com", "password": "not-the-password-1"},
    )
    assert sign_in.status_code == 401
    assert sign_in.json()["type"] == "https://sticky.dev/problems/invalid-credentials"
    unknown = httpx.get(f"{stack.base_url}/v1/nothing-here")
    assert unknown.status_code == 404
    assert unknown.headers["content-type"] == "application/problem+json"


def test_the_gateways_request_id_and_trace_reach_the_service(stack: RunningStack) -> None:
    response = httpx.get(f"{stack.base_url}/v1/users/me")
    assert response.status_code == 401
    request_id = response.headers["x-request-id"]
    assert UUID.match(request_id)
    record = stack.wait_for_log(
        lambda r: r["event"] == "request" and r.get("request_id") == request_id
    )
    assert record["service"] == "auth"
    assert record["trace_id"] == request_id.replace("-", "")  # the gateway's traceparent


def test_the_callers_request_id_and_trace_are_kept(stack: RunningStack) -> None:
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    response = httpx.get(
        f"{stack.base_url}/v1/users/me",
        headers={"X-Request-ID": "e2e-kept-1", "traceparent": f"00-{trace_id}-00f067aa0ba902b7-01"},
    )
    assert response.headers["x-request-id"] == "e2e-kept-1"
    record = stack.wait_for_log(
        lambda r: r["event"] == "request" and r.get("request_id") == "e2e-kept-1"
    )
    assert record["trace_id"] == trace_id


def test_a_killed_service_is_restarted(stack: RunningStack) -> None:
    before = stack.processes()["auth"]
    os.kill(before, signal.SIGKILL)
    exited = stack.wait_for_log(lambda r: r["event"] == "service exited" and r["service"] == "auth")
    assert exited["exit_code"] == -signal.SIGKILL
    assert exited["signal"] == "SIGKILL"
    assert exited["restart"] == 1
    assert exited["delay"] == 0.5
    stack.wait_for_log(lambda r: r["event"] == "service ready" and r["service"] == "auth")
    after = stack.processes()["auth"]
    assert after != before
    assert httpx.get(f"{stack.internal_url('auth')}/readyz").status_code == 200
    assert httpx.get(f"{stack.base_url}/.well-known/jwks.json").status_code == 200


def test_sigterm_stops_every_child_caddy_included(private_stack: RunningStack) -> None:
    children = private_stack.processes()
    assert set(children) == {"gateway", *SERVICES, *HELPERS}
    started = time.monotonic()
    assert private_stack.stop(timeout=15) == 0
    assert time.monotonic() - started < 5
    assert not [name for name, pid in children.items() if proctree.is_running(pid)]
    events = [r["event"] for r in private_stack.logs() if r["service"] == "stack"]
    assert events[-1] == "stopped"
    assert "killed" not in events  # every child stopped on its own, gracefully


def test_a_killed_supervisor_leaves_no_orphans(private_stack: RunningStack) -> None:
    children = private_stack.processes()
    assert set(children) == {"gateway", *SERVICES, *HELPERS}
    private_stack.process.kill()
    private_stack.process.wait()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        left = [name for name, pid in children.items() if proctree.is_running(pid)]
        if not left:
            break
        time.sleep(0.05)
    assert not left, f"still running after the supervisor died: {left}"

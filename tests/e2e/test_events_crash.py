"""The event log under a crash: the events service is killed with SIGKILL mid-work."""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid

import httpx

from sticky_sdk import Event, Sticky
from tests.e2e.test_accounts import signed_up
from tests.stack_fixture import RunningStack


def kill_events(stack: RunningStack) -> int:
    """SIGKILL the events service; return once `sticky up` has it ready again."""
    pid = stack.processes()["events"]
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        new = stack.processes().get("events")
        if new and new != pid:
            try:
                ready = httpx.get(f"{stack.internal_url('events')}/readyz", timeout=1)
            except httpx.TransportError:
                ready = None  # forked, not listening yet
            if ready is not None and ready.status_code == 200:
                return new
        time.sleep(0.1)
    raise AssertionError(f"events did not come back; the stack said:\n{stack.output()}")


def test_kill_9_during_appends_loses_no_acknowledged_event(stack: RunningStack) -> None:
    sticky, _ = signed_up(stack)
    url = f"{stack.base_url}/v1/events"
    headers = {"Authorization": f"Bearer {sticky.access_token}"}
    acknowledged: list[str] = []
    stop = threading.Event()

    def writer(worker: int) -> None:
        with httpx.Client(timeout=5) as client:
            n = 0
            while not stop.is_set():
                ids = [f"w{worker}-{n}-{i}" for i in range(5)]
                n += 1
                try:
                    answer = client.post(
                        url, json=[{"id": i, "type": "TO_DO"} for i in ids], headers=headers
                    )
                except httpx.HTTPError:
                    continue  # not acknowledged: no promise was made
                if answer.status_code == 201:
                    acknowledged.extend(ids)

    def acknowledged_past(count: int) -> None:
        deadline = time.monotonic() + 30
        while len(acknowledged) <= count:
            assert time.monotonic() < deadline, f"no write acknowledged past {count}"
            time.sleep(0.05)

    writers = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
    for thread in writers:
        thread.start()
    try:
        acknowledged_past(0)
        time.sleep(1.0)  # writing in earnest
        kill_events(stack)
        # Writes go on being acknowledged by the restarted service.
        acknowledged_past(len(acknowledged))
        time.sleep(1.0)
    finally:
        stop.set()
        for thread in writers:
            thread.join()

    stored = [e.id for e in sticky.events.list(limit=1000)]
    missing = set(acknowledged) - set(stored)
    assert not missing, f"{len(missing)} acknowledged events lost, e.g. {sorted(missing)[:5]}"
    assert len(stored) == len(set(stored))  # and none stored twice


def test_a_subscription_sees_every_event_in_order_across_a_restart(stack: RunningStack) -> None:
    sticky, _ = signed_up(stack)
    follower = Sticky(stack.base_url, access_token=sticky.access_token, refresh_token=None)
    run = uuid.uuid4().hex[:6]
    expected = [f"{run}-{n}" for n in range(60)]
    seen: list[Event] = []
    done = threading.Event()

    def follow() -> None:
        for event in follower.events.subscribe(after=0, type="TO_DO"):
            seen.append(event)
            if len(seen) >= len(expected):
                done.set()
                return

    thread = threading.Thread(target=follow, daemon=True)
    thread.start()
    for event_id in expected[:30]:
        sticky.events.create("TO_DO", id=event_id)
    deadline = time.monotonic() + 10
    while len(seen) < 30 and time.monotonic() < deadline:
        time.sleep(0.05)
    kill_events(stack)
    for event_id in expected[30:]:
        sticky.events.create("TO_DO", id=event_id)
    assert done.wait(30), f"saw {len(seen)} of {len(expected)}"
    assert [e.id for e in seen] == expected
    positions = [e.position for e in seen]
    assert positions == sorted(positions) and len(set(positions)) == len(positions)

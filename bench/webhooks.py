"""How long an event takes to reach a merchant's webhook receiver, and how many deliveries per
second flow while another merchant's endpoint is dead. Not a test.

    uv run python bench/webhooks.py [--latency-events 200] [--events 2000]

A private ``sticky up`` (free ports, a temporary data directory, development settings) runs
with ``STICKY_WEBHOOK_TIMEOUT_SECONDS=2``. Receivers are HTTP servers in this process. Events
are appended to the events service as a service (``userId`` named), exactly what the webhooks
reactor consumes.

1. latency: one endpoint; events appended one at a time, ``--latency-events`` of them, 20 ms
   apart; for each, from just before its ``POST /v1/events`` to its arrival at the receiver
   (the reactor's subscription, the queue, the sender, the signed POST). p50 and p99;
2. throughput: ``--events`` events for a healthy endpoint appended in one batch, timed from
   the append to the last arrival; first alone, then while another merchant's endpoint never
   answers (it holds every attempt for the whole timeout) with as many events of its own
   queued at the same moment.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.e2e.payment_events import Receiver, receiving, service_headers
from tests.e2e.test_accounts import signed_up
from tests.stack_fixture import RunningStack, start_stack


def merchant(stack: RunningStack, receiver: Receiver) -> str:
    sticky, _ = signed_up(stack)
    sticky.webhooks.create(receiver.url, event_types=["X_BENCH"])
    return sticky.users.me().user.id


def append(stack: RunningStack, client: httpx.Client, user_id: str, count: int) -> list[str]:
    events = [{"type": "X_BENCH", "userId": user_id} for _ in range(count)]
    answer = client.post(
        f"{stack.base_url}/v1/events", json=events, headers=service_headers(stack), timeout=60
    )
    answer.raise_for_status()
    return [item["id"] for item in answer.json()["data"]]


def latency(stack: RunningStack, count: int) -> tuple[float, float, float]:
    receiver = Receiver()
    with receiving(receiver), httpx.Client() as client:
        user_id = merchant(stack, receiver)
        sent: dict[str, float] = {}
        for _ in range(count):
            started = time.monotonic()
            [event_id] = append(stack, client, user_id, 1)
            sent[event_id] = started
            time.sleep(0.02)
        receiver.wait_for(count, timeout=120)
    took = sorted((r.at - sent[r.headers["sticky-event-id"]]) * 1000 for r in receiver.received)
    p99 = took[min(len(took) - 1, int(len(took) * 0.99))]
    return statistics.median(took), p99, took[-1]


def throughput(stack: RunningStack, count: int, *, with_dead: bool) -> tuple[float, float]:
    """Deliveries per second to a healthy endpoint, and the seconds the batch took."""
    healthy, dead = Receiver(), Receiver(delay=30)
    with receiving(healthy, dead), httpx.Client() as client:
        healthy_user = merchant(stack, healthy)
        dead_user = merchant(stack, dead) if with_dead else None
        if dead_user is not None:
            append(stack, client, dead_user, count)
        started = time.monotonic()
        append(stack, client, healthy_user, count)
        healthy.wait_for(count, timeout=600)
        took = healthy.received[-1].at - started
    return count / took, took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--latency-events", type=int, default=200)
    parser.add_argument("--events", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sticky-bench-webhooks-") as tmp:
        stack = start_stack(Path(tmp) / "stack", STICKY_WEBHOOK_TIMEOUT_SECONDS="2")
        try:
            p50, p99, worst = latency(stack, args.latency_events)
            alone, alone_s = throughput(stack, args.events, with_dead=False)
            beside, beside_s = throughput(stack, args.events, with_dead=True)
        finally:
            stack.stop()
    print(f"\nEvent appended to webhook received, {args.latency_events} events one at a time\n")
    print("| p50 ms | p99 ms | max ms |")
    print("|---:|---:|---:|")
    print(f"| {p50:.1f} | {p99:.1f} | {worst:.1f} |")
    print(f"\nDeliveries of {args.events} events to one healthy endpoint\n")
    print("| another endpoint | deliveries/s | seconds |")
    print("|---|---:|---:|")
    print(f"| none | {alone:.0f} | {alone_s:.1f} |")
    print(f"| dead ({args.events} events queued, 2 s timeout) | {beside:.0f} | {beside_s:.1f} |")


if __name__ == "__main__":
    main()

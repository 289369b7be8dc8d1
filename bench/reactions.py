"""How long after a payment its receipt reaches the SMTP sink and its webhook reaches the
merchant, through the whole running platform. Not a test.

    uv run python bench/reactions.py [--payments 200] [--gap-ms 30] [--quick]

A private ``sticky up`` (free ports, a temporary data directory; its test environment counts
as development, so webhooks may go to this machine's loopback) runs here. A merchant signs
up, sells one product through a flow with the demo gateway (``GATEWAY_NOOP``: paid at once)
and receipts on, and registers a webhook endpoint for ``SESSION_CART_PAY`` served by an HTTP
server in this process. A sticker tap gives a consumer session, which then posts
``--payments`` payments through Caddy one at a time, ``--gap-ms`` apart (so this measures
latency, not queueing), each for a customer email of its own.

For each payment, from just before its ``POST /v1/payments``:

- receipt: to the moment the development mailbox's SMTP sink took the message's DATA (the
  ``receivedAt`` it records, microsecond resolution, read once every receipt is in; the
  bench's clock and the sink's are the same machine's wall clock);
- webhook: to the moment the receiver had read the request (its signature is checked with
  ``sticky_sdk.webhooks.verify``; a retried delivery counts at its first arrival).

Both go through the api's outbox, the events service, the reactors' durable subscriptions;
the receipt then through the mail service and SMTP, the webhook through the sender's queue.
The POST's own latency is reported beside them.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sticky_sdk import Sticky, WebhookVerificationError, webhooks
from tests.e2e.payment_events import Receiver, receiving
from tests.e2e.test_accounts import signed_up
from tests.stack_fixture import RunningStack, start_stack

QUICK_PAYMENTS = 20
# The mailbox keeps its newest 1,000 messages; the merchant's confirmation email is one.
MAILBOX_KEEPS = 999


@dataclass(frozen=True)
class Sent:
    payment_id: str
    email: str
    at: float  # time.monotonic() just before the POST
    wall: float  # time.time() at the same moment, for the mailbox's timestamps
    post_ms: float


@dataclass(frozen=True)
class Shop:
    product_id: str
    session_id: str
    secret: str  # the webhook endpoint's signing secret


def open_shop(stack: RunningStack, sticky: Sticky, receiver: Receiver) -> Shop:
    """A product on a live flow with receipts on, a webhook endpoint, a consumer session."""
    product = sticky.products.create("Tea", 300, "EUR")
    flow = sticky.applications.create(
        "Bench café", settings={"gateway": "GATEWAY_NOOP", "receipts": True}
    )
    sticky.applications.make_live(flow.id)
    thing = sticky.things.create("Counter", application_id=flow.id)
    endpoint = sticky.webhooks.create(receiver.url, event_types=["SESSION_CART_PAY"])
    assert endpoint.secret is not None
    tap = httpx.get(f"{stack.base_url}/t/{thing.id}", follow_redirects=False)
    session_id = parse_qs(urlsplit(tap.headers["location"]).query)["sessionId"][0]
    return Shop(product.id, session_id, endpoint.secret)


def pay(stack: RunningStack, shop: Shop, count: int, gap: float) -> list[Sent]:
    sent: list[Sent] = []
    run = os.urandom(3).hex()
    headers = {"Sticky-Session": shop.session_id}
    with httpx.Client(base_url=stack.base_url, headers=headers, timeout=30) as client:
        for index in range(count):
            email = f"bench-{run}-{index}@example.com"
            body = {
                "currency": "EUR",
                "cart": [{"productId": shop.product_id, "quantity": 1}],
                "customer": {"email": email, "name": "Bench"},
            }
            wall, started = time.time(), time.monotonic()
            answer = client.post("/v1/payments", json=body)
            post_ms = (time.monotonic() - started) * 1000
            if answer.status_code != 201 or answer.json()["status"] != "paid":
                raise SystemExit(f"payment {index} not paid: {answer.status_code} {answer.text}")
            sent.append(Sent(answer.json()["id"], email, started, wall, post_ms))
            time.sleep(gap)
    return sent


def webhook_arrivals(
    receiver: Receiver, secret: str, expected: set[str], timeout: float
) -> tuple[dict[str, float], int]:
    """Each payment's first verified webhook arrival (monotonic), and how many were refused."""
    arrived: dict[str, float] = {}
    refused = 0
    seen = 0
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        # Verified as they come, while the signature's timestamp is fresh.
        for request in receiver.received[seen:]:
            seen += 1
            try:
                signature = request.headers.get("sticky-signature")
                body = webhooks.verify(request.body, signature, secret)
            except WebhookVerificationError:
                refused += 1
                continue
            arrived.setdefault(str(body["event"]["paymentId"]), request.at)
        if expected <= arrived.keys():
            break
        time.sleep(0.02)
    return arrived, refused


def receipt_arrivals(stack: RunningStack, expected: set[str], timeout: float) -> dict[str, float]:
    """Each customer's receipt's arrival in the SMTP sink (wall clock, from ``receivedAt``).

    Asked only once the webhooks are in, and twice a second: listing up to 1,000 messages is
    work for the mailbox, which is the receipts' last hop, so it waits until few are due.
    """
    arrived: dict[str, float] = {}
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=30) as client:
        while time.monotonic() < deadline:
            answer = client.get(f"{stack.mailbox_api_url}/messages", params={"limit": 1000})
            answer.raise_for_status()
            for message in answer.json()["data"]:
                if "receipt" not in message["subject"].lower():
                    continue
                at = datetime.fromisoformat(message["receivedAt"].replace("Z", "+00:00"))
                for address in message["to"]:
                    if address in expected:
                        arrived[address] = min(arrived.get(address, at.timestamp()), at.timestamp())
            if expected <= arrived.keys():
                break
            time.sleep(0.5)
    return arrived


def spread(millis: list[float]) -> tuple[float, float, float]:
    """p50, p99 and the worst of ``millis`` (not empty)."""
    ordered = sorted(millis)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return statistics.median(ordered), p99, ordered[-1]


def row(label: str, millis: list[float], total: int) -> str:
    if not millis:
        return f"| {label} | 0/{total} | - | - | - |"
    p50, p99, worst = spread(millis)
    return f"| {label} | {len(millis)}/{total} | {p50:.1f} | {p99:.1f} | {worst:.1f} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--payments", type=int, default=200)
    parser.add_argument("--gap-ms", type=float, default=30.0, help="pause between payments")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for all")
    parser.add_argument(
        "--quick", action="store_true", help=f"{QUICK_PAYMENTS} payments: checks the bench runs"
    )
    args = parser.parse_args()
    count = QUICK_PAYMENTS if args.quick else args.payments
    if not 1 <= count <= MAILBOX_KEEPS:
        parser.error(f"--payments must be 1 to {MAILBOX_KEEPS}: the mailbox keeps 1,000 messages")
    load = os.getloadavg()
    print(f"load average at start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}", flush=True)

    receiver = Receiver()
    with tempfile.TemporaryDirectory(prefix="sticky-bench-reactions-") as tmp, receiving(receiver):
        stack = start_stack(Path(tmp) / "stack")
        try:
            sticky, _ = signed_up(stack)
            shop = open_shop(stack, sticky, receiver)
            sent = pay(stack, shop, count, args.gap_ms / 1000)
            hooks, refused = webhook_arrivals(
                receiver, shop.secret, {s.payment_id for s in sent}, args.timeout
            )
            receipts = receipt_arrivals(stack, {s.email for s in sent}, args.timeout)
        finally:
            stack.stop()

    posts = [s.post_ms for s in sent]
    to_receipt = [(receipts[s.email] - s.wall) * 1000 for s in sent if s.email in receipts]
    to_hook = [(hooks[s.payment_id] - s.at) * 1000 for s in sent if s.payment_id in hooks]
    print(
        f"\nPayment (GATEWAY_NOOP, through the gateway) to its reactions, {count} payments"
        f" {args.gap_ms:.0f} ms apart\n"
    )
    print("| from the POST to | arrived | p50 ms | p99 ms | max ms |")
    print("|---|---:|---:|---:|---:|")
    print(row("its answer (POST /v1/payments)", posts, count))
    print(row("receipt in the SMTP sink", to_receipt, count))
    print(row("webhook at the merchant's receiver", to_hook, count))
    if refused:
        print(f"\n{refused} webhook requests failed signature verification.")


if __name__ == "__main__":
    main()

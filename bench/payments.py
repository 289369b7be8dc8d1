"""Payments created per second through the real gateway, with the sandbox and demo gateways,
and how long the sandbox's asynchronous outcomes take to land. Not a test.

    uv run python bench/payments.py [--seconds 10] [--concurrency 16]

A private ``sticky up`` (free ports, a temporary data directory) runs on this machine. A
merchant signs up, sells one product through a flow per gateway, and a sticker tap gives a
consumer session; ``--concurrency`` clients then post ``POST /v1/payments`` as that session
through Caddy for ``--seconds`` each (every request priced, recorded with its event in the
outbox, and charged). With the sandbox each answer is ``pending``: the processor posts its
signed payhook to the api a moment later, and the run ends when every payment is ``paid``.
Finally every payment's stream is counted in the events service.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.e2e.test_accounts import signed_up
from tests.stack_fixture import RunningStack, start_stack

CARD = {
    "number": "4242424242424242",
    "expMonth": 12,
    "expYear": datetime.now(UTC).year + 2,
    "cvc": "123",
}


@dataclass
class Run:
    gateway: str
    created: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int
    settled_after_s: float
    payment_ids: list[str]

    @property
    def rate(self) -> float:
        return self.created / self.seconds


def shop(stack: RunningStack, token: str, gateway: str) -> tuple[str, str]:
    """A product and a consumer session on a flow taking payments through ``gateway``."""
    auth = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=stack.base_url, headers=auth) as client:
        product = client.post(
            "/v1/products", json={"name": "Tea", "price": 300, "currency": "EUR"}
        ).json()
        flow = client.post(
            "/v1/applications", json={"name": gateway, "settings": {"gateway": gateway}}
        ).json()
        client.post(f"/v1/applications/{flow['id']}/make-live").raise_for_status()
        thing = client.post(
            "/v1/things", json={"name": gateway, "applicationId": flow["id"]}
        ).json()
    tap = httpx.get(f"{stack.base_url}/t/{thing['id']}", follow_redirects=False)
    return product["id"], parse_qs(urlsplit(tap.headers["location"]).query)["sessionId"][0]


async def load(
    stack: RunningStack, token: str, gateway: str, seconds: float, concurrency: int
) -> Run:
    product_id, session_id = shop(stack, token, gateway)
    body: dict[str, object] = {
        "currency": "EUR",
        "cart": [{"productId": product_id, "quantity": 1}],
    }
    if gateway == "GATEWAY_SANDBOX":
        body["card"] = CARD
    latencies: list[float] = []
    ids: list[str] = []
    errors = 0
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=stack.base_url, limits=limits, timeout=30) as client:
        deadline = time.monotonic() + seconds

        async def worker() -> None:
            nonlocal errors
            while time.monotonic() < deadline:
                started = time.perf_counter()
                response = await client.post(
                    "/v1/payments", json=body, headers={"Sticky-Session": session_id}
                )
                latencies.append((time.perf_counter() - started) * 1000)
                if response.status_code == 201:
                    ids.append(response.json()["id"])
                else:
                    errors += 1

        started = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.monotonic() - started
        auth = {"Authorization": f"Bearer {token}"}
        settle_deadline = time.monotonic() + 120
        while True:  # every payment decided: the sandbox's payhooks have all landed
            pending = 0
            cursor = None
            while True:
                params: dict[str, str | int] = {"status": "pending", "limit": 100}
                if cursor:
                    params["cursor"] = cursor
                page = (await client.get("/v1/payments", params=params, headers=auth)).json()
                pending += len(page["data"])
                cursor = page["nextCursor"]
                if not page["hasMore"]:
                    break
            if pending == 0 or time.monotonic() > settle_deadline:
                break
            await asyncio.sleep(0.2)
        settled = time.monotonic() - started
    latencies.sort()
    return Run(
        gateway,
        len(ids),
        elapsed,
        statistics.median(latencies),
        latencies[int(len(latencies) * 0.99) - 1],
        errors,
        settled,
        ids,
    )


async def streams_complete(stack: RunningStack, token: str, ids: list[str], expected: int) -> int:
    """How many payments' streams hold ``expected`` events (the outbox delivered them)."""
    auth = {"Authorization": f"Bearer {token}"}
    complete = 0
    async with httpx.AsyncClient(base_url=stack.base_url, headers=auth, timeout=30) as client:
        for payment_id in ids:
            deadline = time.monotonic() + 60
            while True:
                found = (await client.get(f"/v1/streams/payment-{payment_id}")).json()["data"]
                if len(found) >= expected or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.2)
            complete += len(found) == expected
    return complete


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument(
        "--check-streams", type=int, default=200, help="payments whose streams to count"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sticky-bench-payments-") as tmp:
        stack = start_stack(Path(tmp) / "stack")
        try:
            owner, _ = signed_up(stack)
            token = owner.access_token
            assert token
            runs = [
                asyncio.run(load(stack, token, gateway, args.seconds, args.concurrency))
                for gateway in ("GATEWAY_NOOP", "GATEWAY_SANDBOX")
            ]
            checked = {
                run.gateway: asyncio.run(
                    streams_complete(stack, token, run.payment_ids[: args.check_streams], 2)
                )
                for run in runs
            }
        finally:
            stack.stop()
    print(
        f"\nPayments through the gateway, {args.concurrency} clients, {args.seconds:.0f} s each\n"
    )
    print(
        "| gateway | created | payments/s | p50 ms | p99 ms | errors | all decided after s"
        " | streams complete |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for run in runs:
        sample = min(len(run.payment_ids), args.check_streams)
        print(
            f"| {run.gateway} | {run.created} | {run.rate:.0f} | {run.p50_ms:.1f}"
            f" | {run.p99_ms:.1f} | {run.errors} | {run.settled_after_s:.1f}"
            f" | {checked[run.gateway]}/{sample} |"
        )


if __name__ == "__main__":
    main()

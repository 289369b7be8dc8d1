"""Webhooks through the whole platform: payment events recorded in the events service reach
merchants' receivers signed, from the api's reactor on its durable subscription. A stack of its
own, with the retry schedule shrunk 10,000 times (about 10 s in all) and a 1 s timeout."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from sticky_sdk import Sticky, WebhookEndpoint, webhooks
from tests.e2e.conftest import wait_for_email
from tests.e2e.payment_events import Receiver, receiving, record_payment
from tests.e2e.test_accounts import signed_up
from tests.stack_fixture import RunningStack, start_stack


@pytest.fixture(scope="module")
def hook_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    running = start_stack(
        tmp_path_factory.mktemp("webhook-stack"),
        STICKY_WEBHOOK_RETRY_SCALE="0.0001",
        STICKY_WEBHOOK_TIMEOUT_SECONDS="1",
    )
    yield running
    running.stop()


def merchant(stack: RunningStack) -> tuple[Sticky, str, dict[str, Any], dict[str, Any]]:
    sticky, _ = signed_up(stack)
    user_id = sticky.users.me().user.id
    flow = sticky.applications.create("Café", public_name="Café Ann")
    sticky.applications.make_live(flow.id)
    thing = sticky.things.create("Table 4", application_id=flow.id)
    return sticky, user_id, {"id": flow.id}, {"id": thing.id}


def settled(
    sticky: Sticky, endpoint: WebhookEndpoint, check: Any, timeout: float = 30.0
) -> list[Any]:
    deadline = time.monotonic() + timeout
    while True:
        deliveries = list(sticky.webhooks.list_deliveries(endpoint.id))
        if check(deliveries):
            return deliveries
        assert time.monotonic() < deadline, deliveries
        time.sleep(0.1)


def test_a_payment_reaches_the_merchant_signed(hook_stack: RunningStack) -> None:
    sticky, user_id, flow, thing = merchant(hook_stack)
    receiver = Receiver()
    with receiving(receiver):
        endpoint = sticky.webhooks.create(receiver.url, event_types=["SESSION_CART_PAY"])
        assert endpoint.secret is not None
        payment_id = record_payment(
            hook_stack,
            user_id,
            application_id=flow["id"],
            thing_id=thing["id"],
            email="c@example.com",
        )
        [request] = receiver.wait_for(1)
    body = webhooks.verify(request.body, request.headers["sticky-signature"], endpoint.secret)
    assert body["event"]["type"] == "SESSION_CART_PAY"
    assert body["event"]["paymentId"] == payment_id and body["event"]["userId"] == user_id
    assert body["payment"]["status"] == "paid" and body["payment"]["total"] == 1160
    assert body["payment"]["cart"][0]["name"] == "Flat white"
    assert body["flow"] == {"id": flow["id"], "name": "Café", "publicName": "Café Ann"}
    assert body["sticky"] == {"id": thing["id"], "name": "Table 4"}
    assert body["session"] == {"id": "ses_e2e"}
    [delivery] = settled(sticky, endpoint, lambda ds: ds and ds[0].status == "succeeded")
    assert delivery.event_id == body["event"]["id"]
    [attempt] = delivery.attempts
    assert attempt.status_code == 200 and attempt.ok and attempt.latency_ms is not None
    assert attempt.response_excerpt == '{"received": true}'


def test_a_failing_or_dead_endpoint_does_not_hold_up_another_merchant(
    hook_stack: RunningStack,
) -> None:
    failing, failing_user, failing_flow, _ = merchant(hook_stack)
    healthy, healthy_user, healthy_flow, _ = merchant(hook_stack)
    broken, dead, fine = Receiver(status=500), Receiver(delay=5), Receiver()
    with receiving(broken, dead, fine):
        broken_endpoint = failing.webhooks.create(broken.url, event_types=["SESSION_CART_PAY"])
        failing.webhooks.create(dead.url, event_types=["SESSION_CART_PAY"])
        fine_endpoint = healthy.webhooks.create(fine.url, event_types=["SESSION_CART_PAY"])
        for _ in range(6):
            record_payment(hook_stack, failing_user, application_id=failing_flow["id"])
        dead.wait_for(2)
        started = time.monotonic()
        record_payment(hook_stack, healthy_user, application_id=healthy_flow["id"])
        [request] = fine.wait_for(1)
        assert request.at - started < 1.0, request.at - started
        webhooks.verify(
            request.body, request.headers["sticky-signature"], fine_endpoint.secret or ""
        )
        # The failing endpoint is retried, with every attempt in its log.
        deliveries = settled(
            failing,
            broken_endpoint,
            lambda ds: len(ds) == 6 and all(d.attempt_count >= 3 for d in ds),
        )
        dead.wait_for(10)  # its first six, then retries
    for delivery in deliveries:
        assert [a.status_code for a in delivery.attempts][:3] == [500, 500, 500]
        assert delivery.last_error == "answered 500"
    # Once failing, at most two attempts at a time went to the dead one (it answers after 5 s;
    # the timeout is 1 s).
    later = [r for r in dead.received if r.at > dead.received[0].at + 1.5]
    assert later, "the dead endpoint was not retried"
    assert all(sum(1 for r in later if abs(r.at - other.at) < 0.5) <= 2 for other in later)


def test_redelivery_and_disabling_after_prolonged_failure(hook_stack: RunningStack) -> None:
    sticky, user_id, flow, _ = merchant(hook_stack)
    owner = f"ops-{time.monotonic_ns()}@example.com"
    receiver = Receiver(status=503)
    with receiving(receiver):
        endpoint = sticky.webhooks.create(
            receiver.url, event_types=["SESSION_CART_PAY"], notify_email=owner
        )
        record_payment(hook_stack, user_id, application_id=flow["id"])
        # ~10 s of retries at this scale, then the delivery fails and the endpoint is disabled.
        [failed] = settled(sticky, endpoint, lambda ds: ds and ds[0].status == "failed")
        assert failed.attempt_count == 11 == len(receiver.received)
        disabled = sticky.webhooks.retrieve(endpoint.id)
        assert not disabled.enabled and disabled.disabled_reason == "failing"
        message = wait_for_email(hook_stack, owner, "stopped sending webhooks")
        assert receiver.url in message["text"] and endpoint.id in message["text"]

        receiver.status = 200
        enabled = sticky.webhooks.update(endpoint.id, enabled=True)
        assert enabled.enabled and enabled.disabled_reason is None
        again = sticky.webhooks.redeliver(endpoint.id, failed.id)
        assert again.status == "pending"
        receiver.wait_for(12)
        [delivered] = settled(sticky, endpoint, lambda ds: ds and ds[0].status == "succeeded")
    assert delivered.attempts[-1].manual and delivered.attempts[-1].status_code == 200
    first, last = receiver.received[0], receiver.received[-1]
    assert first.body == last.body  # the same delivery, signed afresh
    assert first.headers["sticky-signature"] != last.headers["sticky-signature"]
    webhooks.verify(last.body, last.headers["sticky-signature"], endpoint.secret or "")

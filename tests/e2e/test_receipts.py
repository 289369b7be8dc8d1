"""Receipts through the whole platform: payment events in the events service become emails in
the development mailbox, one per event, even after the api is killed and its durable
subscription replays from the start."""

from __future__ import annotations

import os
import signal
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.e2e.conftest import wait_for_email
from tests.e2e.payment_events import record_payment, service_headers
from tests.e2e.test_accounts import signed_up
from tests.stack_fixture import RunningStack, start_stack


@pytest.fixture(scope="module")
def receipt_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    running = start_stack(tmp_path_factory.mktemp("receipt-stack"))
    yield running
    running.stop()


def customer() -> str:
    return f"cleo-{uuid.uuid4().hex[:10]}@example.com"


def mailbox(stack: RunningStack, to: str) -> list[dict]:  # type: ignore[type-arg]
    answer = httpx.get(f"{stack.mailbox_api_url}/messages", params={"to": to})
    answer.raise_for_status()
    messages: list[dict] = answer.json()["data"]  # type: ignore[type-arg]
    return messages


def kill_api(stack: RunningStack) -> None:
    """SIGKILL the api; return once `sticky up` has it ready again."""
    pid = stack.processes()["api"]
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        new = stack.processes().get("api")
        if new and new != pid:
            try:
                ready = httpx.get(f"{stack.internal_url('api')}/readyz", timeout=1)
            except httpx.HTTPError:
                ready = None
            if ready is not None and ready.status_code == 200:
                return
        time.sleep(0.1)
    raise AssertionError(f"the api did not come back; the stack said:\n{stack.output()}")


def test_receipts_for_a_payment_a_failure_and_a_refund(receipt_stack: RunningStack) -> None:
    sticky, _ = signed_up(receipt_stack)
    user_id = sticky.users.me().user.id
    flow = sticky.applications.create("Café", public_name="Café Ann", settings={"receipts": True})
    sticky.applications.make_live(flow.id)
    quiet = sticky.applications.create("Kiosk", settings={"receipts": False})
    sticky.applications.make_live(quiet.id)

    paid, failed, refunded, unsent = customer(), customer(), customer(), customer()
    record_payment(receipt_stack, user_id, application_id=flow.id, email=paid)
    record_payment(
        receipt_stack,
        user_id,
        application_id=flow.id,
        email=failed,
        outcome="SESSION_CART_PAY_FAIL",
    )
    record_payment(receipt_stack, user_id, application_id=flow.id, email=refunded, refund=500)
    record_payment(receipt_stack, user_id, application_id=quiet.id, email=unsent)

    receipt = wait_for_email(receipt_stack, paid, "your receipt from café ann")
    for body in (receipt["text"], receipt["html"]):
        assert "Café Ann" in body and "Hi Cleo," in body
        assert "Flat white" in body and "Oat milk" in body and "7.80 GBP" in body
        assert "Croissant" in body and "11.60 GBP" in body and "REF-7731" in body
    assert "Tip: 1.00 GBP" in receipt["text"] and "Subtotal: 10.60 GBP" in receipt["text"]
    declined = wait_for_email(receipt_stack, failed, "did not go through")
    assert "The card was declined." in declined["text"]
    wait_for_email(receipt_stack, refunded, "your receipt")
    refund = wait_for_email(receipt_stack, refunded, "refunded 5.00 GBP")
    assert "Refunded in all: 5.00 GBP" in refund["text"]
    time.sleep(1.0)
    assert mailbox(receipt_stack, unsent) == []  # that flow has receipts off
    assert len(mailbox(receipt_stack, paid)) == 1
    assert len(mailbox(receipt_stack, refunded)) == 2


def test_exactly_one_receipt_after_a_kill_and_a_replay(receipt_stack: RunningStack) -> None:
    sticky, _ = signed_up(receipt_stack)
    user_id = sticky.users.me().user.id
    flow = sticky.applications.create("Bakery", settings={"receipts": True})
    sticky.applications.make_live(flow.id)
    first = customer()
    record_payment(receipt_stack, user_id, application_id=flow.id, email=first)
    wait_for_email(receipt_stack, first, "your receipt from bakery")

    kill_api(receipt_stack)
    # As if the checkpoint had never been saved: the subscription starts again from the first
    # event, and the reactor sees this payment (and every other) once more.
    subscription = f"{receipt_stack.base_url}/v1/events/subscriptions/receipts"
    saved = httpx.put(subscription, json={"position": 0}, headers=service_headers(receipt_stack))
    assert saved.status_code == 200, saved.text
    kill_api(receipt_stack)  # and again, so the restart starts from 0

    second = customer()
    record_payment(receipt_stack, user_id, application_id=flow.id, email=second)
    wait_for_email(receipt_stack, second, "your receipt from bakery")  # it followed past the replay
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        position = httpx.get(subscription, headers=service_headers(receipt_stack)).json()[
            "position"
        ]
        if position > 0:
            break
        time.sleep(0.1)
    time.sleep(0.5)
    assert len(mailbox(receipt_stack, first)) == 1
    assert len(mailbox(receipt_stack, second)) == 1
    # The replay did ask again: the mail service answered the repeated key with its 200.
    repeats = [
        r
        for r in receipt_stack.logs()
        if r.get("service") == "mail"
        and r.get("path") == "/internal/messages"
        and r.get("status") == 200
    ]
    assert repeats, "the subscription did not replay"

"""A service killed mid-payment, through the real stack: no double charge, no lost receipt.

The api is killed with SIGKILL while buyers' payment creates are in flight, and each buyer
then does what a client does after a dropped connection: sends the create again with the same
``Idempotency-Key``. The sandbox processor lives in the api's process, so its books die with
it: a payment left pending is paid again (``POST /v1/payments/{id}/charge``), which asks the
processor under the payment's one charge key. Its references are derived from that key, so
one reference per payment, whatever the crash interrupted, means one charge per payment.

After a kill the api's events reach the event log only once the dead process's outbox lease
(30 s) has lapsed: the waits for streams and receipts allow for it.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from sticky_sdk import APIConnectionError, APIError, Event, Payment, Sticky
from tests.e2e.conftest import wait_for_email
from tests.e2e.payment_events import service_headers
from tests.e2e.test_accounts import signed_up
from tests.e2e.test_events_crash import kill_events
from tests.e2e.test_payments import CARD
from tests.e2e.test_receipts import kill_api, mailbox
from tests.stack_fixture import RunningStack, start_stack

BUYERS = 4
SETTLE_SECONDS = 15.0
DELIVERY_SECONDS = 40.0  # a generous bound: the restarted api takes its outbox lease over at once
RECEIPT = "your receipt from café ann"


@pytest.fixture(scope="module")
def crash_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    running = start_stack(tmp_path_factory.mktemp("payment-crash-stack"))
    yield running
    running.stop()


def _poll(what: str, timeout: float) -> Iterator[None]:
    deadline = time.monotonic() + timeout
    while True:
        yield
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.1)


@dataclass
class Till:
    """A café taking sandbox payments with receipts on, and a shopper's session at it."""

    stack: RunningStack
    owner: Sticky
    product_id: str
    session_id: str
    run: str = field(default_factory=lambda: uuid.uuid4().hex[:8])

    def email(self, key: str) -> str:
        return f"{key}-{self.run}@example.com"

    def buyer(self) -> Sticky:
        # No retries of its own: the crash must show, and the test retries as a client would.
        return Sticky(self.stack.base_url, session_id=self.session_id, max_retries=0)

    def create(self, buyer: Sticky, key: str) -> Payment:
        """One attempt; the same key always sends the same request."""
        return buyer.payments.create(
            currency="EUR",
            cart=[{"product_id": self.product_id, "quantity": 1}],
            card=CARD,
            customer={"email": self.email(key), "name": "Cleo"},
            idempotency_key=key,
        )

    def create_until_answered(self, key: str) -> Payment:
        """Send the create again until the api answers it: through its restart (502, a
        dropped connection) and the lease the killed attempt held on the key (409)."""
        with self.buyer() as buyer:
            for _ in _poll(f"an answer to {key}", 30.0):
                try:
                    return self.create(buyer, key)
                except APIConnectionError:
                    pass
                except APIError as exc:
                    if exc.status != 502 and exc.slug != "idempotency-key-in-use":
                        raise
        raise AssertionError("unreachable")

    def charge_again(self, payment_id: str) -> None:
        """What the docs tell a buyer whose payment stays pending: pay it again."""
        card = {
            "number": CARD["number"],
            "expMonth": CARD["exp_month"],
            "expYear": CARD["exp_year"],
            "cvc": CARD["cvc"],
        }
        answer = httpx.post(
            f"{self.stack.base_url}/v1/payments/{payment_id}/charge",
            json={"card": card},
            headers={"Sticky-Session": self.session_id},
        )
        # 409: decided meanwhile (its payhook arrived), so it takes no new charge.
        assert answer.status_code in (200, 409), answer.text

    def settled(self, payment_id: str) -> Payment:
        for _ in _poll(f"{payment_id} to settle", SETTLE_SECONDS):
            payment = self.owner.payments.retrieve(payment_id)
            if payment.status != "pending":
                return payment
        raise AssertionError("unreachable")

    def stream(self, payment_id: str) -> list[Event]:
        """The payment's events in the event log, once its outcome has been delivered."""
        for _ in _poll(f"the events of {payment_id}", DELIVERY_SECONDS):
            events = list(self.owner.streams.read(f"payment-{payment_id}"))
            if len(events) >= 2:
                return events
        raise AssertionError("unreachable")


def open_till(stack: RunningStack) -> Till:
    owner, _ = signed_up(stack)
    product = owner.products.create("Flat white", 380, "EUR")
    settings = {"receipts": True, "gateway": "GATEWAY_SANDBOX"}
    flow = owner.applications.create("Café", public_name="Café Ann", settings=settings)
    owner.applications.make_live(flow.id)
    thing = owner.things.create("Counter", application_id=flow.id)
    tap = httpx.get(f"{stack.base_url}/t/{thing.id}", follow_redirects=False)
    assert tap.status_code == 302, tap.text
    session_id = parse_qs(urlsplit(tap.headers["location"]).query)["sessionId"][0]
    return Till(stack, owner, product.id, session_id)


class Buyers:
    """Shoppers paying at once, each with a new key per payment, until told to stop or until
    their connection drops (they come back later, as :meth:`Till.create_until_answered`)."""

    def __init__(self, till: Till) -> None:
        self.till = till
        self.keys: list[str] = []
        self.answered: dict[str, Payment] = {}
        self.dropped: dict[str, Exception] = {}
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._buy, args=(b,)) for b in range(BUYERS)]

    def __enter__(self) -> Buyers:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()

    def wait_for_answers(self, count: int) -> None:
        for _ in _poll(f"{count} payments answered", 20.0):
            if len(self.answered) >= count:
                return

    def _buy(self, buyer_number: int) -> None:
        with self.till.buyer() as buyer:
            n = 0
            while not self._stop.is_set():
                key = f"b{buyer_number}-{n}"
                n += 1
                self.keys.append(key)
                try:
                    self.answered[key] = self.till.create(buyer, key)
                except (APIConnectionError, APIError) as exc:
                    self.dropped[key] = exc
                    return


def assert_charged_once(till: Till, ids: dict[str, str], seen: dict[str, set[str | None]]) -> int:
    """Every payment paid, with one SESSION_CART_PAY, under one reference of its own; the
    position of the last of those events in the log."""
    last = 0
    for key, payment_id in ids.items():
        payment = till.settled(payment_id)
        assert payment.status == "paid", (key, payment)
        stream = till.stream(payment_id)
        assert [(e.type, e.version) for e in stream] == [
            ("PAYMENT_CREATED", 0),
            ("SESSION_CART_PAY", 1),
        ], (key, stream)
        seen[payment_id] |= {payment.reference, stream[1].custom_data["reference"]}
        last = max(last, stream[1].position)
    for payment_id, references in seen.items():
        [reference] = references  # one charge...
        assert reference and reference.startswith("sbx_ch_"), (payment_id, reference)
    assert len({next(iter(r)) for r in seen.values()}) == len(seen)  # ...of its own
    return last


def assert_one_receipt_each(till: Till, keys: list[str], through: int) -> None:
    """Each customer's receipt, once the receipts reactor has handled every event up to
    ``through`` (so a repeat it was going to ask for has been asked for)."""
    for key in keys:
        wait_for_email(till.stack, till.email(key), RECEIPT, timeout=DELIVERY_SECONDS)
    url = f"{till.stack.base_url}/v1/events/subscriptions/receipts"
    headers = service_headers(till.stack)
    for _ in _poll("the receipts reactor to catch up", DELIVERY_SECONDS):
        if httpx.get(url, headers=headers).json()["position"] >= through:
            break
    counts = {key: len(mailbox(till.stack, till.email(key))) for key in keys}
    assert counts == dict.fromkeys(keys, 1)


# First: a kill of the api holds the events it records back for up to its outbox lease.
def test_kill_9_of_events_mid_payment_delivers_later_and_mails_once(
    crash_stack: RunningStack,
) -> None:
    till = open_till(crash_stack)
    with Buyers(till) as buyers:
        buyers.wait_for_answers(BUYERS)
        kill_events(crash_stack)
        buyers.wait_for_answers(len(buyers.answered) + BUYERS)
    # The api needs no event log to take a payment: its outbox keeps the events meanwhile.
    assert not buyers.dropped, buyers.dropped
    ids = {key: payment.id for key, payment in buyers.answered.items()}
    seen = {p.id: {p.reference} - {None} for p in buyers.answered.values()}
    through = assert_charged_once(till, ids, seen)
    assert_one_receipt_each(till, buyers.keys, through)


def test_kill_9_of_the_api_mid_payment_charges_once_and_mails_one_receipt(
    crash_stack: RunningStack,
) -> None:
    till = open_till(crash_stack)
    with Buyers(till) as buyers:
        buyers.wait_for_answers(2 * BUYERS)
        kill_api(crash_stack)
    assert buyers.dropped, "the kill interrupted no payment"

    # Every buyer comes back with every key: the answered ones get their payment again.
    ids: dict[str, str] = {}
    seen: dict[str, set[str | None]] = {}
    for key in buyers.keys:
        payment = till.create_until_answered(key)
        first = buyers.answered.get(key, payment)
        assert payment.id == first.id, key
        ids[key] = payment.id
        seen[payment.id] = {payment.reference, first.reference} - {None}
        if payment.status == "pending":
            till.charge_again(payment.id)
    assert len(set(ids.values())) == len(ids)  # one payment per key...
    assert {p.id for p in till.owner.payments.list()} == set(ids.values())  # ...and no other
    through = assert_charged_once(till, ids, seen)

    # The api killed again while the receipts go out: its reactor picks up from its
    # checkpoint, and the mail service answers a repeated receipt without sending it.
    wait_for_email(crash_stack, till.email(buyers.keys[0]), RECEIPT, timeout=DELIVERY_SECONDS)
    kill_api(crash_stack)
    assert_one_receipt_each(till, buyers.keys, through)

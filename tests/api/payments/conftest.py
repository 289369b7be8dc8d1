"""Fixtures: a real payhook receiver, and each gateway wired to it in turn."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from sticky.api.payments.gateways import (
    GATEWAY_NOOP,
    GATEWAY_SANDBOX,
    GATEWAY_STRIPE,
    SandboxGateway,
    StripeGateway,
    StripeHttpClient,
    StripeKeys,
    sandbox_secret,
)
from sticky.kernel.settings import Settings
from tests.api.payments.harnesses import Harness, NoopHarness, SandboxHarness, StripeHarness
from tests.api.payments.receiver import PayhookReceiver, payhook_receiver
from tests.api.payments.stripe_replay import MERCHANT_KEY, WEBHOOK_SECRET, StripeReplay

CONTRACT_RECORDINGS = [
    "payment_intent_succeeded.json",
    "payment_intent_declined.json",
    "refund_partial.json",
    "refund_rest.json",
    "refund_too_much.json",
]


@pytest.fixture
async def receiver() -> AsyncIterator[PayhookReceiver]:
    async with payhook_receiver() as running:
        yield running


@pytest.fixture
async def sandbox(settings: Settings) -> AsyncIterator[SandboxGateway]:
    gateway = SandboxGateway(sandbox_secret(settings.secret_key), delay=0.02)
    yield gateway
    await gateway.aclose()


@pytest.fixture
def replay() -> StripeReplay:
    return StripeReplay(list(CONTRACT_RECORDINGS))


@pytest.fixture
async def stripe_gateway(replay: StripeReplay) -> AsyncIterator[StripeGateway]:
    http = StripeHttpClient(transport=replay.transport)
    yield StripeGateway(StripeKeys(MERCHANT_KEY, WEBHOOK_SECRET), http)
    await http.close_async()
    assert not replay.unmatched, f"requests no recording answers: {replay.unmatched}"


@pytest.fixture(params=[GATEWAY_NOOP, GATEWAY_SANDBOX, GATEWAY_STRIPE])
def harness(request: pytest.FixtureRequest, receiver: PayhookReceiver) -> Harness:
    """Each gateway in turn, registered with the receiver as the api will register it."""
    chosen: Harness
    if request.param == GATEWAY_NOOP:
        chosen = NoopHarness(receiver)
    elif request.param == GATEWAY_SANDBOX:
        chosen = SandboxHarness(receiver, request.getfixturevalue("sandbox"))
    else:
        chosen = StripeHarness(
            receiver, request.getfixturevalue("stripe_gateway"), request.getfixturevalue("replay")
        )
    receiver.gateways[chosen.name] = chosen.gateway
    return chosen

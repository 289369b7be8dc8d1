"""The payments projection equals what the event log says: the api's outbox is delivered to a
real events service (in-process), every stream is read back over its HTTP API and folded
again, and the rows agree."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import httpx

from sticky.api.payments.gateways import GATEWAY_SANDBOX
from sticky.api.payments.rebuild import differences, live_payments, rebuild_payments
from sticky.api.recorder import Deliverer
from sticky.kernel.service_token import ServiceToken
from tests.api.payments.shop import DECLINED_CARD, OK_CARD, open_shop, sandbox_into_app
from tests.api.support import RunningApi
from tests.events.api_support import migrated, running_events


class _Token:
    """The api's service token, signed by the in-process events service's test signer."""

    def __init__(self, header: dict[str, str]) -> None:
        self._header = header

    async def header(self) -> dict[str, str]:
        return self._header

    def forget(self) -> None:
        pass


async def test_rebuilding_from_the_event_log_gives_the_live_projection(
    api: RunningApi, tmp_path: Path
) -> None:
    _, payhooks = sandbox_into_app(api)
    shop = await open_shop(api, "usr_a", GATEWAY_SANDBOX)
    made = []
    for card in (OK_CARD, OK_CARD, DECLINED_CARD):
        made.append(await shop.pay(await shop.session(), card=card, tip=50))
    for payment in made:
        await shop.settled(payment["id"])
    url = f"/v1/payments/{made[0]['id']}/refunds"
    assert (await api.client.post(url, json={"amount": 100}, headers=shop.owner)).status_code == 201
    assert (await api.client.post(url, headers=shop.owner)).status_code == 201
    url = f"/v1/payments/{made[1]['id']}/refunds"
    assert (await api.client.post(url, json={"amount": 1}, headers=shop.owner)).status_code == 201
    await payhooks.wait_for(6)  # three charges, three refunds
    await shop.use_gateway("GATEWAY_NOOP")
    made.append(await shop.pay(await shop.session()))
    other = await open_shop(api, "usr_b")
    await other.pay()

    events_db = await migrated(f"sqlite:///{tmp_path / 'events.sqlite3'}")
    async with running_events(api.state.settings, events_db) as events:
        service = events.signer.service()
        token = cast(ServiceToken, _Token({**service}))
        deliverer = Deliverer(api.state.store, api.state.settings, token, api.state.recorder)
        nowhere = httpx.AsyncClient(
            transport=httpx.MockTransport(lambda r: httpx.Response(404)), base_url="http://geo.test"
        )
        async with nowhere:
            while await deliverer.deliver(events.client, nowhere):
                pass
        assert await api.outbox() == []

        stream = await events.client.get(
            f"/v1/streams/payment-{made[0]['id']}", params={"userId": "usr_a"}, headers=service
        )
        got: list[dict[str, Any]] = stream.json()["data"]
        assert [(e["type"], e["version"]) for e in got] == [
            ("PAYMENT_CREATED", 0),
            ("SESSION_CART_PAY", 1),
            ("SESSION_CART_REFUND", 2),
            ("SESSION_CART_REFUND", 3),
        ]

        rebuilt = await rebuild_payments(events.client, service, "usr_a")
        live = await live_payments(api.state.store, "usr_a")
        assert len(rebuilt) == len(live) == 4
        assert differences(live, rebuilt) == []
        assert {row["status"] for row in rebuilt.values()} == {"refunded", "paid", "failed"}
        # The owner's own token reads the same log.
        assert (
            await rebuild_payments(events.client, events.signer.owner("usr_a"), "usr_a") == rebuilt
        )

        # A projection that drifted from the log is caught.
        tampered = {**live, made[1]["id"]: {**live[made[1]["id"]], "refunded_total": 0}}
        assert differences(tampered, rebuilt) == [
            f"{made[1]['id']}.refunded_total: 0 live, 1 rebuilt"
        ]

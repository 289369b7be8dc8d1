"""A pending sandbox payment whose processor died with the api (``kill -9``) is finished by
asking again, and never charged twice: the restart is the sandbox swapped for a new one with
empty books, its unsettled charge and unsent payhook gone with the old one."""

from __future__ import annotations

from typing import Any

from sticky.api.payments.gateways import GATEWAY_SANDBOX, SandboxGateway
from tests.api.payments.shop import OK_CARD, Shop, open_shop, sandbox_into_app
from tests.api.support import RunningApi

NEVER = 3600.0  # the first processor never decides: it dies first


async def _restart(api: RunningApi, old: SandboxGateway) -> SandboxGateway:
    await old.aclose()  # its pending decision and payhook die with it
    new, _ = sandbox_into_app(api)
    return new


def _pays(events: list[dict[str, Any]], payment_id: str) -> list[dict[str, Any]]:
    return [
        e for e in events if e["type"] == "SESSION_CART_PAY" and e.get("paymentId") == payment_id
    ]


async def _forget_answers(api: RunningApi) -> None:
    """What a crash mid-request leaves: no answer kept for the key (and its lease lapsed)."""
    async with api.state.store.transaction() as tx:
        await tx.conn.exec_driver_sql("DELETE FROM idempotency_keys")


async def _pending(shop: Shop, session: str, key: dict[str, str]) -> dict[str, Any]:
    first = await shop.pay(session, headers=key, card=OK_CARD)
    assert first["status"] == "pending" and first["reference"].startswith("sbx_ch_")
    return first


async def test_a_retried_key_finishes_a_charge_the_crash_lost(api: RunningApi) -> None:
    sandbox, _ = sandbox_into_app(api, delay=NEVER)
    shop = await open_shop(api, "usr_a", GATEWAY_SANDBOX)
    session, key = await shop.session(), {"Idempotency-Key": "cart-7"}
    first = await _pending(shop, session, key)

    # Asked again while the processor still has it: the same charge, not a second.
    await _forget_answers(api)
    again = await shop.pay(session, headers=key, card=OK_CARD)
    assert (again["id"], again["reference"]) == (first["id"], first["reference"])
    assert sandbox.charges_made == 1

    restarted = await _restart(api, sandbox)
    await _forget_answers(api)
    retried = await shop.pay(session, headers=key, card=OK_CARD)
    assert retried["id"] == first["id"]
    paid = await shop.settled(first["id"])
    assert paid["status"] == "paid" and paid["reference"] == first["reference"]
    assert restarted.charges_made == 1
    [pay] = _pays(await api.outbox(), first["id"])
    assert pay["customData"]["reference"] == first["reference"]


async def test_an_acknowledged_pending_payment_is_finished_by_charging_it_again(
    api: RunningApi,
) -> None:
    sandbox, _ = sandbox_into_app(api, delay=NEVER)
    shop = await open_shop(api, "usr_a", GATEWAY_SANDBOX)
    session, key = await shop.session(), {"Idempotency-Key": "cart-8"}
    first = await _pending(shop, session, key)
    restarted = await _restart(api, sandbox)

    # The kept answer is replayed (still pending): the buyer pays the payment itself again.
    replayed = await shop.pay(session, headers=key, card=OK_CARD)
    assert replayed == first
    url = f"/v1/payments/{first['id']}/charge"
    charged = await api.client.post(
        url, json={"card": OK_CARD}, headers={"Sticky-Session": session}
    )
    assert charged.status_code == 200, charged.text
    paid = await shop.settled(first["id"])
    assert paid["status"] == "paid" and paid["reference"] == first["reference"]
    # Paid, it takes no charge; and the processor made one.
    again = await api.client.post(url, json={"card": OK_CARD}, headers={"Sticky-Session": session})
    assert again.status_code == 409
    assert restarted.charges_made == 1
    assert len(_pays(await api.outbox(), first["id"])) == 1


async def test_a_charge_older_than_the_gateways_memory_is_not_asked_for_again(
    api: RunningApi,
) -> None:
    # Stripe forgets an idempotency key after 24 hours: asked again later, it would charge
    # again. Past 23 hours a pending payment with a charge is left to the gateway's callback.
    sandbox, _ = sandbox_into_app(api, delay=NEVER)
    shop = await open_shop(api, "usr_a", GATEWAY_SANDBOX)
    session, key = await shop.session(), {"Idempotency-Key": "cart-9"}
    first = await _pending(shop, session, key)
    async with api.state.store.transaction() as tx:
        await tx.conn.exec_driver_sql(
            "UPDATE payments SET created_at = created_at - INTERVAL '1 day'"
            if tx.conn.dialect.name == "postgresql"
            else "UPDATE payments SET created_at = datetime(created_at, '-1 day')"
        )
    url = f"/v1/payments/{first['id']}/charge"
    refused = await api.client.post(
        url, json={"card": OK_CARD}, headers={"Sticky-Session": session}
    )
    assert refused.status_code == 409, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    await _forget_answers(api)
    retried = await shop.pay(session, headers=key, card=OK_CARD)
    assert (retried["id"], retried["status"]) == (first["id"], "pending")
    assert sandbox.charges_made == 1

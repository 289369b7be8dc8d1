"""Payments through the in-process api on SQLite and PostgreSQL: pricing, refusals,
idempotency, the demo and sandbox gateways, refunds, tenancy, lists and the CSV export."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import orjson

from sticky.api.payments.gateways import GATEWAY_SANDBOX
from sticky.api.payments.service import GATEWAY_KEY_LENGTH, refund_key
from sticky.kernel.idempotency import MAX_KEY_LENGTH
from tests.api.payments.shop import DECLINED_CARD, OK_CARD, coffee_line, open_shop, sandbox_into_app
from tests.api.support import RunningApi
from tests.conftest import problem


async def test_the_api_prices_the_cart_itself_with_options_discount_and_tip(
    api: RunningApi,
) -> None:
    shop = await open_shop(api, "usr_a")
    session = await shop.session()
    payment = await shop.pay(
        session,
        cart=[
            coffee_line(shop, 2, "large", "oat", "shot"),
            {"productId": shop.cake["id"], "quantity": 3},
        ],
        discount=150,
        tip=200,
        customer={"email": "ada@example.com", "name": "Ada"},
        userPaymentId="order-17",
    )
    # Coffee: 350 + 100 (large) + 40 + 60 = 550, twice; cake 400 three times.
    assert payment["subtotal"] == 2 * 550 + 3 * 400
    assert payment["total"] == 2300 - 150 + 200
    assert payment["status"] == "paid"  # the demo gateway pays at once
    assert payment["gateway"] == "GATEWAY_NOOP"
    assert payment["sessionId"] == session
    assert payment["applicationId"] == shop.flow["id"]
    assert payment["thingId"] == shop.thing["id"]
    assert payment["reference"] == f"noop_{payment['id']}"
    assert payment["refundable"] == payment["total"]
    coffee = payment["cart"][0]
    assert coffee["unitPrice"] == 550 and coffee["lineTotal"] == 1100
    assert [o["optionId"] for o in coffee["options"]] == ["large", "oat", "shot"]
    assert coffee["options"][0] == {
        "questionId": "size",
        "optionId": "large",
        "name": "Large",
        "priceDelta": 100,
    }

    events = [e for e in await api.outbox() if e.get("paymentId") == payment["id"]]
    assert [(e["type"], e["stream"], e["expectedVersion"]) for e in events] == [
        ("PAYMENT_CREATED", f"payment-{payment['id']}", -1),
        ("SESSION_CART_PAY", f"payment-{payment['id']}", 0),
    ]
    created, paid = (e["customData"] for e in events)
    assert created["total"] == 2350 and created["subtotal"] == 2300 and created["tip"] == 200
    assert created["customer"] == {"email": "ada@example.com", "name": "Ada"}
    assert created["userPaymentId"] == "order-17"
    assert created["cart"] == payment["cart"]
    assert paid == {
        "paymentId": payment["id"], "sessionId": session, "applicationId": shop.flow["id"],
        "thingId": shop.thing["id"], "userId": "usr_a", "total": 2350, "currency": "EUR",
        "gateway": "GATEWAY_NOOP", "reference": f"noop_{payment['id']}",
    }  # fmt: skip


async def test_carts_that_cannot_be_sold_as_asked_are_refused(api: RunningApi) -> None:
    shop = await open_shop(api, "usr_a")
    other = await open_shop(api, "usr_b")
    dollars = await api.post(
        "/v1/products", "usr_a", {"name": "Mug", "price": 900, "currency": "USD"}
    )
    hidden = await api.post(
        "/v1/products",
        "usr_a",
        {"name": "Old", "price": 100, "currency": "EUR", "isEnabled": False},
    )

    async def refused(status: int = 422, **body: object) -> list[str]:
        problem = await shop.pay(status=status, **body)
        assert problem["status"] == status
        return [error["field"] for error in problem.get("errors", [])]

    assert await refused(cart=[{"productId": hidden["id"], "quantity": 1}]) == ["cart.0.productId"]
    assert await refused(cart=[{"productId": other.cake["id"], "quantity": 1}]) == [
        "cart.0.productId"
    ]
    mixed = [
        {"productId": shop.cake["id"], "quantity": 1},
        {"productId": dollars["id"], "quantity": 1},
    ]
    assert await refused(cart=mixed) == ["cart.1.productId"]
    unknown = {
        "productId": shop.coffee["id"],
        "quantity": 1,
        "options": [
            {"questionId": "size", "optionId": "small"},
            {"questionId": "extras", "optionId": "huge"},
        ],
    }
    assert await refused(cart=[unknown]) == ["cart.0.options.1.optionId"]
    no_size = {"productId": shop.coffee["id"], "quantity": 1}
    assert await refused(cart=[no_size]) == ["cart.0.options"]
    two_sizes = coffee_line(shop) | {
        "options": [
            {"questionId": "size", "optionId": "small"},
            {"questionId": "size", "optionId": "large"},
        ]
    }
    assert await refused(cart=[two_sizes]) == ["cart.0.options.1"]
    for quantity in (0, 100):
        fields = await refused(cart=[{"productId": shop.cake["id"], "quantity": quantity}])
        assert fields == ["body.cart.0.quantity"] or fields == ["cart.0.quantity"]
    assert await refused(cart=[]) != []
    assert await refused(discount=401) == ["discount"]
    assert await refused(discount=400) == ["discount"]  # nothing left to pay
    # A client's total is not believed: it is not a field at all.
    assert await refused(total=1) != []
    assert await refused(cart=[{"productId": shop.cake["id"], "quantity": 1, "unitPrice": 1}]) != []
    # Nothing was recorded for any of them.
    assert not [e for e in await api.outbox() if e["type"].startswith(("PAYMENT", "SESSION_CART"))]


async def test_the_same_idempotency_key_makes_one_payment(api: RunningApi) -> None:
    shop = await open_shop(api, "usr_a")
    session = await shop.session()
    key = {"Idempotency-Key": "cart-42"}
    first = await shop.pay(session, headers=key)
    again = await shop.pay(session, headers=key)
    assert again["id"] == first["id"]
    # Past the HTTP layer's memory (another replica, an expired key), the database still
    # holds the key: the same payment again, not a second charge.
    async with api.state.store.transaction() as tx:
        await tx.conn.exec_driver_sql("DELETE FROM idempotency_keys")
    third = await shop.pay(session, headers=key)
    assert third["id"] == first["id"]
    # Another shopper's same key is theirs.
    other = await shop.pay(await shop.session(), headers=key)
    assert other["id"] != first["id"]
    streams = {e["stream"] for e in await api.outbox() if e["type"] == "PAYMENT_CREATED"}
    assert streams == {f"payment-{first['id']}", f"payment-{other['id']}"}


async def test_a_session_pays_only_for_itself_and_reads_only_its_own(api: RunningApi) -> None:
    shop = await open_shop(api, "usr_a")
    mine, theirs = await shop.session(), await shop.session()
    payment = await shop.pay(mine)
    problem = await shop.pay(mine, status=403, sessionId=theirs)
    assert problem["type"].endswith("insufficient-scope")
    assert (
        await api.client.get(f"/v1/payments/{payment['id']}", headers={"Sticky-Session": mine})
    ).status_code == 200
    assert (
        await api.client.get(f"/v1/payments/{payment['id']}", headers={"Sticky-Session": theirs})
    ).status_code == 404
    listed = await api.client.get("/v1/payments", headers={"Sticky-Session": theirs})
    assert listed.json()["data"] == []
    refund = await api.client.post(
        f"/v1/payments/{payment['id']}/refunds", headers={"Sticky-Session": mine}
    )
    assert refund.status_code == 403
    public = await api.client.get("/v1/payments", headers=api.public("usr_a"))
    assert public.status_code == 403


async def test_another_users_payment_is_not_found(api: RunningApi) -> None:
    shop = await open_shop(api, "usr_a")
    payment = await shop.pay()
    for path in (f"/v1/payments/{payment['id']}",):
        assert (await api.client.get(path, headers=api.owner("usr_b"))).status_code == 404
    refund = await api.client.post(
        f"/v1/payments/{payment['id']}/refunds", headers=api.owner("usr_b")
    )
    assert refund.status_code == 404
    assert refund.json()["type"].endswith("payment-not-found")
    assert (await api.client.get("/v1/payments", headers=api.owner("usr_b"))).json()["data"] == []
    assert (await shop.get(payment["id"]))["refundedTotal"] == 0


def test_a_refunds_key_at_the_gateway_fits_stripes_limit_whatever_the_callers() -> None:
    """A caller's Idempotency-Key may be 255 characters, Stripe's whole limit: the gateway
    gets its digest instead, still the same for the same key."""
    payment_id = "pay_4k9q2m7x1c8v5b3n6z0p"
    longest = "k" * MAX_KEY_LENGTH
    key = refund_key(payment_id, longest)
    assert len(key) <= GATEWAY_KEY_LENGTH == 255
    assert key.startswith(f"refund-{payment_id}-sha256-")
    assert key == refund_key(payment_id, longest)  # the same refund, asked again
    assert key != refund_key(payment_id, longest[:-1] + "j")
    assert refund_key(payment_id, "order-7") == f"refund-{payment_id}-order-7"  # short: as is
    assert refund_key(payment_id, None) != refund_key(payment_id, None)  # fresh without one


async def test_refunds_partial_then_the_rest_never_more_than_paid(api: RunningApi) -> None:
    shop = await open_shop(api, "usr_a")
    payment = await shop.pay(cart=[{"productId": shop.cake["id"], "quantity": 2}])
    url = f"/v1/payments/{payment['id']}/refunds"
    member = api.member("usr_a", "payments:read")
    assert (await api.client.post(url, json={"amount": 100}, headers=member)).status_code == 403
    refunder = api.member("usr_a", "payments:refund")
    partial = await api.client.post(url, json={"amount": 300}, headers=refunder)
    assert partial.status_code == 201, partial.text
    assert partial.json()["refundedTotal"] == 300 and partial.json()["status"] == "paid"
    too_much = await api.client.post(url, json={"amount": 501}, headers=shop.owner)
    assert too_much.status_code == 409
    assert too_much.json()["refundable"] == 500
    rest = await api.client.post(url, headers=shop.owner)
    assert rest.status_code == 201
    assert rest.json()["refundedTotal"] == 800 and rest.json()["status"] == "refunded"
    assert rest.json()["refundable"] == 0
    again = await api.client.post(url, json={"amount": 1}, headers=shop.owner)
    assert again.status_code == 409
    refunds = [e["customData"] for e in await api.outbox() if e["type"] == "SESSION_CART_REFUND"]
    assert [(r["amount"], r["refundedTotal"], r["currency"]) for r in refunds] == [
        (300, 300, "EUR"),
        (500, 800, "EUR"),
    ]
    assert all(r["reference"].startswith("noop_re_") for r in refunds)
    versions = [
        e["expectedVersion"] for e in await api.outbox() if e.get("paymentId") == payment["id"]
    ]
    assert versions == [-1, 0, 1, 2]


async def test_the_sandbox_pays_later_through_its_payhook(api: RunningApi) -> None:
    sandbox, payhooks = sandbox_into_app(api)
    shop = await open_shop(api, "usr_a", GATEWAY_SANDBOX)
    session = await shop.session()
    pending = await shop.pay(session, card=OK_CARD)
    assert pending["status"] == "pending"
    assert pending["reference"].startswith("sbx_ch_")
    paid = await shop.settled(pending["id"])
    assert paid["status"] == "paid" and paid["sessionPaidAt"] is not None
    assert paid["reference"] == pending["reference"]
    assert sandbox.charges_made == 1
    # Refunded through the sandbox, whose own payhook then repeats what we already know.
    refunded = await api.client.post(
        f"/v1/payments/{paid['id']}/refunds", json={"amount": 100}, headers=shop.owner
    )
    assert refunded.status_code == 201, refunded.text
    await payhooks.wait_for(2)  # the charge's payhook, then the refund's
    final = await shop.get(paid["id"])
    assert final["refundedTotal"] == 100
    types = [e["type"] for e in await api.outbox() if e.get("paymentId") == paid["id"]]
    assert types == ["PAYMENT_CREATED", "SESSION_CART_PAY", "SESSION_CART_REFUND"]


async def test_a_declined_card_is_a_failed_payment(api: RunningApi) -> None:
    sandbox_into_app(api)
    shop = await open_shop(api, "usr_a", GATEWAY_SANDBOX)
    payment = await shop.pay(await shop.session(), card=DECLINED_CARD)
    failed = await shop.settled(payment["id"])
    assert failed["status"] == "failed"
    assert failed["failure"] == {"code": "card_declined", "message": "Your card was declined."}
    [fail] = [e for e in await api.outbox() if e["type"] == "SESSION_CART_PAY_FAIL"]
    assert fail["customData"]["code"] == "card_declined" and fail["customData"]["total"] == 400
    refund = await api.client.post(f"/v1/payments/{payment['id']}/refunds", headers=shop.owner)
    assert refund.status_code == 409


async def test_bad_card_details_are_refused_before_anything_is_recorded(api: RunningApi) -> None:
    sandbox_into_app(api)
    shop = await open_shop(api, "usr_a", GATEWAY_SANDBOX)
    session = await shop.session()
    problem = await shop.pay(session, status=422, card={**OK_CARD, "number": "4242 4242 4242 4241"})
    assert problem["errors"][0]["field"] == "card.number"
    problem = await shop.pay(session, status=422)
    assert problem["errors"][0]["field"] == "card"
    assert (await api.client.get("/v1/payments", headers=shop.owner)).json()["data"] == []


async def test_stripe_without_keys_is_not_configured(api: RunningApi) -> None:
    shop = await open_shop(api, "usr_a", "GATEWAY_STRIPE")
    problem = await shop.pay(
        status=409, paymentMethod="pm_card_visa", applicationId=shop.flow["id"]
    )
    assert problem["type"].endswith("gateway-not-configured")


async def test_lists_filter_by_time_status_and_flow_and_export_csv(api: RunningApi) -> None:
    shop = await open_shop(api, "usr_a")
    made = [await shop.pay(applicationId=shop.flow["id"]) for _ in range(4)]
    made.append(await shop.pay())  # no flow named
    refunded = made[0]["id"]
    await api.client.post(f"/v1/payments/{refunded}/refunds", headers=shop.owner)
    pages, cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        body = (await api.client.get("/v1/payments", params=params, headers=shop.owner)).json()
        pages.append([p["id"] for p in body["data"]])
        cursor = body["nextCursor"]
        if not body["hasMore"]:
            break
    assert [len(page) for page in pages] == [2, 2, 1]
    assert [pid for page in pages for pid in page] == [p["id"] for p in made]
    status = await api.client.get("/v1/payments", params={"status": "refunded"}, headers=shop.owner)
    assert [p["id"] for p in status.json()["data"]] == [refunded]
    later = (datetime.now(UTC) + timedelta(minutes=1)).isoformat()
    assert (
        await api.client.get("/v1/payments", params={"createdAfter": later}, headers=shop.owner)
    ).json()["data"] == []
    before = await api.client.get(
        "/v1/payments",
        params={"createdBefore": later, "applicationId": shop.flow["id"]},
        headers=shop.owner,
    )
    assert len(before.json()["data"]) == 4
    naive = await api.client.get(
        "/v1/payments", params={"createdAfter": "2026-01-01T00:00:00"}, headers=shop.owner
    )
    assert naive.status_code == 422
    assert (
        await api.client.get("/v1/payments", params={"cursor": "nope"}, headers=shop.owner)
    ).status_code == 400

    export = await api.client.get(
        "/v1/payments/export", params={"status": "paid"}, headers=shop.owner
    )
    assert export.status_code == 200 and export.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(export.text)))
    assert sorted(r["id"] for r in rows) == sorted(p["id"] for p in made[1:])
    assert {r["total"] for r in rows} == {"400"} and {r["currency"] for r in rows} == {"EUR"}


async def test_a_filter_time_with_no_utc_equivalent_is_refused(api: RunningApi) -> None:
    shop = await open_shop(api, "usr_a")
    await shop.pay()
    ends = {
        "createdAfter": "0001-01-01T00:00:00+14:00",
        "createdBefore": "9999-12-31T23:59:59-14:00",
    }
    for name, value in ends.items():
        for path in ("/v1/payments", "/v1/payments/export"):
            response = await api.client.get(path, params={name: value}, headers=shop.owner)
            body = problem(response, 422, "validation-error")
            assert [e["field"] for e in body["errors"]] == [name]
    # The calendar's last UTC day still filters, in any time zone that has it.
    response = await api.client.get(
        "/v1/payments", params={"createdBefore": "9999-12-31T23:59:59+00:00"}, headers=shop.owner
    )
    assert response.status_code == 200 and len(response.json()["data"]) == 1


async def test_the_payment_resource_is_camel_case_json(api: RunningApi) -> None:
    shop = await open_shop(api, "usr_a")
    payment = await shop.pay()
    raw = orjson.loads(
        (await api.client.get(f"/v1/payments/{payment['id']}", headers=shop.owner)).content
    )
    for name in ("sessionPaidAt", "refundedTotal", "userPaymentId", "createdAt", "applicationId"):
        assert name in raw
    assert "charge_reference" not in raw and "idempotencyKey" not in raw

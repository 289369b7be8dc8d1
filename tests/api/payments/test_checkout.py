"""Hosted checkout (``/go/flow/{id}?total&currency&userPaymentId&redirectUrl&hash``) and the
merchant's payment settings: the checkout signing secret and Stripe keys, sealed at rest."""

from __future__ import annotations

from urllib.parse import parse_qs, urlencode, urlsplit

import sqlalchemy as sa

from sticky.api.payments.checkout import link_hash
from sticky.api.payments.gateways import GATEWAY_SANDBOX
from sticky.api.payments.tables import payment_settings
from tests.api.payments.shop import OK_CARD, open_shop, sandbox_into_app
from tests.api.support import RunningApi
from tests.conftest import problem

_ALL_PAYMENTS = ("payments:read", "payments:refund")


async def _secret(api: RunningApi, user: str) -> str:
    response = await api.client.get("/v1/payment-settings/checkout-secret", headers=api.owner(user))
    assert response.status_code == 200, response.text
    secret: str = response.json()["secret"]
    return secret


async def test_a_signed_link_creates_a_pending_payment_and_opens_the_flow(api: RunningApi) -> None:
    sandbox_into_app(api)
    shop = await open_shop(api, "usr_a", GATEWAY_SANDBOX)
    secret = await _secret(api, "usr_a")
    assert secret.startswith("csk_")
    flow_id = shop.flow["id"]
    redirect = "https://shop.example/thanks"
    params = {"total": "1999", "currency": "EUR", "userPaymentId": "inv-7", "redirectUrl": redirect}
    params["hash"] = link_hash(secret, flow_id, "1999", "EUR", "inv-7", redirect)
    api.client.cookies.clear()
    response = await api.client.get(f"/go/flow/{flow_id}?{urlencode(params)}")
    assert response.status_code == 302, response.text
    location = urlsplit(response.headers["location"])
    query = {k: v[0] for k, v in parse_qs(location.query).items()}
    assert location.path == "/retail/"
    assert query["applicationId"] == flow_id and query["redirectUrl"] == redirect
    assert query["sessionId"].startswith("ses_")
    assert "sticky-sessionid" in response.headers["set-cookie"]

    payment = await shop.get(query["paymentId"])
    assert payment["status"] == "pending" and payment["total"] == 1999
    assert payment["cart"] == [] and payment["userPaymentId"] == "inv-7"
    assert payment["gateway"] == GATEWAY_SANDBOX and payment["sessionId"] == query["sessionId"]

    # A team member may read it, but only the owner or the buyer's session charges it.
    for member in (api.member("usr_a", "payments:read"), api.member("usr_a", *_ALL_PAYMENTS)):
        refused = await api.client.post(
            f"/v1/payments/{payment['id']}/charge", json={"card": OK_CARD}, headers=member
        )
        problem(refused, 403, "insufficient-permission")
    assert (await shop.get(payment["id"])) == payment

    # The buyer's session pays it (the amount is the link's, whatever they send).
    session = {"Sticky-Session": query["sessionId"]}
    paid = await api.client.post(
        f"/v1/payments/{payment['id']}/charge", json={"card": OK_CARD}, headers=session
    )
    assert paid.status_code == 200, paid.text
    assert (await shop.settled(payment["id"]))["status"] == "paid"
    again = await api.client.post(
        f"/v1/payments/{payment['id']}/charge", json={"card": OK_CARD}, headers=session
    )
    assert again.status_code == 409
    sneaky = await api.client.post(
        f"/v1/payments/{payment['id']}/charge", json={"card": OK_CARD, "total": 1}, headers=session
    )
    assert sneaky.status_code == 422


async def test_tampered_unsigned_and_foreign_links_are_refused(api: RunningApi) -> None:
    shop = await open_shop(api, "usr_a")
    secret = await _secret(api, "usr_a")
    flow_id = shop.flow["id"]
    good = {"total": "1999", "currency": "EUR", "hash": link_hash(secret, flow_id, "1999", "EUR")}

    async def refused(params: dict[str, str], html: bool = False) -> str:
        headers = {"Accept": "text/html"} if html else {}
        response = await api.client.get(f"/go/flow/{flow_id}?{urlencode(params)}", headers=headers)
        assert response.status_code == 400, response.text
        return response.text if html else str(response.json()["type"])

    assert (await refused({**good, "total": "1"})).endswith("checkout-tampered")
    assert (await refused({**good, "userPaymentId": "x"})).endswith("checkout-tampered")
    assert (await refused({k: v for k, v in good.items() if k != "hash"})).endswith(
        "checkout-unsigned"
    )
    assert (await refused({**good, "hash": "abc"})).endswith("checkout-tampered")
    assert (await refused({**good, "total": "-5"})).endswith("checkout-invalid")
    page = await refused({**good, "total": "1"}, html=True)
    assert "This payment link isn't valid" in page and "<html" in page
    # Signed by another merchant, or for another flow.
    other_secret = await _secret(api, "usr_b")
    assert (
        await refused({**good, "hash": link_hash(other_secret, flow_id, "1999", "EUR")})
    ).endswith("checkout-tampered")
    assert (
        await refused({**good, "hash": link_hash(secret, "app_other", "1999", "EUR")})
    ).endswith("checkout-tampered")
    assert (await api.client.get("/v1/payments", headers=shop.owner)).json()["data"] == []
    # A plain flow link is still a plain flow link.
    plain = await api.client.get(f"/go/flow/{flow_id}")
    assert plain.status_code == 302 and "paymentId" not in plain.headers["location"]


async def test_the_checkout_secret_is_shown_once_and_rotates(api: RunningApi) -> None:
    shop = await open_shop(api, "usr_a")
    first = await _secret(api, "usr_a")
    later = await api.client.get("/v1/payment-settings/checkout-secret", headers=shop.owner)
    assert later.json()["secret"] is None and later.json()["hint"].endswith(first[-4:])
    rotated = await api.client.post("/v1/payment-settings/checkout-secret", headers=shop.owner)
    assert rotated.status_code == 201 and rotated.json()["secret"] not in (None, first)
    flow_id = shop.flow["id"]
    old = {"total": "5", "currency": "EUR", "hash": link_hash(first, flow_id, "5", "EUR")}
    assert (await api.client.get(f"/go/flow/{flow_id}?{urlencode(old)}")).status_code == 400
    for headers in (api.public("usr_a"), api.member("usr_a", "payments:read", "payments:refund")):
        response = await api.client.get("/v1/payment-settings/checkout-secret", headers=headers)
        assert response.status_code == 403


async def test_stripe_keys_are_sealed_and_answered_masked(api: RunningApi) -> None:
    await open_shop(api, "usr_a")
    keys = {
        "secretKey": "sk_test_abcdefgh1234",
        "webhookSecret": "whsec_zyxw9876",
        "publishableKey": "pk_test_pub1",
    }
    response = await api.client.put(
        "/v1/payment-settings/stripe", json=keys, headers=api.owner("usr_a")
    )
    assert response.status_code == 200, response.text
    shown = response.json()
    assert shown["configured"] is True
    assert shown["secretKey"] == "sk_test_…1234" and shown["webhookSecret"] == "whsec_…9876"
    assert "abcdefgh" not in response.text
    async with api.state.store.reading() as tx:
        stored = (await tx.conn.execute(sa.select(payment_settings.c.stripe_keys))).scalar_one()
    assert "sk_test_abcdefgh1234" not in stored and "whsec_zyxw9876" not in stored
    bad = await api.client.put(
        "/v1/payment-settings/stripe",
        json={**keys, "secretKey": "nope"},
        headers=api.owner("usr_a"),
    )
    assert bad.status_code == 422
    other = await api.client.get("/v1/payment-settings/stripe", headers=api.owner("usr_b"))
    assert other.json()["configured"] is False

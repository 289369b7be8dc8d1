"""The SDK's ``payments`` resource against the real api (in-process): a consumer session pays,
the owner lists, refunds and exports."""

from __future__ import annotations

import io

import httpx
import pytest

from sticky_sdk import AsyncSticky, ConflictError, NotFoundError, Payment, ValidationError
from tests.api.payments.shop import coffee_line, open_shop
from tests.api.support import BASE_URL, RunningApi


def _client(api: RunningApi, **credentials: str) -> AsyncSticky:
    return AsyncSticky(BASE_URL, transport=httpx.ASGITransport(app=api.app), **credentials)


async def test_pay_read_list_refund_and_export_through_the_sdk(api: RunningApi) -> None:
    shop = await open_shop(api, "usr_a")
    session_id = await shop.session()
    token = api.signer.token("usr_a", "user")
    async with (
        _client(api, session_id=session_id) as buyer,
        _client(api, access_token=token) as owner,
    ):
        line = {
            "product_id": shop.coffee["id"],
            "quantity": 2,
            "options": [{"question_id": "size", "option_id": "large"}],
        }
        paid = await buyer.payments.create(
            currency="EUR",
            cart=[line],
            tip=100,
            customer={"email": "ada@example.com"},
            idempotency_key="k1",
        )
        assert isinstance(paid, Payment)
        assert paid.status == "paid" and paid.total == 2 * 450 + 100 and paid.tip == 100
        assert paid.cart[0].unit_price == 450 and paid.cart[0].options[0].price_delta == 100
        assert paid.session_id == session_id
        again = await buyer.payments.create(
            currency="EUR",
            cart=[line],
            tip=100,
            customer={"email": "ada@example.com"},
            idempotency_key="k1",
        )
        assert again.id == paid.id
        assert (await buyer.payments.retrieve(paid.id)).id == paid.id

        with pytest.raises(ValidationError):
            await buyer.payments.create(
                currency="EUR", cart=[{**coffee_line(shop), "quantity": 100}]
            )
        second = await owner.payments.create(
            currency="EUR", cart=[{"productId": shop.cake["id"], "quantity": 1}]
        )
        listed = [p.id async for p in owner.payments.list(limit=1)]
        assert listed == [paid.id, second.id]
        assert [p.id async for p in buyer.payments.list()] == [paid.id]

        partial = await owner.payments.refund(paid.id, 300)
        assert partial.refunded_total == 300 and partial.refundable == 700
        with pytest.raises(ConflictError):
            await owner.payments.refund(paid.id, 701)
        rest = await owner.payments.refund(paid.id)
        assert rest.status == "refunded" and rest.refunded_at is not None
        with pytest.raises(NotFoundError):
            await owner.payments.retrieve("pay_nope")

        sink = io.BytesIO()
        written = await owner.payments.export(sink, status="refunded")
        lines = sink.getvalue().decode().splitlines()
        assert written == len(sink.getvalue()) and len(lines) == 2 and lines[1].startswith(paid.id)

"""``sticky.payments``: take a payment for a cart, read and list payments, refund, export.

The platform prices the cart from the merchant's products: a create names products,
quantities and options, never prices. A consumer session (``Sticky(session_id=...)``) pays
for itself; the owner reads, lists, refunds and exports every payment of the account.
``cart`` lines, ``customer`` and ``card`` are mappings with snake_case or camelCase keys::

    sticky.payments.create(
        currency="EUR",
        cart=[{"product_id": "prd_...", "quantity": 2,
               "options": [{"question_id": "size", "option_id": "large"}]}],
        card={"number": "4242 4242 4242 4242", "exp_month": 12, "exp_year": 2030, "cvc": "123"},
    )
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sticky_sdk._calls import Call, QueryValue, path
from sticky_sdk._pagination import AsyncPager, Page, Pager, page_of
from sticky_sdk._payment_models import Payment
from sticky_sdk._resources._api_input import wire
from sticky_sdk._resources._base import AsyncResource, SyncResource
from sticky_sdk._streaming import Destination, adownload, download

_read_page = page_of(Payment.from_json)


def create_body(
    currency: str, cart: Sequence[Mapping[str, Any]], fields: Mapping[str, Any]
) -> dict[str, Any]:
    body: dict[str, Any] = {"currency": currency, "cart": wire(list(cart))}
    for name, value in fields.items():
        if value is not None:
            body[name] = wire(value)
    return body


def create_call(body: Mapping[str, Any], idempotency_key: str | None) -> Call[Payment]:
    return Call(
        "POST", "/v1/payments", Payment.from_json, json=dict(body), idempotency_key=idempotency_key
    )


def retrieve_call(payment_id: str) -> Call[Payment]:
    return Call("GET", path("/v1/payments/{}", payment_id), Payment.from_json)


def refund_call(payment_id: str, amount: int | None, idempotency_key: str | None) -> Call[Payment]:
    body = {} if amount is None else {"amount": amount}
    return Call(
        "POST",
        path("/v1/payments/{}/refunds", payment_id),
        Payment.from_json,
        json=body,
        idempotency_key=idempotency_key,
    )


def filters(
    created_after: datetime | None,
    created_before: datetime | None,
    status: str | None,
    application_id: str | None,
) -> dict[str, QueryValue | None]:
    return {
        "createdAfter": created_after.isoformat() if created_after else None,
        "createdBefore": created_before.isoformat() if created_before else None,
        "status": status,
        "applicationId": application_id,
    }


def list_page_call(
    cursor: str | None, limit: int | None, chosen: Mapping[str, QueryValue | None]
) -> Call[Page[Payment]]:
    return Call(
        "GET", "/v1/payments", _read_page, params={**chosen, "limit": limit, "cursor": cursor}
    )


def export_call(chosen: Mapping[str, QueryValue | None]) -> Call[None]:
    return Call(
        "GET", "/v1/payments/export", lambda _: None, params=chosen, headers={"Accept": "text/csv"}
    )


class Payments(SyncResource):
    """Payments."""

    def create(
        self,
        *,
        currency: str,
        cart: Sequence[Mapping[str, Any]],
        session_id: str | None = None,
        application_id: str | None = None,
        thing_id: str | None = None,
        discount: int | None = None,
        tip: int | None = None,
        customer: Mapping[str, Any] | None = None,
        card: Mapping[str, Any] | None = None,
        payment_method: str | None = None,
        user_payment_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> Payment:
        """Pay for ``cart`` (1-100 lines of ``product_id``, ``quantity`` 1-99, ``options``),
        priced by the platform; ``discount`` and ``tip`` in minor units. The same
        ``idempotency_key`` again answers the same payment, never a second charge."""
        fields = {
            "session_id": session_id, "application_id": application_id, "thing_id": thing_id,
            "discount": discount, "tip": tip, "customer": customer, "card": card,
            "payment_method": payment_method, "user_payment_id": user_payment_id,
        }  # fmt: skip
        body = create_body(currency, cart, fields)
        return self._client._call(create_call(body, idempotency_key))

    def retrieve(self, payment_id: str) -> Payment:
        """One payment."""
        return self._client._call(retrieve_call(payment_id))

    def refund(
        self, payment_id: str, amount: int | None = None, *, idempotency_key: str | None = None
    ) -> Payment:
        """Give back ``amount`` (everything left when None); more than is left is a
        :class:`~sticky_sdk.ConflictError`. Answers the payment after the refund."""
        return self._client._call(refund_call(payment_id, amount, idempotency_key))

    def list(
        self,
        *,
        created_after: datetime | None = None,
        created_before: datetime | None = None,
        status: str | None = None,
        application_id: str | None = None,
        limit: int | None = None,
    ) -> Pager[Payment]:
        """Every matching payment, oldest first, ``limit`` (1-100) per page."""
        chosen = filters(created_after, created_before, status, application_id)
        return self._client._paginate(lambda cursor: list_page_call(cursor, limit, chosen))

    def export(
        self,
        destination: Destination,
        *,
        created_after: datetime | None = None,
        created_before: datetime | None = None,
        status: str | None = None,
        application_id: str | None = None,
    ) -> int:
        """Every matching payment as CSV, written to a path or a binary file; answers the
        number of bytes written."""
        call = export_call(filters(created_after, created_before, status, application_id))
        return download(self._client._send(call, stream=True), destination)


class AsyncPayments(AsyncResource):
    """Payments."""

    async def create(
        self,
        *,
        currency: str,
        cart: Sequence[Mapping[str, Any]],
        session_id: str | None = None,
        application_id: str | None = None,
        thing_id: str | None = None,
        discount: int | None = None,
        tip: int | None = None,
        customer: Mapping[str, Any] | None = None,
        card: Mapping[str, Any] | None = None,
        payment_method: str | None = None,
        user_payment_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> Payment:
        """Pay for ``cart`` (1-100 lines of ``product_id``, ``quantity`` 1-99, ``options``),
        priced by the platform; ``discount`` and ``tip`` in minor units. The same
        ``idempotency_key`` again answers the same payment, never a second charge."""
        fields = {
            "session_id": session_id, "application_id": application_id, "thing_id": thing_id,
            "discount": discount, "tip": tip, "customer": customer, "card": card,
            "payment_method": payment_method, "user_payment_id": user_payment_id,
        }  # fmt: skip
        body = create_body(currency, cart, fields)
        return await self._client._call(create_call(body, idempotency_key))

    async def retrieve(self, payment_id: str) -> Payment:
        """One payment."""
        return await self._client._call(retrieve_call(payment_id))

    async def refund(
        self, payment_id: str, amount: int | None = None, *, idempotency_key: str | None = None
    ) -> Payment:
        """Give back ``amount`` (everything left when None); more than is left is a
        :class:`~sticky_sdk.ConflictError`. Answers the payment after the refund."""
        return await self._client._call(refund_call(payment_id, amount, idempotency_key))

    def list(
        self,
        *,
        created_after: datetime | None = None,
        created_before: datetime | None = None,
        status: str | None = None,
        application_id: str | None = None,
        limit: int | None = None,
    ) -> AsyncPager[Payment]:
        """Every matching payment, oldest first, with ``async for``, ``limit`` (1-100) per
        page."""
        chosen = filters(created_after, created_before, status, application_id)
        return self._client._paginate(lambda cursor: list_page_call(cursor, limit, chosen))

    async def export(
        self,
        destination: Destination,
        *,
        created_after: datetime | None = None,
        created_before: datetime | None = None,
        status: str | None = None,
        application_id: str | None = None,
    ) -> int:
        """Every matching payment as CSV, written to a path or a binary file; answers the
        number of bytes written."""
        call = export_call(filters(created_after, created_before, status, application_id))
        return await adownload(await self._client._send(call, stream=True), destination)

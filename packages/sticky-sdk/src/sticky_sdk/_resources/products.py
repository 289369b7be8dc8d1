"""``sticky.products``: what the account sells, priced in integer minor units.

``media`` and ``questions`` may be given as the SDK's models (:class:`~sticky_sdk.Media`,
:class:`~sticky_sdk.Question`) or as plain mappings.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypedDict, Unpack

from sticky_sdk._api_models import Media, Product, Question
from sticky_sdk._calls import Call, QueryValue, nothing, path
from sticky_sdk._pagination import AsyncPager, Page, Pager, page_of
from sticky_sdk._resources._api_input import changes_body, fields_body
from sticky_sdk._resources._base import AsyncResource, SyncResource

MediaInput = Media | Mapping[str, Any]
QuestionInput = Question | Mapping[str, Any]

_read_page = page_of(Product.from_json)


class ProductChanges(TypedDict, total=False):
    """What ``products.update`` may change; only ``their_id`` may be cleared with None."""

    name: str
    description: str
    price: int
    currency: str
    categories: Sequence[str]
    is_enabled: bool
    media: Sequence[MediaInput]
    questions: Sequence[QuestionInput]
    their_id: str | None


NOT_NULL = tuple(name for name in ProductChanges.__optional_keys__ if name != "their_id")


def create_call(
    name: str, price: int, currency: str, fields: Mapping[str, Any], idempotency_key: str | None
) -> Call[Product]:
    body = {"name": name, "price": price, "currency": currency, **fields_body(fields)}
    return Call(
        "POST", "/v1/products", Product.from_json, json=body, idempotency_key=idempotency_key
    )


def retrieve_call(product_id: str) -> Call[Product]:
    return Call("GET", path("/v1/products/{}", product_id), Product.from_json)


def update_call(product_id: str, changes: Mapping[str, Any]) -> Call[Product]:
    body = changes_body(changes, ProductChanges.__optional_keys__, NOT_NULL, "product")
    return Call("PATCH", path("/v1/products/{}", product_id), Product.from_json, json=body)


def delete_call(product_id: str) -> Call[None]:
    return Call("DELETE", path("/v1/products/{}", product_id), nothing)


def list_page_call(
    cursor: str | None, limit: int | None, category: str | None, is_enabled: bool | None
) -> Call[Page[Product]]:
    params: dict[str, QueryValue | None] = {
        "category": category,
        "isEnabled": is_enabled,
        "limit": limit,
        "cursor": cursor,
    }
    return Call("GET", "/v1/products", _read_page, params=params)


class Products(SyncResource):
    """Products."""

    def create(
        self,
        name: str,
        price: int,
        currency: str,
        *,
        description: str | None = None,
        categories: Sequence[str] | None = None,
        is_enabled: bool | None = None,
        media: Sequence[MediaInput] | None = None,
        questions: Sequence[QuestionInput] | None = None,
        their_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> Product:
        """Create a product: ``price`` in minor units of ``currency`` (ISO 4217, ``"EUR"``);
        ``categories`` are category ids."""
        fields = {
            "description": description, "categories": categories, "is_enabled": is_enabled,
            "media": media, "questions": questions, "their_id": their_id,
        }  # fmt: skip
        return self._client._call(create_call(name, price, currency, fields, idempotency_key))

    def retrieve(self, product_id: str) -> Product:
        """One product (only an enabled one for the public key and consumer sessions)."""
        return self._client._call(retrieve_call(product_id))

    def update(self, product_id: str, **changes: Unpack[ProductChanges]) -> Product:
        """Change the fields named (and only those); lists are replaced whole."""
        return self._client._call(update_call(product_id, changes))

    def delete(self, product_id: str) -> None:
        """Delete a product."""
        self._client._call(delete_call(product_id))

    def list(
        self,
        *,
        category: str | None = None,
        is_enabled: bool | None = None,
        limit: int | None = None,
    ) -> Pager[Product]:
        """Every product (in ``category``, enabled or not), oldest first, ``limit`` (1-100)
        per page; only enabled ones for the public key and consumer sessions."""
        return self._client._paginate(
            lambda cursor: list_page_call(cursor, limit, category, is_enabled)
        )

    def list_page(
        self,
        *,
        cursor: str | None = None,
        category: str | None = None,
        is_enabled: bool | None = None,
        limit: int | None = None,
    ) -> Page[Product]:
        """One page of products, from ``cursor`` (the first page without one)."""
        return self._client._call(list_page_call(cursor, limit, category, is_enabled))


class AsyncProducts(AsyncResource):
    """Products."""

    async def create(
        self,
        name: str,
        price: int,
        currency: str,
        *,
        description: str | None = None,
        categories: Sequence[str] | None = None,
        is_enabled: bool | None = None,
        media: Sequence[MediaInput] | None = None,
        questions: Sequence[QuestionInput] | None = None,
        their_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> Product:
        """Create a product: ``price`` in minor units of ``currency`` (ISO 4217, ``"EUR"``);
        ``categories`` are category ids."""
        fields = {
            "description": description, "categories": categories, "is_enabled": is_enabled,
            "media": media, "questions": questions, "their_id": their_id,
        }  # fmt: skip
        call = create_call(name, price, currency, fields, idempotency_key)
        return await self._client._call(call)

    async def retrieve(self, product_id: str) -> Product:
        """One product (only an enabled one for the public key and consumer sessions)."""
        return await self._client._call(retrieve_call(product_id))

    async def update(self, product_id: str, **changes: Unpack[ProductChanges]) -> Product:
        """Change the fields named (and only those); lists are replaced whole."""
        return await self._client._call(update_call(product_id, changes))

    async def delete(self, product_id: str) -> None:
        """Delete a product."""
        await self._client._call(delete_call(product_id))

    def list(
        self,
        *,
        category: str | None = None,
        is_enabled: bool | None = None,
        limit: int | None = None,
    ) -> AsyncPager[Product]:
        """Every product (in ``category``, enabled or not), oldest first, with ``async for``,
        ``limit`` (1-100) per page."""
        return self._client._paginate(
            lambda cursor: list_page_call(cursor, limit, category, is_enabled)
        )

    async def list_page(
        self,
        *,
        cursor: str | None = None,
        category: str | None = None,
        is_enabled: bool | None = None,
        limit: int | None = None,
    ) -> Page[Product]:
        """One page of products, from ``cursor`` (the first page without one)."""
        return await self._client._call(list_page_call(cursor, limit, category, is_enabled))

"""``sticky.categories``: groups of products, open in weekly availability windows."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypedDict, Unpack

from sticky_sdk._api_models import AvailabilityWindow, Category
from sticky_sdk._calls import Call, nothing, path
from sticky_sdk._pagination import AsyncPager, Page, Pager, page_of
from sticky_sdk._resources._api_input import changes_body, fields_body
from sticky_sdk._resources._base import AsyncResource, SyncResource

WindowInput = AvailabilityWindow | Mapping[str, Any]

_read_page = page_of(Category.from_json)


class CategoryChanges(TypedDict, total=False):
    """What ``categories.update`` may change (none of it may be None)."""

    name: str
    description: str
    availability: Sequence[WindowInput]


def create_call(
    name: str,
    description: str | None,
    availability: Sequence[WindowInput] | None,
    idempotency_key: str | None,
) -> Call[Category]:
    fields = fields_body({"description": description, "availability": availability})
    body = {"name": name, **fields}
    return Call(
        "POST", "/v1/categories", Category.from_json, json=body, idempotency_key=idempotency_key
    )


def retrieve_call(category_id: str) -> Call[Category]:
    return Call("GET", path("/v1/categories/{}", category_id), Category.from_json)


def update_call(category_id: str, changes: Mapping[str, Any]) -> Call[Category]:
    keys = CategoryChanges.__optional_keys__
    body = changes_body(changes, keys, keys, "category")
    return Call("PATCH", path("/v1/categories/{}", category_id), Category.from_json, json=body)


def delete_call(category_id: str) -> Call[None]:
    return Call("DELETE", path("/v1/categories/{}", category_id), nothing)


def list_page_call(cursor: str | None, limit: int | None) -> Call[Page[Category]]:
    return Call("GET", "/v1/categories", _read_page, params={"limit": limit, "cursor": cursor})


class Categories(SyncResource):
    """Product categories."""

    def create(
        self,
        name: str,
        *,
        description: str | None = None,
        availability: Sequence[WindowInput] | None = None,
        idempotency_key: str | None = None,
    ) -> Category:
        """Create a category; without ``availability`` windows it is always open."""
        call = create_call(name, description, availability, idempotency_key)
        return self._client._call(call)

    def retrieve(self, category_id: str) -> Category:
        """One category, with whether it is open now."""
        return self._client._call(retrieve_call(category_id))

    def update(self, category_id: str, **changes: Unpack[CategoryChanges]) -> Category:
        """Change the fields named (and only those); ``availability`` is replaced whole."""
        return self._client._call(update_call(category_id, changes))

    def delete(self, category_id: str) -> None:
        """Delete a category; its products keep their other categories."""
        self._client._call(delete_call(category_id))

    def list(self, *, limit: int | None = None) -> Pager[Category]:
        """Every category, oldest first, fetched ``limit`` (1-100) per page."""
        return self._client._paginate(lambda cursor: list_page_call(cursor, limit))

    def list_page(self, *, cursor: str | None = None, limit: int | None = None) -> Page[Category]:
        """One page of categories, from ``cursor`` (the first page without one)."""
        return self._client._call(list_page_call(cursor, limit))


class AsyncCategories(AsyncResource):
    """Product categories."""

    async def create(
        self,
        name: str,
        *,
        description: str | None = None,
        availability: Sequence[WindowInput] | None = None,
        idempotency_key: str | None = None,
    ) -> Category:
        """Create a category; without ``availability`` windows it is always open."""
        call = create_call(name, description, availability, idempotency_key)
        return await self._client._call(call)

    async def retrieve(self, category_id: str) -> Category:
        """One category, with whether it is open now."""
        return await self._client._call(retrieve_call(category_id))

    async def update(self, category_id: str, **changes: Unpack[CategoryChanges]) -> Category:
        """Change the fields named (and only those); ``availability`` is replaced whole."""
        return await self._client._call(update_call(category_id, changes))

    async def delete(self, category_id: str) -> None:
        """Delete a category; its products keep their other categories."""
        await self._client._call(delete_call(category_id))

    def list(self, *, limit: int | None = None) -> AsyncPager[Category]:
        """Every category, oldest first, with ``async for``, ``limit`` (1-100) per page."""
        return self._client._paginate(lambda cursor: list_page_call(cursor, limit))

    async def list_page(
        self, *, cursor: str | None = None, limit: int | None = None
    ) -> Page[Category]:
        """One page of categories, from ``cursor`` (the first page without one)."""
        return await self._client._call(list_page_call(cursor, limit))

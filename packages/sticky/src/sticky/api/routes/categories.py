"""Categories over HTTP: groups of products, open in availability windows."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from sticky.api.access import CallerDep, Resource
from sticky.api.context import ApiDep
from sticky.api.models import CategoryCreate, CategoryOut, CategoryUpdate, Page, to_columns
from sticky.api.store import Cursor, InvalidCursor
from sticky.api.views import bad_cursor, category_out, missing
from sticky.kernel.ids import new_id
from sticky.kernel.problems import FieldError, validation_failed

router = APIRouter(prefix="/v1/categories", tags=["categories"])


@router.post("", status_code=201, response_model=CategoryOut)
async def create(body: CategoryCreate, caller: CallerDep, api: ApiDep) -> CategoryOut:
    """Create a category."""
    caller.require_write(Resource.PRODUCTS)
    now = api.now()
    row = {
        "id": new_id("cat"),
        "user_id": caller.user_id,
        **to_columns(body),
        "created_at": now,
        "updated_at": now,
    }
    async with api.store.transaction() as tx:
        await tx.categories.insert(row)
    return category_out(row, now)


@router.get("", response_model=Page)
async def list_categories(
    caller: CallerDep,
    api: ApiDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=300)] = None,
) -> Page:
    """The account's categories, oldest first, with whether each is open now."""
    caller.require_read(Resource.PRODUCTS)
    try:
        after = Cursor.decode(cursor) if cursor else None
    except InvalidCursor:
        raise bad_cursor() from None
    async with api.store.reading() as tx:
        page = await tx.categories.page(caller.user_id, limit=limit, cursor=after)
    now = api.now()
    return Page(
        data=[category_out(row, now) for row in page.rows],
        has_more=page.has_more,
        next_cursor=page.next_cursor,
    )


@router.get("/{category_id}", response_model=CategoryOut)
async def get(category_id: str, caller: CallerDep, api: ApiDep) -> CategoryOut:
    """One category."""
    caller.require_read(Resource.PRODUCTS)
    async with api.store.reading() as tx:
        row = await tx.categories.get(caller.user_id, category_id)
    if row is None:
        raise missing("category", category_id)
    return category_out(row, api.now())


@router.patch("/{category_id}", response_model=CategoryOut)
async def update(
    category_id: str, body: CategoryUpdate, caller: CallerDep, api: ApiDep
) -> CategoryOut:
    """Change the fields named in the body."""
    caller.require_write(Resource.PRODUCTS)
    values = to_columns(body, exclude_unset=True)
    for name in ("name", "description", "availability"):
        if name in values and values[name] is None:
            raise validation_failed([FieldError(name, "cannot be null")])
    values["updated_at"] = api.now()
    async with api.store.transaction() as tx:
        row = await tx.categories.update(caller.user_id, category_id, values)
    if row is None:
        raise missing("category", category_id)
    return category_out(row, api.now())


@router.delete("/{category_id}", status_code=204)
async def delete(category_id: str, caller: CallerDep, api: ApiDep) -> Response:
    """Delete a category (products keep their other categories)."""
    caller.require_write(Resource.PRODUCTS)
    async with api.store.transaction() as tx:
        if not await tx.categories.delete(caller.user_id, category_id):
            raise missing("category", category_id)
        await tx.unlink_category(caller.user_id, category_id, api.now())
    return Response(status_code=204)

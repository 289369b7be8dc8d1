"""Products over HTTP: prices in integer minor units, options with price deltas."""

from __future__ import annotations

from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Query, Response
from pydantic.alias_generators import to_camel

from sticky.api.access import Caller, CallerDep, Resource
from sticky.api.context import ApiDep
from sticky.api.models import Page, ProductCreate, ProductOut, ProductUpdate, to_columns
from sticky.api.store import Cursor, InvalidCursor, Transaction
from sticky.api.store.owned import json_list_has
from sticky.api.store.tables import products
from sticky.api.views import bad_cursor, missing, product_out
from sticky.kernel.database import is_sqlite
from sticky.kernel.ids import new_id
from sticky.kernel.problems import FieldError, validation_failed

router = APIRouter(prefix="/v1/products", tags=["products"])

_NOT_NULL = (
    "name",
    "description",
    "price",
    "currency",
    "categories",
    "is_enabled",
    "media",
    "questions",
)


async def _check(tx: Transaction, caller: Caller, values: dict[str, Any]) -> None:
    errors = []
    category_ids = values.get("categories") or []
    if category_ids:
        found = {row["id"] for row in await tx.categories.many(caller.user_id, category_ids)}
        unknown = [c for c in category_ids if c not in found]
        if unknown:
            errors.append(
                FieldError("categories", f"names no category of this account: {unknown[0]}")
            )
    for index, question in enumerate(values.get("questions") or []):
        option_ids = [option["id"] for option in question["options"]]
        if len(set(option_ids)) != len(option_ids):
            errors.append(FieldError(f"questions.{index}.options", "option ids must be unique"))
    question_ids = [q["id"] for q in values.get("questions") or []]
    if len(set(question_ids)) != len(question_ids):
        errors.append(FieldError("questions", "question ids must be unique"))
    if errors:
        raise validation_failed(errors)


@router.post("", status_code=201, response_model=ProductOut)
async def create(body: ProductCreate, caller: CallerDep, api: ApiDep) -> ProductOut:
    """Create a product."""
    caller.require_write(Resource.PRODUCTS)
    now = api.now()
    row = {
        "id": new_id("prd"),
        "user_id": caller.user_id,
        **to_columns(body),
        "created_at": now,
        "updated_at": now,
    }
    async with api.store.transaction() as tx:
        await _check(tx, caller, row)
        await tx.products.insert(row)
    return product_out(row)


@router.get("", response_model=Page)
async def list_products(
    caller: CallerDep,
    api: ApiDep,
    category: Annotated[str | None, Query(max_length=40)] = None,
    is_enabled: Annotated[bool | None, Query(alias="isEnabled")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=300)] = None,
) -> Page:
    """The account's products, oldest first (enabled ones only for the public key)."""
    caller.require_read(Resource.PRODUCTS)
    try:
        after = Cursor.decode(cursor) if cursor else None
    except InvalidCursor:
        raise bad_cursor() from None
    where: list[sa.ColumnElement[bool]] = []
    if caller.reads_published_only:
        where.append(products.c.is_enabled.is_(True))
    elif is_enabled is not None:
        where.append(products.c.is_enabled == is_enabled)
    if category is not None:
        sqlite = is_sqlite(api.store.url)
        where.append(json_list_has(products.c.categories, category, sqlite=sqlite))
    async with api.store.reading() as tx:
        page = await tx.products.page(caller.user_id, limit=limit, cursor=after, where=where)
    return Page(
        data=[product_out(row) for row in page.rows],
        has_more=page.has_more,
        next_cursor=page.next_cursor,
    )


@router.get("/{product_id}", response_model=ProductOut)
async def get(product_id: str, caller: CallerDep, api: ApiDep) -> ProductOut:
    """One product."""
    caller.require_read(Resource.PRODUCTS)
    async with api.store.reading() as tx:
        row = await tx.products.get(caller.user_id, product_id)
    if row is None or (caller.reads_published_only and not row["is_enabled"]):
        raise missing("product", product_id)
    return product_out(row)


@router.patch("/{product_id}", response_model=ProductOut)
async def update(
    product_id: str, body: ProductUpdate, caller: CallerDep, api: ApiDep
) -> ProductOut:
    """Change the fields named in the body."""
    caller.require_write(Resource.PRODUCTS)
    values = to_columns(body, exclude_unset=True)
    for name in _NOT_NULL:
        if name in values and values[name] is None:
            raise validation_failed([FieldError(to_camel(name), "cannot be null")])
    values["updated_at"] = api.now()
    async with api.store.transaction() as tx:
        await _check(tx, caller, values)
        row = await tx.products.update(caller.user_id, product_id, values)
    if row is None:
        raise missing("product", product_id)
    return product_out(row)


@router.delete("/{product_id}", status_code=204)
async def delete(product_id: str, caller: CallerDep, api: ApiDep) -> Response:
    """Delete a product; the things naming it name none from now on."""
    caller.require_write(Resource.PRODUCTS)
    async with api.store.transaction() as tx:
        if not await tx.products.delete(caller.user_id, product_id):
            raise missing("product", product_id)
        await tx.unlink_things(caller.user_id, "product_id", product_id, api.now())
    return Response(status_code=204)

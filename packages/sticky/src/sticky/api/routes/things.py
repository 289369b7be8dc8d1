"""Things (stickers) over HTTP: create one or many, list, change, delete, export, print."""

from __future__ import annotations

import asyncio
import csv
import io
import re
import string
from collections.abc import AsyncIterator
from typing import Annotated, Any

import orjson
import sqlalchemy as sa
from fastapi import APIRouter, Query, Response
from fastapi.responses import StreamingResponse
from pydantic.alias_generators import to_camel

from sticky.api import printing
from sticky.api.access import CallerDep, Resource
from sticky.api.context import Api, ApiDep
from sticky.api.ids import new_thing_id
from sticky.api.models import (
    Page,
    SheetRequest,
    ThingBulkCreate,
    ThingCreate,
    ThingList,
    ThingOut,
    ThingUpdate,
    to_columns,
)
from sticky.api.store import Cursor, InvalidCursor
from sticky.api.store.owned import json_list_has
from sticky.api.store.tables import things
from sticky.api.views import THING_FIELDS, bad_cursor, check_references, missing, thing_out
from sticky.kernel.database import is_sqlite
from sticky.kernel.problems import FieldError, bad_request, validation_failed
from sticky.kernel.storable import check_storable

router = APIRouter(prefix="/v1/things", tags=["things"])

_EXPORT_PAGE = 1000


def _row(api: Api, user_id: str, fields: dict[str, Any], name: str) -> dict[str, Any]:
    now = api.now()
    return {
        **fields,
        "id": new_thing_id(),
        "user_id": user_id,
        "name": name,
        "created_at": now,
        "updated_at": now,
    }


@router.post("", status_code=201, response_model=ThingOut)
async def create(body: ThingCreate, caller: CallerDep, api: ApiDep) -> ThingOut:
    """Create a thing (a sticker)."""
    caller.require_write(Resource.THINGS)
    fields = to_columns(body, exclude=frozenset({"name"}))
    row = _row(api, caller.user_id, fields, body.name)
    async with api.store.transaction() as tx:
        await check_references(
            tx, caller.user_id, application_id=body.application_id, product_id=body.product_id
        )
        await tx.things.insert(row)
    return thing_out(row, api.thing_url(row["id"]))


def _check_pattern(pattern: str) -> None:
    """Only ``{n}`` fields, with small widths: ``{n:>999999999}`` would build a gigabyte."""
    try:
        fields = [(name, spec) for _, name, spec, _ in string.Formatter().parse(pattern)]
    except ValueError as exc:
        raise validation_failed(
            [FieldError("namePattern", f"is not a pattern with {{n}}: {exc}")]
        ) from None
    for name, spec in fields:
        if name is None:
            continue
        if name != "n" or "{" in (spec or ""):
            raise validation_failed(
                [FieldError("namePattern", "may only use {n}, with a format such as {n:03}")]
            )
        if any(int(number) > 200 for number in re.findall(r"\d+", spec or "")):
            raise validation_failed([FieldError("namePattern", "gives names over 200 characters")])


def _names(pattern: str, start: int, count: int) -> list[str]:
    _check_pattern(pattern)
    try:
        names = [pattern.format(n=n) for n in range(start, start + count)]
    except (KeyError, IndexError, ValueError, TypeError, OverflowError) as exc:
        raise validation_failed(
            [FieldError("namePattern", f"is not a pattern with {{n}}: {exc}")]
        ) from None
    if any(len(name) > 200 for name in names):
        raise validation_failed([FieldError("namePattern", "gives names over 200 characters")])
    if any(not name.strip() for name in names):
        raise validation_failed([FieldError("namePattern", "gives blank names")])
    try:
        for name in names:
            check_storable(name)
    except ValueError:
        raise validation_failed(
            [FieldError("namePattern", "gives names that are not text")]
        ) from None
    return names


@router.post("/bulk", status_code=201, response_model=ThingList)
async def create_many(body: ThingBulkCreate, caller: CallerDep, api: ApiDep) -> ThingList:
    """Create up to 1,000 things at once, named by ``namePattern`` (all or none)."""
    caller.require_write(Resource.THINGS)
    fields = to_columns(body, exclude=frozenset({"count", "name_pattern", "start"}))
    rows = [
        _row(api, caller.user_id, fields, name)
        for name in _names(body.name_pattern, body.start, body.count)
    ]
    async with api.store.transaction() as tx:
        await check_references(
            tx, caller.user_id, application_id=body.application_id, product_id=body.product_id
        )
        await tx.things.insert(*rows)
    return ThingList(data=[thing_out(row, api.thing_url(row["id"])) for row in rows])


def _filters(
    api: Api,
    design_id: str | None,
    is_virtual: bool | None,
    application_id: str | None,
    tag: str | None,
) -> list[sa.ColumnElement[bool]]:
    where: list[sa.ColumnElement[bool]] = []
    if design_id is not None:
        where.append(things.c.design_id == design_id)
    if is_virtual is not None:
        where.append(things.c.is_virtual == is_virtual)
    if application_id is not None:
        where.append(things.c.application_id == application_id)
    if tag is not None:
        # Tags are kept trimmed, so the filter is too: "?tag= terrace" finds "terrace".
        sqlite = is_sqlite(api.store.url)
        where.append(json_list_has(things.c.tags, tag.strip(), sqlite=sqlite))
    return where


Filter = Annotated[str | None, Query(max_length=100)]


@router.get("", response_model=Page)
async def list_things(
    caller: CallerDep,
    api: ApiDep,
    design_id: Annotated[str | None, Query(alias="designId", max_length=100)] = None,
    is_virtual: Annotated[bool | None, Query(alias="isVirtual")] = None,
    application_id: Annotated[str | None, Query(alias="applicationId", max_length=40)] = None,
    tag: Filter = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=300)] = None,
) -> Page:
    """The account's things, oldest first, a page at a time, with filters."""
    caller.require_read(Resource.THINGS)
    try:
        after = Cursor.decode(cursor) if cursor else None
    except InvalidCursor:
        raise bad_cursor() from None
    where = _filters(api, design_id, is_virtual, application_id, tag)
    async with api.store.reading() as tx:
        page = await tx.things.page(caller.user_id, limit=limit, cursor=after, where=where)
    return Page(
        data=[thing_out(row, api.thing_url(row["id"])) for row in page.rows],
        has_more=page.has_more,
        next_cursor=page.next_cursor,
    )


_CSV_COLUMNS = (*THING_FIELDS, "url")


@router.get("/export", response_class=StreamingResponse)
async def export(
    caller: CallerDep,
    api: ApiDep,
    design_id: Annotated[str | None, Query(alias="designId", max_length=100)] = None,
    is_virtual: Annotated[bool | None, Query(alias="isVirtual")] = None,
    application_id: Annotated[str | None, Query(alias="applicationId", max_length=40)] = None,
    tag: Filter = None,
) -> StreamingResponse:
    """Every matching thing as CSV, streamed a page at a time."""
    caller.require_read(Resource.THINGS)
    where = _filters(api, design_id, is_virtual, application_id, tag)

    async def rows() -> AsyncIterator[bytes]:
        yield _csv_line(_CSV_COLUMNS)
        after: Cursor | None = None
        while True:
            async with api.store.reading() as tx:
                page = await tx.things.page(
                    caller.user_id, limit=_EXPORT_PAGE, cursor=after, where=where
                )
            chunk = io.StringIO()
            writer = csv.writer(chunk)
            for row in page.rows:
                writer.writerow([_cell(row[c]) for c in THING_FIELDS] + [api.thing_url(row["id"])])
            yield chunk.getvalue().encode()
            if not page.has_more:
                return
            last = page.rows[-1]
            after = Cursor(last["created_at"], last["id"])

    return StreamingResponse(
        rows(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="things.csv"'},
    )


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return orjson.dumps(value).decode()
    if hasattr(value, "isoformat"):
        return str(value.isoformat())
    text = str(value)
    # A cell a spreadsheet would run as a formula is quoted (CSV injection; OWASP's list of
    # the first characters that start one includes tab and carriage return).
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _csv_line(values: tuple[str, ...]) -> bytes:
    chunk = io.StringIO()
    csv.writer(chunk).writerow(values)
    return chunk.getvalue().encode()


@router.post("/sheet", response_class=Response)
async def sheet(body: SheetRequest, caller: CallerDep, api: ApiDep) -> Response:
    """A printable A4 PDF of the named stickers, with their QR codes and names."""
    caller.require_read(Resource.THINGS)
    async with api.store.reading() as tx:
        rows = await tx.things.many(caller.user_id, body.ids)
    found = {row["id"]: row for row in rows}
    unknown = [i for i in body.ids if i not in found]
    if unknown:
        raise validation_failed(
            [
                FieldError(
                    "ids", f"names things this account does not have: {', '.join(unknown[:5])}"
                )
            ]
        )
    stickers = [printing.SheetSticker(found[i]["name"], api.thing_url(i)) for i in body.ids]
    pdf = await asyncio.to_thread(printing.sticker_sheet_pdf, stickers, title=body.title)
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": 'inline; filename="stickers.pdf"'},
    )


async def _get(api: Api, caller: CallerDep, thing_id: str) -> dict[str, Any]:
    async with api.store.reading() as tx:
        row = await tx.things.get(caller.user_id, thing_id)
    if row is None:
        raise missing("thing", thing_id)
    return dict(row)


@router.get("/{thing_id}", response_model=ThingOut)
async def get(thing_id: str, caller: CallerDep, api: ApiDep) -> ThingOut:
    """One thing."""
    caller.require_read(Resource.THINGS)
    return thing_out(await _get(api, caller, thing_id), api.thing_url(thing_id))


@router.patch("/{thing_id}", response_model=ThingOut)
async def update(thing_id: str, body: ThingUpdate, caller: CallerDep, api: ApiDep) -> ThingOut:
    """Change the fields named in the body."""
    caller.require_write(Resource.THINGS)
    values = to_columns(body, exclude_unset=True)
    for required in ("name", "tags", "custom_data", "is_virtual", "is_kid_safe"):
        if required in values and values[required] is None:
            raise validation_failed([FieldError(to_camel(required), "cannot be null")])
    values["updated_at"] = api.now()
    async with api.store.transaction() as tx:
        await check_references(
            tx,
            caller.user_id,
            application_id=values.get("application_id"),
            product_id=values.get("product_id"),
        )
        row = await tx.things.update(caller.user_id, thing_id, values)
    if row is None:
        raise missing("thing", thing_id)
    api.taps.forget(thing_id)
    return thing_out(row, api.thing_url(thing_id))


@router.delete("/{thing_id}", status_code=204)
async def delete(thing_id: str, caller: CallerDep, api: ApiDep) -> Response:
    """Delete a thing; its sticker's taps answer a friendly 404 page from now on."""
    caller.require_write(Resource.THINGS)
    async with api.store.transaction() as tx:
        deleted = await tx.things.delete(caller.user_id, thing_id)
    if not deleted:
        raise missing("thing", thing_id)
    api.taps.forget(thing_id)
    return Response(status_code=204)


@router.get("/{thing_id}/qr.svg", response_class=Response)
async def qr_svg(
    thing_id: str,
    caller: CallerDep,
    api: ApiDep,
    scale: Annotated[int, Query(ge=1, le=printing.MAX_SCALE)] = 10,
    border: Annotated[int, Query(ge=0, le=printing.MAX_BORDER)] = 4,
) -> Response:
    """The sticker's QR code as SVG (``STICKY_PUBLIC_URL/t/{id}``)."""
    caller.require_read(Resource.THINGS)
    await _get(api, caller, thing_id)
    return Response(
        _printed(printing.qr_svg, api.thing_url(thing_id), scale, border),
        media_type="image/svg+xml",
    )


@router.get("/{thing_id}/qr.png", response_class=Response)
async def qr_png(
    thing_id: str,
    caller: CallerDep,
    api: ApiDep,
    scale: Annotated[int, Query(ge=1, le=printing.MAX_SCALE)] = 10,
    border: Annotated[int, Query(ge=0, le=printing.MAX_BORDER)] = 4,
) -> Response:
    """The sticker's QR code as PNG."""
    caller.require_read(Resource.THINGS)
    await _get(api, caller, thing_id)
    return Response(
        _printed(printing.qr_png, api.thing_url(thing_id), scale, border),
        media_type="image/png",
    )


def _printed(render: Any, url: str, scale: int, border: int) -> bytes:
    try:
        data: bytes = render(url, scale=scale, border=border)
    except ValueError as exc:
        raise bad_request(str(exc), slug="invalid-print-options") from None
    return data


@router.get("/{thing_id}/ndef", response_class=Response)
async def ndef(
    thing_id: str,
    caller: CallerDep,
    api: ApiDep,
    wrap: Annotated[str, Query(pattern="^(message|tlv)$")] = "message",
) -> Response:
    """The NDEF bytes to write on an NFC tag: the message, or ``wrap=tlv`` for a Type 2 tag."""
    caller.require_read(Resource.THINGS)
    await _get(api, caller, thing_id)
    message = printing.ndef_uri_record(api.thing_url(thing_id))
    data = printing.ndef_tlv(message) if wrap == "tlv" else message
    return Response(
        data,
        media_type="application/octet-stream",
        headers={"Content-Disposition": f'attachment; filename="{thing_id}.ndef"'},
    )

"""``sticky.things``: stickers, one or a thousand at a time, and what to print or write on them.

Besides the JSON resource, a thing has binary answers (its QR code as SVG or PNG, the NDEF
bytes for an NFC tag, a printable PDF sheet), read whole as ``bytes``, and a CSV export
streamed to a file.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping, Sequence
from typing import Any, Literal, TypedDict, Unpack

from sticky_sdk._api_models import Location, Thing, thing_list
from sticky_sdk._calls import Call, QueryValue, nothing, path
from sticky_sdk._exceptions import StickyError
from sticky_sdk._pagination import AsyncPager, Page, Pager, page_of
from sticky_sdk._resources._api_input import changes_body, fields_body
from sticky_sdk._resources._base import AsyncResource, SyncResource
from sticky_sdk._streaming import Destination, adownload, download

NdefWrap = Literal["message", "tlv"]
LocationInput = Location | Mapping[str, Any]

_read_page = page_of(Thing.from_json)


class ThingChanges(TypedDict, total=False):
    """What ``things.update`` may change; None clears the fields that allow it."""

    name: str
    design_id: str | None
    application_id: str | None
    product_id: str | None
    tags: Sequence[str]
    location: LocationInput | None
    custom_data: Mapping[str, Any]
    their_id: str | None
    is_virtual: bool
    is_kid_safe: bool


NOT_NULL = ("name", "tags", "custom_data", "is_virtual", "is_kid_safe")


def binary(content: bytes) -> bytes:
    """The reading of an answer that is not JSON: its bytes as they came."""
    return content


def thing_fields(
    design_id: str | None,
    application_id: str | None,
    product_id: str | None,
    tags: Sequence[str] | None,
    location: LocationInput | None,
    custom_data: Mapping[str, Any] | None,
    their_id: str | None,
    is_virtual: bool | None,
    is_kid_safe: bool | None,
) -> dict[str, Any]:
    return fields_body(
        {
            "design_id": design_id,
            "application_id": application_id,
            "product_id": product_id,
            "tags": tags,
            "location": location,
            "custom_data": custom_data,
            "their_id": their_id,
            "is_virtual": is_virtual,
            "is_kid_safe": is_kid_safe,
        }
    )


def thing_filters(
    design_id: str | None, is_virtual: bool | None, application_id: str | None, tag: str | None
) -> dict[str, QueryValue | None]:
    return {
        "designId": design_id,
        "isVirtual": is_virtual,
        "applicationId": application_id,
        "tag": tag,
    }


def create_call(name: str, fields: Mapping[str, Any], idempotency_key: str | None) -> Call[Thing]:
    body = {"name": name, **fields}
    return Call("POST", "/v1/things", Thing.from_json, json=body, idempotency_key=idempotency_key)


def create_many_call(
    count: int,
    name_pattern: str | None,
    start: int | None,
    fields: Mapping[str, Any],
    idempotency_key: str | None,
) -> Call[list[Thing]]:
    body = {"count": count, **fields_body({"name_pattern": name_pattern, "start": start}), **fields}
    return Call("POST", "/v1/things/bulk", thing_list, json=body, idempotency_key=idempotency_key)


def retrieve_call(thing_id: str) -> Call[Thing]:
    return Call("GET", path("/v1/things/{}", thing_id), Thing.from_json)


def update_call(thing_id: str, changes: Mapping[str, Any]) -> Call[Thing]:
    body = changes_body(changes, ThingChanges.__optional_keys__, NOT_NULL, "thing")
    return Call("PATCH", path("/v1/things/{}", thing_id), Thing.from_json, json=body)


def delete_call(thing_id: str) -> Call[None]:
    return Call("DELETE", path("/v1/things/{}", thing_id), nothing)


def list_page_call(
    cursor: str | None, limit: int | None, filters: Mapping[str, QueryValue | None]
) -> Call[Page[Thing]]:
    params = {**filters, "limit": limit, "cursor": cursor}
    return Call("GET", "/v1/things", _read_page, params=params)


def export_call(filters: Mapping[str, QueryValue | None]) -> Call[None]:
    return Call("GET", "/v1/things/export", nothing, params=filters, headers={"Accept": "text/csv"})


def qr_call(thing_id: str, kind: str, scale: int | None, border: int | None) -> Call[bytes]:
    media_type = {"svg": "image/svg+xml", "png": "image/png"}[kind]
    return Call(
        "GET",
        path("/v1/things/{}/qr." + kind, thing_id),
        binary,
        params={"scale": scale, "border": border},
        headers={"Accept": media_type},
    )


def ndef_call(thing_id: str, wrap: str) -> Call[bytes]:
    if wrap not in ("message", "tlv"):
        raise StickyError(f"Wrap the NDEF bytes as 'message' or 'tlv', not {wrap!r}.")
    return Call(
        "GET",
        path("/v1/things/{}/ndef", thing_id),
        binary,
        params={"wrap": wrap},
        headers={"Accept": "application/octet-stream"},
    )


def sheet_call(ids: Sequence[str], title: str | None) -> Call[bytes]:
    if isinstance(ids, str):
        raise StickyError("Name the things to print as a list of ids, not one string.")
    body: dict[str, Any] = {"ids": list(ids)}
    if title is not None:
        body["title"] = title
    headers = {"Accept": "application/pdf"}
    return Call("POST", "/v1/things/sheet", binary, json=body, headers=headers)


class Things(SyncResource):
    """Things (stickers)."""

    def create(
        self,
        name: str,
        *,
        design_id: str | None = None,
        application_id: str | None = None,
        product_id: str | None = None,
        tags: Sequence[str] | None = None,
        location: LocationInput | None = None,
        custom_data: Mapping[str, Any] | None = None,
        their_id: str | None = None,
        is_virtual: bool | None = None,
        is_kid_safe: bool | None = None,
        idempotency_key: str | None = None,
    ) -> Thing:
        """Create a thing; arguments left out take the platform's defaults."""
        fields = thing_fields(
            design_id, application_id, product_id, tags, location, custom_data, their_id,
            is_virtual, is_kid_safe,
        )  # fmt: skip
        return self._client._call(create_call(name, fields, idempotency_key))

    def create_many(
        self,
        count: int,
        *,
        name_pattern: str | None = None,
        start: int | None = None,
        design_id: str | None = None,
        application_id: str | None = None,
        product_id: str | None = None,
        tags: Sequence[str] | None = None,
        location: LocationInput | None = None,
        custom_data: Mapping[str, Any] | None = None,
        their_id: str | None = None,
        is_virtual: bool | None = None,
        is_kid_safe: bool | None = None,
        idempotency_key: str | None = None,
    ) -> builtins.list[Thing]:
        """Create ``count`` (1-1,000) things alike, all or none, named by ``name_pattern``
        (``"Table {n}"``, ``"{n:03}"`` pads; the platform's default ``"Sticker {n}"``) with
        ``n`` from ``start`` (1 without one)."""
        fields = thing_fields(
            design_id, application_id, product_id, tags, location, custom_data, their_id,
            is_virtual, is_kid_safe,
        )  # fmt: skip
        call = create_many_call(count, name_pattern, start, fields, idempotency_key)
        return self._client._call(call)

    def retrieve(self, thing_id: str) -> Thing:
        """One thing."""
        return self._client._call(retrieve_call(thing_id))

    def update(self, thing_id: str, **changes: Unpack[ThingChanges]) -> Thing:
        """Change the fields named (and only those); None clears ``design_id``,
        ``application_id``, ``product_id``, ``location`` and ``their_id``."""
        return self._client._call(update_call(thing_id, changes))

    def delete(self, thing_id: str) -> None:
        """Delete a thing; a tap on its sticker answers a friendly 404 page from then on."""
        self._client._call(delete_call(thing_id))

    def list(
        self,
        *,
        design_id: str | None = None,
        is_virtual: bool | None = None,
        application_id: str | None = None,
        tag: str | None = None,
        limit: int | None = None,
    ) -> Pager[Thing]:
        """Every matching thing, oldest first, fetched ``limit`` (1-100) per page."""
        filters = thing_filters(design_id, is_virtual, application_id, tag)
        return self._client._paginate(lambda cursor: list_page_call(cursor, limit, filters))

    def list_page(
        self,
        *,
        cursor: str | None = None,
        design_id: str | None = None,
        is_virtual: bool | None = None,
        application_id: str | None = None,
        tag: str | None = None,
        limit: int | None = None,
    ) -> Page[Thing]:
        """One page of matching things, from ``cursor`` (the first page without one)."""
        filters = thing_filters(design_id, is_virtual, application_id, tag)
        return self._client._call(list_page_call(cursor, limit, filters))

    def export(
        self,
        destination: Destination,
        *,
        design_id: str | None = None,
        is_virtual: bool | None = None,
        application_id: str | None = None,
        tag: str | None = None,
    ) -> int:
        """Every matching thing as CSV (a header, then one row each), written to a path or a
        binary file as it arrives; the number of bytes written."""
        call = export_call(thing_filters(design_id, is_virtual, application_id, tag))
        return download(self._client._send(call, stream=True), destination)

    def qr_svg(
        self, thing_id: str, *, scale: int | None = None, border: int | None = None
    ) -> bytes:
        """The sticker's QR code (of its ``url``) as SVG; ``scale`` 1-50 (10), ``border``
        0-20 modules (4)."""
        return self._client._call_binary(qr_call(thing_id, "svg", scale, border))

    def qr_png(
        self, thing_id: str, *, scale: int | None = None, border: int | None = None
    ) -> bytes:
        """The sticker's QR code as PNG; ``scale`` in pixels per module."""
        return self._client._call_binary(qr_call(thing_id, "png", scale, border))

    def ndef(self, thing_id: str, *, wrap: NdefWrap = "message") -> bytes:
        """The NDEF message (a URI record of the ``url``) to write on an NFC tag; ``"tlv"``
        wraps it for a Type 2 tag's memory."""
        return self._client._call_binary(ndef_call(thing_id, wrap))

    def sheet_pdf(self, ids: Sequence[str], *, title: str | None = None) -> bytes:
        """A printable A4 PDF of these things' stickers (QR code and name), in this order."""
        return self._client._call_binary(sheet_call(ids, title))


class AsyncThings(AsyncResource):
    """Things (stickers)."""

    async def create(
        self,
        name: str,
        *,
        design_id: str | None = None,
        application_id: str | None = None,
        product_id: str | None = None,
        tags: Sequence[str] | None = None,
        location: LocationInput | None = None,
        custom_data: Mapping[str, Any] | None = None,
        their_id: str | None = None,
        is_virtual: bool | None = None,
        is_kid_safe: bool | None = None,
        idempotency_key: str | None = None,
    ) -> Thing:
        """Create a thing; arguments left out take the platform's defaults."""
        fields = thing_fields(
            design_id, application_id, product_id, tags, location, custom_data, their_id,
            is_virtual, is_kid_safe,
        )  # fmt: skip
        return await self._client._call(create_call(name, fields, idempotency_key))

    async def create_many(
        self,
        count: int,
        *,
        name_pattern: str | None = None,
        start: int | None = None,
        design_id: str | None = None,
        application_id: str | None = None,
        product_id: str | None = None,
        tags: Sequence[str] | None = None,
        location: LocationInput | None = None,
        custom_data: Mapping[str, Any] | None = None,
        their_id: str | None = None,
        is_virtual: bool | None = None,
        is_kid_safe: bool | None = None,
        idempotency_key: str | None = None,
    ) -> builtins.list[Thing]:
        """Create ``count`` (1-1,000) things alike, all or none, named by ``name_pattern``
        (``"Table {n}"``, ``"{n:03}"`` pads; the platform's default ``"Sticker {n}"``) with
        ``n`` from ``start`` (1 without one)."""
        fields = thing_fields(
            design_id, application_id, product_id, tags, location, custom_data, their_id,
            is_virtual, is_kid_safe,
        )  # fmt: skip
        call = create_many_call(count, name_pattern, start, fields, idempotency_key)
        return await self._client._call(call)

    async def retrieve(self, thing_id: str) -> Thing:
        """One thing."""
        return await self._client._call(retrieve_call(thing_id))

    async def update(self, thing_id: str, **changes: Unpack[ThingChanges]) -> Thing:
        """Change the fields named (and only those); None clears ``design_id``,
        ``application_id``, ``product_id``, ``location`` and ``their_id``."""
        return await self._client._call(update_call(thing_id, changes))

    async def delete(self, thing_id: str) -> None:
        """Delete a thing; a tap on its sticker answers a friendly 404 page from then on."""
        await self._client._call(delete_call(thing_id))

    def list(
        self,
        *,
        design_id: str | None = None,
        is_virtual: bool | None = None,
        application_id: str | None = None,
        tag: str | None = None,
        limit: int | None = None,
    ) -> AsyncPager[Thing]:
        """Every matching thing, oldest first, with ``async for``, ``limit`` per page."""
        filters = thing_filters(design_id, is_virtual, application_id, tag)
        return self._client._paginate(lambda cursor: list_page_call(cursor, limit, filters))

    async def list_page(
        self,
        *,
        cursor: str | None = None,
        design_id: str | None = None,
        is_virtual: bool | None = None,
        application_id: str | None = None,
        tag: str | None = None,
        limit: int | None = None,
    ) -> Page[Thing]:
        """One page of matching things, from ``cursor`` (the first page without one)."""
        filters = thing_filters(design_id, is_virtual, application_id, tag)
        return await self._client._call(list_page_call(cursor, limit, filters))

    async def export(
        self,
        destination: Destination,
        *,
        design_id: str | None = None,
        is_virtual: bool | None = None,
        application_id: str | None = None,
        tag: str | None = None,
    ) -> int:
        """Every matching thing as CSV (a header, then one row each), written to a path or a
        binary file as it arrives; the number of bytes written."""
        call = export_call(thing_filters(design_id, is_virtual, application_id, tag))
        return await adownload(await self._client._send(call, stream=True), destination)

    async def qr_svg(
        self, thing_id: str, *, scale: int | None = None, border: int | None = None
    ) -> bytes:
        """The sticker's QR code (of its ``url``) as SVG; ``scale`` 1-50 (10), ``border``
        0-20 modules (4)."""
        return await self._client._call_binary(qr_call(thing_id, "svg", scale, border))

    async def qr_png(
        self, thing_id: str, *, scale: int | None = None, border: int | None = None
    ) -> bytes:
        """The sticker's QR code as PNG; ``scale`` in pixels per module."""
        return await self._client._call_binary(qr_call(thing_id, "png", scale, border))

    async def ndef(self, thing_id: str, *, wrap: NdefWrap = "message") -> bytes:
        """The NDEF message (a URI record of the ``url``) to write on an NFC tag; ``"tlv"``
        wraps it for a Type 2 tag's memory."""
        return await self._client._call_binary(ndef_call(thing_id, wrap))

    async def sheet_pdf(self, ids: Sequence[str], *, title: str | None = None) -> bytes:
        """A printable A4 PDF of these things' stickers (QR code and name), in this order."""
        return await self._client._call_binary(sheet_call(ids, title))

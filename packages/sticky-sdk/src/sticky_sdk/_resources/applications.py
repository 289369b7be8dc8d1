"""``sticky.applications``: flows, a draft edited freely and versions made live for taps.

``update`` changes the draft only; ``make_live`` publishes it as the next version, which taps
run from then on. ``try_logic`` runs a draft's routing logic on a made-up input first.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from typing import Any, TypedDict, Unpack

from sticky_sdk._api_models import Application, ApplicationVersion, LogicResult, version_list
from sticky_sdk._calls import Call, nothing, path
from sticky_sdk._pagination import AsyncPager, Page, Pager, page_of
from sticky_sdk._resources._api_input import changes_body, fields_body
from sticky_sdk._resources._base import AsyncResource, SyncResource

_read_page = page_of(Application.from_json)


class ApplicationChanges(TypedDict, total=False):
    """What ``applications.update`` may change in the draft; None clears those that allow it."""

    name: str
    public_name: str | None
    logic: str | None
    settings: Mapping[str, Any]


NOT_NULL = ("name", "settings")


def create_call(
    name: str,
    public_name: str | None,
    logic: str | None,
    settings: Mapping[str, Any] | None,
    idempotency_key: str | None,
) -> Call[Application]:
    fields = fields_body({"public_name": public_name, "logic": logic, "settings": settings})
    body = {"name": name, **fields}
    where = "/v1/applications"
    return Call("POST", where, Application.from_json, json=body, idempotency_key=idempotency_key)


def retrieve_call(application_id: str) -> Call[Application]:
    return Call("GET", path("/v1/applications/{}", application_id), Application.from_json)


def update_call(application_id: str, changes: Mapping[str, Any]) -> Call[Application]:
    body = changes_body(changes, ApplicationChanges.__optional_keys__, NOT_NULL, "application")
    where = path("/v1/applications/{}", application_id)
    return Call("PATCH", where, Application.from_json, json=body)


def delete_call(application_id: str) -> Call[None]:
    return Call("DELETE", path("/v1/applications/{}", application_id), nothing)


def list_page_call(cursor: str | None, limit: int | None) -> Call[Page[Application]]:
    return Call("GET", "/v1/applications", _read_page, params={"limit": limit, "cursor": cursor})


def make_live_call(
    application_id: str, draft_version: int | None, idempotency_key: str | None
) -> Call[Application]:
    return Call(
        "POST",
        path("/v1/applications/{}/make-live", application_id),
        Application.from_json,
        params={"draftVersion": draft_version},
        idempotency_key=idempotency_key,
    )


def versions_call(application_id: str) -> Call[list[ApplicationVersion]]:
    return Call("GET", path("/v1/applications/{}/versions", application_id), version_list)


def try_logic_call(
    application_id: str, input: Mapping[str, Any] | None, logic: str | None
) -> Call[LogicResult]:
    body = fields_body({"input": input, "logic": logic})
    where = path("/v1/applications/{}/try-logic", application_id)
    return Call("POST", where, LogicResult.from_json, json=body)


class Applications(SyncResource):
    """Applications (flows)."""

    def create(
        self,
        name: str,
        *,
        public_name: str | None = None,
        logic: str | None = None,
        settings: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> Application:
        """Create a flow: a draft, with nothing live until :meth:`make_live`."""
        call = create_call(name, public_name, logic, settings, idempotency_key)
        return self._client._call(call)

    def retrieve(self, application_id: str) -> Application:
        """One flow: its draft and live version (only what is live for the public key and
        consumer sessions)."""
        return self._client._call(retrieve_call(application_id))

    def update(self, application_id: str, **changes: Unpack[ApplicationChanges]) -> Application:
        """Change the draft's fields named (and only those); taps keep running the live
        version. None clears ``public_name`` and ``logic``."""
        return self._client._call(update_call(application_id, changes))

    def delete(self, application_id: str) -> None:
        """Delete a flow; stickers pointing at it go to the default app."""
        self._client._call(delete_call(application_id))

    def list(self, *, limit: int | None = None) -> Pager[Application]:
        """Every flow, oldest first, fetched ``limit`` (1-100) per page (only live ones for the
        public key and consumer sessions)."""
        return self._client._paginate(lambda cursor: list_page_call(cursor, limit))

    def list_page(
        self, *, cursor: str | None = None, limit: int | None = None
    ) -> Page[Application]:
        """One page of flows, from ``cursor`` (the first page without one)."""
        return self._client._call(list_page_call(cursor, limit))

    def make_live(
        self,
        application_id: str,
        *,
        draft_version: int | None = None,
        idempotency_key: str | None = None,
    ) -> Application:
        """Publish the draft as the next live version; with ``draft_version``, only if the
        draft is still at that version (else ``ConflictError``, slug ``draft-changed``)."""
        call = make_live_call(application_id, draft_version, idempotency_key)
        return self._client._call(call)

    def versions(self, application_id: str) -> builtins.list[ApplicationVersion]:
        """Every version ever made live, newest first."""
        return self._client._call(versions_call(application_id))

    def try_logic(
        self,
        application_id: str,
        *,
        input: Mapping[str, Any] | None = None,
        logic: str | None = None,
    ) -> LogicResult:
        """Run the draft's routing logic (or ``logic``) on a made-up tap (``input`` overrides
        ``thingId``, ``sessionId``, ``query``, ``thing``...); nothing is recorded."""
        return self._client._call(try_logic_call(application_id, input, logic))


class AsyncApplications(AsyncResource):
    """Applications (flows)."""

    async def create(
        self,
        name: str,
        *,
        public_name: str | None = None,
        logic: str | None = None,
        settings: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> Application:
        """Create a flow: a draft, with nothing live until :meth:`make_live`."""
        call = create_call(name, public_name, logic, settings, idempotency_key)
        return await self._client._call(call)

    async def retrieve(self, application_id: str) -> Application:
        """One flow: its draft and live version (only what is live for the public key and
        consumer sessions)."""
        return await self._client._call(retrieve_call(application_id))

    async def update(
        self, application_id: str, **changes: Unpack[ApplicationChanges]
    ) -> Application:
        """Change the draft's fields named (and only those); taps keep running the live
        version. None clears ``public_name`` and ``logic``."""
        return await self._client._call(update_call(application_id, changes))

    async def delete(self, application_id: str) -> None:
        """Delete a flow; stickers pointing at it go to the default app."""
        await self._client._call(delete_call(application_id))

    def list(self, *, limit: int | None = None) -> AsyncPager[Application]:
        """Every flow, oldest first, with ``async for``, ``limit`` (1-100) per page."""
        return self._client._paginate(lambda cursor: list_page_call(cursor, limit))

    async def list_page(
        self, *, cursor: str | None = None, limit: int | None = None
    ) -> Page[Application]:
        """One page of flows, from ``cursor`` (the first page without one)."""
        return await self._client._call(list_page_call(cursor, limit))

    async def make_live(
        self,
        application_id: str,
        *,
        draft_version: int | None = None,
        idempotency_key: str | None = None,
    ) -> Application:
        """Publish the draft as the next live version; with ``draft_version``, only if the
        draft is still at that version (else ``ConflictError``, slug ``draft-changed``)."""
        call = make_live_call(application_id, draft_version, idempotency_key)
        return await self._client._call(call)

    async def versions(self, application_id: str) -> builtins.list[ApplicationVersion]:
        """Every version ever made live, newest first."""
        return await self._client._call(versions_call(application_id))

    async def try_logic(
        self,
        application_id: str,
        *,
        input: Mapping[str, Any] | None = None,
        logic: str | None = None,
    ) -> LogicResult:
        """Run the draft's routing logic (or ``logic``) on a made-up tap (``input`` overrides
        ``thingId``, ``sessionId``, ``query``, ``thing``...); nothing is recorded."""
        return await self._client._call(try_logic_call(application_id, input, logic))

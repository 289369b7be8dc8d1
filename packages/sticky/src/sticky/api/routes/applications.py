"""Applications (flows) over HTTP: a draft anyone on the account edits, live versions taps run.

``make-live`` copies the draft into a numbered version and points taps at it; the draft keeps
changing without touching what consumers see. ``try-logic`` runs a draft's routing logic on
a made-up input, so developers see the URL, the console or the error before going live.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from sticky.api.access import Caller, CallerDep, Resource
from sticky.api.context import Api, ApiDep
from sticky.api.models import (
    ApplicationCreate,
    ApplicationOut,
    ApplicationUpdate,
    ApplicationVersionList,
    Page,
    TryLogic,
    TryLogicOut,
    to_columns,
)
from sticky.api.store import Cursor, InvalidCursor, Row
from sticky.api.store.tables import applications
from sticky.api.tap import logic_input
from sticky.api.views import (
    application_out,
    bad_cursor,
    missing,
    published_application_out,
    version_out,
)
from sticky.kernel.ids import new_id
from sticky.kernel.problems import FieldError, conflict, validation_failed

router = APIRouter(prefix="/v1/applications", tags=["applications"])


def _out(caller: Caller, row: Row, live: Row | None) -> Any:
    if caller.reads_published_only:
        if live is None:
            raise missing("application", row["id"])
        return published_application_out(row, live)
    return application_out(row, live)


async def _load(api: Api, caller: Caller, application_id: str) -> tuple[Row, Row | None]:
    async with api.store.reading() as tx:
        row = await tx.applications.get(caller.user_id, application_id)
        if row is None:
            raise missing("application", application_id)
        live = (
            await tx.version(application_id, row["live_version"]) if row["live_version"] else None
        )
    return row, live


@router.post("", status_code=201, response_model=ApplicationOut)
async def create(body: ApplicationCreate, caller: CallerDep, api: ApiDep) -> ApplicationOut:
    """Create a flow; it has a draft and nothing live until ``make-live``."""
    caller.require_write(Resource.APPLICATIONS)
    now = api.now()
    row = {
        "id": new_id("app"),
        "user_id": caller.user_id,
        **to_columns(body),
        "draft_version": 1,
        "live_version": None,
        "created_at": now,
        "updated_at": now,
    }
    async with api.store.transaction() as tx:
        await tx.applications.insert(row)
    return application_out(row, None)


@router.get("", response_model=Page)
async def list_applications(
    caller: CallerDep,
    api: ApiDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=300)] = None,
) -> Page:
    """The account's flows, oldest first (published ones only for the public key)."""
    caller.require_read(Resource.APPLICATIONS)
    try:
        after = Cursor.decode(cursor) if cursor else None
    except InvalidCursor:
        raise bad_cursor() from None
    where = [applications.c.live_version.is_not(None)] if caller.reads_published_only else []
    async with api.store.reading() as tx:
        page = await tx.applications.page(caller.user_id, limit=limit, cursor=after, where=where)
        data = []
        for row in page.rows:
            live = await tx.version(row["id"], row["live_version"]) if row["live_version"] else None
            data.append(_out(caller, row, live))
    return Page(data=data, has_more=page.has_more, next_cursor=page.next_cursor)


@router.get("/{application_id}")
async def get(application_id: str, caller: CallerDep, api: ApiDep) -> Any:
    """One flow: the draft and the live version (only the live one for the public key)."""
    caller.require_read(Resource.APPLICATIONS)
    row, live = await _load(api, caller, application_id)
    return _out(caller, row, live)


@router.patch("/{application_id}", response_model=ApplicationOut)
async def update(
    application_id: str, body: ApplicationUpdate, caller: CallerDep, api: ApiDep
) -> ApplicationOut:
    """Change the draft; taps keep running the live version."""
    caller.require_write(Resource.APPLICATIONS)
    values = to_columns(body, exclude_unset=True)
    for required in ("name", "settings"):
        if required in values and values[required] is None:
            raise validation_failed([FieldError(required, "cannot be null")])
    async with api.store.transaction() as tx:
        row = await tx.applications.get(caller.user_id, application_id)
        if row is None:
            raise missing("application", application_id)
        values["updated_at"] = api.now()
        values["draft_version"] = row["draft_version"] + 1
        row = await tx.applications.update(caller.user_id, application_id, values)
        assert row is not None
        live = (
            await tx.version(application_id, row["live_version"]) if row["live_version"] else None
        )
    return application_out(row, live)


@router.delete("/{application_id}", status_code=204)
async def delete(application_id: str, caller: CallerDep, api: ApiDep) -> Response:
    """Delete a flow; stickers pointing at it go to the default app."""
    caller.require_write(Resource.APPLICATIONS)
    async with api.store.transaction() as tx:
        if not await tx.applications.delete(caller.user_id, application_id):
            raise missing("application", application_id)
        await tx.unlink_things(caller.user_id, "application_id", application_id, api.now())
    api.taps.forget_application(application_id)
    return Response(status_code=204)


@router.post("/{application_id}/make-live", response_model=ApplicationOut)
async def make_live(
    application_id: str,
    caller: CallerDep,
    api: ApiDep,
    draft_version: Annotated[int | None, Query(alias="draftVersion", ge=1)] = None,
) -> ApplicationOut:
    """Publish the draft as a new live version. ``draftVersion`` guards against racing edits."""
    caller.require_write(Resource.APPLICATIONS)
    if caller.principal is not None:
        caller.principal.require_permission("applications:write")
    async with api.store.transaction() as tx:
        row = await tx.applications.get(caller.user_id, application_id)
        if row is None:
            raise missing("application", application_id)
        if draft_version is not None and draft_version != row["draft_version"]:
            raise conflict(
                f"The draft is at version {row['draft_version']}, not {draft_version}: someone"
                " changed it; review it and try again.",
                slug="draft-changed",
            )
        versions = await tx.versions(application_id)
        number = (versions[0]["version"] + 1) if versions else 1
        now = api.now()
        version = {
            "application_id": application_id,
            "version": number,
            "user_id": caller.user_id,
            "name": row["name"],
            "public_name": row["public_name"],
            "logic": row["logic"],
            "settings": row["settings"],
            "created_at": now,
        }
        await tx.add_version(version)
        row = await tx.applications.update(
            caller.user_id, application_id, {"live_version": number, "updated_at": now}
        )
        assert row is not None
    api.taps.forget_application(application_id)
    return application_out(row, version)


@router.get("/{application_id}/versions", response_model=ApplicationVersionList)
async def versions(application_id: str, caller: CallerDep, api: ApiDep) -> ApplicationVersionList:
    """Every version ever made live, newest first."""
    # The owner's side only: old versions hold logic the published view never shows.
    caller.require_owner_side()
    caller.require_read(Resource.APPLICATIONS)
    await _load(api, caller, application_id)
    async with api.store.reading() as tx:
        rows = await tx.versions(application_id)
    return ApplicationVersionList(data=[version_out(row) for row in rows])


@router.post("/{application_id}/try-logic", response_model=TryLogicOut)
async def try_logic(
    application_id: str, body: TryLogic, caller: CallerDep, api: ApiDep
) -> TryLogicOut:
    """Run the draft's routing logic (or ``logic``) on a made-up input; nothing is recorded."""
    caller.require_write(Resource.APPLICATIONS)
    row, _ = await _load(api, caller, application_id)
    source = body.logic if body.logic is not None else row["logic"]
    if not source:
        raise validation_failed([FieldError("logic", "the draft has no routing logic to try")])
    given = body.input
    query = given.get("query")
    thing: dict[str, Any] = {"id": given.get("thingId", "test-thing"), "name": "Test sticker"}
    if given.get("productId") is not None:
        thing["product_id"] = given["productId"]
    input_ = logic_input(
        api,
        thing=thing,
        application=row,
        settings=row["settings"],
        session_id=str(given.get("sessionId", "test-session")),
        query=query if isinstance(query, dict) else {},
    )
    input_.update({k: v for k, v in given.items() if k not in ("query",)})
    # One key per merchant for tries: a changed source recompiles under it; live keys differ.
    outcome = await api.sandbox.run_async(f"try:{caller.user_id}", caller.user_id, source, input_)
    return TryLogicOut(
        ok=outcome.error is None,
        url=outcome.url,
        console=list(outcome.console),
        error={"kind": outcome.error.kind, "message": outcome.error.message}
        if outcome.error
        else None,
        elapsed_ms=outcome.elapsed_ms,
    )

"""Team members over HTTP."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Response

from sticky.auth import team
from sticky.auth.context import AuthDep
from sticky.auth.models import TeamMemberCreate, TeamMemberOut, TeamMemberPage, TeamMemberUpdate
from sticky.auth.routes.views import team_member_out
from sticky.kernel.cursors import decode_cursor, encode_cursor
from sticky.kernel.problems import FieldError, validation_failed
from sticky.kernel.service import CurrentPrincipal

router = APIRouter(prefix="/v1/team-members", tags=["team members"])


@router.post("", status_code=201, response_model=TeamMemberOut)
async def create(
    body: TeamMemberCreate, principal: CurrentPrincipal, auth: AuthDep
) -> TeamMemberOut:
    """Add a team member; the answer shows their key this once."""
    member, key = await team.create(auth, principal, body.name, body.email, body.permissions)
    return team_member_out(member, key)


@router.get("", response_model=TeamMemberPage)
async def list_members(
    principal: CurrentPrincipal,
    auth: AuthDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> TeamMemberPage:
    """The account's team members, oldest first, a page at a time."""
    after = _decode_cursor(cursor) if cursor else None
    page = await team.page(auth, principal, limit, after)
    last = page.members[-1] if page.members else None
    next_cursor = encode_cursor(last.created_at, last.id) if last and page.has_more else None
    return TeamMemberPage(
        data=[team_member_out(member) for member in page.members],
        has_more=page.has_more,
        next_cursor=next_cursor,
    )


@router.get("/{member_id}", response_model=TeamMemberOut)
async def get(member_id: str, principal: CurrentPrincipal, auth: AuthDep) -> TeamMemberOut:
    """One team member."""
    return team_member_out(await team.get(auth, principal, member_id))


@router.patch("/{member_id}", response_model=TeamMemberOut)
async def update(
    member_id: str, body: TeamMemberUpdate, principal: CurrentPrincipal, auth: AuthDep
) -> TeamMemberOut:
    """Change a team member's name or permissions (their key keeps working)."""
    member = await team.update(auth, principal, member_id, body.name, body.permissions)
    return team_member_out(member)


@router.delete("/{member_id}", status_code=204, response_class=Response)
async def delete(member_id: str, principal: CurrentPrincipal, auth: AuthDep) -> Response:
    """Remove a team member; their key stops working."""
    await team.delete(auth, principal, member_id)
    return Response(status_code=204)


@router.post("/{member_id}/key/rotate", response_model=TeamMemberOut)
async def rotate_key(member_id: str, principal: CurrentPrincipal, auth: AuthDep) -> TeamMemberOut:
    """Give a team member a new key, shown this once; the old one stops working."""
    member, key = await team.rotate_key(auth, principal, member_id)
    return team_member_out(member, key)


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        return decode_cursor(cursor)
    except ValueError:
        raise validation_failed(
            [FieldError("query.cursor", "is not a cursor this endpoint gave out", "invalid")]
        ) from None

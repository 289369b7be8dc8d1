"""``sticky.team_members``: people acting for the account with their own key and permissions."""

from __future__ import annotations

from collections.abc import Sequence

from sticky_sdk._calls import Call, nothing, path
from sticky_sdk._models import TeamMember
from sticky_sdk._pagination import AsyncPager, Page, Pager, page_of
from sticky_sdk._resources._base import AsyncResource, SyncResource

_read_page = page_of(TeamMember.from_json)


def create_call(
    name: str, email: str, permissions: Sequence[str], idempotency_key: str | None
) -> Call[TeamMember]:
    body = {"name": name, "email": email, "permissions": list(permissions)}
    return Call(
        "POST", "/v1/team-members", TeamMember.from_json, json=body, idempotency_key=idempotency_key
    )


def list_page_call(cursor: str | None, limit: int | None) -> Call[Page[TeamMember]]:
    return Call("GET", "/v1/team-members", _read_page, params={"cursor": cursor, "limit": limit})


def retrieve_call(team_member_id: str) -> Call[TeamMember]:
    return Call("GET", path("/v1/team-members/{}", team_member_id), TeamMember.from_json)


def update_call(
    team_member_id: str, name: str | None, permissions: Sequence[str] | None
) -> Call[TeamMember]:
    body: dict[str, object] = {}
    if name is not None:
        body["name"] = name
    if permissions is not None:
        body["permissions"] = list(permissions)
    where = path("/v1/team-members/{}", team_member_id)
    return Call("PATCH", where, TeamMember.from_json, json=body)


def delete_call(team_member_id: str) -> Call[None]:
    return Call("DELETE", path("/v1/team-members/{}", team_member_id), nothing)


def rotate_key_call(team_member_id: str, idempotency_key: str | None) -> Call[TeamMember]:
    where = path("/v1/team-members/{}/key/rotate", team_member_id)
    return Call("POST", where, TeamMember.from_json, idempotency_key=idempotency_key)


class TeamMembers(SyncResource):
    """Team members."""

    def create(
        self,
        name: str,
        email: str,
        permissions: Sequence[str],
        *,
        idempotency_key: str | None = None,
    ) -> TeamMember:
        """Add a team member; the answer shows their key this once."""
        call = create_call(name, email, permissions, idempotency_key)
        return self._client._call(call)

    def list(self, *, limit: int | None = None) -> Pager[TeamMember]:
        """Every team member, fetched ``limit`` (1-100) per page as the iteration goes."""
        return self._client._paginate(lambda cursor: list_page_call(cursor, limit))

    def list_page(self, *, cursor: str | None = None, limit: int | None = None) -> Page[TeamMember]:
        """One page of team members, from ``cursor`` (the first page without one)."""
        return self._client._call(list_page_call(cursor, limit))

    def retrieve(self, team_member_id: str) -> TeamMember:
        """One team member (without their key)."""
        return self._client._call(retrieve_call(team_member_id))

    def update(
        self,
        team_member_id: str,
        *,
        name: str | None = None,
        permissions: Sequence[str] | None = None,
    ) -> TeamMember:
        """Change a team member's name or permissions; fields left out stay as they are."""
        return self._client._call(update_call(team_member_id, name, permissions))

    def delete(self, team_member_id: str) -> None:
        """Remove a team member; their key stops working."""
        self._client._call(delete_call(team_member_id))

    def rotate_key(self, team_member_id: str, *, idempotency_key: str | None = None) -> TeamMember:
        """Give a team member a new key, shown this once; the old one stops working."""
        return self._client._call(rotate_key_call(team_member_id, idempotency_key))


class AsyncTeamMembers(AsyncResource):
    """Team members."""

    async def create(
        self,
        name: str,
        email: str,
        permissions: Sequence[str],
        *,
        idempotency_key: str | None = None,
    ) -> TeamMember:
        """Add a team member; the answer shows their key this once."""
        call = create_call(name, email, permissions, idempotency_key)
        return await self._client._call(call)

    def list(self, *, limit: int | None = None) -> AsyncPager[TeamMember]:
        """Every team member with ``async for``, fetched ``limit`` (1-100) per page."""
        return self._client._paginate(lambda cursor: list_page_call(cursor, limit))

    async def list_page(
        self, *, cursor: str | None = None, limit: int | None = None
    ) -> Page[TeamMember]:
        """One page of team members, from ``cursor`` (the first page without one)."""
        return await self._client._call(list_page_call(cursor, limit))

    async def retrieve(self, team_member_id: str) -> TeamMember:
        """One team member (without their key)."""
        return await self._client._call(retrieve_call(team_member_id))

    async def update(
        self,
        team_member_id: str,
        *,
        name: str | None = None,
        permissions: Sequence[str] | None = None,
    ) -> TeamMember:
        """Change a team member's name or permissions; fields left out stay as they are."""
        return await self._client._call(update_call(team_member_id, name, permissions))

    async def delete(self, team_member_id: str) -> None:
        """Remove a team member; their key stops working."""
        await self._client._call(delete_call(team_member_id))

    async def rotate_key(
        self, team_member_id: str, *, idempotency_key: str | None = None
    ) -> TeamMember:
        """Give a team member a new key, shown this once; the old one stops working."""
        return await self._client._call(rotate_key_call(team_member_id, idempotency_key))

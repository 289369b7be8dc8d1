"""Team members: people acting for a user with their own key and permissions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sticky.auth.accounts import normalize_email
from sticky.auth.context import Auth
from sticky.auth.credentials import mint_secret
from sticky.auth.errors import InvalidCredentials, TeamMemberNotFound
from sticky.auth.store import TeamMember
from sticky.kernel.ids import new_id
from sticky.kernel.tokens import Principal


@dataclass(frozen=True)
class Page:
    members: Sequence[TeamMember]
    has_more: bool


def _permissions(permissions: Sequence[str]) -> tuple[str, ...]:
    return tuple(sorted(set(permissions)))


async def create(
    auth: Auth, principal: Principal, name: str, email: str, permissions: Sequence[str]
) -> tuple[TeamMember, str]:
    """Add a team member; answer it and its key (shown this once)."""
    principal.require_owner()
    key, key_hash, last4 = mint_secret("team-member")
    member = TeamMember(
        id=new_id("tm"),
        user_id=principal.user_id,
        name=name,
        email=normalize_email(email),
        permissions=_permissions(permissions),
        key_hash=key_hash,
        key_last4=last4,
        created_at=auth.now(),
    )
    async with auth.store.transaction() as tx:
        await tx.team_members.add(member)
    return member, key


async def get(auth: Auth, principal: Principal, member_id: str) -> TeamMember:
    principal.require_owner()
    async with auth.store.transaction() as tx:
        member = await tx.team_members.get(principal.user_id, member_id)
    if member is None:
        raise _not_found(member_id)
    return member


async def page(
    auth: Auth, principal: Principal, limit: int, after: tuple[datetime, str] | None
) -> Page:
    """Up to ``limit`` members, oldest first, after the ``(created_at, id)`` of a previous page."""
    principal.require_owner()
    async with auth.store.transaction() as tx:
        members = await tx.team_members.page(principal.user_id, limit + 1, after)
    return Page(members[:limit], has_more=len(members) > limit)


async def update(
    auth: Auth,
    principal: Principal,
    member_id: str,
    name: str | None,
    permissions: Sequence[str] | None,
) -> TeamMember:
    principal.require_owner()
    perms = _permissions(permissions) if permissions is not None else None
    async with auth.store.transaction() as tx:
        found = await tx.team_members.update(
            principal.user_id, member_id, auth.now(), name=name, permissions=perms
        )
        member = await tx.team_members.get(principal.user_id, member_id) if found else None
    if member is None:
        raise _not_found(member_id)
    return member


async def delete(auth: Auth, principal: Principal, member_id: str) -> None:
    principal.require_owner()
    async with auth.store.transaction() as tx:
        if not await tx.team_members.delete(principal.user_id, member_id):
            raise _not_found(member_id)


async def rotate_key(auth: Auth, principal: Principal, member_id: str) -> tuple[TeamMember, str]:
    principal.require_owner()
    key, key_hash, last4 = mint_secret("team-member")
    async with auth.store.transaction() as tx:
        found = await tx.team_members.update(
            principal.user_id, member_id, auth.now(), key=(key_hash, last4)
        )
        member = await tx.team_members.get(principal.user_id, member_id) if found else None
    if member is None:
        raise _not_found(member_id)
    return member, key


def _not_found(member_id: str) -> TeamMemberNotFound:
    return TeamMemberNotFound(f"This account has no team member {member_id}.")


async def acting(auth: Auth, principal: Principal) -> TeamMember:
    """The team member a team-member token speaks for."""
    assert principal.team_member_id is not None
    async with auth.store.transaction() as tx:
        member = await tx.team_members.get(principal.user_id, principal.team_member_id)
    if member is None:
        raise InvalidCredentials("The team member this token speaks for was removed.")
    return member

"""Who is calling the api, and what they may do with which resource.

Owners (signed in, or the private key) do everything with their own data; team members what
their permissions say; the public key and consumer sessions read only what the user has
published (every thing, enabled products, categories, live flows). A consumer session is
named by the ``Sticky-Session`` header (the id from its cookie or the redirect) and reads the
data of the merchant whose sticker it last tapped; it writes only its own session.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated

from fastapi import Depends, Header, Request

from sticky.api.context import Api, ApiDep
from sticky.kernel.problems import forbidden, unauthorized
from sticky.kernel.tokens import (
    Principal,
    Scope,
    TokenVerifier,
    api_key_hint,
    bearer_token,
    looks_like_api_key,
)

SESSION_HEADER = "Sticky-Session"


class Resource(StrEnum):
    THINGS = "things"
    APPLICATIONS = "applications"
    PRODUCTS = "products"


@dataclass(frozen=True)
class Caller:
    user_id: str
    scope: str  # a token scope, or "session"
    principal: Principal | None = None
    session_id: str | None = None

    @property
    def reads_published_only(self) -> bool:
        return self.scope in (Scope.PUBLIC, "session")

    @property
    def team_member_id(self) -> str | None:
        return self.principal.team_member_id if self.principal else None

    def require_read(self, resource: Resource) -> None:
        if self.reads_published_only:
            return
        self._require(f"{resource}:read")

    def require_write(self, resource: Resource) -> None:
        if self.reads_published_only:
            raise forbidden(
                f"A {self.scope} credential only reads published data; changing {resource}"
                " needs the private key, a signed-in user, or a team member's key.",
                slug="insufficient-scope",
            )
        self._require(f"{resource}:write")

    def require_owner_side(self) -> None:
        """The merchant's side (owner or team member), never a public key or a session."""
        if self.reads_published_only or self.scope == Scope.SERVICE:
            raise forbidden(f"A {self.scope} credential cannot do this.", slug="insufficient-scope")

    def _require(self, permission: str) -> None:
        if self.principal is None or self.scope == Scope.SERVICE:
            raise forbidden(f"A {self.scope} credential cannot do this.", slug="insufficient-scope")
        self.principal.require_permission(permission)


async def current_caller(
    request: Request,
    api: ApiDep,
    authorization: Annotated[str | None, Header()] = None,
    sticky_session: Annotated[str | None, Header(alias=SESSION_HEADER)] = None,
) -> Caller:
    if authorization is None and sticky_session is not None:
        return await _session_caller(api, sticky_session)
    token = bearer_token(authorization)
    if looks_like_api_key(token):
        raise api_key_hint()
    verifier: TokenVerifier = request.app.state.verifier
    principal = await verifier.verify(token)
    request.state.principal = principal
    caller = Caller(principal.user_id, principal.scope, principal)
    if caller.scope != Scope.SERVICE:
        await api.accounts.ensure(principal.user_id)
    return caller


async def _session_caller(api: Api, session_id: str) -> Caller:
    if len(session_id) > 64 or "\x00" in session_id:  # PostgreSQL refuses NUL in a query
        raise unauthorized("The Sticky-Session header names no session.", "invalid-session")
    async with api.store.reading() as tx:
        session = await tx.sessions.get(session_id)
    if session is None:
        raise unauthorized(
            "The Sticky-Session header names no session; a tap starts one.", "invalid-session"
        )
    return Caller(session["user_id"], "session", session_id=session_id)


CallerDep = Annotated[Caller, Depends(current_caller)]

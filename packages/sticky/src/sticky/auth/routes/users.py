"""The signed-in account over HTTP."""

from __future__ import annotations

from fastapi import APIRouter, Response

from sticky.auth import accounts, team
from sticky.auth.context import AuthDep
from sticky.auth.models import MeOut, PasswordChange, Rename, UserOut
from sticky.auth.routes.views import team_member_out, user_out
from sticky.kernel.service import CurrentPrincipal
from sticky.kernel.tokens import Scope

router = APIRouter(prefix="/v1/users", tags=["users"])


@router.get("/me", response_model=MeOut)
async def me(principal: CurrentPrincipal, auth: AuthDep) -> MeOut:
    """The account the credential speaks for, its scope, and the team member acting if any."""
    principal.require_scope(Scope.USER, Scope.PRIVATE, Scope.TEAM_MEMBER)
    user = await accounts.get_user(auth, principal.user_id)
    member = None
    if principal.team_member_id is not None:
        member = team_member_out(await team.acting(auth, principal))
    return MeOut(**user_out(user).model_dump(), scope=principal.scope, team_member=member)


@router.patch("/me", response_model=UserOut)
async def rename(body: Rename, principal: CurrentPrincipal, auth: AuthDep) -> UserOut:
    """Change the account's name."""
    return user_out(await accounts.rename(auth, principal, body.name))


@router.post("/me/password", status_code=204, response_class=Response)
async def change_password(
    body: PasswordChange, principal: CurrentPrincipal, auth: AuthDep
) -> Response:
    """Change the password; every other session of the account ends."""
    await accounts.change_password(auth, principal, body.current_password, body.new_password)
    return Response(status_code=204)

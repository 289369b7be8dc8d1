"""Sessions over HTTP: sign in, refresh, sign out."""

from __future__ import annotations

from fastapi import APIRouter, Response

from sticky.auth import sessions
from sticky.auth.context import AuthDep, ClientIP
from sticky.auth.models import RefreshTokenBody, SignIn, TokenPairOut
from sticky.auth.routes.views import token_pair_out

router = APIRouter(prefix="/v1/auth", tags=["sessions"])


@router.post("/sign-in", response_model=TokenPairOut)
async def sign_in(body: SignIn, auth: AuthDep, ip: ClientIP) -> TokenPairOut:
    """Exchange email and password for an access token and a refresh token."""
    pair = await sessions.sign_in(auth, body.email, body.password, ip)
    return token_pair_out(pair)


@router.post("/refresh", response_model=TokenPairOut)
async def refresh(body: RefreshTokenBody, auth: AuthDep) -> TokenPairOut:
    """Spend a refresh token for a new pair; a spent token presented again ends the session."""
    pair = await sessions.refresh(auth, body.refresh_token)
    return token_pair_out(pair)


@router.post("/sign-out", status_code=204, response_class=Response)
async def sign_out(body: RefreshTokenBody, auth: AuthDep) -> Response:
    """End the session the refresh token belongs to."""
    await sessions.sign_out(auth, body.refresh_token)
    return Response(status_code=204)

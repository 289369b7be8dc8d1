"""Keys and tokens over HTTP: key exchange, service tokens, API keys, the JWKS."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Path
from fastapi.responses import Response

from sticky.auth import credentials
from sticky.auth.context import AuthDep
from sticky.auth.models import AccessTokenOut, KeyList, KeyOut, KeyType, ServiceTokenRequest
from sticky.auth.routes.views import access_token_out, key_out
from sticky.kernel.service import CurrentPrincipal, json_response
from sticky.kernel.tokens import bearer_token

router = APIRouter(tags=["keys"])

# Short, so a cache never hides a new key for long (see signing.PUBLISH_AHEAD).
_JWKS_CACHE = "public, max-age=5"


@router.post("/v1/auth/token", response_model=AccessTokenOut)
async def exchange_key(
    auth: AuthDep, authorization: Annotated[str | None, Header()] = None
) -> AccessTokenOut:
    """Exchange an API key (``Authorization: Bearer pk_…/sk_…/tk_…``) for an access token."""
    token = await credentials.exchange_key(auth, bearer_token(authorization))
    return access_token_out(token)


@router.post("/v1/auth/service-token", response_model=AccessTokenOut)
async def service_token(body: ServiceTokenRequest, auth: AuthDep) -> AccessTokenOut:
    """An access token with scope ``service`` for another Sticky service."""
    return access_token_out(credentials.service_token(auth, body.service, body.service_key))


@router.get("/.well-known/jwks.json", include_in_schema=False)
@router.get("/v1/auth/jwks.json")
async def jwks(auth: AuthDep) -> Response:
    """The public keys that verify access tokens."""
    document = await auth.keyring.jwks()
    return json_response(document, headers={"Cache-Control": _JWKS_CACHE})


@router.get("/v1/keys", response_model=KeyList)
async def list_keys(principal: CurrentPrincipal, auth: AuthDep) -> KeyList:
    """The account's public and private keys (the private one masked)."""
    records = await credentials.list_keys(auth, principal)
    return KeyList(data=[key_out(record) for record in records])


@router.post("/v1/keys/{key_type}/rotate", status_code=201, response_model=KeyOut)
async def rotate_key(
    key_type: Annotated[KeyType, Path()], principal: CurrentPrincipal, auth: AuthDep
) -> KeyOut:
    """Replace a key; the answer shows the new key this once, and the old one stops working."""
    record, key = await credentials.rotate_key(auth, principal, key_type)
    return key_out(record, key)

"""From records to what the API answers, and request bodies that may come from an HTML form."""

from __future__ import annotations

import functools
from typing import Any, TypeVar, cast
from urllib.parse import parse_qsl

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, TypeAdapter, ValidationError

from sticky.auth.credentials import masked
from sticky.auth.models import AccessTokenOut, KeyOut, TeamMemberOut, TokenPairOut, UserOut
from sticky.auth.sessions import TokenPair
from sticky.auth.store import ApiKey, TeamMember, User
from sticky.auth.tokens import AccessToken
from sticky.kernel.bodies import in_body, json_body

FORM = "application/x-www-form-urlencoded"
Model = TypeVar("Model", bound=BaseModel)


def user_out(user: User) -> UserOut:
    return UserOut(
        id=user.id,
        name=user.name,
        email=user.email,
        email_verified=user.email_verified,
        created_at=user.created_at,
    )


def token_pair_out(pair: TokenPair) -> TokenPairOut:
    return TokenPairOut(
        access_token=pair.access.token,
        refresh_token=pair.refresh_token,
        expires_in=pair.access.expires_in,
        user=user_out(pair.user),
    )


def access_token_out(token: AccessToken) -> AccessTokenOut:
    return AccessTokenOut(access_token=token.token, expires_in=token.expires_in, scope=token.scope)


def key_out(record: ApiKey, key: str | None = None) -> KeyOut:
    return KeyOut(
        id=record.id,
        type="public" if record.type == "public" else "private",
        key=key or record.key,
        masked=masked(record.type, record.last4),
        created_at=record.created_at,
    )


def team_member_out(member: TeamMember, key: str | None = None) -> TeamMemberOut:
    return TeamMemberOut(
        id=member.id,
        name=member.name,
        email=member.email,
        permissions=list(member.permissions),
        created_at=member.created_at,
        key=key,
        masked=masked("team-member", member.key_last4),
    )


def is_form(request: Request) -> bool:
    content_type = request.headers.get("content-type", "")
    return content_type.split(";")[0].strip().lower() == FORM


async def read_body(request: Request, model: type[Model]) -> Model:
    """The body as ``model``, from JSON or from an HTML form; errors as FastAPI's would be."""
    raw = await request.body()
    if not is_form(request):
        return json_body(raw, cast("TypeAdapter[Model]", _adapter(model)))
    fields = parse_qsl(raw.decode("utf-8", errors="replace"), keep_blank_values=True)
    try:
        return model.model_validate(dict(fields))
    except ValidationError as exc:
        raise RequestValidationError(in_body(exc.errors())) from None


@functools.cache
def _adapter(model: type[BaseModel]) -> TypeAdapter[BaseModel]:
    return TypeAdapter(model)


def body_schema(model: type[BaseModel]) -> dict[str, Any]:
    """OpenAPI for an endpoint that takes ``model`` as JSON or as a form."""
    schema = model.model_json_schema(by_alias=True)
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": schema}, FORM: {"schema": schema}},
        }
    }

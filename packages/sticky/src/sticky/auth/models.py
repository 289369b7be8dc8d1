"""What auth's HTTP API accepts and answers (camelCase on the wire)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    StringConstraints,
    field_validator,
)
from pydantic.alias_generators import to_camel

from sticky.kernel.settings import SERVICES
from sticky.kernel.storable import storable

Permission = Literal[
    "things:read",
    "things:write",
    "applications:read",
    "applications:write",
    "products:read",
    "products:write",
    "payments:read",
    "payments:refund",
    "events:read",
    "events:write",
    "webhooks:read",
    "webhooks:write",
]
PERMISSIONS: tuple[str, ...] = get_args(Permission)
KeyType = Literal["public", "private"]
# Names are stored as text: a NUL in one was stored on SQLite and a 503 on PostgreSQL.
Name = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    AfterValidator(storable),
]
# Length rules for new passwords are checked by the password policy (weak-password); this
# bound only keeps absurd inputs out.
Password = Annotated[str, Field(min_length=1, max_length=4096)]
Secret = Annotated[str, Field(min_length=1, max_length=512)]


class Incoming(BaseModel):
    model_config = ConfigDict(
        extra="forbid", strict=True, alias_generator=to_camel, populate_by_name=True
    )


class Outgoing(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class SignUp(Incoming):
    name: Name
    email: EmailStr
    password: Password


class SignIn(Incoming):
    email: EmailStr
    password: Password


class EmailOnly(Incoming):
    email: EmailStr


class TokenOnly(Incoming):
    token: Secret


class RefreshTokenBody(Incoming):
    refresh_token: Secret


class ResetConfirm(Incoming):
    token: Secret
    password: Password


class ServiceTokenRequest(Incoming):
    service: str
    service_key: Secret

    @field_validator("service")
    @classmethod
    def _known_service(cls, value: str) -> str:
        if value not in SERVICES:
            raise ValueError(f"must be one of {', '.join(SERVICES)}")
        return value


class Rename(Incoming):
    name: Name


class PasswordChange(Incoming):
    current_password: Password
    new_password: Password


class TeamMemberCreate(Incoming):
    name: Name
    email: EmailStr
    permissions: list[Permission] = Field(max_length=len(PERMISSIONS))


class TeamMemberUpdate(Incoming):
    name: Name | None = None
    permissions: list[Permission] | None = Field(default=None, max_length=len(PERMISSIONS))


class UserOut(Outgoing):
    id: str
    name: str
    email: str
    email_verified: bool
    created_at: datetime


class TeamMemberOut(Outgoing):
    id: str
    name: str
    email: str
    permissions: list[str]
    created_at: datetime
    key: str | None = None
    masked: str


class MeOut(UserOut):
    scope: str
    team_member: TeamMemberOut | None = None


class TokenPairOut(Outgoing):
    access_token: str
    refresh_token: str
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105 (a scheme, not a secret)
    expires_in: int
    user: UserOut


class AccessTokenOut(Outgoing):
    access_token: str
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105 (a scheme, not a secret)
    expires_in: int
    scope: str


class KeyOut(Outgoing):
    id: str
    type: KeyType
    key: str | None
    masked: str
    created_at: datetime


class KeyList(Outgoing):
    data: list[KeyOut]


class TeamMemberPage(Outgoing):
    data: list[TeamMemberOut]
    has_more: bool
    next_cursor: str | None


class Accepted(Outgoing):
    """An empty ``{}``: the request was taken, whatever it was about."""

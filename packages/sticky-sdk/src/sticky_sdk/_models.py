"""The objects the platform answers with, as frozen dataclasses with snake_case attributes.

Secrets (tokens, keys) never appear in a ``repr``: they are left out of it, and keys show
their masked form instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal

from sticky_sdk._parsing import Fields

KeyType = Literal["public", "private"]


@dataclass(frozen=True)
class User:
    """A merchant or developer account."""

    id: str
    name: str
    email: str
    email_verified: bool
    created_at: datetime

    @classmethod
    def from_json(cls, data: object) -> User:
        f = Fields(data, "User")
        return cls(
            id=f.text("id"),
            name=f.text("name"),
            email=f.text("email"),
            email_verified=f.boolean("emailVerified"),
            created_at=f.timestamp("createdAt"),
        )


@dataclass(frozen=True)
class TokenPair:
    """What signing in or refreshing answers: an access token and the refresh token after it."""

    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    token_type: str
    expires_in: int
    user: User

    @classmethod
    def from_json(cls, data: object) -> TokenPair:
        f = Fields(data, "TokenPair")
        return cls(
            access_token=f.text("accessToken"),
            refresh_token=f.text("refreshToken"),
            token_type=f.text("tokenType"),
            expires_in=f.integer("expiresIn"),
            user=User.from_json(f.raw("user")),
        )


@dataclass(frozen=True)
class AccessToken:
    """What exchanging an API key answers: a short-lived access token and its scope."""

    access_token: str = field(repr=False)
    token_type: str
    expires_in: int
    scope: str

    @classmethod
    def from_json(cls, data: object) -> AccessToken:
        f = Fields(data, "AccessToken")
        return cls(
            access_token=f.text("accessToken"),
            token_type=f.text("tokenType"),
            expires_in=f.integer("expiresIn"),
            scope=f.text("scope"),
        )


@dataclass(frozen=True)
class ApiKey:
    """A public (publishable) or private (secret) key of the account."""

    id: str
    type: str
    masked: str
    created_at: datetime
    key: str | None = field(default=None, repr=False)

    @property
    def secret(self) -> str | None:
        """The full key: always for the public key, only when just rotated for the private."""
        return self.key

    @classmethod
    def from_json(cls, data: object) -> ApiKey:
        f = Fields(data, "ApiKey")
        return cls(
            id=f.text("id"),
            type=f.text("type"),
            masked=f.text("masked"),
            created_at=f.timestamp("createdAt"),
            key=f.optional_text("key"),
        )


@dataclass(frozen=True)
class TeamMember:
    """A person acting for the account with their own key and permissions."""

    id: str
    name: str
    email: str
    permissions: tuple[str, ...]
    created_at: datetime
    masked: str | None = None
    key: str | None = field(default=None, repr=False)

    @property
    def secret(self) -> str | None:
        """The team member's full key, only in the answer that created or rotated it."""
        return self.key

    @classmethod
    def from_json(cls, data: object) -> TeamMember:
        f = Fields(data, "TeamMember")
        return cls(
            id=f.text("id"),
            name=f.text("name"),
            email=f.text("email"),
            permissions=f.texts("permissions"),
            created_at=f.timestamp("createdAt"),
            masked=f.optional_text("masked"),
            key=f.optional_text("key"),
        )


@dataclass(frozen=True)
class Me:
    """Who the client's credentials speak for: the account, the scope, the team member."""

    user: User
    scope: str
    team_member: TeamMember | None = None

    @classmethod
    def from_json(cls, data: object) -> Me:
        f = Fields(data, "Me")
        member = f.raw("teamMember")
        return cls(
            user=User.from_json(data),
            scope=f.text("scope"),
            team_member=None if member is None else TeamMember.from_json(member),
        )


def api_key_list(data: object) -> list[ApiKey]:
    """The ``{"data": [Key, ...]}`` answer of the keys list."""
    return [ApiKey.from_json(item) for item in Fields(data, "KeyList").items("data")]


@dataclass(frozen=True)
class Event:
    """An event in the log: ``position`` is its place in the whole log, ``stream`` and
    ``version`` its place in a stream when it belongs to one."""

    id: str
    position: int
    type: str
    user_id: str
    created_at: datetime
    application_id: str | None = None
    thing_id: str | None = None
    session_id: str | None = None
    payment_id: str | None = None
    federated_user_id: str | None = None
    custom_data: dict[str, Any] = field(default_factory=dict)
    stream: str | None = None
    version: int | None = None

    @classmethod
    def from_json(cls, data: object) -> Event:
        f = Fields(data, "Event")
        return cls(
            id=f.text("id"),
            position=f.integer("position"),
            type=f.text("type"),
            user_id=f.text("userId"),
            created_at=f.timestamp("createdAt"),
            application_id=f.optional_text("applicationId"),
            thing_id=f.optional_text("thingId"),
            session_id=f.optional_text("sessionId"),
            payment_id=f.optional_text("paymentId"),
            federated_user_id=f.optional_text("federatedUserId"),
            custom_data=f.mapping("customData"),
            stream=f.optional_text("stream"),
            version=f.optional_integer("version"),
        )


@dataclass(frozen=True)
class Appended:
    """The acknowledgement of one appended event; ``duplicate`` when it was already stored."""

    id: str
    position: int
    stream: str | None
    version: int | None
    duplicate: bool

    @classmethod
    def from_json(cls, data: object) -> Appended:
        f = Fields(data, "Appended")
        return cls(
            id=f.text("id"),
            position=f.integer("position"),
            stream=f.optional_text("stream"),
            version=f.optional_integer("version"),
            duplicate=f.boolean("duplicate"),
        )


def appended_list(data: object) -> list[Appended]:
    """The ``{"data": [Appended, ...]}`` answer of an append, in the order sent."""
    return [Appended.from_json(item) for item in Fields(data, "AppendList").items("data")]


@dataclass(frozen=True)
class StatsRow:
    """One group of the analytics: the keys asked for in ``group_by`` (the others None),
    how many events, and the sum of their ``customData.total``."""

    count: int
    total: int
    day: date | None = None
    hour: datetime | None = None
    type: str | None = None
    thing_id: str | None = None
    application_id: str | None = None

    @classmethod
    def from_json(cls, data: object) -> StatsRow:
        f = Fields(data, "StatsRow")
        return cls(
            count=f.integer("count"),
            total=f.integer("total"),
            day=f.optional_date("day"),
            hour=f.optional_timestamp("hour"),
            type=f.optional_text("type"),
            thing_id=f.optional_text("thingId"),
            application_id=f.optional_text("applicationId"),
        )


def stats_list(data: object) -> list[StatsRow]:
    """The ``{"data": [StatsRow, ...]}`` answer of the analytics."""
    return [StatsRow.from_json(item) for item in Fields(data, "Stats").items("data")]

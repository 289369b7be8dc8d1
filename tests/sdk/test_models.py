"""Models read camelCase JSON into snake_case attributes, ignore what they do not know,
refuse what they cannot read, and never show a secret in their repr."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from sticky_sdk import (
    AccessToken,
    ApiKey,
    APIResponseValidationError,
    Me,
    Page,
    TeamMember,
    TokenPair,
    User,
)

USER = {
    "id": "usr_1",
    "name": "Ada",
    "email": "ada@example.com",
    "emailVerified": True,
    "createdAt": "2025-01-02T03:04:05Z",
}


def test_user_reads_camel_case_and_aware_datetimes() -> None:
    user = User.from_json({**USER, "somethingNew": [1, 2, 3]})
    assert user == User(
        id="usr_1",
        name="Ada",
        email="ada@example.com",
        email_verified=True,
        created_at=datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC),
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-01-02T03:04:05.123456+00:00", datetime(2025, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)),
        (
            "2025-01-02T05:04:05+02:00",
            datetime(2025, 1, 2, 5, 4, 5, tzinfo=timezone(timedelta(hours=2))),
        ),
        ("2025-01-02T03:04:05", datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)),
    ],
)
def test_timestamps_are_always_aware(text: str, expected: datetime) -> None:
    created = User.from_json({**USER, "createdAt": text}).created_at
    assert created == expected
    assert created.tzinfo is not None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"id": None}, "User.id should be a string, not NoneType"),
        ({"emailVerified": "yes"}, "User.emailVerified should be true or false"),
        ({"createdAt": "yesterday"}, "User.createdAt should be an ISO-8601 timestamp"),
    ],
)
def test_unreadable_fields_are_named(change: dict[str, Any], message: str) -> None:
    with pytest.raises(APIResponseValidationError, match=message):
        User.from_json({**USER, **change})


def test_missing_fields_and_wrong_shapes_are_named() -> None:
    without_email = {k: v for k, v in USER.items() if k != "email"}
    with pytest.raises(APIResponseValidationError, match="User has no 'email' field"):
        User.from_json(without_email)
    with pytest.raises(APIResponseValidationError, match="Expected a JSON object for User"):
        User.from_json([USER])


def test_token_pair_hides_its_tokens() -> None:
    pair = TokenPair.from_json(
        {
            "accessToken": "eyJ.access.secret",
            "refreshToken": "rt_refresh_secret",
            "tokenType": "Bearer",
            "expiresIn": 900,
            "user": USER,
        }
    )
    assert (pair.access_token, pair.refresh_token, pair.expires_in) == (
        "eyJ.access.secret",
        "rt_refresh_secret",
        900,
    )
    assert pair.user.id == "usr_1"
    assert "secret" not in repr(pair)


def test_access_token_hides_its_token() -> None:
    token = AccessToken.from_json(
        {"accessToken": "eyJ.secret.x", "tokenType": "Bearer", "expiresIn": 900, "scope": "public"}
    )
    assert token.scope == "public"
    assert "secret" not in repr(token)


def test_api_key_secret_is_the_full_key_when_shown() -> None:
    shown = ApiKey.from_json(
        {
            "id": "key_1",
            "type": "private",
            "key": "sk_live_secret_wxyz",
            "masked": "sk_…wxyz",
            "createdAt": "2025-01-02T03:04:05Z",
        }
    )
    assert shown.secret == "sk_live_secret_wxyz"
    assert "secret" not in repr(shown) and "sk_…wxyz" in repr(shown)
    hidden = ApiKey.from_json(
        {
            "id": "key_1",
            "type": "private",
            "key": None,
            "masked": "sk_…wxyz",
            "createdAt": "2025-01-02T03:04:05Z",
        }
    )
    assert hidden.secret is None


def test_team_member_and_me() -> None:
    member_json = {
        "id": "tm_1",
        "name": "Grace",
        "email": "grace@example.com",
        "permissions": ["things:read", "events:read"],
        "createdAt": "2025-01-02T03:04:05Z",
        "key": "tk_secret_0001",
        "masked": "tk_…0001",
    }
    member = TeamMember.from_json(member_json)
    assert member.permissions == ("things:read", "events:read")
    assert member.secret == "tk_secret_0001"
    assert "tk_secret" not in repr(member)
    me = Me.from_json({**USER, "scope": "team-member", "teamMember": member_json})
    assert me.user.email == "ada@example.com"
    assert me.scope == "team-member"
    assert me.team_member == member
    assert Me.from_json({**USER, "scope": "user", "teamMember": None}).team_member is None


def test_a_page_reads_its_items_and_cursor() -> None:
    page = Page.from_json(
        {"data": [USER, USER], "hasMore": True, "nextCursor": "c2"}, User.from_json
    )
    assert len(page) == 2
    assert [user.id for user in page] == ["usr_1", "usr_1"]
    assert (page.has_more, page.next_cursor) == (True, "c2")
    with pytest.raises(APIResponseValidationError, match=r"Page\.data should be a list"):
        Page.from_json({"data": None, "hasMore": False}, User.from_json)

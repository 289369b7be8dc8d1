"""Each resource method sends the documented request and reads the documented answer."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import httpx
import pytest

from sticky_sdk import (
    AccessToken,
    ApiKey,
    EmailNotVerifiedError,
    EmailTakenError,
    FieldError,
    InvalidCredentialsError,
    Me,
    NotFoundError,
    Page,
    Sticky,
    TeamMember,
    TokenPair,
    User,
    WeakPasswordError,
)
from tests.sdk.conftest import Harness, collect, run
from tests.sdk.fake_platform import FakePlatform, body_of

PASSWORD = "correct horse battery"


def test_the_example_from_the_issue_works() -> None:
    platform = FakePlatform()
    platform.registered.clear()
    transport = httpx.MockTransport(platform)
    token = "verify-token"

    sticky = Sticky("http://localhost:8080", transport=transport)
    sticky.auth.sign_up(name="Ada", email="ada@example.com", password=PASSWORD)
    sticky.auth.verify_email(token)  # the token from the email
    sticky.auth.sign_in(email="ada@example.com", password=PASSWORD)
    me = sticky.users.me()
    keys = sticky.keys.list()  # public and private (the secret masked)
    new = sticky.keys.rotate("private")  # the new private key, shown this once
    admin = Sticky("http://localhost:8080", key=new.secret, transport=transport)

    assert me.user.email == "ada@example.com" and me.scope == "user"
    assert [key.type for key in keys] == ["public", "private"]
    assert keys[0].secret is not None and keys[1].secret is None
    assert new.secret is not None and new.secret.startswith("sk_")
    assert admin.users.me().scope == "private"
    assert platform.last("POST", "/v1/auth/token").headers["authorization"] == (
        f"Bearer {new.secret}"
    )


async def test_sign_up(harness: Harness) -> None:
    harness.platform.registered.clear()
    sticky = harness.client()
    user = await run(sticky.auth.sign_up("Ada", "ada@example.com", PASSWORD))
    assert isinstance(user, User)
    assert (user.name, user.email, user.email_verified) == ("Ada", "ada@example.com", False)
    request = harness.platform.last("POST", "/v1/auth/sign-up")
    assert body_of(request) == {"name": "Ada", "email": "ada@example.com", "password": PASSWORD}
    assert "authorization" not in request.headers
    assert request.headers["content-type"] == "application/json"


async def test_sign_up_refusals(harness: Harness) -> None:
    sticky = harness.client()
    with pytest.raises(EmailTakenError):
        await run(sticky.auth.sign_up("Ada", "ada@example.com", PASSWORD))
    with pytest.raises(WeakPasswordError) as caught:
        await run(sticky.auth.sign_up("Bob", "bob@example.com", "short"))
    assert caught.value.errors == (FieldError("password", "is too short", "weak-password"),)


async def test_verify_email_and_resend(harness: Harness) -> None:
    sticky = harness.client()
    user = await run(sticky.auth.verify_email("verify-token"))
    assert user.email_verified is True
    assert body_of(harness.platform.last("POST", "/v1/auth/verify-email")) == {
        "token": "verify-token"
    }
    assert await run(sticky.auth.resend_verification("ada@example.com")) is None
    assert body_of(harness.platform.last("POST", "/v1/auth/resend-verification")) == {
        "email": "ada@example.com"
    }


async def test_sign_in_holds_the_session(harness: Harness) -> None:
    sticky = harness.client()
    pair = await run(sticky.auth.sign_in("ada@example.com", PASSWORD))
    assert isinstance(pair, TokenPair)
    assert pair.token_type == "Bearer" and pair.user.id == "usr_1"
    assert (sticky.access_token, sticky.refresh_token) == (pair.access_token, pair.refresh_token)
    await run(sticky.users.me())
    me_request = harness.platform.last("GET", "/v1/users/me")
    assert me_request.headers["authorization"] == f"Bearer {pair.access_token}"


async def test_sign_in_refusals(harness: Harness) -> None:
    sticky = harness.client()
    with pytest.raises(InvalidCredentialsError):
        await run(sticky.auth.sign_in("ada@example.com", "wrong password"))
    harness.platform.user["emailVerified"] = False
    with pytest.raises(EmailNotVerifiedError):
        await run(sticky.auth.sign_in("ada@example.com", PASSWORD))
    assert sticky.access_token is None


async def test_password_reset(harness: Harness) -> None:
    sticky = harness.client()
    assert await run(sticky.auth.request_password_reset("ada@example.com")) is None
    assert body_of(harness.platform.last("POST", "/v1/auth/password-reset")) == {
        "email": "ada@example.com"
    }
    user = await run(sticky.auth.reset_password("reset-token", "a new long password"))
    assert isinstance(user, User)
    assert body_of(harness.platform.last("POST", "/v1/auth/password-reset/confirm")) == {
        "token": "reset-token",
        "password": "a new long password",
    }


async def test_exchange_key_leaves_the_client_as_it_was(harness: Harness) -> None:
    sticky = harness.client()
    token = await run(sticky.auth.exchange_key(harness.platform.public_key))
    assert isinstance(token, AccessToken)
    assert token.scope == "public" and token.expires_in == 900
    request = harness.platform.last("POST", "/v1/auth/token")
    assert request.headers["authorization"] == f"Bearer {harness.platform.public_key}"
    assert request.content == b""
    assert sticky.access_token is None


async def test_users(harness: Harness) -> None:
    sticky = harness.client(key=harness.platform.private_key)
    me = await run(sticky.users.me())
    assert isinstance(me, Me)
    assert (me.user.id, me.scope, me.team_member) == ("usr_1", "private", None)
    user = await run(sticky.users.update(name="Ada Lovelace"))
    assert user.name == "Ada Lovelace"
    assert body_of(harness.platform.last("PATCH", "/v1/users/me")) == {"name": "Ada Lovelace"}
    assert await run(sticky.users.change_password("old password!", "new password!")) is None
    assert body_of(harness.platform.last("POST", "/v1/users/me/password")) == {
        "currentPassword": "old password!",
        "newPassword": "new password!",
    }


async def test_keys(harness: Harness) -> None:
    sticky = harness.client(key=harness.platform.private_key)
    keys = await run(sticky.keys.list())
    assert all(isinstance(key, ApiKey) for key in keys)
    public, private = keys
    assert public.secret == harness.platform.public_key
    assert private.secret is None and private.masked == "sk_…0001"
    assert private.created_at == datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    new = await run(sticky.keys.rotate("public"))
    assert new.type == "public" and new.secret == harness.platform.public_key
    rotate = harness.platform.last("POST", "/v1/keys/public/rotate")
    assert rotate.content == b""
    assert rotate.headers["authorization"].startswith("Bearer eyJ")


async def test_team_members(harness: Harness) -> None:
    sticky = harness.client(key=harness.platform.private_key)
    created = await run(
        sticky.team_members.create("Grace", "grace@example.com", ["things:read", "events:read"])
    )
    assert isinstance(created, TeamMember)
    assert created.secret == f"tk_secret_{created.id}"
    assert created.permissions == ("things:read", "events:read")
    assert body_of(harness.platform.last("POST", "/v1/team-members")) == {
        "name": "Grace",
        "email": "grace@example.com",
        "permissions": ["things:read", "events:read"],
    }
    fetched = await run(sticky.team_members.retrieve(created.id))
    assert fetched.secret is None and fetched.name == "Grace"
    updated = await run(sticky.team_members.update(created.id, permissions=("things:write",)))
    assert updated.permissions == ("things:write",)
    assert body_of(harness.platform.last("PATCH", f"/v1/team-members/{created.id}")) == {
        "permissions": ["things:write"]
    }
    rotated = await run(sticky.team_members.rotate_key(created.id))
    assert rotated.secret == f"tk_rotated_{created.id}"
    page = await run(sticky.team_members.list_page(limit=5))
    assert isinstance(page, Page) and [m.id for m in page] == [created.id]
    assert harness.platform.last("GET", "/v1/team-members").url.params["limit"] == "5"
    assert await run(sticky.team_members.delete(created.id)) is None
    with pytest.raises(NotFoundError):
        await run(sticky.team_members.retrieve(created.id))
    assert await collect(sticky.team_members.list()) == []


async def test_ids_cannot_reach_other_paths(harness: Harness) -> None:
    sticky = harness.client(key=harness.platform.private_key)
    with pytest.raises(NotFoundError):
        await run(sticky.team_members.retrieve("../../keys"))
    request = harness.platform.requests[-1]
    assert request.url.raw_path == b"/v1/team-members/..%2F..%2Fkeys"


async def test_an_update_sends_only_the_fields_given(harness: Harness) -> None:
    sticky = harness.client(key=harness.platform.private_key)
    created = await run(sticky.team_members.create("Grace", "grace@example.com", []))
    await run(sticky.team_members.update(created.id, name="Grace Hopper"))
    request = harness.platform.last("PATCH", f"/v1/team-members/{created.id}")
    assert json.loads(request.content) == {"name": "Grace Hopper"}

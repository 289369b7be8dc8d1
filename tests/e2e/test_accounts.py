"""An account's whole life through the SDK, the gateway, auth, mail and the SMTP sink."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid

import httpx
import jwt
import pytest

from sticky_sdk import (
    AuthenticationError,
    BadRequestError,
    EmailNotVerifiedError,
    InsufficientScopeError,
    InvalidCredentialsError,
    RefreshTokenReusedError,
    Sticky,
    WeakPasswordError,
)
from tests.e2e.conftest import token_from, wait_for_email
from tests.stack_fixture import RunningStack

PASSWORD = "correct horse battery staple"


def signed_up(stack: RunningStack) -> tuple[Sticky, str]:
    email = f"dev-{uuid.uuid4().hex[:10]}@example.com"
    sticky = Sticky(stack.base_url)
    sticky.auth.sign_up(name="Grace", email=email, password=PASSWORD)
    sticky.auth.verify_email(token_from(wait_for_email(stack, email, "confirm")))
    sticky.auth.sign_in(email=email, password=PASSWORD)
    return sticky, email


def test_unverified_accounts_cannot_sign_in(stack: RunningStack) -> None:
    email = f"new-{uuid.uuid4().hex[:10]}@example.com"
    sticky = Sticky(stack.base_url)
    user = sticky.auth.sign_up(name="Lin", email=email, password=PASSWORD)
    assert not user.email_verified
    with pytest.raises(EmailNotVerifiedError):
        sticky.auth.sign_in(email=email, password=PASSWORD)
    with pytest.raises(InvalidCredentialsError):
        sticky.auth.sign_in(email=email, password=PASSWORD + "!")
    message = wait_for_email(stack, email, "confirm")
    assert "Lin" in message["text"] and message["html"]


def test_weak_password_is_explained(stack: RunningStack) -> None:
    with pytest.raises(WeakPasswordError) as caught:
        Sticky(stack.base_url).auth.sign_up(name="X", email="x@example.com", password="password123")
    assert "common" in str(caught.value.detail).lower()


def test_refresh_rotates_and_reuse_revokes_the_family(stack: RunningStack) -> None:
    sticky, _ = signed_up(stack)
    first = sticky._credentials.refresh_token  # type: ignore[attr-defined]
    pair = sticky.auth.refresh()
    assert pair.refresh_token != first
    thief = Sticky(stack.base_url, access_token=pair.access_token, refresh_token=first)
    with pytest.raises(RefreshTokenReusedError):
        thief.auth.refresh()
    # The whole family is gone: the legitimate holder's newer token is revoked too.
    with pytest.raises(AuthenticationError):
        sticky.auth.refresh()


def test_password_reset_by_email(stack: RunningStack) -> None:
    sticky, email = signed_up(stack)
    anonymous = Sticky(stack.base_url)
    anonymous.auth.request_password_reset(email)
    token = token_from(wait_for_email(stack, email, "reset"))
    anonymous.auth.reset_password(token, "a brand new passphrase")
    with pytest.raises(BadRequestError) as caught:
        anonymous.auth.reset_password(token, "another new passphrase")  # single use
    assert caught.value.type.endswith("/invalid-reset-token")
    with pytest.raises(InvalidCredentialsError):
        anonymous.auth.sign_in(email=email, password=PASSWORD)
    assert (
        anonymous.auth.sign_in(email=email, password="a brand new passphrase").user.email == email
    )
    with pytest.raises(AuthenticationError):
        sticky.auth.refresh()  # the reset revoked every earlier session


def test_keys_public_and_private(stack: RunningStack) -> None:
    sticky, email = signed_up(stack)
    public = sticky.keys.rotate("public")
    private = sticky.keys.rotate("private")
    assert public.secret.startswith("pk_") and private.secret.startswith("sk_")
    assert Sticky(stack.base_url, key=private.secret).users.me().user.email == email
    with pytest.raises(InsufficientScopeError):
        Sticky(stack.base_url, key=public.secret).keys.list()
    rotated = sticky.keys.rotate("private")
    with pytest.raises(AuthenticationError):
        Sticky(stack.base_url, key=private.secret).users.me()  # the old key is dead
    assert Sticky(stack.base_url, key=rotated.secret).users.me().user.email == email


def test_team_member_key_is_attributed(stack: RunningStack) -> None:
    sticky, email = signed_up(stack)
    member = sticky.team_members.create(
        name="Bob", email="bob@example.com", permissions=["events:read"]
    )
    assert member.key and member.key.startswith("tk_")
    me = Sticky(stack.base_url, key=member.key).users.me()
    assert me.user.email == email
    assert me.scope == "team-member"
    assert me.team_member is not None and me.team_member.id == member.id
    assert [m.id for m in sticky.team_members.list()] == [member.id]
    sticky.team_members.delete(member.id)
    with pytest.raises(AuthenticationError):
        Sticky(stack.base_url, key=member.key).users.me()


def test_gateway_edges(stack: RunningStack) -> None:
    answer = httpx.get(f"{stack.base_url}/no/such/place")
    assert answer.status_code == 404
    assert answer.headers["content-type"].startswith("application/problem+json")
    answer = httpx.get(f"{stack.base_url}/.well-known/jwks.json")
    assert answer.status_code == 200 and answer.json()["keys"]
    assert answer.headers["x-request-id"]
    answer = httpx.post(
        f"{stack.base_url}/v1/auth/sign-in",
        content=b"{oops",
        headers={"content-type": "application/json"},
    )
    assert answer.status_code == 400
    assert answer.json()["type"] == "https://sticky.dev/problems/malformed-json"
    answer = httpx.post(f"{stack.base_url}/v1/auth/sign-up", content=b"x" * (2 * 1024 * 1024))
    assert answer.status_code == 413


def test_signing_key_rotation_keeps_old_tokens(stack: RunningStack) -> None:
    sticky, _ = signed_up(stack)
    old_token = sticky._credentials.access_token  # type: ignore[attr-defined]
    old_kid = jwt.get_unverified_header(old_token)["kid"]
    subprocess.run(
        [sys.executable, "-m", "sticky", "signing-keys", "rotate"],
        env=stack.env,
        check=True,
        capture_output=True,
        timeout=30,
    )
    deadline = time.monotonic() + 20
    new_kid = old_kid
    while new_kid == old_kid and time.monotonic() < deadline:
        time.sleep(0.5)
        new_kid = jwt.get_unverified_header(sticky.auth.refresh().access_token)["kid"]
    assert new_kid != old_kid
    answer = httpx.get(
        f"{stack.base_url}/v1/users/me", headers={"authorization": f"Bearer {old_token}"}
    )
    assert answer.status_code == 200
    kids = {
        key["kid"] for key in httpx.get(f"{stack.base_url}/.well-known/jwks.json").json()["keys"]
    }
    assert {old_kid, new_kid} <= kids

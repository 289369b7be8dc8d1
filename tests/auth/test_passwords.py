"""The password policy, hashing with argon2id, and rehashing when the cost changes."""

from __future__ import annotations

import asyncio
from importlib import resources

import httpx
import pytest
from fastapi import FastAPI

from sticky.auth.app import create_app
from sticky.auth.errors import WeakPassword
from sticky.auth.passwords import Passwords, check_strength, common_passwords
from sticky.kernel.settings import Settings
from tests.auth.support import PASSWORD, Account, auth_of, outbox, problem_slug


@pytest.mark.parametrize(
    ("password", "why"),
    [
        ("short1!", "at least 10 characters"),
        ("x" * 257, "at most 256 characters"),
        ("qwertyuiop", "most common passwords"),
        ("Password123", "most common passwords"),
        ("ada.lovelace@example.com", "your email address"),
        ("my ada.lovelace@example.com!", "your email address"),
        ("ada.lovelace-rules-2024", "before the @"),
    ],
)
def test_weak_passwords_are_refused_with_a_reason(password: str, why: str) -> None:
    with pytest.raises(WeakPassword) as refused:
        check_strength(password, "ada.lovelace@example.com")
    assert why in refused.value.detail
    assert refused.value.detail.endswith(".")


def test_reasonable_passwords_pass() -> None:
    check_strength(PASSWORD, "ada.lovelace@example.com")
    check_strength("x" * 256, "ada.lovelace@example.com")
    # A short local part is too likely to turn up by chance to be refused.
    check_strength("adamant stroll at noon", "ada@example.com")


def test_the_common_password_list_ships_in_the_package_and_loads_once() -> None:
    passwords = common_passwords()
    assert passwords is common_passwords()
    assert len(passwords) >= 10_000
    assert {"123456", "password", "qwertyuiop", "1qaz2wsx3edc"} <= passwords
    assert not any(p.startswith("#") for p in passwords)
    shipped = resources.files("sticky.auth").joinpath("common-passwords.txt").read_text()
    assert "zxcvbn" in shipped.splitlines()[1]


async def test_sign_up_with_a_weak_password_creates_nothing(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    response = await client.post(
        "/v1/auth/sign-up",
        json={"name": "Ada", "email": "ada@example.com", "password": "password123"},
    )
    assert response.status_code == 422
    assert problem_slug(response) == "weak-password"
    [error] = response.json()["errors"]
    assert error["field"] == "password"
    assert "common" in error["message"]
    assert await outbox(app, "ada@example.com") == []
    again = await client.post(
        "/v1/auth/sign-up",
        json={"name": "Ada", "email": "ada@example.com", "password": PASSWORD},
    )
    assert again.status_code == 201


async def test_an_email_signs_up_once(client: httpx.AsyncClient, account: Account) -> None:
    response = await client.post(
        "/v1/auth/sign-up",
        json={"name": "Other", "email": account.email.upper(), "password": PASSWORD},
    )
    assert response.status_code == 409
    assert problem_slug(response) == "email-taken"


async def test_hashing_is_argon2id_with_the_configured_cost(app: FastAPI) -> None:
    auth = auth_of(app)
    password_hash = await auth.passwords.hash(PASSWORD)
    assert password_hash.startswith("$argon2id$v=19$m=1024,t=1,p=1$")
    assert await auth.passwords.verify(password_hash, PASSWORD)
    assert not await auth.passwords.verify(password_hash, PASSWORD + "!")
    assert not await auth.passwords.verify(None, PASSWORD)
    assert not await auth.passwords.verify("not a hash", PASSWORD)


async def test_hashing_runs_off_the_event_loop(settings: Settings) -> None:
    slow = Passwords(settings.model_copy(update={"argon2_memory_kib": 32768}))
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.001)
            ticks += 1

    ticker = asyncio.create_task(tick())
    await asyncio.gather(*(slow.hash(PASSWORD) for _ in range(4)))
    ticker.cancel()
    assert ticks > 5


async def test_sign_in_rehashes_when_the_cost_changed(
    client: httpx.AsyncClient, app: FastAPI, account: Account, auth_settings: Settings
) -> None:
    stronger = auth_settings.model_copy(update={"argon2_time_cost": 2})
    other = create_app(stronger)
    async with other.router.lifespan_context(other):
        transport = httpx.ASGITransport(app=other)
        async with httpx.AsyncClient(transport=transport, base_url="http://auth.test") as c:
            response = await c.post(
                "/v1/auth/sign-in", json={"email": account.email, "password": PASSWORD}
            )
            assert response.status_code == 200
        async with auth_of(other).store.transaction() as tx:
            user = await tx.users.by_email(account.email)
    assert user is not None
    assert user.password_hash.startswith("$argon2id$v=19$m=1024,t=2,p=1$")
    # The first process, with the old cost, still verifies the new hash.
    again = await client.post(
        "/v1/auth/sign-in", json={"email": account.email, "password": PASSWORD}
    )
    assert again.status_code == 200

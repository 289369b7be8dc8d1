"""Which requests are retried, how long the client waits, and what it never replays."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from sticky_sdk import (
    APIConnectionError,
    APITimeoutError,
    InternalServerError,
    RateLimitError,
)
from tests.sdk.conftest import Harness, run
from tests.sdk.fake_platform import problem

PASSWORD = "correct horse battery"
ME = ("GET", "/v1/users/me")
SIGN_IN = ("POST", "/v1/auth/sign-in")
MEMBERS = ("POST", "/v1/team-members")


def unavailable(retry_after: str | None = None) -> httpx.Response:
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    return httpx.Response(503, headers=headers, json={"type": "x/problems/unavailable"})


async def keyed(harness: Harness, **options: object) -> object:
    sticky = harness.client(key=harness.platform.private_key, **options)
    await run(sticky.users.me())  # exchange the key now, so counts below are about the call
    harness.platform.requests.clear()
    return sticky


async def test_requests_that_were_not_sent_are_retried_for_any_method(harness: Harness) -> None:
    sticky = harness.client()
    harness.platform.answer_next(
        *SIGN_IN, httpx.ConnectError("refused"), httpx.ConnectTimeout("slow")
    )
    await run(sticky.auth.sign_in("ada@example.com", PASSWORD))
    assert harness.platform.count(*SIGN_IN) == 3
    assert len(harness.sleeps) == 2
    assert 0.375 <= harness.sleeps[0] <= 0.5 and 0.75 <= harness.sleeps[1] <= 1.0


async def test_retries_stop_after_max_retries(harness: Harness) -> None:
    sticky = await keyed(harness)
    harness.platform.answer_next(*ME, *[httpx.ConnectError("refused")] * 3)
    with pytest.raises(APIConnectionError, match="refused"):
        await run(sticky.users.me())
    assert harness.platform.count(*ME) == 3
    assert len(harness.sleeps) == 2


async def test_max_retries_zero_means_one_attempt(harness: Harness) -> None:
    sticky = await keyed(harness, max_retries=0)
    harness.platform.answer_next(*ME, unavailable("1"))
    with pytest.raises(InternalServerError):
        await run(sticky.users.me())
    assert harness.platform.count(*ME) == 1
    assert harness.sleeps == []


@pytest.mark.parametrize("status", [429, 503])
async def test_refusals_are_retried_after_retry_after(harness: Harness, status: int) -> None:
    sticky = harness.client()
    refused = httpx.Response(status, headers={"Retry-After": "3"})
    harness.platform.answer_next(
        *SIGN_IN, refused, httpx.Response(status, headers={"Retry-After": "1.5"})
    )
    await run(sticky.auth.sign_in("ada@example.com", PASSWORD))
    assert harness.sleeps == [3.0, 1.5]
    assert harness.platform.count(*SIGN_IN) == 3


async def test_retry_after_may_be_a_date(harness: Harness) -> None:
    sticky = await keyed(harness)
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=10), usegmt=True)
    harness.platform.answer_next(*ME, unavailable(when))
    await run(sticky.users.me())
    assert len(harness.sleeps) == 1 and 8 <= harness.sleeps[0] <= 10


async def test_a_long_retry_after_is_raised_at_once(harness: Harness) -> None:
    sticky = harness.client()
    harness.platform.answer_next(
        *SIGN_IN, problem(429, "rate-limited", "Too many failed sign-ins.", retryAfter=900)
    )
    with pytest.raises(RateLimitError) as caught:
        await run(sticky.auth.sign_in("ada@example.com", PASSWORD))
    assert caught.value.retry_after == 900
    assert harness.sleeps == []
    assert harness.platform.count(*SIGN_IN) == 1


async def test_refusals_without_retry_after_back_off(harness: Harness) -> None:
    sticky = await keyed(harness)
    harness.platform.answer_next(*ME, unavailable(), httpx.Response(429))
    await run(sticky.users.me())
    assert len(harness.sleeps) == 2
    assert 0.375 <= harness.sleeps[0] <= 0.5 and 0.75 <= harness.sleeps[1] <= 1.0


@pytest.mark.parametrize("status", [502, 504])
async def test_gateway_errors_are_retried_when_replay_is_safe(
    harness: Harness, status: int
) -> None:
    sticky = await keyed(harness)
    harness.platform.answer_next(*ME, httpx.Response(status))
    await run(sticky.users.me())  # GET
    created = await run(sticky.team_members.create("Grace", "grace@example.com", []))
    harness.platform.answer_next("DELETE", f"/v1/team-members/{created.id}", httpx.Response(status))
    await run(sticky.team_members.delete(created.id))  # DELETE
    harness.platform.answer_next(*MEMBERS, httpx.Response(status))
    await run(sticky.team_members.create("Alan", "alan@example.com", []))  # POST with a key
    first, second = [r for r in harness.platform.requests if r.method == "POST"][-2:]
    assert first.headers["idempotency-key"] == second.headers["idempotency-key"]
    assert len(harness.sleeps) == 3


async def test_gateway_errors_are_not_retried_when_replay_is_unsafe(harness: Harness) -> None:
    sticky = await keyed(harness)
    harness.platform.answer_next("PATCH", "/v1/users/me", httpx.Response(502, text="Bad gateway"))
    with pytest.raises(InternalServerError, match="Bad gateway"):
        await run(sticky.users.update(name="Ada"))
    assert harness.platform.count("PATCH", "/v1/users/me") == 1
    assert harness.sleeps == []


async def test_read_timeouts_are_retried_only_when_replay_is_safe(harness: Harness) -> None:
    sticky = await keyed(harness)
    harness.platform.answer_next(*ME, httpx.ReadTimeout("slow"))
    await run(sticky.users.me())
    assert harness.platform.count(*ME) == 2
    harness.platform.answer_next("PATCH", "/v1/users/me", httpx.ReadTimeout("slow"))
    with pytest.raises(APITimeoutError):
        await run(sticky.users.update(name="Ada"))
    assert harness.platform.count("PATCH", "/v1/users/me") == 1
    harness.platform.answer_next(*MEMBERS, httpx.RemoteProtocolError("hung up"))
    await run(sticky.team_members.create("Grace", "grace@example.com", []))
    assert harness.platform.count(*MEMBERS) == 2


async def test_server_errors_and_client_errors_are_not_retried(harness: Harness) -> None:
    sticky = await keyed(harness)
    harness.platform.answer_next(*ME, problem(500, "internal-error"))
    with pytest.raises(InternalServerError):
        await run(sticky.users.me())
    assert harness.platform.count(*ME) == 1
    assert harness.sleeps == []


async def test_posts_carry_an_idempotency_key(harness: Harness) -> None:
    sticky = await keyed(harness)
    await run(sticky.team_members.create("Grace", "grace@example.com", []))
    await run(sticky.team_members.create("Alan", "alan@example.com", [], idempotency_key="mine"))
    automatic, chosen = [r.headers["idempotency-key"] for r in harness.platform.requests[-2:]]
    assert uuid.UUID(automatic) and chosen == "mine"
    await run(sticky.users.me())
    assert "idempotency-key" not in harness.platform.requests[-1].headers


async def test_a_caller_key_makes_the_retry_reuse_it(harness: Harness) -> None:
    sticky = await keyed(harness)
    harness.platform.answer_next("POST", "/v1/keys/private/rotate", httpx.Response(504))
    await run(sticky.keys.rotate("private", idempotency_key="rotate-1"))
    attempts = [r for r in harness.platform.requests if r.url.path == "/v1/keys/private/rotate"]
    assert [r.headers["idempotency-key"] for r in attempts] == ["rotate-1", "rotate-1"]

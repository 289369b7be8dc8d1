"""Credentials: keys exchanged lazily and again before expiry; sessions refreshed before
expiry or once after a token-expired answer; reuse and sign-out forget; single flight."""

from __future__ import annotations

import asyncio
import threading

import httpx
import pytest

from sticky_sdk import (
    AsyncSticky,
    AuthenticationError,
    InternalServerError,
    RefreshTokenReusedError,
    StickyError,
    TokenExpiredError,
)
from tests.sdk.conftest import Harness, run
from tests.sdk.fake_platform import problem

PASSWORD = "correct horse battery"
ME = ("GET", "/v1/users/me")
TOKEN = ("POST", "/v1/auth/token")
REFRESH = ("POST", "/v1/auth/refresh")


async def signed_in(harness: Harness, nearly_expired: bool = False) -> object:
    """A client signed in; its access token 25 s from expiry if ``nearly_expired``."""
    sticky = harness.client()
    await run(sticky.auth.sign_in("ada@example.com", PASSWORD))
    if nearly_expired:
        harness.platform.clock.advance(875)
    return sticky


async def test_a_key_is_exchanged_lazily_and_once(harness: Harness) -> None:
    sticky = harness.client(key=harness.platform.private_key)
    assert harness.platform.requests == []
    for _ in range(3):
        await run(sticky.users.me())
    assert harness.platform.count(*TOKEN) == 1
    token = harness.platform.last(*TOKEN)
    assert token.headers["authorization"] == f"Bearer {harness.platform.private_key}"
    me = harness.platform.last(*ME)
    assert me.headers["authorization"] == f"Bearer {sticky.access_token}"
    assert sticky.access_token is not None and sticky.access_token.startswith("eyJ")


async def test_calls_without_credentials_do_not_exchange_the_key(harness: Harness) -> None:
    sticky = harness.client(key=harness.platform.private_key)
    await run(sticky.auth.resend_verification("ada@example.com"))
    assert harness.platform.count(*TOKEN) == 0


async def test_a_key_is_exchanged_again_shortly_before_expiry(harness: Harness) -> None:
    sticky = harness.client(key=harness.platform.private_key)
    await run(sticky.users.me())
    first = sticky.access_token
    harness.platform.clock.advance(869)
    await run(sticky.users.me())
    assert harness.platform.count(*TOKEN) == 1
    harness.platform.clock.advance(2)  # 29 s left of 900: within the 30 s margin
    await run(sticky.users.me())
    assert harness.platform.count(*TOKEN) == 2
    assert sticky.access_token != first
    assert harness.platform.last(*ME).headers["authorization"] == f"Bearer {sticky.access_token}"
    await run(sticky.users.me())
    assert harness.platform.count(*TOKEN) == 2


async def test_a_key_is_exchanged_again_after_token_expired(harness: Harness) -> None:
    sticky = harness.client(key=harness.platform.private_key)
    await run(sticky.users.me())
    assert sticky.access_token is not None
    harness.platform.rejected.add(sticky.access_token)
    me = await run(sticky.users.me())
    assert me.scope == "private"
    assert harness.platform.count(*TOKEN) == 2
    assert harness.platform.count(*ME) == 3


async def test_a_session_is_refreshed_before_expiry(harness: Harness) -> None:
    sticky = await signed_in(harness, nearly_expired=True)
    old_access, old_refresh = sticky.access_token, sticky.refresh_token
    await run(sticky.users.me())
    assert harness.platform.count(*REFRESH) == 1
    assert harness.platform.last(*REFRESH).content == (
        b'{"refreshToken":"' + old_refresh.encode() + b'"}'
    )
    assert "idempotency-key" not in harness.platform.last(*REFRESH).headers
    assert sticky.refresh_token != old_refresh and sticky.access_token != old_access
    assert harness.platform.count(*ME) == 1  # the expiring token was never sent
    assert harness.platform.last(*ME).headers["authorization"] == f"Bearer {sticky.access_token}"


async def test_a_session_is_refreshed_once_after_token_expired(harness: Harness) -> None:
    sticky = await signed_in(harness)
    harness.platform.rejected.add(sticky.access_token)
    me = await run(sticky.users.me())
    assert me.scope == "user"
    assert harness.platform.count(*REFRESH) == 1
    assert harness.platform.count(*ME) == 2


async def test_short_lived_tokens_are_renewed_at_half_life(harness: Harness) -> None:
    harness.platform.access_ttl = 10  # shorter than the margin: renew after 5 s, not always
    sticky = await signed_in(harness)
    for _ in range(3):
        await run(sticky.users.me())
    assert harness.platform.count(*REFRESH) == 0
    harness.platform.clock.advance(5)
    await run(sticky.users.me())
    assert harness.platform.count(*REFRESH) == 1
    harness.platform.clock.advance(4)
    await run(sticky.users.me())
    assert harness.platform.count(*REFRESH) == 1
    harness.platform.rejected.add(sticky.access_token)
    await run(sticky.users.me())
    assert harness.platform.count(*REFRESH) == 2  # the new short-lived token is used at once


@pytest.mark.parametrize("skew", [-3600, 3600])
async def test_a_wrong_clock_does_not_change_when_tokens_are_renewed(
    harness: Harness, skew: float
) -> None:
    harness.platform.clock_skew = skew  # the JWT's iat and exp are an hour off our clock
    sticky = await signed_in(harness)
    for _ in range(3):
        await run(sticky.users.me())
    assert harness.platform.count(*REFRESH) == 0
    assert harness.platform.count(*ME) == 3


async def test_a_token_handed_over_is_renewed_by_its_exp_claim(harness: Harness) -> None:
    pair = harness.platform.issue_pair()
    harness.platform.clock.advance(880)
    sticky = harness.client(access_token=pair["accessToken"], refresh_token=pair["refreshToken"])
    await run(sticky.users.me())
    assert harness.platform.count(*REFRESH) == 1
    assert harness.platform.count(*ME) == 1  # the token 20 s from expiry was never sent
    assert harness.platform.last(*ME).headers["authorization"] == f"Bearer {sticky.access_token}"


async def test_token_expired_twice_is_raised_without_a_loop(harness: Harness) -> None:
    sticky = await signed_in(harness)
    expired = problem(401, "token-expired", "The access token has expired.")
    harness.platform.answer_next(*ME, expired, expired, expired)
    with pytest.raises(TokenExpiredError):
        await run(sticky.users.me())
    assert harness.platform.count(*ME) == 2
    assert harness.platform.count(*REFRESH) == 1


async def test_other_401s_are_not_retried(harness: Harness) -> None:
    sticky = await signed_in(harness)
    harness.platform.answer_next(*ME, problem(401, "invalid-token"))
    with pytest.raises(AuthenticationError) as caught:
        await run(sticky.users.me())
    assert caught.value.slug == "invalid-token"
    assert harness.platform.count(*REFRESH) == 0


async def test_a_bare_access_token_that_expired_is_reported(harness: Harness) -> None:
    token = harness.platform.issue_access("user", ttl=-5)
    sticky = harness.client(access_token=token)
    with pytest.raises(TokenExpiredError):
        await run(sticky.users.me())
    assert len(harness.platform.requests) == 1


async def test_tokens_from_an_earlier_process_are_used_and_renewed(harness: Harness) -> None:
    pair = harness.platform.issue_pair()
    harness.platform.rejected.add(pair["accessToken"])
    sticky = harness.client(access_token=pair["accessToken"], refresh_token=pair["refreshToken"])
    await run(sticky.users.me())
    assert harness.platform.count(*REFRESH) == 1
    assert sticky.refresh_token != pair["refreshToken"]
    only_refresh = harness.client(refresh_token=sticky.refresh_token)
    await run(only_refresh.users.me())
    assert harness.platform.count(*REFRESH) == 2


async def test_a_reused_refresh_token_is_raised_and_forgotten(harness: Harness) -> None:
    sticky = await signed_in(harness)
    harness.platform.spent.add(sticky.refresh_token)  # another copy of it was used
    harness.platform.rejected.add(sticky.access_token)
    with pytest.raises(RefreshTokenReusedError):
        await run(sticky.users.me())
    assert (sticky.access_token, sticky.refresh_token) == (None, None)
    assert "credentials='none'" in repr(sticky)
    with pytest.raises(AuthenticationError) as caught:
        await run(sticky.users.me())
    assert caught.value.slug == "missing-credentials"
    assert "authorization" not in harness.platform.requests[-1].headers


async def test_a_failed_refresh_keeps_the_session(harness: Harness) -> None:
    sticky = await signed_in(harness, nearly_expired=True)
    refresh_token = sticky.refresh_token
    harness.platform.answer_next(*REFRESH, problem(502, "bad-gateway"))
    with pytest.raises(InternalServerError):
        await run(sticky.users.me())
    assert harness.platform.count(*REFRESH) == 1  # never replayed: that would look like theft
    assert sticky.refresh_token == refresh_token
    await run(sticky.users.me())
    assert harness.platform.count(*REFRESH) == 2


async def test_refresh_on_demand(harness: Harness) -> None:
    sticky = await signed_in(harness)
    first = sticky.refresh_token
    pair = await run(sticky.auth.refresh())
    assert pair.refresh_token == sticky.refresh_token != first
    assert pair.access_token == sticky.access_token
    with pytest.raises(StickyError, match="sign in first"):
        await run(harness.client().auth.refresh())


async def test_sign_out_revokes_and_forgets(harness: Harness) -> None:
    sticky = await signed_in(harness)
    refresh_token = sticky.refresh_token
    await run(sticky.auth.sign_out())
    sign_out = harness.platform.last("POST", "/v1/auth/sign-out")
    assert sign_out.content == b'{"refreshToken":"' + refresh_token.encode() + b'"}'
    assert (sticky.access_token, sticky.refresh_token) == (None, None)
    assert harness.platform.families[refresh_token] in harness.platform.revoked_families
    await run(sticky.auth.sign_out())  # nothing left: no request
    assert harness.platform.count("POST", "/v1/auth/sign-out") == 1


async def test_sign_out_of_a_revoked_session_is_quiet(harness: Harness) -> None:
    sticky = await signed_in(harness)
    harness.platform.answer_next("POST", "/v1/auth/sign-out", problem(401, "invalid-refresh-token"))
    await run(sticky.auth.sign_out())
    assert sticky.refresh_token is None


async def test_sign_out_forgets_a_key_too(harness: Harness) -> None:
    sticky = harness.client(key=harness.platform.private_key)
    await run(sticky.users.me())
    await run(sticky.auth.sign_out())
    assert repr(sticky).endswith("credentials='none')")
    assert harness.platform.count("POST", "/v1/auth/sign-out") == 0


async def test_signing_in_takes_over_from_a_key(harness: Harness) -> None:
    sticky = harness.client(key=harness.platform.private_key)
    await run(sticky.auth.sign_in("ada@example.com", PASSWORD))
    assert (await run(sticky.users.me())).scope == "user"
    assert harness.platform.count(*TOKEN) == 0


def test_threads_share_one_refresh() -> None:
    harness = Harness("sync")
    sticky = harness.client()
    sticky.auth.sign_in("ada@example.com", PASSWORD)
    harness.platform.clock.advance(875)
    harness.platform.delay = 0.02
    errors: list[BaseException] = []

    def work() -> None:
        try:
            sticky.users.me()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert harness.platform.count(*REFRESH) == 1
    assert harness.platform.count(*ME) == 8


def test_threads_share_one_renewal_after_token_expired() -> None:
    harness = Harness("sync")
    sticky = harness.client(key=harness.platform.private_key)
    sticky.users.me()
    assert sticky.access_token is not None
    harness.platform.rejected.add(sticky.access_token)
    harness.platform.delay = 0.02
    threads = [threading.Thread(target=sticky.users.me) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert harness.platform.count(*TOKEN) == 2
    assert harness.platform.count(*ME) == 1 + 6 * 2


async def test_tasks_share_one_refresh() -> None:
    harness = Harness("async")
    sticky = await signed_in(harness, nearly_expired=True)
    assert isinstance(sticky, AsyncSticky)
    results = await asyncio.gather(*(sticky.users.me() for _ in range(8)))
    assert len(results) == 8
    assert harness.platform.count(*REFRESH) == 1


async def test_tasks_share_one_renewal_after_token_expired() -> None:
    harness = Harness("async")
    sticky = await signed_in(harness)
    assert isinstance(sticky, AsyncSticky)
    harness.platform.rejected.add(sticky.access_token)
    await asyncio.gather(*(sticky.users.me() for _ in range(6)))
    assert harness.platform.count(*REFRESH) == 1
    assert harness.platform.count(*ME) == 12


def test_a_key_in_the_environment_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    harness = Harness("sync")
    monkeypatch.setenv("STICKY_KEY", harness.platform.public_key)
    sticky = harness.client()
    assert sticky.users.me().scope == "public"
    transport_request = harness.platform.last(*TOKEN)
    assert transport_request.headers["authorization"] == f"Bearer {harness.platform.public_key}"
    assert isinstance(transport_request, httpx.Request)


async def test_a_client_rotating_its_own_key_holds_the_new_one(harness: Harness) -> None:
    old = harness.platform.private_key
    sticky = harness.client(key=old)
    new = await run(sticky.keys.rotate("private"))
    assert new.secret == harness.platform.private_key != old
    harness.platform.rejected.add(sticky.access_token)
    await run(sticky.users.me())  # renewal exchanges the new key, since the old one stopped
    assert harness.platform.last(*TOKEN).headers["authorization"] == f"Bearer {new.secret}"
    await run(sticky.keys.rotate("public"))  # another key: the client keeps its own
    assert f"{new.secret[-4:]}" in repr(sticky)

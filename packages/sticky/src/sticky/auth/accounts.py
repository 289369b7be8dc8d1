"""Accounts: sign up, verify the email, reset or change the password, rename."""

from __future__ import annotations

from datetime import datetime, timedelta
from urllib.parse import quote

from sticky.auth.context import Auth
from sticky.auth.credentials import mint_api_key
from sticky.auth.errors import (
    InvalidCredentials,
    InvalidResetToken,
    InvalidVerificationToken,
)
from sticky.auth.mailer import queue_message
from sticky.auth.passwords import check_strength
from sticky.auth.ratelimit import count_or_refuse, refuse_when_over
from sticky.auth.store import Tx, User
from sticky.auth.tokens import new_secret
from sticky.kernel.crypto import sha256_hex
from sticky.kernel.ids import new_id
from sticky.kernel.tokens import Principal, Scope


def normalize_email(email: str) -> str:
    return email.strip().lower()


def sign_in_failures_bucket(email: str) -> str:
    return f"sign-in-failures:account:{email}"


async def sign_up(auth: Auth, name: str, email: str, password: str) -> User:
    """Create the account with its two keys and queue the verification email."""
    email = normalize_email(email)
    check_strength(password, email)
    now = auth.now()
    user = User(new_id("usr"), name, email, await auth.passwords.hash(password), None, now)
    async with auth.store.transaction() as tx:
        await tx.users.add(user)
        for key_type in ("public", "private"):
            await tx.api_keys.add(mint_api_key(user.id, key_type, now)[0])
        await _queue_verification(auth, tx, user, now)
    auth.deliverer.wake()
    return user


async def _queue_verification(auth: Auth, tx: Tx, user: User, now: datetime) -> None:
    token = new_secret("")
    ttl = timedelta(seconds=auth.settings.verification_token_ttl_seconds)
    await tx.verification_tokens.add(sha256_hex(token), user.id, now, now + ttl)
    link = f"{auth.settings.gateway_url}/v1/auth/verify-email?token={quote(token)}"
    data = {"name": user.name, "token": token, "link": link}
    await queue_message(tx, auth.settings, user.email, "verify-email", data, now)


async def verify_email(auth: Auth, token: str) -> User:
    now = auth.now()
    async with auth.store.transaction() as tx:
        user_id = await tx.verification_tokens.consume(sha256_hex(token), now)
        if user_id is None:
            raise InvalidVerificationToken(
                "This verification link is unknown, used already or expired;"
                " ask for a new one at POST /v1/auth/resend-verification."
            )
        await tx.users.mark_verified(user_id, now)
        user = await tx.users.get(user_id)
    assert user is not None
    return user


async def resend_verification(auth: Auth, email: str, ip: str) -> None:
    """Queue a new verification email when the account exists and is unverified."""
    email = normalize_email(email)
    await _count_email_request(auth, "verification", email, ip)
    now = auth.now()
    async with auth.store.transaction() as tx:
        user = await tx.users.by_email(email)
        if user is None or user.email_verified:
            return
        await _queue_verification(auth, tx, user, now)
    auth.deliverer.wake()


async def request_password_reset(auth: Auth, email: str, ip: str) -> None:
    """Queue a reset email when the account exists; the answer never says whether it does."""
    email = normalize_email(email)
    await _count_email_request(auth, "password-reset", email, ip)
    settings = auth.settings
    now = auth.now()
    async with auth.store.transaction() as tx:
        user = await tx.users.by_email(email)
        if user is None:
            return
        # Only the newest link works: an older email lying around is one fewer way in.
        await tx.reset_tokens.void_for_user(user.id, now)
        token = new_secret("")
        ttl = settings.reset_token_ttl_seconds
        await tx.reset_tokens.add(sha256_hex(token), user.id, now, now + timedelta(seconds=ttl))
        data = {
            "name": user.name,
            "token": token,
            "link": f"{settings.gateway_url}/v1/auth/password-reset?token={quote(token)}",
            "expiresInMinutes": ttl // 60,
        }
        await queue_message(tx, settings, user.email, "reset-password", data, now)
    auth.deliverer.wake()


async def _count_email_request(auth: Auth, kind: str, email: str, ip: str) -> None:
    # Counted whether or not the account exists, so a 429 says nothing about it either.
    settings = auth.settings
    window = settings.password_reset_window_seconds
    what = f"{kind} emails requested"
    await count_or_refuse(
        auth.limiter, f"{kind}:ip:{ip}", settings.password_resets_per_ip, window, what
    )
    await count_or_refuse(
        auth.limiter, f"{kind}:account:{email}", settings.password_resets_per_account, window, what
    )


async def confirm_password_reset(auth: Auth, token: str, password: str) -> User:
    """Set the new password; every session of the user ends. The email counts as verified."""
    token_hash = sha256_hex(token)
    async with auth.store.transaction() as tx:
        user_id = await tx.reset_tokens.holder(token_hash, auth.now())
        user = await tx.users.get(user_id) if user_id else None
    if user is None:
        raise _invalid_reset_token()
    check_strength(password, user.email)
    password_hash = await auth.passwords.hash(password)
    now = auth.now()
    async with auth.store.transaction() as tx:
        if await tx.reset_tokens.consume(token_hash, now) is None:
            raise _invalid_reset_token()
        await tx.reset_tokens.void_for_user(user.id, now)
        await tx.users.set_password_hash(user.id, password_hash, now)
        # The link arrived by email, so whoever followed it reads that mailbox.
        await tx.users.mark_verified(user.id, now)
        await tx.refresh_tokens.revoke_user(user.id, now)
        user = await tx.users.get(user.id)
    assert user is not None
    return user


def _invalid_reset_token() -> InvalidResetToken:
    return InvalidResetToken(
        "This password-reset link is unknown, used already or expired;"
        " ask for a new one at POST /v1/auth/password-reset."
    )


async def change_password(auth: Auth, principal: Principal, current: str, new: str) -> None:
    """Change the password of the signed-in user; their other sessions end."""
    principal.require_scope(Scope.USER)
    settings = auth.settings
    user = await get_user(auth, principal.user_id)
    bucket = sign_in_failures_bucket(user.email)
    limit = settings.sign_in_failures_per_account
    await refuse_when_over(auth.limiter, bucket, limit, "wrong passwords for this account")
    if not await auth.passwords.verify(user.password_hash, current):
        await auth.limiter.hit(bucket, settings.sign_in_window_seconds)
        raise InvalidCredentials("The current password is not right.")
    check_strength(new, user.email)
    password_hash = await auth.passwords.hash(new)
    now = auth.now()
    async with auth.store.transaction() as tx:
        await tx.users.set_password_hash(user.id, password_hash, now)
        this_session = await tx.refresh_tokens.family_of_access_token(principal.token_id)
        await tx.refresh_tokens.revoke_user(user.id, now, keep_family=this_session)


async def rename(auth: Auth, principal: Principal, name: str) -> User:
    principal.require_owner()
    async with auth.store.transaction() as tx:
        await tx.users.rename(principal.user_id, name, auth.now())
    return await get_user(auth, principal.user_id)


async def get_user(auth: Auth, user_id: str) -> User:
    async with auth.store.transaction() as tx:
        user = await tx.users.get(user_id)
    if user is None:
        # A valid token for an account that is gone: the token is what is wrong.
        raise InvalidCredentials("The account this token speaks for does not exist.")
    return user

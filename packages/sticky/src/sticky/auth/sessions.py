"""Sessions: sign in, refresh (rotating, with reuse detection) and sign out.

A sign-in starts a family of refresh tokens; each refresh spends one token and adds its child.
A spent token presented again means it was copied, so the whole family is revoked.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sticky.auth.accounts import normalize_email, sign_in_failures_bucket
from sticky.auth.context import Auth
from sticky.auth.errors import (
    EmailNotVerified,
    InvalidCredentials,
    InvalidRefreshToken,
    RefreshTokenReused,
)
from sticky.auth.passwords import MAX_LENGTH
from sticky.auth.ratelimit import refuse_when_over
from sticky.auth.store import RefreshToken, Tx, User
from sticky.auth.tokens import AccessToken, new_secret
from sticky.kernel.crypto import sha256_hex
from sticky.kernel.ids import new_id
from sticky.kernel.tokens import Scope


@dataclass(frozen=True)
class TokenPair:
    access: AccessToken
    refresh_token: str
    user: User


async def sign_in(auth: Auth, email: str, password: str, ip: str) -> TokenPair:
    settings = auth.settings
    email = normalize_email(email)
    account_bucket = sign_in_failures_bucket(email)
    ip_bucket = f"sign-in-failures:ip:{ip}"
    limiter = auth.limiter
    await refuse_when_over(
        limiter, ip_bucket, settings.sign_in_failures_per_ip, "failed sign-ins from your address"
    )
    await refuse_when_over(
        limiter, account_bucket, settings.sign_in_failures_per_account, "failed sign-ins"
    )
    async with auth.store.transaction() as tx:
        user = await tx.users.by_email(email)
    # No account has a longer password, and hashing megabytes is work we need not do.
    ok = len(password) <= MAX_LENGTH and await auth.passwords.verify(
        user.password_hash if user else None, password
    )
    if not ok or user is None:
        await limiter.hit(ip_bucket, settings.sign_in_window_seconds)
        await limiter.hit(account_bucket, settings.sign_in_window_seconds)
        raise InvalidCredentials("The email or the password is not right.")
    if not user.email_verified:
        raise EmailNotVerified(
            "Confirm your email address first: follow the link in the email we sent"
            " (POST /v1/auth/resend-verification sends another)."
        )
    await limiter.clear(account_bucket)
    password_hash = user.password_hash
    if auth.passwords.needs_rehash(password_hash):
        password_hash = await auth.passwords.hash(password)
    async with auth.store.transaction() as tx:
        if password_hash != user.password_hash:
            await tx.users.set_password_hash(user.id, password_hash, auth.now())
        return await _issue(auth, tx, user, family_id=new_id("fam"), parent_id=None)


async def refresh(auth: Auth, refresh_token: str) -> TokenPair:
    """Spend ``refresh_token`` and answer a new pair from the same family."""
    now = auth.now()
    async with auth.store.transaction() as tx:
        token = await _known(tx, refresh_token)
        if token.revoked_at is not None:
            raise InvalidRefreshToken("This refresh token was revoked; sign in again.")
        if token.expires_at <= now:
            raise InvalidRefreshToken("This refresh token has expired; sign in again.")
        user = await tx.users.get(token.user_id)
        if user is None:
            raise InvalidRefreshToken("The account of this refresh token does not exist.")
        # A token that was spent already (or is spent by a concurrent request right now).
        reused = token.spent_at is not None or not await tx.refresh_tokens.spend(token.id, now)
        if not reused:
            return await _issue(auth, tx, user, token.family_id, parent_id=token.id)
        await tx.refresh_tokens.revoke_family(token.family_id, now)
    raise RefreshTokenReused(
        "This refresh token was used already, so it may have been copied: every session"
        " descending from the same sign-in is now signed out. Sign in again."
    )


async def sign_out(auth: Auth, refresh_token: str) -> None:
    """Revoke the token's whole family (signing out twice is fine)."""
    async with auth.store.transaction() as tx:
        token = await _known(tx, refresh_token)
        await tx.refresh_tokens.revoke_family(token.family_id, auth.now())


async def _known(tx: Tx, refresh_token: str) -> RefreshToken:
    token = await tx.refresh_tokens.by_hash(sha256_hex(refresh_token))
    if token is None:
        raise InvalidRefreshToken("This refresh token is unknown.")
    return token


async def _issue(
    auth: Auth, tx: Tx, user: User, family_id: str, parent_id: str | None
) -> TokenPair:
    now = auth.now()
    access = auth.issuer.issue(user.id, Scope.USER)
    secret = new_secret("rt_")
    await tx.refresh_tokens.add(
        RefreshToken(
            id=new_id("rft"),
            token_hash=sha256_hex(secret),
            user_id=user.id,
            family_id=family_id,
            parent_id=parent_id,
            access_token_id=access.token_id,
            created_at=now,
            expires_at=now + timedelta(seconds=auth.settings.refresh_token_ttl_seconds),
        )
    )
    return TokenPair(access, secret, user)

"""``sticky.auth``: accounts, signing in and out, password resets, key exchange.

Signing in makes the client hold the token pair and refresh it by itself; signing out
revokes the refresh token's family and makes the client forget every credential it holds.
"""

from __future__ import annotations

import contextlib

from sticky_sdk._calls import Call, nothing
from sticky_sdk._credentials import exchange_call
from sticky_sdk._exceptions import AuthenticationError
from sticky_sdk._models import AccessToken, TokenPair, User
from sticky_sdk._resources._base import AsyncResource, SyncResource


def sign_up_call(name: str, email: str, password: str, idempotency_key: str | None) -> Call[User]:
    body = {"name": name, "email": email, "password": password}
    return Call(
        "POST",
        "/v1/auth/sign-up",
        User.from_json,
        json=body,
        authenticated=False,
        idempotency_key=idempotency_key,
    )


def verify_email_call(token: str) -> Call[User]:
    return Call(
        "POST", "/v1/auth/verify-email", User.from_json, json={"token": token}, authenticated=False
    )


def resend_verification_call(email: str) -> Call[None]:
    return Call(
        "POST", "/v1/auth/resend-verification", nothing, json={"email": email}, authenticated=False
    )


def sign_in_call(email: str, password: str) -> Call[TokenPair]:
    body = {"email": email, "password": password}
    return Call("POST", "/v1/auth/sign-in", TokenPair.from_json, json=body, authenticated=False)


def sign_out_call(refresh_token: str) -> Call[None]:
    body = {"refreshToken": refresh_token}
    return Call("POST", "/v1/auth/sign-out", nothing, json=body, authenticated=False)


def request_password_reset_call(email: str) -> Call[None]:
    return Call(
        "POST", "/v1/auth/password-reset", nothing, json={"email": email}, authenticated=False
    )


def reset_password_call(token: str, password: str) -> Call[User]:
    body = {"token": token, "password": password}
    return Call(
        "POST", "/v1/auth/password-reset/confirm", User.from_json, json=body, authenticated=False
    )


class Auth(SyncResource):
    """Accounts and sessions."""

    def sign_up(
        self, name: str, email: str, password: str, *, idempotency_key: str | None = None
    ) -> User:
        """Create an account; the platform emails a verification link to ``email``."""
        return self._client._call(sign_up_call(name, email, password, idempotency_key))

    def verify_email(self, token: str) -> User:
        """Confirm the email address with the token from the verification email."""
        return self._client._call(verify_email_call(token))

    def resend_verification(self, email: str) -> None:
        """Send the verification email again (answers the same whether the account exists)."""
        self._client._call(resend_verification_call(email))

    def sign_in(self, email: str, password: str) -> TokenPair:
        """Sign in; the client then holds the token pair and refreshes it by itself."""
        pair = self._client._call(sign_in_call(email, password))
        self._client._use_session(pair)
        return pair

    def refresh(self) -> TokenPair:
        """Spend the refresh token for a new pair now (the client also does it by itself)."""
        return self._client._refresh()

    def sign_out(self) -> None:
        """Revoke the session's refresh tokens and forget every credential the client holds."""
        refresh_token = self._client._forget_credentials()
        if refresh_token is None:
            return
        # A token already spent or revoked is as signed out as can be.
        with contextlib.suppress(AuthenticationError):
            self._client._call(sign_out_call(refresh_token))

    def request_password_reset(self, email: str) -> None:
        """Email a password-reset link (answers the same whether the account exists)."""
        self._client._call(request_password_reset_call(email))

    def reset_password(self, token: str, password: str) -> User:
        """Set a new password with the token from the reset email; every session ends."""
        return self._client._call(reset_password_call(token, password))

    def exchange_key(self, key: str) -> AccessToken:
        """Exchange an API key for an access token (the client's credentials are unchanged)."""
        return self._client._call(exchange_call(key))


class AsyncAuth(AsyncResource):
    """Accounts and sessions."""

    async def sign_up(
        self, name: str, email: str, password: str, *, idempotency_key: str | None = None
    ) -> User:
        """Create an account; the platform emails a verification link to ``email``."""
        return await self._client._call(sign_up_call(name, email, password, idempotency_key))

    async def verify_email(self, token: str) -> User:
        """Confirm the email address with the token from the verification email."""
        return await self._client._call(verify_email_call(token))

    async def resend_verification(self, email: str) -> None:
        """Send the verification email again (answers the same whether the account exists)."""
        await self._client._call(resend_verification_call(email))

    async def sign_in(self, email: str, password: str) -> TokenPair:
        """Sign in; the client then holds the token pair and refreshes it by itself."""
        pair = await self._client._call(sign_in_call(email, password))
        await self._client._use_session(pair)
        return pair

    async def refresh(self) -> TokenPair:
        """Spend the refresh token for a new pair now (the client also does it by itself)."""
        return await self._client._refresh()

    async def sign_out(self) -> None:
        """Revoke the session's refresh tokens and forget every credential the client holds."""
        refresh_token = await self._client._forget_credentials()
        if refresh_token is None:
            return
        # A token already spent or revoked is as signed out as can be.
        with contextlib.suppress(AuthenticationError):
            await self._client._call(sign_out_call(refresh_token))

    async def request_password_reset(self, email: str) -> None:
        """Email a password-reset link (answers the same whether the account exists)."""
        await self._client._call(request_password_reset_call(email))

    async def reset_password(self, token: str, password: str) -> User:
        """Set a new password with the token from the reset email; every session ends."""
        return await self._client._call(reset_password_call(token, password))

    async def exchange_key(self, key: str) -> AccessToken:
        """Exchange an API key for an access token (the client's credentials are unchanged)."""
        return await self._client._call(exchange_call(key))

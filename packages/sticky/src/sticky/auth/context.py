"""What the auth service's logic works with, built once in the app's lifespan."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Request

from sticky.auth.mailer import OutboxDeliverer
from sticky.auth.passwords import Passwords
from sticky.auth.ratelimit import RateLimiter
from sticky.auth.signing import Keyring
from sticky.auth.store import Store
from sticky.auth.tokens import TokenIssuer
from sticky.kernel.settings import Settings


@dataclass
class Auth:
    settings: Settings
    store: Store
    passwords: Passwords
    keyring: Keyring
    issuer: TokenIssuer
    limiter: RateLimiter
    deliverer: OutboxDeliverer

    @staticmethod
    def now() -> datetime:
        return datetime.now(UTC)


async def _auth(request: Request) -> Auth:
    auth: Auth = request.app.state.auth
    return auth


AuthDep = Annotated[Auth, Depends(_auth)]


async def client_ip(request: Request) -> str:
    # uvicorn rewrites request.client from X-Forwarded-For only when the gateway sent it.
    return request.client.host if request.client else "unknown"


ClientIP = Annotated[str, Depends(client_ip)]

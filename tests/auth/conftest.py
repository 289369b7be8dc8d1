"""The auth service under test: in process, its lifespan running, on a migrated database."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from sticky.auth.app import create_app
from sticky.kernel.migrations import upgrade
from sticky.kernel.settings import Settings
from tests.auth.support import Account, signed_in
from tests.conftest import free_port


@pytest.fixture
def auth_settings(settings: Settings) -> Settings:
    # Nothing listens on the mail port: auth's outbox must keep its messages.
    return settings.model_copy(update={"mail_port": free_port()})


@pytest.fixture
async def app(auth_settings: Settings) -> AsyncIterator[FastAPI]:
    await asyncio.to_thread(upgrade, "sticky.auth", auth_settings.database_url("auth"))
    app = create_app(auth_settings)
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://auth.test") as c:
        yield c


@pytest.fixture
async def account(client: httpx.AsyncClient, app: FastAPI) -> Account:
    return await signed_in(client, app)

"""The events app in-process for the API tests: a migrated database and signed tokens."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import FastAPI

from sticky.events.app import create_app
from sticky.events.live import Timing
from sticky.kernel.migrations import upgrade
from sticky.kernel.settings import Settings
from sticky.kernel.tokens import TokenVerifier
from tests.conftest import problem as problem  # re-exported for this service's tests
from tests.signing import Signer

FAST = Timing(poll_seconds=0.05, heartbeat_seconds=0.3)


async def migrated(database_url: str) -> str:
    await asyncio.to_thread(upgrade, "sticky.events", database_url)
    return database_url


@dataclass
class RunningEvents:
    app: FastAPI
    client: httpx.AsyncClient
    signer: Signer

    async def append(self, user: str, *events: dict[str, Any]) -> list[dict[str, Any]]:
        response = await self.client.post(
            "/v1/events", json=list(events), headers=self.signer.owner(user)
        )
        assert response.status_code == 201, response.text
        data: list[dict[str, Any]] = response.json()["data"]
        return data

    async def read(self, user: str, **params: Any) -> dict[str, Any]:
        response = await self.client.get(
            "/v1/events", params=params, headers=self.signer.owner(user)
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def everything(self) -> list[dict[str, Any]]:
        """Every event of every user, as a service reads them."""
        response = await self.client.get(
            "/v1/events", params={"limit": 1000}, headers=self.signer.service()
        )
        assert response.status_code == 200, response.text
        data: list[dict[str, Any]] = response.json()["data"]
        return data


@contextlib.asynccontextmanager
async def running_events(
    settings: Settings, database_url: str, timing: Timing = FAST
) -> AsyncIterator[RunningEvents]:
    settings = settings.model_copy(update={"events_database_url": database_url})
    app = create_app(settings, timing=timing)
    signer = Signer.new()
    app.state.verifier = TokenVerifier(signer.keys)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://events.test", timeout=30
        ) as client,
    ):
        yield RunningEvents(app, client, signer)

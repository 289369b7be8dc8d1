"""The api app in-process for its tests: a migrated database (SQLite or PostgreSQL) and tokens."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

from sticky.api.app import create_app
from sticky.api.context import Api
from sticky.kernel.migrations import upgrade
from sticky.kernel.settings import Settings
from sticky.kernel.tokens import TokenVerifier
from tests.signing import Signer

BASE_URL = "http://api.test"


@dataclass
class RunningApi:
    app: FastAPI
    client: httpx.AsyncClient
    signer: Signer

    @property
    def state(self) -> Api:
        api: Api = self.app.state.api
        return api

    def owner(self, user_id: str) -> dict[str, str]:
        return self.signer.owner(user_id)

    def public(self, user_id: str) -> dict[str, str]:
        return self.signer.public(user_id)

    def member(self, user_id: str, *perms: str) -> dict[str, str]:
        return self.signer.member(user_id, "tm_member", *perms)

    async def post(self, path: str, user: str, body: Any) -> dict[str, Any]:
        response = await self.client.post(path, json=body, headers=self.owner(user))
        assert response.status_code in (200, 201), response.text
        result: dict[str, Any] = response.json()
        return result

    async def thing(self, user: str, **fields: Any) -> dict[str, Any]:
        return await self.post("/v1/things", user, {"name": "Table 1", **fields})

    async def flow(self, user: str, logic: str | None = None, **fields: Any) -> dict[str, Any]:
        app = await self.post("/v1/applications", user, {"name": "Menu", "logic": logic, **fields})
        return await self.post(f"/v1/applications/{app['id']}/make-live", user, None)

    async def outbox(self) -> list[dict[str, Any]]:
        """The events waiting in the api's outbox, oldest first."""
        import orjson

        async with self.state.store.reading() as tx:
            pending = await tx.outbox.head(10_000)
        return [orjson.loads(p.body)["event"] for p in pending]


def api_settings(tmp_path: Path, database_url: str, **overrides: Any) -> Settings:
    return Settings(
        env="test",
        data_dir=tmp_path / "data",
        api_database_url=database_url,
        public_url="https://stickers.example",
        **overrides,
    )


@contextlib.asynccontextmanager
async def running_api(settings: Settings, *, deliver: bool = False) -> AsyncIterator[RunningApi]:
    await asyncio.to_thread(upgrade, "sticky.api", settings.database_url("api"))
    signer = Signer.new()
    app = create_app(settings, deliver=deliver)
    app.state.verifier = TokenVerifier(signer.keys)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("203.0.113.77", 50000))
        async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
            yield RunningApi(app, client, signer)

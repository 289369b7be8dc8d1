"""Idempotency keys: one action per key, the answer replayed, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict
from sqlalchemy import MetaData, func, select

from sticky.kernel import idempotency
from sticky.kernel.database import create_engine
from sticky.kernel.idempotency import idempotency_table
from sticky.kernel.service import create_service_app
from sticky.kernel.settings import Settings


class Order(BaseModel):
    model_config = ConfigDict(extra="forbid")
    item: str


class Counter:
    def __init__(self) -> None:
        self.created: list[str] = []
        self.gate: asyncio.Event | None = None
        self.at_gate = asyncio.Event()  # a request is waiting there

    async def reached_gate(self) -> None:
        """Until a request holds its key, waiting at the gate (however slow the machine)."""
        async with asyncio.timeout(30):
            await self.at_gate.wait()


def build_router(counter: Counter) -> APIRouter:
    router = APIRouter()

    @router.post("/orders", status_code=201)
    async def create(order: Order) -> dict[str, object]:
        if counter.gate is not None:
            counter.at_gate.set()
            await counter.gate.wait()
        counter.created.append(order.item)
        return {"id": len(counter.created), "item": order.item}

    @router.post("/explode")
    async def explode() -> None:
        counter.created.append("boom")
        raise RuntimeError("boom")

    return router


@pytest.fixture
async def setup(database_url: str) -> AsyncIterator[tuple[httpx.AsyncClient, Counter, object]]:
    engine = create_engine(database_url)
    metadata = MetaData()
    table = idempotency_table(metadata)
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    counter = Counter()
    app = create_service_app(
        "demo", Settings(env="test"), routers=[build_router(counter)], idempotency=lambda: engine
    )
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://demo") as client:
        yield client, counter, (engine, table)
    await engine.dispose()


async def test_a_repeat_is_answered_from_the_first(setup: tuple) -> None:  # type: ignore[type-arg]
    client, counter, _ = setup
    headers = {"idempotency-key": "k-1", "authorization": "Bearer alice"}
    first = await client.post("/orders", json={"item": "tea"}, headers=headers)
    again = await client.post("/orders", json={"item": "tea"}, headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json() == {"id": 1, "item": "tea"}
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert counter.created == ["tea"]


async def test_keys_are_scoped_to_the_credential(setup: tuple) -> None:  # type: ignore[type-arg]
    client, counter, _ = setup
    await client.post(
        "/orders",
        json={"item": "tea"},
        headers={"idempotency-key": "k", "authorization": "Bearer alice"},
    )
    other = await client.post(
        "/orders",
        json={"item": "tea"},
        headers={"idempotency-key": "k", "authorization": "Bearer bob"},
    )
    assert other.json()["id"] == 2
    assert counter.created == ["tea", "tea"]


async def test_same_key_other_request_is_refused(setup: tuple) -> None:  # type: ignore[type-arg]
    client, counter, _ = setup
    await client.post("/orders", json={"item": "tea"}, headers={"idempotency-key": "k"})
    answer = await client.post("/orders", json={"item": "coffee"}, headers={"idempotency-key": "k"})
    assert answer.status_code == 422
    assert answer.json()["type"].endswith("/idempotency-key-reused")
    assert counter.created == ["tea"]


async def test_a_concurrent_repeat_is_told_to_retry(setup: tuple) -> None:  # type: ignore[type-arg]
    client, counter, _ = setup
    counter.gate = asyncio.Event()
    first = asyncio.create_task(
        client.post("/orders", json={"item": "tea"}, headers={"idempotency-key": "k"})
    )
    await counter.reached_gate()
    second = await client.post("/orders", json={"item": "tea"}, headers={"idempotency-key": "k"})
    assert second.status_code == 409
    assert second.headers["retry-after"] == "1"
    counter.gate.set()
    assert (await first).status_code == 201
    assert counter.created == ["tea"]


async def test_the_lease_is_renewed_while_the_first_runs(
    setup: tuple,  # type: ignore[type-arg]
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Renewed three times a lease: a busy machine's stall of a third of one does not lapse it.
    monkeypatch.setattr(idempotency, "RUNNING_LEASE", timedelta(seconds=0.9))
    monkeypatch.setattr(idempotency, "RENEW_EVERY", 0.3)
    client, counter, _ = setup
    counter.gate = asyncio.Event()
    first = asyncio.create_task(
        client.post("/orders", json={"item": "tea"}, headers={"idempotency-key": "k"})
    )
    await counter.reached_gate()
    await asyncio.sleep(3.0)  # three leases long: alive, so still holding the key
    async with asyncio.timeout(5):  # taken over, the repeat would wait at the gate too
        second = await client.post(
            "/orders", json={"item": "tea"}, headers={"idempotency-key": "k"}
        )
    assert second.status_code == 409
    counter.gate.set()
    assert (await first).status_code == 201
    assert counter.created == ["tea"]


async def test_a_key_whose_request_died_is_taken_over(
    setup: tuple,  # type: ignore[type-arg]
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Long enough that the first repeat comes within it on a busy machine too.
    monkeypatch.setattr(idempotency, "RUNNING_LEASE", timedelta(seconds=2))
    client, counter, (engine, table) = setup
    await client.post("/orders", json={"item": "tea"}, headers={"idempotency-key": "done"})
    async with engine.begin() as conn:
        kept = (await conn.execute(select(table))).mappings().one()
        # What a process killed mid-request leaves: the key taken, no answer, no renewals.
        now = datetime.now(UTC)
        await conn.execute(
            table.insert().values(
                {**kept, "key": "died", "status": None, "response": None, "created_at": now}
                | {"locked_until": now + idempotency.RUNNING_LEASE}
            )
        )
    headers = {"idempotency-key": "died"}
    assert (await client.post("/orders", json={"item": "tea"}, headers=headers)).status_code == 409
    lapsed = now + idempotency.RUNNING_LEASE - datetime.now(UTC)
    await asyncio.sleep(lapsed.total_seconds() + 0.1)
    retried = await client.post("/orders", json={"item": "tea"}, headers=headers)
    assert retried.status_code == 201
    assert counter.created == ["tea", "tea"]


async def test_server_errors_are_not_kept(setup: tuple) -> None:  # type: ignore[type-arg]
    client, counter, (engine, table) = setup
    for _ in range(2):
        answer = await client.post("/explode", headers={"idempotency-key": "x"})
        assert answer.status_code == 500
    assert counter.created == ["boom", "boom"]
    async with engine.connect() as conn:
        assert (await conn.execute(select(func.count()).select_from(table))).scalar() == 0


async def test_validation_errors_are_kept_and_bad_keys_refused(setup: tuple) -> None:  # type: ignore[type-arg]
    client, _, _ = setup
    first = await client.post("/orders", json={"nope": 1}, headers={"idempotency-key": "v"})
    again = await client.post("/orders", json={"nope": 1}, headers={"idempotency-key": "v"})
    assert first.status_code == again.status_code == 422
    assert again.headers["content-type"] == "application/problem+json"
    long_key = await client.post(
        "/orders", json={"item": "t"}, headers={"idempotency-key": "k" * 300}
    )
    assert long_key.status_code == 400
    assert long_key.json()["type"].endswith("/invalid-idempotency-key")


async def test_stored_answers_are_encrypted(setup: tuple) -> None:  # type: ignore[type-arg]
    client, _, (engine, table) = setup
    await client.post("/orders", json={"item": "secret-tea"}, headers={"idempotency-key": "e"})
    async with engine.connect() as conn:
        stored = (await conn.execute(select(table.c.response))).scalar_one()
    assert "secret-tea" not in stored


async def test_an_expired_key_is_a_new_key(setup: tuple) -> None:  # type: ignore[type-arg]
    client, counter, (engine, table) = setup
    await client.post("/orders", json={"item": "tea"}, headers={"idempotency-key": "old"})
    async with engine.begin() as conn:
        await conn.execute(
            table.update().values(created_at=datetime.now(UTC) - timedelta(hours=25))
        )
    again = await client.post(
        "/orders", json={"item": "coffee"}, headers={"idempotency-key": "old"}
    )
    assert again.status_code == 201
    assert "idempotent-replayed" not in again.headers
    assert counter.created == ["tea", "coffee"]

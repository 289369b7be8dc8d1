"""The outbox's deliverer against a real events service (in-process), on SQLite and
PostgreSQL: an event refused for good is found by halving the batch and set aside as a dead
letter, the events around it go through in order, and only those refusals are set aside."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import httpx
import orjson
import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import sticky.api.payments.tables
import sticky.api.webhooks.tables
from sticky.api.recorder import Deliverer, Writes, replica_holder
from sticky.api.store import Store
from sticky.api.store.tables import metadata
from sticky.kernel.database import sync_url
from sticky.kernel.migrations import alembic_config, upgrade
from sticky.kernel.service_token import ServiceToken
from tests.api.reactors.receivers import Receiver
from tests.api.support import RunningApi
from tests.events.api_support import RunningEvents, migrated, running_events
from tests.signing import Signer

USER = "usr_outbox"
BODY = '{"event": {"id": "evt_a"}, "network": null}'
NOW = datetime(2026, 12, 12, tzinfo=UTC)
# Every table of the api joins the one metadata the migrations must build.
TABLES = (sticky.api.payments.tables, sticky.api.webhooks.tables)


class _Token:
    """The api's service token, signed by whoever the test says; counts ``forget()``."""

    def __init__(self, header: dict[str, str]) -> None:
        self.signed = header
        self.forgotten = 0

    async def header(self) -> dict[str, str]:
        return self.signed

    def forget(self) -> None:
        self.forgotten += 1


def _event(index: int, **fields: Any) -> dict[str, Any]:
    return {"id": f"evt_outbox{index:04d}", "type": "CHECK_IN", "userId": USER, **fields}


async def _record(api: RunningApi, events: list[dict[str, Any]]) -> None:
    await api.state.recorder.record(Writes().add_events(events))


def _deliverer(api: RunningApi, token: _Token, batch: int = 1000) -> Deliverer:
    state = api.state
    return Deliverer(
        state.store, state.settings, cast(ServiceToken, token), state.recorder, batch=batch
    )


def _sizes(app: Any, sent: list[int]) -> httpx.AsyncClient:
    """A client of ``app`` that notes the size of every batch posted to it."""

    async def note(request: httpx.Request) -> None:
        sent.append(len(orjson.loads(request.content)))

    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://events.test",
        event_hooks={"request": [note]},
    )


def _no_geo() -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.MockTransport(lambda r: httpx.Response(404)), base_url="http://geo.test"
    )


async def _drain(deliverer: Deliverer, events: httpx.AsyncClient) -> None:
    async with _no_geo() as geo:
        while await deliverer.deliver(events, geo):
            pass


@contextlib.asynccontextmanager
async def _events_service(api: RunningApi, tmp_path: Path) -> AsyncIterator[RunningEvents]:
    database = await migrated(f"sqlite:///{tmp_path / 'events.sqlite3'}")
    async with running_events(api.state.settings, database) as events:
        yield events


async def _stored(events: RunningEvents) -> list[str]:
    return [e["id"] for e in await events.everything()]


async def _outbox_ids(store: Store) -> list[str]:
    async with store.reading() as tx:
        return [p.event_id for p in await tx.outbox.head(100)]


@pytest.mark.parametrize(
    ("poison", "status"),
    [
        ({"type": "x_door"}, 422),  # no such event type
        ({"stream": "door-1", "expectedVersion": 3}, 409),  # contradicts the log
    ],
)
async def test_an_event_refused_for_good_is_set_aside_and_the_others_go_through_in_order(
    api: RunningApi, tmp_path: Path, poison: dict[str, Any], status: int
) -> None:
    good = [_event(i) for i in range(10)]
    refused = _event(99, **poison)
    await _record(api, [*good[:5], refused, *good[5:]])
    async with _events_service(api, tmp_path) as events:
        token = _Token(events.signer.service())
        sent: list[int] = []
        async with _sizes(events.app, sent) as client:
            await _drain(_deliverer(api, token, batch=8), client)
        assert await _stored(events) == [e["id"] for e in good]

    # Halved until the refused event was alone, the events before it delivered on the way,
    # then the full batch size again.
    assert sent == [8, 4, 4, 2, 1, 1, 5]
    assert await api.outbox() == []
    async with api.state.store.reading() as tx:
        [dead] = await tx.outbox.dead_letters()
        assert await tx.outbox.dead_letter_count() == 1
    assert dead.event_id == refused["id"]
    assert orjson.loads(dead.body)["event"] == refused
    assert dead.status_code == status
    assert dead.error
    assert dead.attempts == 1
    assert dead.refused_at >= dead.created_at

    ready = (await api.client.get("/readyz")).json()
    assert ready["checks"]["outbox"] == {"ok": True, "detail": "1 dead letter"}


async def test_a_poison_event_in_a_full_outbox_costs_a_few_attempts(
    api: RunningApi, tmp_path: Path
) -> None:
    good = [_event(i) for i in range(300)]
    await _record(api, [*good[:201], _event(999, type="x_door"), *good[201:]])
    async with _events_service(api, tmp_path) as events:
        sent: list[int] = []
        async with _sizes(events.app, sent) as client:
            await _drain(_deliverer(api, _Token(events.signer.service()), batch=256), client)
        assert await _stored(events) == [e["id"] for e in good]
    assert len(sent) <= 2 * 8 + 2  # about log2(256) halvings, and what follows
    assert await api.outbox() == []


@pytest.mark.parametrize("status", [500, 503, 429, 408, 403])
async def test_a_transient_refusal_is_retried_whole_not_set_aside(
    api: RunningApi, tmp_path: Path, status: int
) -> None:
    await _record(api, [_event(i) for i in range(3)])
    unwell = Receiver(status=status, answer=b'{"title": "Unavailable", "detail": "try later"}')
    token = _Token({"Authorization": "Bearer irrelevant"})
    deliverer = _deliverer(api, token)
    async with (
        _no_geo() as geo,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=unwell), base_url="http://events.test"
        ) as client,
    ):
        for _ in range(3):
            assert await deliverer.deliver(client, geo) == 0
    # Whole batches, each time: nothing was halved.
    assert [len(r.json()) for r in unwell.received] == [3, 3, 3]
    async with api.state.store.reading() as tx:
        assert await tx.outbox.dead_letters() == []
        pending = await tx.outbox.head(10)
    assert [p.attempts for p in pending] == [3, 3, 3]

    async with _events_service(api, tmp_path) as events:
        token.signed = events.signer.service()
        async with _no_geo() as geo:
            assert await deliverer.deliver(events.client, geo) == 3
        assert len(await _stored(events)) == 3


async def test_a_token_the_events_service_refuses_is_forgotten_and_retried(
    api: RunningApi, tmp_path: Path
) -> None:
    await _record(api, [_event(0), _event(1)])
    async with _events_service(api, tmp_path) as events:
        token = _Token(Signer.new().service())  # a key the events service does not trust
        deliverer = _deliverer(api, token)
        async with _no_geo() as geo:
            assert await deliverer.deliver(events.client, geo) == 0
            assert await deliverer.deliver(events.client, geo) == 0
            assert token.forgotten == 2
            assert len(await api.outbox()) == 2
            async with api.state.store.reading() as tx:
                assert await tx.outbox.dead_letter_count() == 0

            token.signed = events.signer.service()
            assert await deliverer.deliver(events.client, geo) == 2
        assert await _stored(events) == ["evt_outbox0000", "evt_outbox0001"]
    ready = (await api.client.get("/readyz")).json()
    assert ready["checks"]["outbox"] == {"ok": True, "detail": "no dead letters"}


async def test_the_migration_adds_the_dead_letters_and_gives_them_back_on_downgrade(
    database_url: str,
) -> None:
    await asyncio.to_thread(upgrade, "sticky.api", database_url)
    engine = sa.create_engine(sync_url(database_url), poolclass=sa.pool.NullPool)
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), metadata)
    assert differences == []

    store = Store(database_url)
    try:
        await asyncio.to_thread(store.record_sync, [], [("evt_a", BODY)], NOW)
        async with store.transaction() as tx:
            [pending] = await tx.outbox.head(1)
            assert await tx.outbox.set_aside(pending.seq, 422, "no such type", NOW)
        assert await _outbox_ids(store) == []
    finally:
        await store.close()

    config = alembic_config("sticky.api", database_url)
    await asyncio.to_thread(command.downgrade, config, "0003")
    with engine.connect() as connection:
        assert not sa.inspect(connection).has_table("outbox_dead_letters")
        back = connection.execute(sa.text("SELECT event_id, body FROM event_outbox")).all()
    assert [tuple(row) for row in back] == [("evt_a", BODY)]

    await asyncio.to_thread(upgrade, "sticky.api", database_url)
    store = Store(database_url)
    try:
        async with store.reading() as tx:
            assert await tx.outbox.dead_letters() == []
        ready, _ = await store.readiness()
        assert ready
    finally:
        await store.close()
    engine.dispose()


async def test_a_restarted_replica_takes_its_lease_over_at_once(api: RunningApi) -> None:
    # A replica killed mid-lease comes back under the same name (host and port) and goes on
    # delivering at once; another replica waits for the lease to run out.
    settings, store = api.state.settings, api.state.store
    holder = replica_holder(settings)
    assert replica_holder(settings) == holder
    other = replica_holder(settings.model_copy(update={"api_port": settings.api_port + 1}))
    assert other != holder
    now, lease = datetime.now(UTC), timedelta(seconds=30)
    async with store.transaction() as tx:
        assert await tx.outbox.take_lease(holder, now, lease)
    async with store.transaction() as tx:
        assert not await tx.outbox.take_lease(other, now, lease)
    async with store.transaction() as tx:
        assert await tx.outbox.take_lease(holder, now, lease)  # the restart
    async with store.transaction() as tx:
        assert await tx.outbox.take_lease(other, now + lease * 2, lease)  # it has expired


async def test_dead_letters_are_queued_again_once_each(api: RunningApi) -> None:
    store = api.state.store
    await _record(api, [_event(1), _event(2)])
    async with store.reading() as tx:
        first, second = await tx.outbox.head(10)
    now = datetime.now(UTC)
    async with store.transaction() as tx:
        assert await tx.outbox.set_aside(first.seq, 422, "refused", now)
        assert await tx.outbox.set_aside(second.seq, 409, "refused", now)
    async with store.transaction() as tx:
        assert await tx.outbox.redrive([first.event_id, "evt_nobody"], now) == 1
    async with store.transaction() as tx:
        assert await tx.outbox.redrive(None, now) == 1
        assert await tx.outbox.redrive(None, now) == 0
    async with store.reading() as tx:
        again = await tx.outbox.head(10)
        assert await tx.outbox.dead_letter_count() == 0
    assert [(p.event_id, p.body) for p in again] == [
        (first.event_id, first.body),
        (second.event_id, second.body),
    ]

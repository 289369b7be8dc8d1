"""The outbox store, the same contract on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select

from sticky.kernel.database import create_engine, sync_url
from sticky.kernel.ids import new_id
from sticky.mail.errors import InvalidCursor, MessageNotFound
from sticky.mail.schema import messages, metadata
from sticky.mail.store import (
    ClaimedMessage,
    DeliveryRecord,
    MailStore,
    MessageStatus,
    NewMessage,
)

SECRET = "test-secret-key"
LEASE = timedelta(seconds=60)
T0 = datetime(2024, 12, 4, 12, 0, tzinfo=UTC)


@pytest.fixture
async def store(mail_db: str) -> AsyncIterator[MailStore]:
    engine = create_engine(mail_db)
    try:
        yield MailStore(engine, SECRET)
    finally:
        await engine.dispose()


def new_message(
    at: datetime = T0, key: str | None = None, to: str = "ann@example.com"
) -> NewMessage:
    return NewMessage(
        id=new_id("msg"),
        to=to,
        template="verify-email",
        subject="Confirm",
        text="Your code is 314159",
        html="<p>Your code is <b>314159</b></p>",
        fingerprint="f" * 64,
        created_at=at,
        idempotency_key=key,
    )


def attempt(claimed: ClaimedMessage, at: datetime, ok: bool, response: str) -> DeliveryRecord:
    return DeliveryRecord(claimed.attempt, at, ok, 12, response)


async def test_a_message_is_stored_with_its_body_encrypted(store: MailStore) -> None:
    new = new_message()
    record, created = await store.add(new)
    assert created
    assert (record.id, record.to, record.subject) == (new.id, "ann@example.com", "Confirm")
    assert record.status is MessageStatus.QUEUED
    assert record.attempts == 0
    assert record.created_at == T0
    assert record.next_attempt_at == T0
    assert await store.get(new.id) == record
    async with store.engine.connect() as conn:
        row = (await conn.execute(select(messages).where(messages.c.id == new.id))).one()
    assert "314159" not in row.text_body + row.html_body
    claimed = await store.claim(T0, LEASE)
    assert claimed is not None
    assert store.bodies(claimed) == (new.text, new.html)
    with pytest.raises(MessageNotFound):
        await store.get("msg_missing")


async def test_the_body_cannot_be_read_with_another_secret(store: MailStore) -> None:
    await store.add(new_message())
    claimed = await MailStore(store.engine, "another-secret").claim(T0, LEASE)
    assert claimed is not None
    with pytest.raises(Exception, match="STICKY_SECRET_KEY"):
        MailStore(store.engine, "another-secret").bodies(claimed)


async def test_an_idempotency_key_holds_one_message(store: MailStore) -> None:
    first, created = await store.add(new_message(key="k1"))
    assert created
    again, created = await store.add(new_message(key="k1", to="bob@example.com"))
    assert not created
    assert again == first
    results = await asyncio.gather(*(store.add(new_message(key="k2")) for _ in range(6)))
    assert sum(created for _, created in results) == 1
    assert len({record.id for record, _ in results}) == 1


async def test_pages_run_newest_first(store: MailStore) -> None:
    ids = [(await store.add(new_message(T0 + timedelta(seconds=n))))[0].id for n in range(5)]
    same_time = [(await store.add(new_message(T0 + timedelta(seconds=9))))[0].id for _ in range(3)]
    expected = sorted(same_time, reverse=True) + list(reversed(ids))
    seen: list[str] = []
    cursor = None
    while True:
        page, cursor = await store.page(status=None, limit=3, cursor=cursor)
        seen += [record.id for record in page]
        if cursor is None:
            break
    assert seen == expected
    queued, _ = await store.page(status=MessageStatus.QUEUED, limit=100, cursor=None)
    assert len(queued) == 8
    assert await store.page(status=MessageStatus.SENT, limit=100, cursor=None) == ([], None)
    with pytest.raises(InvalidCursor):
        await store.page(status=None, limit=3, cursor="not a cursor")


async def test_a_claim_is_a_lease(store: MailStore) -> None:
    assert await store.claim(T0, LEASE) is None
    new = new_message(T0 + timedelta(seconds=5))
    await store.add(new)
    assert await store.claim(T0, LEASE) is None, "not due yet"
    claimed = await store.claim(T0 + timedelta(seconds=5), LEASE)
    assert claimed is not None
    assert (claimed.id, claimed.attempt) == (new.id, 1)
    assert await store.claim(T0 + timedelta(seconds=6), LEASE) is None, "leased"

    expired = T0 + timedelta(seconds=5) + LEASE
    taken_over = await store.claim(expired, LEASE)
    assert taken_over is not None
    assert taken_over.id == new.id
    assert taken_over.lease != claimed.lease
    stale = await store.record_attempt(
        claimed, attempt(claimed, expired, True, "250 OK"), status=MessageStatus.SENT
    )
    assert stale is False, "the first holder lost its lease"
    assert await store.deliveries_of(new.id) == []
    assert await store.record_attempt(
        taken_over, attempt(taken_over, expired, True, "250 OK"), status=MessageStatus.SENT
    )


async def test_attempts_settle_the_message(store: MailStore) -> None:
    new = new_message()
    await store.add(new)
    first = await store.claim(T0, LEASE)
    assert first is not None
    retry_at = T0 + timedelta(seconds=30)
    assert await store.record_attempt(
        first,
        attempt(first, T0, False, "cannot reach smtp://x:25"),
        status=MessageStatus.QUEUED,
        next_attempt_at=retry_at,
    )
    record = await store.get(new.id)
    assert (record.status, record.attempts, record.next_attempt_at) == ("queued", 1, retry_at)
    assert record.last_error == "cannot reach smtp://x:25"
    assert await store.claim(retry_at - timedelta(seconds=1), LEASE) is None

    second = await store.claim(retry_at, LEASE)
    assert second is not None
    assert second.attempt == 2
    assert await store.record_attempt(
        second, attempt(second, retry_at, True, "250 Accepted"), status=MessageStatus.SENT
    )
    record = await store.get(new.id)
    assert record.status is MessageStatus.SENT
    assert (record.attempts, record.sent_at, record.last_error) == (2, retry_at, None)
    assert record.next_attempt_at is None
    log = await store.deliveries_of(new.id)
    assert [(d.attempt, d.ok, d.response) for d in log] == [
        (1, False, "cannot reach smtp://x:25"),
        (2, True, "250 Accepted"),
    ]
    assert log[0].at == T0
    assert await store.claim(retry_at + timedelta(hours=1), LEASE) is None


async def test_concurrent_claims_never_share_a_message(store: MailStore, mail_db: str) -> None:
    for n in range(12):
        await store.add(new_message(T0 + timedelta(milliseconds=n)))
    other_engine = create_engine(mail_db)
    other = MailStore(other_engine, SECRET)
    try:
        now = T0 + timedelta(seconds=1)
        claims = await asyncio.gather(
            *(replica.claim(now, LEASE) for _ in range(10) for replica in (store, other))
        )
    finally:
        await other_engine.dispose()
    ids = [claimed.id for claimed in claims if claimed is not None]
    assert len(ids) == len(set(ids)) == 12


async def test_the_migrations_build_exactly_these_tables(mail_db: str) -> None:
    def differences() -> list[object]:
        engine = sqlalchemy.create_engine(sync_url(mail_db))
        try:
            with engine.connect() as conn:
                return list(compare_metadata(MigrationContext.configure(conn), metadata))
        finally:
            engine.dispose()

    assert await asyncio.to_thread(differences) == []

"""The store's contract, on SQLite and on PostgreSQL alike."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, pool

from sticky.auth.errors import EmailTaken, SigningKeyConflict, StoreUnavailable, TeamMemberExists
from sticky.auth.store import (
    ApiKey,
    OutboxMessage,
    RefreshToken,
    SigningKeyRecord,
    Store,
    TeamMember,
    User,
    metadata,
)
from sticky.kernel.database import sync_url
from sticky.kernel.migrations import upgrade

NOW = datetime(2030, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    await asyncio.to_thread(upgrade, "sticky.auth", database_url)
    store = Store.open(database_url)
    try:
        yield store
    finally:
        await store.close()


def a_user(user_id: str = "usr_1", email: str = "ada@example.com") -> User:
    return User(user_id, "Ada", email, "$argon2id$hash", None, NOW)


def a_member(member_id: str, email: str, at: datetime = NOW) -> TeamMember:
    return TeamMember(
        member_id, "usr_1", "Bob", email, ("things:read",), f"h-{member_id}", "wxyz", at
    )


def test_the_migrations_build_exactly_the_tables(database_url: str) -> None:
    upgrade("sticky.auth", database_url)
    engine = create_engine(sync_url(database_url), poolclass=pool.NullPool)
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), metadata)
    engine.dispose()
    assert differences == []


async def test_users(store: Store) -> None:
    async with store.transaction() as tx:
        await tx.users.add(a_user())
    with pytest.raises(EmailTaken):
        async with store.transaction() as tx:
            await tx.users.add(a_user("usr_2"))
    async with store.transaction() as tx:
        user = await tx.users.by_email("ada@example.com")
        assert user == a_user()
        assert user.created_at.tzinfo is not None
        await tx.users.mark_verified("usr_1", NOW + timedelta(seconds=1))
        await tx.users.rename("usr_1", "Ada L.", NOW)
        assert await tx.users.get("usr_2") is None
    async with store.transaction() as tx:
        user = await tx.users.get("usr_1")
    assert user is not None
    assert user.email_verified
    assert user.email_verified_at == NOW + timedelta(seconds=1)
    assert user.name == "Ada L."


async def test_one_time_tokens_are_single_use_and_expire(store: Store) -> None:
    async with store.transaction() as tx:
        await tx.users.add(a_user())
        await tx.reset_tokens.add("h1", "usr_1", NOW, NOW + timedelta(hours=1))
        await tx.reset_tokens.add("h2", "usr_1", NOW, NOW + timedelta(hours=1))
        await tx.verification_tokens.add("h3", "usr_1", NOW, NOW + timedelta(hours=1))
    async with store.transaction() as tx:
        assert await tx.reset_tokens.holder("h1", NOW) == "usr_1"
        assert await tx.reset_tokens.consume("h1", NOW) == "usr_1"
        assert await tx.reset_tokens.consume("h1", NOW) is None
        # Each purpose has its own table.
        assert await tx.reset_tokens.consume("h3", NOW) is None
        assert await tx.reset_tokens.consume("h2", NOW + timedelta(hours=2)) is None
        await tx.verification_tokens.void_for_user("usr_1", NOW)
        assert await tx.verification_tokens.consume("h3", NOW) is None
        assert await tx.reset_tokens.consume("h2", NOW) == "usr_1"


async def test_api_keys(store: Store) -> None:
    public = ApiKey("key_1", "usr_1", "public", "pk_abc", "hash-pk", "abcd", NOW)
    private = ApiKey("key_2", "usr_1", "private", None, "hash-sk", "wxyz", NOW)
    async with store.transaction() as tx:
        await tx.users.add(a_user())
        await tx.api_keys.add(public)
        await tx.api_keys.add(private)
        await tx.api_keys.replace(ApiKey("key_3", "usr_1", "private", None, "hash-2", "2222", NOW))
    async with store.transaction() as tx:
        assert [k.type for k in await tx.api_keys.for_user("usr_1")] == ["private", "public"]
        assert await tx.api_keys.by_hash("hash-sk") is None
        rotated = await tx.api_keys.by_hash("hash-2")
        assert rotated is not None
        assert rotated.id == "key_3"
        assert await tx.api_keys.by_hash("hash-pk") == public


async def test_team_members(store: Store) -> None:
    async with store.transaction() as tx:
        await tx.users.add(a_user())
        for i in range(5):
            # Two members share a timestamp: the id breaks the tie.
            await tx.team_members.add(a_member(f"tm_{i}", f"m{i}@x.com", NOW + timedelta(i // 2)))
    with pytest.raises(TeamMemberExists):
        async with store.transaction() as tx:
            await tx.team_members.add(a_member("tm_9", "m0@x.com"))
    async with store.transaction() as tx:
        first = await tx.team_members.page("usr_1", 2, None)
        rest = await tx.team_members.page("usr_1", 10, (first[-1].created_at, first[-1].id))
        assert [m.id for m in [*first, *rest]] == [f"tm_{i}" for i in range(5)]
        assert await tx.team_members.update("usr_1", "tm_0", NOW, permissions=["events:read"])
        assert not await tx.team_members.update("usr_2", "tm_0", NOW, name="x")
        assert await tx.team_members.update("usr_1", "tm_1", NOW, key=("new-hash", "9999"))
        assert await tx.team_members.delete("usr_1", "tm_2")
        assert not await tx.team_members.delete("usr_1", "tm_2")
    async with store.transaction() as tx:
        member = await tx.team_members.get("usr_1", "tm_0")
        assert member is not None
        assert member.permissions == ("events:read",)
        assert await tx.team_members.by_key_hash("h-tm_1") is None
        moved = await tx.team_members.by_key_hash("new-hash")
        assert moved is not None
        assert moved.key_last4 == "9999"
        assert await tx.team_members.get("usr_1", "tm_2") is None


def a_refresh_token(token_id: str, family: str, parent: str | None = None) -> RefreshToken:
    return RefreshToken(
        token_id, f"hash-{token_id}", "usr_1", family, parent, f"at-{token_id}", NOW, NOW
    )


async def test_refresh_tokens(store: Store) -> None:
    async with store.transaction() as tx:
        await tx.users.add(a_user())
        await tx.refresh_tokens.add(a_refresh_token("r1", "fam_a"))
        await tx.refresh_tokens.add(a_refresh_token("r2", "fam_a", "r1"))
        await tx.refresh_tokens.add(a_refresh_token("r3", "fam_b"))
    async with store.transaction() as tx:
        assert await tx.refresh_tokens.spend("r1", NOW)
        assert not await tx.refresh_tokens.spend("r1", NOW)
        assert await tx.refresh_tokens.family_of_access_token("at-r2") == "fam_a"
        await tx.refresh_tokens.revoke_user("usr_1", NOW, keep_family="fam_b")
    async with store.transaction() as tx:
        family = await tx.refresh_tokens.family("fam_a")
        assert [t.id for t in family if t.revoked_at] == ["r1", "r2"]
        assert not await tx.refresh_tokens.spend("r2", NOW)
        kept = await tx.refresh_tokens.by_hash("hash-r3")
        assert kept is not None
        assert kept.revoked_at is None
        await tx.refresh_tokens.revoke_family("fam_b", NOW)
        revoked = await tx.refresh_tokens.by_hash("hash-r3")
        assert revoked is not None
        assert revoked.revoked_at == NOW


async def test_signing_keys_have_one_key_per_generation(store: Store) -> None:
    record = SigningKeyRecord("sig_1", 1, "encrypted", {"kid": "sig_1"}, NOW)
    async with store.transaction() as tx:
        assert await tx.signing_keys.latest_generation() == 0
        await tx.signing_keys.add(record)
    with pytest.raises(SigningKeyConflict):
        async with store.transaction() as tx:
            await tx.signing_keys.add(SigningKeyRecord("sig_2", 1, "e", {}, NOW))
    async with store.transaction() as tx:
        await tx.signing_keys.add(SigningKeyRecord("sig_3", 2, "e", {"kid": "sig_3"}, NOW))
        assert await tx.signing_keys.latest_generation() == 2
        assert [k.kid for k in await tx.signing_keys.all()] == ["sig_1", "sig_3"]


async def test_outbox_leases(store: Store) -> None:
    lease = timedelta(seconds=30)
    async with store.transaction() as tx:
        await tx.outbox.add(OutboxMessage("out_1", "ada@example.com", "verify-email", "p", NOW))
        await tx.outbox.add(OutboxMessage("out_2", "bob@example.com", "verify-email", "p", NOW))
    async with store.transaction() as tx:
        assert sorted(await tx.outbox.due(NOW, 10)) == ["out_1", "out_2"]
        claimed = await tx.outbox.claim("out_1", "lease_a", NOW, lease)
        assert claimed is not None
        assert claimed.recipient == "ada@example.com"
        assert await tx.outbox.claim("out_1", "lease_b", NOW, lease) is None
        assert await tx.outbox.due(NOW, 10) == ["out_2"]
        # A lease that ran out (its worker died) can be taken over.
        assert await tx.outbox.claim("out_1", "lease_c", NOW + 2 * lease, lease) is not None
        # The first worker's late answer no longer counts.
        await tx.outbox.mark_sent("out_1", "lease_a", NOW)
        retry_at = NOW + timedelta(minutes=1)
        await tx.outbox.mark_attempt_failed("out_1", "lease_c", "down", NOW, retry_at)
    async with store.transaction() as tx:
        message = await tx.outbox.get("out_1")
        assert message is not None
        assert (message.sent_at, message.attempts, message.last_error) == (None, 1, "down")
        assert await tx.outbox.due(NOW, 10) == ["out_2"]
        assert "out_1" in await tx.outbox.due(retry_at, 10)
        assert await tx.outbox.claim("out_1", "lease_d", retry_at, lease) is not None
        await tx.outbox.mark_sent("out_1", "lease_d", retry_at)
        assert await tx.outbox.due(retry_at + lease * 3, 10) == ["out_2"]
        assert await tx.outbox.purge_delivered(retry_at + timedelta(seconds=1)) == 1
        assert [m.id for m in await tx.outbox.for_recipient("bob@example.com")] == ["out_2"]


async def test_counters(store: Store) -> None:
    async with store.transaction() as tx:
        assert await tx.counters.hit("b", 60, 1000.0) == (1, 1060.0)
        assert await tx.counters.hit("b", 60, 1010.0) == (2, 1060.0)
        assert await tx.counters.peek("b", 1020.0) == (2, 1060.0)
        assert await tx.counters.peek("b", 1060.0) == (0, 1060.0)
        assert await tx.counters.hit("b", 60, 1061.0) == (1, 1121.0)
        assert await tx.counters.purge(1200.0) == 1


async def test_an_unreachable_database_is_a_domain_error() -> None:
    store = Store.open("postgresql://nobody@127.0.0.1:1/none")
    try:
        with pytest.raises(StoreUnavailable):
            async with store.transaction() as tx:
                await tx.users.get("usr_1")
    finally:
        await store.close()

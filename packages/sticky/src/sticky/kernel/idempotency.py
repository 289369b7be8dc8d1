"""Idempotency keys: a POST sent twice with the same ``Idempotency-Key`` acts once.

The first request runs and its answer is kept (encrypted, for 24 hours) in the service's own
database; a repeat with the same key and the same request gets the kept answer back, marked
``Idempotent-Replayed: true``. The same key with a different request is refused (422
``idempotency-key-reused``), and a repeat that arrives while the first is still running is
told to retry (409 ``idempotency-key-in-use``). The running request holds its key with a short
lease that it renews while it works, so a repeat after a crash (a ``kill -9`` mid-request)
takes the key over within :data:`RUNNING_LEASE`. Keys are scoped to the caller who sent them
(the verified user, or team member), so one caller never sees another's answers while
all the credentials of one caller share their keys. Answers of 5xx are not kept: the
request may be retried and run again.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import (
    Column,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    and_,
    delete,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sticky.kernel import crypto
from sticky.kernel.database import UTCDateTime
from sticky.kernel.problems import Problem, problem_response
from sticky.kernel.waiting import cancel_and_wait, wait_event

KEEP_FOR = timedelta(hours=24)
# How long a request that died mid-way keeps its key from a repeat: renewed every
# RENEW_EVERY seconds while the request is alive, so only a dead one lets it lapse.
RUNNING_LEASE = timedelta(seconds=10)
RENEW_EVERY = 3.0
PRUNE_EVERY_SECONDS = 60.0
MAX_KEY_LENGTH = 255
_METHODS = frozenset({"POST", "PATCH"})
_PURPOSE = "idempotency"


def idempotency_table(metadata: MetaData) -> Table:
    """The table each service that honours idempotency keys adds to its schema."""
    return Table(
        "idempotency_keys",
        metadata,
        Column("owner", String(64), primary_key=True),
        Column("key", String(MAX_KEY_LENGTH), primary_key=True),
        Column("fingerprint", String(64), nullable=False),
        Column("status", Integer, nullable=True),
        Column("response", Text, nullable=True),
        Column("created_at", UTCDateTime, nullable=False, index=True),
        Column("locked_until", UTCDateTime, nullable=False),
    )


def _now() -> datetime:
    return datetime.now(UTC)


class IdempotencyMiddleware:
    """Honours ``Idempotency-Key`` on POST and PATCH requests."""

    def __init__(self, app: ASGIApp, engine: Callable[[], AsyncEngine], secret_key: str) -> None:
        self.app = app
        self._engine = engine  # a getter: services open their engine in their lifespan
        self.secret_key = secret_key
        self._next_prune = 0.0
        self.table = idempotency_table(MetaData())

    @property
    def engine(self) -> AsyncEngine:
        return self._engine()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _METHODS:
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        raw_key = headers.get(b"idempotency-key")
        if raw_key is None:
            await self.app(scope, receive, send)
            return
        key = raw_key.decode("latin-1").strip()
        if not key or len(key) > MAX_KEY_LENGTH:
            problem = Problem(
                400,
                "invalid-idempotency-key",
                "Bad request",
                f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} characters.",
            )
            await problem_response(problem)(scope, receive, send)
            return

        body, disconnected = await _read_body(receive)
        if disconnected:
            return
        owner = await _owner(scope, headers.get(b"authorization"), headers.get(b"sticky-session"))
        fingerprint = hashlib.sha256(
            b"\n".join(
                [
                    scope["method"].encode(),
                    scope["path"].encode(),
                    scope.get("query_string", b""),
                    body,
                ]
            )
        ).hexdigest()

        replay = await self._begin(owner, key, fingerprint)
        if replay is not None:
            await replay(scope, receive, send)
            return

        captured = _Captured()

        async def replay_body() -> Message:
            return {"type": "http.request", "body": body, "more_body": False}

        answered = asyncio.Event()
        holding = asyncio.create_task(self._hold(owner, key, answered))
        settled = False

        async def settle() -> None:
            nonlocal settled
            settled = True
            await self._let_go(holding, answered)
            if captured.status is None or captured.status >= 500 or captured.streamed:
                await self._forget(owner, key)
            else:
                await self._keep(owner, key, captured)

        async def capture(message: Message) -> None:
            captured.add(message)
            last = message["type"] == "http.response.body" and not message.get("more_body")
            if last and not settled:
                # Kept before the answer is complete: a client that sends the key again the
                # moment it has the answer finds it kept, never "still being processed".
                await settle()
            await send(message)

        try:
            await self.app(scope, replay_body, capture)
        except BaseException:
            if not settled:
                settled = True
                await self._let_go(holding, answered)
                await self._forget(owner, key)
            raise
        if not settled:
            await settle()

    async def _begin(self, owner: str, key: str, fingerprint: str) -> Any:
        now = _now()
        row = {
            "owner": owner,
            "key": key,
            "fingerprint": fingerprint,
            "status": None,
            "response": None,
            "created_at": now,
            "locked_until": now + RUNNING_LEASE,
        }
        if time.monotonic() >= self._next_prune:
            # Expired answers are pruned once a minute, not on every request.
            self._next_prune = time.monotonic() + PRUNE_EVERY_SECONDS
            async with self.engine.begin() as conn:
                await conn.execute(
                    delete(self.table).where(self.table.c.created_at < now - KEEP_FOR)
                )
        try:
            async with self.engine.begin() as conn:
                await conn.execute(insert(self.table).values(**row))
            return None
        except IntegrityError:
            pass
        async with self.engine.begin() as conn:
            found = (
                (
                    await conn.execute(
                        select(self.table).where(
                            and_(self.table.c.owner == owner, self.table.c.key == key)
                        )
                    )
                )
                .mappings()
                .first()
            )
            if found is None:  # forgotten between our insert and this read: run it
                await conn.execute(insert(self.table).values(**row))
                return None
            if found["created_at"] < now - KEEP_FOR:  # expired, not yet pruned: a new key
                await conn.execute(
                    update(self.table)
                    .where(and_(self.table.c.owner == owner, self.table.c.key == key))
                    .values(**row)
                )
                return None
            if found["fingerprint"] != fingerprint:
                return problem_response(
                    Problem(
                        422,
                        "idempotency-key-reused",
                        "Idempotency key reused",
                        "This Idempotency-Key was already used with a different request; use a"
                        " new key for a new request.",
                    )
                )
            if found["status"] is None:
                if found["locked_until"] > now:
                    return problem_response(
                        Problem(
                            409,
                            "idempotency-key-in-use",
                            "Request in progress",
                            "A request with this Idempotency-Key is still being processed;"
                            " retry shortly.",
                            headers={"Retry-After": "1"},
                        )
                    )
                # The first attempt died without answering: this one takes over.
                await conn.execute(
                    update(self.table)
                    .where(and_(self.table.c.owner == owner, self.table.c.key == key))
                    .values(locked_until=now + RUNNING_LEASE)
                )
                return None
        stored = orjson.loads(crypto.decrypt(self.secret_key, _PURPOSE, found["response"]))
        return _Replay(found["status"], stored["headers"], stored["body"].encode("latin-1"))

    @staticmethod
    async def _let_go(holding: asyncio.Task[None], answered: asyncio.Event) -> None:
        # Told, not cancelled: a renewal is never cut off inside its database call.
        answered.set()
        try:
            await asyncio.shield(holding)
        except asyncio.CancelledError:
            await cancel_and_wait(holding)  # we are being cancelled ourselves: so is it
            raise

    async def _hold(self, owner: str, key: str, answered: asyncio.Event) -> None:
        """Renew the running lease until the request has answered."""
        t = self.table
        while not await wait_event(answered, RENEW_EVERY):
            # A renewal that fails only risks a repeat running early; the request goes on.
            with contextlib.suppress(SQLAlchemyError):
                async with self.engine.begin() as conn:
                    await conn.execute(
                        update(t)
                        .where(and_(t.c.owner == owner, t.c.key == key, t.c.status.is_(None)))
                        .values(locked_until=_now() + RUNNING_LEASE)
                    )

    async def _keep(self, owner: str, key: str, captured: _Captured) -> None:
        kept = orjson.dumps({"headers": captured.headers, "body": captured.body.decode("latin-1")})
        async with self.engine.begin() as conn:
            await conn.execute(
                update(self.table)
                .where(and_(self.table.c.owner == owner, self.table.c.key == key))
                .values(
                    status=captured.status, response=crypto.encrypt(self.secret_key, _PURPOSE, kept)
                )
            )

    async def _forget(self, owner: str, key: str) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                delete(self.table).where(and_(self.table.c.owner == owner, self.table.c.key == key))
            )


async def _owner(scope: Scope, authorization: bytes | None, session: bytes | None = None) -> str:
    """Whose key this is: the verified caller, so every credential of theirs shares it.

    An access token is verified here (not merely decoded), or a forged token could name
    someone else and be replayed their answers. Anything else (no credentials, an API key
    being exchanged, a token that fails verification) is scoped to the header itself; the
    route then refuses what needs refusing. A consumer session (``Sticky-Session``, no token)
    owns its own keys, so two shoppers never replay each other's answers.
    """
    if authorization:
        value = authorization.decode("latin-1")
        scheme, _, token = value.partition(" ")
        verifier = getattr(getattr(scope.get("app"), "state", None), "verifier", None)
        if scheme.lower() == "bearer" and token.count(".") == 2 and verifier is not None:
            try:
                principal = await verifier.verify(token.strip())
            except Exception:  # the route will answer the same failure properly
                principal = None
            if principal is not None:
                who = f"{principal.user_id}/{principal.team_member_id or principal.service or ''}"
                return hashlib.sha256(who.encode()).hexdigest()
    if authorization is None and session:
        return hashlib.sha256(b"session:" + session).hexdigest()
    return hashlib.sha256(b"header:" + (authorization or b"anonymous")).hexdigest()


async def _read_body(receive: Receive) -> tuple[bytes, bool]:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return b"", True
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks), False


_SKIPPED_HEADERS = frozenset({"content-length", "x-request-id", "date", "server"})


class _Captured:
    def __init__(self) -> None:
        self.status: int | None = None
        self.headers: list[tuple[str, str]] = []
        self.chunks: list[bytes] = []
        self.streamed = False

    def add(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            self.headers = [
                (k.decode("latin-1"), v.decode("latin-1"))
                for k, v in message.get("headers", [])
                if k.decode("latin-1").lower() not in _SKIPPED_HEADERS
            ]
        elif message["type"] == "http.response.body":
            self.chunks.append(message.get("body", b""))
            if len(self.chunks) > 1 and message.get("more_body", False):
                self.streamed = True

    @property
    def body(self) -> bytes:
        return b"".join(self.chunks)


class _Replay:
    def __init__(self, status: int, headers: list[list[str]], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in self.headers]
        headers.append((b"content-length", str(len(self.body)).encode()))
        headers.append((b"idempotent-replayed", b"true"))
        await send({"type": "http.response.start", "status": self.status, "headers": headers})
        await send({"type": "http.response.body", "body": self.body})

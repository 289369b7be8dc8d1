"""The mailbox's messages, in one SQLite file under the data directory."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import (
    Column,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    delete,
    exists,
    func,
    insert,
    select,
    text,
)
from sqlalchemy.ext.asyncio import AsyncEngine

from sticky.kernel.ids import new_id
from sticky.mailbox.parsing import ReceivedMail

metadata = MetaData()

messages = Table(
    "messages",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("id", String(40), nullable=False, unique=True),
    Column("received_at", String(40), nullable=False),
    Column("sender", Text, nullable=False),
    Column("recipients", Text, nullable=False),
    Column("subject", Text, nullable=False),
    Column("text", Text),
    Column("html", Text),
    Column("raw", LargeBinary, nullable=False),
)

recipients = Table(
    "recipients",
    metadata,
    Column("seq", Integer, ForeignKey("messages.seq", ondelete="CASCADE"), nullable=False),
    Column("address", String(320), nullable=False, index=True),
)


@dataclass(frozen=True)
class StoredMail:
    id: str
    sender: str
    recipients: list[str]
    subject: str
    text: str | None
    html: str | None
    received_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "from": self.sender,
            "to": self.recipients,
            "subject": self.subject,
            "text": self.text,
            "html": self.html,
            "receivedAt": self.received_at.isoformat().replace("+00:00", "Z"),
        }


_SHOWN = (
    messages.c.id,
    messages.c.sender,
    messages.c.recipients,
    messages.c.subject,
    messages.c.text,
    messages.c.html,
    messages.c.received_at,
)


def _stored(row: Any) -> StoredMail:
    return StoredMail(
        id=row.id,
        sender=row.sender,
        recipients=orjson.loads(row.recipients),
        subject=row.subject,
        text=row.text,
        html=row.html,
        received_at=datetime.fromisoformat(row.received_at),
    )


class MailboxStore:
    """Keeps the newest ``keep`` messages; older ones are dropped as new ones arrive."""

    def __init__(self, engine: AsyncEngine, keep: int = 1000) -> None:
        self.engine = engine
        self.keep = keep

    async def open(self) -> None:
        # The mailbox is a development tool, not a platform service: its file is disposable,
        # it has no schema history to migrate, and `sticky up` must work on a fresh data
        # directory with no extra step. So it creates its tables itself (IF NOT EXISTS).
        async with self.engine.begin() as conn:
            await conn.run_sync(metadata.create_all)

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def add(self, mail: ReceivedMail) -> str:
        message_id = new_id("mbx")
        async with self.engine.begin() as conn:
            result = await conn.execute(
                insert(messages).values(
                    id=message_id,
                    received_at=mail.received_at.astimezone(UTC).isoformat(),
                    sender=mail.sender,
                    recipients=orjson.dumps(list(mail.recipients)).decode(),
                    subject=mail.subject,
                    text=mail.text,
                    html=mail.html,
                    raw=mail.raw,
                )
            )
            seq = result.inserted_primary_key[0] if result.inserted_primary_key else None
            addresses = {address.lower() for address in mail.recipients}
            if addresses:
                await conn.execute(
                    insert(recipients), [{"seq": seq, "address": a} for a in addresses]
                )
            newest = select(messages.c.seq).order_by(messages.c.seq.desc()).limit(self.keep)
            await conn.execute(delete(messages).where(messages.c.seq.not_in(newest)))
        return message_id

    async def newest(self, *, to: str | None = None, limit: int = 50) -> list[StoredMail]:
        """Newest first; ``to`` keeps messages with that recipient (any case)."""
        query = select(*_SHOWN)
        if to:
            query = query.where(
                exists().where(
                    recipients.c.seq == messages.c.seq, recipients.c.address == to.strip().lower()
                )
            )
        query = query.order_by(messages.c.seq.desc()).limit(limit)
        async with self.engine.connect() as conn:
            return [_stored(row) for row in await conn.execute(query)]

    async def count(self) -> int:
        async with self.engine.connect() as conn:
            return int(
                (await conn.execute(select(func.count()).select_from(messages))).scalar_one()
            )

    async def get(self, message_id: str) -> StoredMail | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(*_SHOWN).where(messages.c.id == message_id))).first()
        return _stored(row) if row else None

    async def raw(self, message_id: str) -> bytes | None:
        async with self.engine.connect() as conn:
            query = select(messages.c.raw).where(messages.c.id == message_id)
            raw: bytes | None = (await conn.execute(query)).scalar_one_or_none()
        return raw

    async def clear(self) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(delete(recipients))
            await conn.execute(delete(messages))

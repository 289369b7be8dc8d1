"""Rows a user owns: create, read, page, change and delete, always scoped by ``user_id``.

Things, applications, products and categories share this one shape, so tenancy is decided
in one place: no query here runs without the owner's id in its ``WHERE``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection

from sticky.kernel.cursors import decode_cursor, encode_cursor

Row = dict[str, Any]


def json_list_has(column: sa.Column[Any], value: str, *, sqlite: bool) -> sa.ColumnElement[bool]:
    """``value`` is one of the strings in the JSON list ``column`` (a tag, a category)."""
    if sqlite:
        each = sa.func.json_each(column).table_valued("value")
        return sa.exists().select_from(each).where(each.c.value == value)
    return sa.func.jsonb_exists(sa.cast(column, postgresql.JSONB), value, type_=sa.Boolean)


class InvalidCursor(ValueError):
    """A cursor this service did not write (or for another list)."""


@dataclass(frozen=True)
class Cursor:
    created_at: datetime
    id: str

    def encode(self) -> str:
        return encode_cursor(self.created_at, self.id)

    @classmethod
    def decode(cls, text: str) -> Cursor:
        try:
            return cls(*decode_cursor(text))
        except ValueError as exc:
            raise InvalidCursor(text) from exc


@dataclass(frozen=True)
class PageOf:
    rows: list[Row]
    has_more: bool

    @property
    def next_cursor(self) -> str | None:
        if not self.has_more or not self.rows:
            return None
        last = self.rows[-1]
        return Cursor(last["created_at"], last["id"]).encode()


class Owned:
    """One owned table, seen through one connection."""

    def __init__(self, table: sa.Table, conn: AsyncConnection) -> None:
        self.table = table
        self._conn = conn

    async def insert(self, *rows: Row) -> None:
        if rows:
            await self._conn.execute(self.table.insert(), [dict(r) for r in rows])

    async def get(self, user_id: str, id_: str) -> Row | None:
        t = self.table
        result = await self._conn.execute(sa.select(t).where(t.c.user_id == user_id, t.c.id == id_))
        row = result.first()
        return dict(row._mapping) if row else None

    async def many(self, user_id: str, ids: Sequence[str]) -> list[Row]:
        t = self.table
        result = await self._conn.execute(
            sa.select(t).where(t.c.user_id == user_id, t.c.id.in_(list(ids)))
        )
        return [dict(row._mapping) for row in result]

    async def page(
        self,
        user_id: str,
        *,
        limit: int,
        cursor: Cursor | None = None,
        where: Sequence[sa.ColumnElement[bool]] = (),
    ) -> PageOf:
        """Oldest first; ``cursor`` continues after the row it names."""
        t = self.table
        query = sa.select(t).where(t.c.user_id == user_id, *where)
        if cursor is not None:
            query = query.where(
                sa.or_(
                    t.c.created_at > cursor.created_at,
                    sa.and_(t.c.created_at == cursor.created_at, t.c.id > cursor.id),
                )
            )
        query = query.order_by(t.c.created_at, t.c.id).limit(limit + 1)
        rows = [dict(row._mapping) for row in await self._conn.execute(query)]
        return PageOf(rows[:limit], len(rows) > limit)

    async def update(self, user_id: str, id_: str, values: Mapping[str, Any]) -> Row | None:
        t = self.table
        if values:
            await self._conn.execute(
                t.update().where(t.c.user_id == user_id, t.c.id == id_).values(**values)
            )
        return await self.get(user_id, id_)

    async def delete(self, user_id: str, id_: str) -> bool:
        t = self.table
        result = await self._conn.execute(t.delete().where(t.c.user_id == user_id, t.c.id == id_))
        return bool(result.rowcount)

    async def count(self, user_id: str) -> int:
        t = self.table
        result = await self._conn.execute(
            sa.select(sa.func.count()).select_from(t).where(t.c.user_id == user_id)
        )
        return int(result.scalar_one())

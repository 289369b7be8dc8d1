"""Rate-limit counters in the database: one row per bucket, a fixed window each."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from sticky.auth.store.tables import rate_limits


class Counters:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def hit(self, bucket: str, window_seconds: int, now: float) -> tuple[int, float]:
        """Count one more in ``bucket``'s window (starting a new one when it is over).

        Answers the count so far and when the window resets (epoch seconds). One statement,
        so concurrent hits never lose a count.
        """
        t = rate_limits
        insert = postgresql.insert if self._conn.dialect.name == "postgresql" else sqlite.insert
        fresh = insert(t).values(bucket=bucket, count=1, resets_at=now + window_seconds)
        expired = t.c.resets_at <= now
        statement = fresh.on_conflict_do_update(
            index_elements=[t.c.bucket],
            set_={
                "count": sa.case((expired, 1), else_=t.c.count + 1),
                "resets_at": sa.case((expired, fresh.excluded.resets_at), else_=t.c.resets_at),
            },
        ).returning(t.c.count, t.c.resets_at)
        count, resets_at = (await self._conn.execute(statement)).one()
        return int(count), float(resets_at)

    async def peek(self, bucket: str, now: float) -> tuple[int, float]:
        """The count in ``bucket``'s current window, and when it resets (0 when none)."""
        t = rate_limits
        query = sa.select(t.c.count, t.c.resets_at).where(t.c.bucket == bucket, t.c.resets_at > now)
        row = (await self._conn.execute(query)).first()
        return (int(row[0]), float(row[1])) if row else (0, now)

    async def clear(self, bucket: str) -> None:
        await self._conn.execute(rate_limits.delete().where(rate_limits.c.bucket == bucket))

    async def purge(self, now: float) -> int:
        """Forget windows that are over."""
        result = await self._conn.execute(
            rate_limits.delete().where(rate_limits.c.resets_at <= now)
        )
        return int(result.rowcount)

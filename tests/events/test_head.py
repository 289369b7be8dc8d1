"""The log's head (``GET /v1/events/head``): its last position, for services, from the index."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from sticky.events.store import SqlEventStore, reads
from sticky.kernel.settings import Settings
from tests.events.api_support import migrated, problem, running_events

ANN = "usr_ann"


@pytest.fixture
async def events_db(database_url: str) -> str:
    return await migrated(database_url)


async def test_the_head_is_the_last_position_for_services(
    settings: Settings, events_db: str
) -> None:
    async with running_events(settings, events_db) as ev:
        url, service = "/v1/events/head", ev.signer.service("api")
        assert (await ev.client.get(url, headers=service)).json() == {"position": 0}
        appended = await ev.append(ANN, {"type": "TO_DO"}, {"type": "MESSAGE"})
        head = await ev.client.get(url, headers=service)
        assert head.json() == {"position": appended[-1]["position"]}
        problem(await ev.client.get(url, headers=ev.signer.owner(ANN)), 403, "insufficient-scope")


async def test_the_head_is_read_from_the_end_of_the_primary_key(store: SqlEventStore) -> None:
    def plan(conn: sa.Connection) -> str:
        query = str(reads.HEAD.compile(conn))
        if conn.dialect.name == "sqlite":
            rows = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {query}").all()
            return " / ".join(str(row[-1]) for row in rows)
        return " / ".join(row[0] for row in conn.exec_driver_sql(f"EXPLAIN {query}"))

    found = await store.writer.run(plan)
    # SQLite: a SEARCH (the min/max optimisation), never a SCAN of the table; PostgreSQL:
    # one step backwards along the primary key.
    assert found == "SEARCH events" or "Scan Backward using pk_events" in found, found

"""Rebuilding the payments projection from the events service, to check the live one.

The events service holds every payment's stream (``payment-<id>``); folding each stream with
the same :func:`~sticky.api.payments.projection.apply` the api uses live gives the rows the
``payments`` table should hold. :func:`differences` compares the two: an empty list means the
projection and the event log agree.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from sticky.api.payments.ledger import Ledger
from sticky.api.payments.projection import PAYMENT_CREATED, Row, project, projected, stream_of
from sticky.api.store import Cursor, Store

_PAGE = 1000


async def _pages(
    events: httpx.AsyncClient, path: str, headers: Mapping[str, str], params: dict[str, Any]
) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {**params, "limit": _PAGE, **({"cursor": cursor} if cursor else {})}
        response = await events.get(path, params=query, headers=dict(headers))
        response.raise_for_status()
        body = response.json()
        found += body["data"]
        cursor = body.get("nextCursor")
        if not body.get("hasMore") or not cursor:
            return found


async def rebuild_payments(
    events: httpx.AsyncClient, headers: Mapping[str, str], user_id: str
) -> dict[str, Row]:
    """Every payment of ``user_id``, projected from its stream as the events service has it.

    ``headers`` authenticate to the events service (a service token, or the user's own).
    """
    created = await _pages(
        events, "/v1/events", headers, {"type": PAYMENT_CREATED, "userId": user_id}
    )
    rows: dict[str, Row] = {}
    for event in created:
        payment_id = event["paymentId"]
        stream = await _pages(
            events, f"/v1/streams/{stream_of(payment_id)}", headers, {"userId": user_id}
        )
        rows[payment_id] = project(sorted(stream, key=lambda e: e["version"]))
    return rows


async def live_payments(store: Store, user_id: str) -> dict[str, Row]:
    """The ``payments`` rows of ``user_id``, as the api keeps them."""
    rows: dict[str, Row] = {}
    async with store.reading() as tx:
        ledger = Ledger(tx.conn)
        cursor: Cursor | None = None
        while True:
            page = await ledger.page(user_id, limit=_PAGE, cursor=cursor)
            rows.update({row["id"]: row for row in page.rows})
            if not page.has_more:
                return rows
            last = page.rows[-1]
            cursor = Cursor(last["created_at"], last["id"])


def differences(live: Mapping[str, Row], rebuilt: Mapping[str, Row]) -> list[str]:
    """What the live projection says that the event log does not (empty: they agree)."""
    found: list[str] = []
    for payment_id in sorted(set(live) | set(rebuilt)):
        if payment_id not in rebuilt:
            found.append(f"{payment_id}: in the projection, not in the event log")
            continue
        if payment_id not in live:
            found.append(f"{payment_id}: in the event log, not in the projection")
            continue
        mine, theirs = projected(live[payment_id]), projected(rebuilt[payment_id])
        for name in mine:
            if mine[name] != theirs[name]:
                found.append(f"{payment_id}.{name}: {mine[name]!r} live, {theirs[name]!r} rebuilt")
    return found

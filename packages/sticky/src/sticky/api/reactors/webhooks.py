"""The webhooks reactor: every event a user's endpoints want becomes a queued delivery.

It follows the durable subscription ``webhooks`` (the events of every user, of the types some
enabled endpoint wants: :mod:`sticky.api.reactors.wanted`) and, per batch, asks the database
once for the enabled endpoints of the batch's users. An endpoint receives
the events of the types it names (or all, ``*``) created after it was. The body,
``{event, payment, flow, sticky, session}``, is built once, here, and queued in the api's
database with its endpoint; the unique ``(endpoint, event)`` makes a replayed event a no-op.
Sending is :class:`sticky.api.webhooks.sender.Sender`'s job, so a slow endpoint never holds
up the subscription.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson

from sticky.api.reactors.follower import Event, StreamReader
from sticky.api.reactors.payment_view import payment_stream, payment_view
from sticky.api.store import Store
from sticky.api.webhooks.deliveries import DeliveryStore, NewDelivery
from sticky.api.webhooks.endpoints import Endpoint, EndpointStore

SUBSCRIPTION = "webhooks"


def _created_at(event: Event) -> datetime:
    try:
        return datetime.fromisoformat(str(event["createdAt"]))
    except (KeyError, ValueError):
        return datetime.now(UTC)


class WebhookBodies:
    """Builds what a delivery carries: the event, and what it is about as far as known."""

    def __init__(self, store: Store, streams: StreamReader) -> None:
        self._store = store
        self._streams = streams

    async def build(self, event: Event) -> bytes:
        user_id = str(event["userId"])
        payment = None
        payment_id = event.get("paymentId")
        if payment_id:
            stream = event.get("stream") or payment_stream(str(payment_id))
            history = await self._streams.read(user_id, str(stream))
            if history:
                payment = payment_view(history, through=str(event["id"]))
        flow = sticky = None
        async with self._store.reading() as tx:
            if event.get("applicationId"):
                row = await tx.applications.get(user_id, str(event["applicationId"]))
                if row is not None:
                    flow = {"id": row["id"], "name": row["name"], "publicName": row["public_name"]}
            if event.get("thingId"):
                row = await tx.things.get(user_id, str(event["thingId"]))
                if row is not None:
                    sticky = {"id": row["id"], "name": row["name"]}
        session = {"id": event["sessionId"]} if event.get("sessionId") else None
        body: dict[str, Any] = {
            "event": event,
            "payment": payment,
            "flow": flow,
            "sticky": sticky,
            "session": session,
        }
        return orjson.dumps(body)


class WebhookReactor:
    def __init__(
        self,
        endpoints: EndpointStore,
        deliveries: DeliveryStore,
        bodies: WebhookBodies,
        queued: Callable[[], None],
    ) -> None:
        self._endpoints = endpoints
        self._deliveries = deliveries
        self._bodies = bodies
        self._queued = queued

    async def handle(self, batch: list[Event]) -> None:
        wanted = await self._endpoints.enabled_for(
            str(e["userId"]) for e in batch if e.get("userId")
        )
        if not wanted:
            return
        items: list[NewDelivery] = []
        for event in batch:
            matching = self._matching(wanted.get(str(event.get("userId"))) or [], event)
            if not matching:
                continue
            body = await self._bodies.build(event)
            items.extend(
                NewDelivery(
                    endpoint_id=endpoint.id,
                    user_id=endpoint.user_id,
                    event_id=str(event["id"]),
                    event_type=str(event["type"]),
                    body=body,
                )
                for endpoint in matching
            )
        if items and await self._deliveries.enqueue(items, datetime.now(UTC)):
            self._queued()

    @staticmethod
    def _matching(endpoints: list[Endpoint], event: Event) -> list[Endpoint]:
        created_at = _created_at(event)
        kind = str(event.get("type"))
        return [e for e in endpoints if e.wants(kind) and e.created_at <= created_at]

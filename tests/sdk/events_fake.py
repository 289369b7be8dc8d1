"""An in-memory stand-in for the events service's HTTP API (docs/events.md), as a handler.

It keeps a log, answers appends, pages, NDJSON/CSV exports, stats and streams like the
contract says, records every request, and can be told to cut a subscription's connection
after a number of events (``drop_after``), the way a restarting service or proxy would.
"""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from sticky_sdk import AsyncSticky, Sticky
from tests.sdk.fake_platform import make_jwt, problem

COLUMNS = [
    "id", "position", "type", "userId", "applicationId", "thingId", "sessionId", "paymentId",
    "federatedUserId", "customData", "createdAt", "stream", "version",
]  # fmt: skip


class Body(httpx.SyncByteStream, httpx.AsyncByteStream):
    """A response body sent in the given chunks, then (optionally) a broken connection."""

    def __init__(self, chunks: list[bytes], fail: bool = False) -> None:
        self.chunks, self.fail, self.sent = chunks, fail, 0

    def _next(self) -> Iterator[bytes]:
        for chunk in self.chunks:
            self.sent += 1
            yield chunk
        if self.fail:
            raise httpx.ReadError("connection reset by peer")

    def __iter__(self) -> Iterator[bytes]:
        yield from self._next()

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self._next():
            yield chunk


def line(event: dict[str, Any]) -> bytes:
    return json.dumps(event).encode() + b"\n"


@dataclass
class FakeEvents:
    log: list[dict[str, Any]] = field(default_factory=list)
    requests: list[httpx.Request] = field(default_factory=list)
    drops: list[int] = field(default_factory=list)  # per connection: events before cutting
    page_size: int = 2
    last_body: Body | None = None

    def add(self, type: str = "SESSION_READ", **fields: Any) -> dict[str, Any]:
        position = len(self.log) + 1
        event = {name: None for name in COLUMNS}
        event.update(
            id=f"evt_{position}", position=position, type=type, userId="usr_1",
            customData={}, createdAt="2026-12-04T16:20:00.123456Z",
        )  # fmt: skip
        event.update(fields)
        self.log.append(event)
        return event

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path, method = request.url.path, request.method
        if path == "/v1/events" and method == "POST":
            return self.append(json.loads(request.content), stream=None)
        if path == "/v1/events" and method == "GET":
            return self.read(request)
        if path == "/v1/events/subscribe":
            return self.subscribe(request)
        if path == "/v1/events/stats":
            rows = [{"day": "2026-12-04", "type": "SESSION_READ", "count": 2, "total": 0}]
            return httpx.Response(200, json={"data": rows})
        if path.startswith("/v1/streams/") and method == "POST":
            body = json.loads(request.content)
            return self.append(body["events"], path.rsplit("/", 1)[1], body.get("expectedVersion"))
        if path.startswith("/v1/streams/"):
            stream = path.rsplit("/", 1)[1]
            found = [e for e in self.log if e["stream"] == stream]
            return self.page(found, request)
        return problem(404, "not-found")

    def append(
        self, events: list[dict[str, Any]], stream: str | None, expected: int | None = None
    ) -> httpx.Response:
        if stream is not None and expected is not None:
            actual = max((e["version"] for e in self.log if e["stream"] == stream), default=-1)
            if actual != expected:
                return problem(
                    409, "wrong-expected-version", stream=stream,
                    expectedVersion=expected, actualVersion=actual,
                )  # fmt: skip
        acks = []
        for sent in events:
            known = next((e for e in self.log if e["id"] == sent["id"]), None)
            if known is not None and known["type"] != sent["type"]:
                return problem(409, "duplicate-event-id")
            duplicate = known is not None
            if known is None:
                version = None
                if stream is not None:
                    version = sum(1 for e in self.log if e["stream"] == stream)
                fields = {k: v for k, v in sent.items() if k != "type"}
                known = self.add(sent["type"], **fields, stream=stream, version=version)
            acks.append(
                {k: known[k] for k in ("id", "position", "stream", "version")}
                | {"duplicate": duplicate}
            )
        return httpx.Response(201, json={"data": acks})

    def page(self, found: list[dict[str, Any]], request: httpx.Request) -> httpx.Response:
        start = int(request.url.params.get("cursor", 0))
        chunk = found[start : start + self.page_size]
        more = start + self.page_size < len(found)
        cursor = str(start + self.page_size) if more else None
        return httpx.Response(200, json={"data": chunk, "hasMore": more, "nextCursor": cursor})

    def matching(self, request: httpx.Request) -> list[dict[str, Any]]:
        after = int(request.url.params.get("after", 0))
        types = request.url.params.get("type")
        return [
            e
            for e in self.log
            if e["position"] > after and (types is None or e["type"] in types.split(","))
        ]

    def read(self, request: httpx.Request) -> httpx.Response:
        found = self.matching(request)
        accept = request.headers["accept"]
        if accept == "application/x-ndjson":
            self.last_body = Body([line(e) for e in found])
        elif accept == "text/csv":
            out = io.StringIO()
            writer = csv.writer(out, lineterminator="\n")
            writer.writerow(COLUMNS)
            for e in found:
                writer.writerow([json.dumps(e[c]) if c == "customData" else e[c] for c in COLUMNS])
            self.last_body = Body([text.encode() + b"\n" for text in out.getvalue().splitlines()])
        else:
            return self.page(found, request)
        return httpx.Response(200, stream=self.last_body, headers={"content-type": accept})

    def subscribe(self, request: httpx.Request) -> httpx.Response:
        found = self.matching(request)
        if self.drops:
            keep = self.drops.pop(0)
            chunks = [b"\n"] + [line(e) for e in found[:keep]]
            if keep < len(found):  # half of the next line, then the connection breaks
                chunks.append(line(found[keep])[:10])
            return httpx.Response(200, stream=Body(chunks, fail=True))
        # A healthy connection: everything, then the fake has nothing more (a clean end).
        return httpx.Response(200, stream=Body([line(e) for e in found]))


class Kit:
    """A client of one kind wired to a :class:`FakeEvents`, recording its waits."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.fake = FakeEvents()
        self.sleeps: list[float] = []

    def client(self, handler: Any = None, **options: Any) -> Any:
        transport = httpx.MockTransport(handler or self.fake)
        token = make_jwt(time.time(), 3600)
        if self.kind == "sync":
            return Sticky(
                "http://sticky.test", access_token=token, transport=transport,
                sleep=self.sleeps.append, **options,
            )  # fmt: skip

        async def sleep(seconds: float) -> None:
            self.sleeps.append(seconds)

        return AsyncSticky(
            "http://sticky.test", access_token=token, transport=transport, sleep=sleep, **options
        )

    def sent(self, method: str, path: str) -> list[httpx.Request]:
        return [r for r in self.fake.requests if (r.method, r.url.path) == (method, path)]


async def take(items: Any, count: int) -> list[Any]:
    """The first ``count`` items of a (sync or async) iterator, which is then closed."""
    taken: list[Any] = []
    if isinstance(items, Iterator):
        for item in items:
            taken.append(item)
            if len(taken) == count:
                break
        items.close()  # type: ignore[attr-defined]
        return taken
    assert isinstance(items, AsyncIterator)
    async for item in items:
        taken.append(item)
        if len(taken) == count:
            break
    await items.aclose()  # type: ignore[attr-defined]
    return taken

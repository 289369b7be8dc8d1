"""An in-memory stand-in for the api service's HTTP API (things, flows, products, categories,
consumer sessions), as an ``httpx`` handler.

It answers like packages/sticky/src/sticky/api/routes say the service does: camelCase JSON,
cursor pages, problem+json errors, binary answers for QR codes, NDEF and sheets, a CSV
export streamed in chunks. A bearer token is the account's owner; ``Sticky-Session`` is a
consumer session, which reads only what is published and writes only itself.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import re
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from sticky_sdk import AsyncSticky, Sticky
from tests.sdk.events_fake import Body
from tests.sdk.fake_platform import make_jwt, problem

NOW = "2026-12-04T16:20:00.123456Z"
PUBLIC_URL = "http://sticky.test"
Handler = Callable[..., httpx.Response]


def missing(kind: str, id_: str) -> httpx.Response:
    return problem(404, f"{kind}-not-found", f"There is no {kind} {id_!r} in this account.")


def invalid(field_name: str, message: str) -> httpx.Response:
    error = {"field": field_name, "message": message, "code": "invalid"}
    return problem(422, "validation-failed", f"{field_name}: {message}", errors=[error])


def snake(name: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", lambda m: "_" + m.group(1).lower(), name)


@dataclass
class FakeApi:
    requests: list[httpx.Request] = field(default_factory=list)
    things: dict[str, dict[str, Any]] = field(default_factory=dict)
    applications: dict[str, dict[str, Any]] = field(default_factory=dict)
    products: dict[str, dict[str, Any]] = field(default_factory=dict)
    categories: dict[str, dict[str, Any]] = field(default_factory=dict)
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    versions: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    canned: deque[httpx.Response] = field(default_factory=deque)

    def __post_init__(self) -> None:
        self._ids = itertools.count(1)

    def new_id(self, prefix: str) -> str:
        return f"{prefix}_{next(self._ids):04d}"

    def add_session(self, **fields: Any) -> str:
        session_id = self.new_id("ses")
        self.sessions[session_id] = {
            "id": session_id, "userId": "usr_1", "applicationId": None, "thingId": None,
            "crossUserSector": {}, "userSector": {}, "sectors": {},
            "createdAt": NOW, "updatedAt": NOW, **fields,
        }  # fmt: skip
        return session_id

    def sent(self, method: str, path: str) -> list[httpx.Request]:
        return [r for r in self.requests if (r.method, r.url.path) == (method, path)]

    # The handler.

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.canned:
            return self.canned.popleft()
        who = self._caller(request)
        if isinstance(who, httpx.Response):
            return who
        parts = request.url.path.strip("/").split("/")
        if parts[0] != "v1" or len(parts) < 2:
            return problem(404, "not-found")
        body = json.loads(request.content) if request.content else None
        route: Handler | None = getattr(self, "_" + parts[1], None)
        if route is None:
            return problem(404, "not-found")
        if who == "session" and request.method != "GET" and parts[1] != "sessions":
            return problem(403, "insufficient-scope", "A session only reads published data.")
        return route(request, request.method, parts[2:], body, who)

    def _caller(self, request: httpx.Request) -> str | httpx.Response:
        if "authorization" in request.headers:
            return "owner"
        session_id = request.headers.get("sticky-session")
        if session_id is None:
            return problem(401, "missing-credentials", "Send a bearer token or Sticky-Session.")
        if session_id not in self.sessions:
            return problem(401, "invalid-session", "The Sticky-Session header names no session.")
        return "session:" + session_id if request.url.path.startswith("/v1/sessions") else "session"

    def _page(self, request: httpx.Request, rows: list[dict[str, Any]]) -> httpx.Response:
        limit = int(request.url.params.get("limit", 20))
        cursor = request.url.params.get("cursor")
        ids = [row["id"] for row in rows]
        start = ids.index(cursor) + 1 if cursor else 0
        chunk = rows[start : start + limit]
        more = start + limit < len(rows)
        page = {"data": chunk, "hasMore": more, "nextCursor": chunk[-1]["id"] if more else None}
        return httpx.Response(200, json=page)

    def _crud(
        self,
        kind: str,
        table: dict[str, dict[str, Any]],
        request: httpx.Request,
        rest: list[str],
        body: Any,
        rows: list[dict[str, Any]] | None = None,
    ) -> httpx.Response:
        method = request.method
        if not rest and method == "GET":
            return self._page(request, list(table.values()) if rows is None else rows)
        row = table.get(rest[0]) if rest else None
        if rest and row is None:
            return missing(kind, rest[0])
        assert row is not None
        if method == "GET":
            return httpx.Response(200, json=row)
        if method == "PATCH":
            row.update(body, updatedAt="2026-12-04T16:21:00Z")
            return httpx.Response(200, json=row)
        if method == "DELETE":
            del table[rest[0]]
            return httpx.Response(204)
        return problem(405, "method-not-allowed")

    # Things.

    def _new_thing(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        thing_id = self.new_id("thg")
        thing = {
            "id": thing_id, "userId": "usr_1", "name": name, "designId": None,
            "applicationId": None, "productId": None, "tags": [], "location": None,
            "customData": {}, "theirId": None, "isVirtual": False, "isKidSafe": False,
            "url": f"{PUBLIC_URL}/t/{thing_id}", "createdAt": NOW, "updatedAt": NOW,
        }  # fmt: skip
        thing.update(body)
        self.things[thing_id] = thing
        return thing

    def _things(
        self, request: httpx.Request, method: str, rest: list[str], body: Any, who: str
    ) -> httpx.Response:
        params = request.url.params
        if rest == [] and method == "POST":
            if not body.get("name"):
                return invalid("name", "Field required")
            return httpx.Response(201, json=self._new_thing(body.pop("name"), body))
        if rest == ["bulk"]:
            pattern, start = body.pop("namePattern", "Sticker {n}"), body.pop("start", 1)
            names = [pattern.format(n=n) for n in range(start, start + body.pop("count"))]
            return httpx.Response(
                201, json={"data": [self._new_thing(n, dict(body)) for n in names]}
            )
        rows = [
            t
            for t in self.things.values()
            if params.get("designId") in (None, t["designId"])
            and params.get("isVirtual") in (None, json.dumps(t["isVirtual"]))
            and params.get("tag") in (None, *t["tags"])
        ]
        if rest == ["export"]:
            out = io.StringIO()
            writer = csv.writer(out, lineterminator="\n")
            writer.writerow(["id", "name", "url"])
            chunks = [out.getvalue().encode()]
            for thing in rows:
                out = io.StringIO()
                csv.writer(out, lineterminator="\n").writerow(
                    [thing[c] for c in ("id", "name", "url")]
                )
                chunks.append(out.getvalue().encode())
            return httpx.Response(200, stream=Body(chunks), headers={"content-type": "text/csv"})
        if rest == ["sheet"]:
            unknown = [i for i in body["ids"] if i not in self.things]
            if unknown:
                return invalid("ids", f"names things this account does not have: {unknown[0]}")
            title = (body.get("title") or "").encode()
            return httpx.Response(
                200, content=b"%PDF-1.4\n" + title + b"\n" + ",".join(body["ids"]).encode()
            )
        if len(rest) == 2 and rest[0] not in self.things:
            return missing("thing", rest[0])
        if len(rest) == 2:
            return self._printed(self.things[rest[0]]["url"], rest[1], params)
        return self._crud("thing", self.things, request, rest, body, rows)

    def _printed(self, url: str, what: str, params: httpx.QueryParams) -> httpx.Response:
        scale, border = params.get("scale", "10"), params.get("border", "4")
        if what == "qr.svg":
            svg = f'<svg xmlns="http://www.w3.org/2000/svg" data-scale="{scale}" data-border="{border}"><desc>{url}</desc></svg>'
            return httpx.Response(
                200, content=svg.encode(), headers={"content-type": "image/svg+xml"}
            )
        if what == "qr.png":
            return httpx.Response(
                200,
                content=b"\x89PNG\r\n\x1a\n" + url.encode(),
                headers={"content-type": "image/png"},
            )
        code, rest = (b"\x04", url[8:]) if url.startswith("https://") else (b"\x03", url[7:])
        record = code + rest.encode()  # a URI record: the prefix's code, then the rest
        message = bytes([0xD1, 0x01, len(record)]) + b"U" + record
        if params.get("wrap") == "tlv":
            message = bytes([0x03, len(message)]) + message + b"\xfe"
        return httpx.Response(
            200, content=message, headers={"content-type": "application/octet-stream"}
        )

    # Flows.

    def _applications(
        self, request: httpx.Request, method: str, rest: list[str], body: Any, who: str
    ) -> httpx.Response:
        if rest == [] and method == "POST":
            app_id = self.new_id("app")
            self.applications[app_id] = app = {
                "id": app_id, "userId": "usr_1", "publicName": None, "logic": None,
                "settings": {}, **body, "draftVersion": 1, "liveVersion": None, "live": None,
                "createdAt": NOW, "updatedAt": NOW,
            }  # fmt: skip
            return httpx.Response(201, json=app)
        app = self.applications.get(rest[0]) if rest else None
        if who == "session" and app is not None:
            if app["live"] is None:
                return missing("application", rest[0])
            live = app["live"]
            published = {k: live[k] for k in ("name", "publicName", "settings")}
            return httpx.Response(
                200,
                json={
                    "id": app["id"],
                    "userId": "usr_1",
                    **published,
                    "liveVersion": live["version"],
                },
            )
        if rest and app is None:
            return missing("application", rest[0])
        if len(rest) == 1 and method == "PATCH" and app is not None:
            app["draftVersion"] += 1
        if rest[1:] == ["make-live"] and app is not None:
            expected = request.url.params.get("draftVersion")
            if expected is not None and int(expected) != app["draftVersion"]:
                return problem(
                    409,
                    "draft-changed",
                    f"The draft is at version {app['draftVersion']}, not {expected}.",
                )
            made = self.versions.setdefault(app["id"], [])
            version = {k: app[k] for k in ("name", "publicName", "logic", "settings")}
            version.update(version=len(made) + 1, createdAt=NOW)
            made.insert(0, version)
            app.update(live=version, liveVersion=version["version"])
            return httpx.Response(200, json=app)
        if rest[1:] == ["versions"]:
            return httpx.Response(200, json={"data": self.versions.get(rest[0], [])})
        if rest[1:] == ["try-logic"] and app is not None:
            source = body.get("logic") or app["logic"]
            if "throw" in source:
                result = {
                    "ok": False,
                    "url": None,
                    "console": [],
                    "error": {"kind": "Error", "message": "boom"},
                    "elapsedMs": 2,
                }
            else:
                thing = body.get("input", {}).get("thingId", "test-thing")
                result = {
                    "ok": True,
                    "url": f"https://shop.example/{thing}",
                    "console": ["routing"],
                    "error": None,
                    "elapsedMs": 1.5,
                }
            return httpx.Response(200, json=result)
        return self._crud("application", self.applications, request, rest, body)

    # Products and categories.

    def _products(
        self, request: httpx.Request, method: str, rest: list[str], body: Any, who: str
    ) -> httpx.Response:
        if rest == [] and method == "POST":
            product_id = self.new_id("prd")
            self.products[product_id] = product = {
                "id": product_id, "userId": "usr_1", "description": "", "categories": [],
                "isEnabled": True, "media": [], "questions": [], "theirId": None, **body,
                "createdAt": NOW, "updatedAt": NOW,
            }  # fmt: skip
            # The service keeps questions as it validated them: option keys in snake_case.
            for question in product["questions"]:
                question["options"] = [
                    {snake(k): v for k, v in o.items()} for o in question["options"]
                ]
            return httpx.Response(201, json=product)
        params = request.url.params
        rows = [
            p
            for p in self.products.values()
            if params.get("category") in (None, *p["categories"])
            and params.get("isEnabled") in (None, json.dumps(p["isEnabled"]))
            and (who == "owner" or p["isEnabled"])
        ]
        return self._crud("product", self.products, request, rest, body, rows)

    def _categories(
        self, request: httpx.Request, method: str, rest: list[str], body: Any, who: str
    ) -> httpx.Response:
        if rest == [] and method == "POST":
            category_id = self.new_id("cat")
            self.categories[category_id] = category = {
                "id": category_id, "userId": "usr_1", "description": "", "availability": [],
                **body, "isAvailable": True, "createdAt": NOW, "updatedAt": NOW,
            }  # fmt: skip
            return httpx.Response(201, json=category)
        return self._crud("category", self.categories, request, rest, body)

    # Consumer sessions.

    def _sessions(
        self, request: httpx.Request, method: str, rest: list[str], body: Any, who: str
    ) -> httpx.Response:
        session_id = rest[0]
        if who.startswith("session:") and who != "session:" + session_id:
            return problem(403, "insufficient-scope", "A session reads and writes only itself.")
        session = self.sessions.get(session_id)
        if session is None:
            return missing("session", session_id)
        if rest[1:] == ["events"]:
            event = {"id": f"evt_{len(self.events) + 1}", "sessionId": session_id, **body}
            self.events.append(event)
            return httpx.Response(202, json={"id": event["id"], "status": "recorded"})
        app_id = (body or {}).get("applicationId") or request.url.params.get("applicationId")
        app_id = app_id or session["applicationId"]
        if method == "PATCH":
            if "applicationSector" in body and not app_id:
                return invalid("applicationId", "is required to write an application sector")
            for name in ("crossUserSector", "userSector"):
                if body.get(name) is not None:
                    session[name] = body[name]
            if body.get("applicationSector") is not None:
                session["sectors"][app_id] = body["applicationSector"]
        shown = {k: v for k, v in session.items() if k != "sectors"}
        return httpx.Response(
            200, json={**shown, "applicationSector": session["sectors"].get(app_id, {})}
        )


class ApiKit:
    """Clients of one kind wired to a :class:`FakeApi`, as the owner or as a session."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.fake = FakeApi()
        self.sleeps: list[float] = []

    def client(self, **options: Any) -> Any:
        transport = httpx.MockTransport(self.fake)
        if "session_id" not in options:
            options.setdefault("access_token", make_jwt(time.time(), 3600))
        if self.kind == "sync":
            return Sticky(PUBLIC_URL, transport=transport, sleep=self.sleeps.append, **options)

        async def sleep(seconds: float) -> None:
            self.sleeps.append(seconds)

        return AsyncSticky(PUBLIC_URL, transport=transport, sleep=sleep, **options)

"""The tap: a sticker's id in, the destination URL out, the tap recorded and never lost.

What a tap needs (the thing, its flow's live version) is cached for a few seconds per
process (``sticky.api.cache``: read again in the background while a busy entry still
answers, and read once however many taps miss it together); a change made through this
process forgets its entries at once, other replicas see it within ``CACHE_SECONDS``.
Routing logic runs in the sandbox, compiled once per live version. The session and the
``SESSION_READ`` event are written through the recorder's group commit, so a burst of taps
shares its fsyncs.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import sqlalchemy as sa
from starlette.requests import Request
from starlette.responses import Response

from sticky.api.cache import ReadThrough
from sticky.api.context import Api
from sticky.api.ids import looks_like_thing_id
from sticky.api.recorder import Recorder, Writes
from sticky.api.sandbox import LogicFailure
from sticky.api.store import Row, Store
from sticky.api.store.sessions import SessionSeen
from sticky.api.store.tables import application_versions, applications, things
from sticky.kernel.ids import ordered_id
from sticky.kernel.privacy import anonymize_ip

CACHE_SECONDS = 5.0
REFRESH_SECONDS = 1.0  # a busy entry is read again in its last second (see api.cache)
_CACHE_SIZE = 50_000
SESSION_COOKIE = "sticky-sessionid"
# A session id starts with the time it was made; ids from before that began are still good.
_SESSION_ID = re.compile(r"^ses_(?:[0-9a-km-z]{9})?[0-9a-km-z]{20}$")


@dataclass(frozen=True)
class Flow:
    application: Row
    live: Row | None  # None: nothing live yet; taps go to the default app


@dataclass(frozen=True)
class Target:
    thing: Row | None
    flow: Flow | None


@dataclass
class TapResult:
    url: str | None
    session_id: str
    set_cookie: bool
    failure: LogicFailure | None = None
    console: tuple[str, ...] = ()
    user_id: str = ""
    events: list[dict[str, Any]] = field(default_factory=list)


def user_agent_class(user_agent: str) -> str:
    ua = user_agent.lower()
    if any(word in ua for word in ("bot", "spider", "crawl", "curl", "wget", "python")):
        return "bot"
    if "iphone" in ua or "ipad" in ua or "ios" in ua:
        return "ios"
    if "android" in ua:
        return "android"
    if any(word in ua for word in ("windows", "macintosh", "linux", "cros")):
        return "desktop"
    return "other"


# Ids as Sticky makes them: nothing a cookie or a query string would need to escape.
PLAIN_ID = re.compile(r"[A-Za-z0-9_-]{1,100}")
_COOKIE_ATTRIBUTES = f"; HttpOnly; Max-Age={365 * 24 * 3600}; Path=/; SameSite=lax"


def set_session_cookie(response: Response, request: Request, session_id: str) -> None:
    """The consumer's session cookie: a year, HttpOnly, SameSite=Lax, Secure over HTTPS."""
    secure = request.headers.get("x-forwarded-proto", request.scope["scheme"]) == "https"
    if PLAIN_ID.fullmatch(session_id):
        # What Starlette's set_cookie writes, without http.cookies (a tap's hot path).
        suffix = "; Secure" if secure else ""
        response.raw_headers.append(
            (b"set-cookie", f"{SESSION_COOKIE}={session_id}{_COOKIE_ATTRIBUTES}{suffix}".encode())
        )
        return
    response.set_cookie(
        SESSION_COOKIE,
        session_id,
        max_age=365 * 24 * 3600,
        httponly=True,
        samesite="lax",
        secure=secure,
        path="/",
    )


def with_params(url: str, params: dict[str, str | None]) -> str:
    """``url`` with each of ``params`` that is not None added to its query, unless the query
    already names it (routing logic may have chosen it)."""
    added = [(k, v) for k, v in params.items() if v is not None]
    if "#" not in url and all(PLAIN_ID.fullmatch(v) and k not in url for k, v in added):
        # Ids need no escaping and none of the names is there yet: the tap's usual case,
        # without parsing and re-encoding the whole query.
        if not added:
            return url
        extra = "&".join(f"{k}={v}" for k, v in added)
        if "?" not in url:
            return f"{url}?{extra}"
        return f"{url}{extra}" if url.endswith(("?", "&")) else f"{url}&{extra}"
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    present = {key for key, _ in query}
    missing = [(k, v) for k, v in added if k not in present]
    if not missing:
        return url
    return urlunsplit(parts._replace(query=urlencode(query + missing)))


def with_session(url: str, session_id: str) -> str:
    """``url`` with ``sessionId`` in its query (unless the logic already put one there)."""
    return with_params(url, {"sessionId": session_id})


def logic_input(
    api: Api,
    *,
    thing: dict[str, Any] | None,
    application: Row,
    settings: dict[str, Any],
    session_id: str,
    query: dict[str, Any],
) -> dict[str, Any]:
    """The ``input`` object routing logic receives (field names as in the original platform)."""
    v2_thing = None
    if thing is not None:
        v2_thing = {
            "id": thing.get("id"),
            "name": thing.get("name"),
            "designId": thing.get("design_id"),
            "productId": thing.get("product_id") or thing.get("productId"),
            "tags": thing.get("tags", []),
            "location": thing.get("location"),
            "customData": thing.get("custom_data", {}),
            "theirId": thing.get("their_id"),
            "isVirtual": thing.get("is_virtual", False),
            "isKidSafe": thing.get("is_kid_safe", False),
        }
    return {
        "thingId": thing.get("id") if thing else None,
        "applicationId": application["id"],
        "productId": v2_thing["productId"] if v2_thing else None,
        "sessionId": session_id,
        "userId": application["user_id"],
        "consumerAppUrl": settings.get("consumerAppUrl") or api.consumer_app_url,
        "query": query,
        "v2": {
            "application": {
                "id": application["id"],
                "name": application["name"],
                "publicName": application["public_name"],
                "settings": settings,
            },
            "user": {"id": application["user_id"]},
            "thing": v2_thing,
        },
    }


class Taps:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._things = ReadThrough(
            self._read_thing, seconds=CACHE_SECONDS, refresh=REFRESH_SECONDS, size=_CACHE_SIZE
        )
        self._flows = ReadThrough(
            self._read_flow, seconds=CACHE_SECONDS, refresh=REFRESH_SECONDS, size=_CACHE_SIZE
        )
        self._seen = SessionsWritten(_CACHE_SIZE)

    def forget(self, thing_id: str) -> None:
        self._things.forget(thing_id)

    def forget_application(self, application_id: str) -> None:
        self._flows.forget(application_id)

    def close(self) -> None:
        self._things.close()
        self._flows.close()

    async def thing(self, thing_id: str) -> Row | None:
        return await self._things.get(thing_id)

    async def flow(self, application_id: str) -> Flow | None:
        return await self._flows.get(application_id)

    async def _read_thing(self, thing_id: str) -> Row | None:
        async with self._store.reading() as tx:
            result = await tx.conn.execute(sa.select(things).where(things.c.id == thing_id))
            found = result.first()
        return dict(found._mapping) if found else None

    async def _read_flow(self, application_id: str) -> Flow | None:
        async with self._store.reading() as tx:
            app = (
                await tx.conn.execute(
                    sa.select(applications).where(applications.c.id == application_id)
                )
            ).first()
            live = None
            if app is not None and app.live_version is not None:
                live = (
                    await tx.conn.execute(
                        sa.select(application_versions).where(
                            application_versions.c.application_id == application_id,
                            application_versions.c.version == app.live_version,
                        )
                    )
                ).first()
        return Flow(dict(app._mapping), dict(live._mapping) if live else None) if app else None

    async def target(self, thing_id: str) -> Target:
        if not looks_like_thing_id(thing_id):
            return Target(None, None)
        thing = await self.thing(thing_id)
        if thing is None:
            return Target(None, None)
        flow = await self.flow(thing["application_id"]) if thing["application_id"] else None
        if flow is not None and flow.application["user_id"] != thing["user_id"]:
            flow = None  # never run another user's flow, whatever the row says
        return Target(thing, flow)

    def session(
        self,
        cookie: str | None,
        user_id: str,
        application_id: str | None,
        thing_id: str | None,
        kid_safe: bool,
        now: datetime,
    ) -> tuple[str, bool, SessionSeen | None]:
        """The tap's session, whether to set its cookie, and the session row to write (None
        when this process wrote the same one last time: a phone tapping again)."""
        seen = f"{user_id} {application_id or ''} {thing_id or ''}"
        if not kid_safe and cookie and _SESSION_ID.match(cookie):
            if self._seen.get(cookie) == seen:
                return cookie, False, None
            self._seen.put(cookie, seen)
            return cookie, False, SessionSeen(cookie, user_id, application_id, thing_id, now)
        session_id = ordered_id("ses")
        self._seen.put(session_id, seen)
        row = SessionSeen(session_id, user_id, application_id, thing_id, now)
        return session_id, not kid_safe, row


class SessionsWritten:
    """The sessions this process wrote lately, each with the user, flow and sticker it wrote
    them for: at most ``size``, the older half forgotten at once.

    Plain dicts of strings, which Python's garbage collector never tracks, so never walks:
    an ``OrderedDict`` of tuples, 50,000 taps long, was a third of what each full collection
    walked in the api under load.
    """

    def __init__(self, size: int) -> None:
        self._half = max(1, size // 2)
        self._new: dict[str, str] = {}
        self._old: dict[str, str] = {}

    def get(self, session_id: str) -> str | None:
        found = self._new.get(session_id)
        return found if found is not None else self._old.get(session_id)

    def put(self, session_id: str, seen: str) -> None:
        self._new[session_id] = seen
        if len(self._new) >= self._half:
            self._old, self._new = self._new, {}


def tap_event(
    type_: str,
    *,
    user_id: str,
    application_id: str | None,
    thing_id: str | None,
    session_id: str | None,
    custom_data: dict[str, Any],
    created_at: Any,
) -> dict[str, Any]:
    return {
        "id": ordered_id("evt"),
        "type": type_,
        "userId": user_id,
        "applicationId": application_id,
        "thingId": thing_id,
        "sessionId": session_id,
        "customData": custom_data,
        "createdAt": created_at.isoformat(),
    }


async def record_tap(
    recorder: Recorder,
    session: SessionSeen | None,
    events: list[dict[str, Any]],
    client_ip: str | None,
) -> None:
    """Write the tap's session and events (durable once this returns)."""
    network = None
    if client_ip:
        with contextlib.suppress(ValueError):
            network = anonymize_ip(client_ip)
    writes = Writes(sessions=[session] if session else [])
    await recorder.record(writes.add_events(events, network))

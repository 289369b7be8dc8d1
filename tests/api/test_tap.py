"""The tap in-process, on SQLite and PostgreSQL: redirects, cookies, logic, pages, outbox."""

from __future__ import annotations

import asyncio
import gc
import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import event as sa_event

from sticky.api.tap import SessionsWritten
from tests.api.support import RunningApi
from tests.conftest import problem

A = "usr_alice"
B = "usr_bob"
HTML = {"Accept": "text/html,application/xhtml+xml"}


async def tap(api: RunningApi, thing_id: str, **kwargs: object):  # type: ignore[no-untyped-def]
    return await api.client.get(f"/t/{thing_id}", follow_redirects=False, **kwargs)  # type: ignore[arg-type]


async def tapped(api: RunningApi) -> tuple[dict[str, Any], str]:
    """A sticker of A's with a live flow, tapped once: the sticker, and the session made."""
    flow = await api.flow(A, logic='return "https://shop.example/";')
    thing = await api.thing(A, applicationId=flow["id"])
    location = (await tap(api, thing["id"])).headers["location"]
    return thing, parse_qs(urlsplit(location).query)["sessionId"][0]


async def test_tap_redirects_where_the_live_logic_says_with_a_session(api: RunningApi) -> None:
    flow = await api.flow(
        A,
        logic='return "https://shop.example/menu?table=" + input.v2.thing.name + "&q=" + input.query.q;',
    )
    thing = await api.thing(A, name="T9", applicationId=flow["id"])
    response = await tap(api, thing["id"], params={"q": "x"})
    assert response.status_code == 302
    assert response.headers["cache-control"] == "no-store"  # a phone asks again every tap
    location = urlsplit(response.headers["location"])
    assert location.netloc == "shop.example"
    query = parse_qs(location.query)
    assert query["table"] == ["T9"]
    assert query["q"] == ["x"]
    session_id = query["sessionId"][0]
    cookie = response.headers["set-cookie"]
    assert f"sticky-sessionid={session_id}" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie or "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # plain http here
    # The next tap with the cookie keeps the session and does not set it again.
    again = await tap(api, thing["id"], headers={"Cookie": f"sticky-sessionid={session_id}"})
    assert parse_qs(urlsplit(again.headers["location"]).query)["sessionId"] == [session_id]
    assert "set-cookie" not in again.headers
    # Without a query string the logic's input.query is an empty object.
    bare = parse_qs(urlsplit((await tap(api, thing["id"])).headers["location"]).query)
    assert bare["q"] == ["undefined"]

    events = await api.outbox()
    reads = [e for e in events if e["type"] == "SESSION_READ"]
    assert len(reads) == 3
    assert reads[0]["thingId"] == thing["id"]
    assert reads[0]["applicationId"] == flow["id"]
    assert reads[0]["userId"] == A
    assert reads[0]["sessionId"] == session_id
    assert reads[0]["customData"]["applicationVersion"] == 1


async def test_sessions_and_events_sort_as_they_were_made_and_old_cookies_still_work(
    api: RunningApi,
) -> None:
    flow = await api.flow(A, logic='return "https://shop.example/";')
    thing = await api.thing(A, applicationId=flow["id"])
    made = []
    for _ in range(3):
        location = (await tap(api, thing["id"])).headers["location"]
        made.append(parse_qs(urlsplit(location).query)["sessionId"][0])
        await asyncio.sleep(0.002)  # the next millisecond
    assert made == sorted(made)
    assert all(re.fullmatch(r"ses_[0-9a-km-z]{29}", session) for session in made)
    # A cookie from before session ids began with their time keeps its session.
    old = "ses_" + "k" * 20
    again = await tap(api, thing["id"], headers={"Cookie": f"sticky-sessionid={old}"})
    assert parse_qs(urlsplit(again.headers["location"]).query)["sessionId"] == [old]
    assert "set-cookie" not in again.headers
    ids = [e["id"] for e in await api.outbox() if e["type"] == "SESSION_READ"]
    assert len(ids) == 4
    assert ids == sorted(ids)
    assert all(re.fullmatch(r"evt_[0-9a-km-z]{29}", event_id) for event_id in ids)


async def test_taps_arriving_together_read_the_sticker_and_its_flow_once(
    api: RunningApi,
) -> None:
    # Every tap in flight when a busy sticker's cached rows were missing (first use, or
    # expiry) used to read them itself, queueing for the pooled connections: a stall for all.
    flow = await api.flow(A, logic="return input.consumerAppUrl;")
    thing = await api.thing(A, name="T1", applicationId=flow["id"])
    reads: list[str] = []

    def count(conn, cursor, statement: str, *_: object) -> None:  # type: ignore[no-untyped-def]
        if statement.lstrip().upper().startswith("SELECT"):
            reads.append(statement)

    engine = api.state.store.engine.sync_engine
    sa_event.listen(engine, "before_cursor_execute", count)
    try:
        answers = await asyncio.gather(*(tap(api, thing["id"]) for _ in range(32)))
    finally:
        sa_event.remove(engine, "before_cursor_execute", count)
    assert [answer.status_code for answer in answers] == [302] * 32
    assert len([s for s in reads if "FROM things" in s]) == 1
    assert len([s for s in reads if "FROM applications" in s]) == 1
    assert len([s for s in reads if "FROM application_versions" in s]) == 1


async def test_secure_cookie_over_https_and_none_on_kid_safe_stickers(api: RunningApi) -> None:
    flow = await api.flow(A, logic='return "https://kids.example/";')
    grown_up = await api.thing(A, applicationId=flow["id"])
    secure = await tap(api, grown_up["id"], headers={"X-Forwarded-Proto": "https"})
    assert "Secure" in secure.headers["set-cookie"]
    kid_safe = await api.thing(A, applicationId=flow["id"], isKidSafe=True)
    response = await tap(api, kid_safe["id"])
    assert response.status_code == 302
    assert "set-cookie" not in response.headers
    assert "sessionId=ses_" in response.headers["location"]
    # Even a cookie sent along is not used on a kid-safe sticker.
    other = await tap(api, kid_safe["id"], headers={"Cookie": "sticky-sessionid=ses_" + "a" * 20})
    assert "ses_" + "a" * 20 not in other.headers["location"]


async def test_taps_run_the_live_version_not_the_draft(api: RunningApi) -> None:
    flow = await api.flow(A, logic='return "https://v1.example/";')
    thing = await api.thing(A, applicationId=flow["id"])
    await api.client.patch(
        f"/v1/applications/{flow['id']}",
        json={"logic": 'return "https://v2.example/";'},
        headers=api.owner(A),
    )
    assert (await tap(api, thing["id"])).headers["location"].startswith("https://v1.example/")
    await api.post(f"/v1/applications/{flow['id']}/make-live", A, None)
    assert (await tap(api, thing["id"])).headers["location"].startswith("https://v2.example/")


async def test_a_flow_without_logic_goes_to_its_app_or_stickyretail(api: RunningApi) -> None:
    plain = await api.flow(A)
    thing = await api.thing(A, applicationId=plain["id"])
    location = (await tap(api, thing["id"])).headers["location"]
    assert location.startswith("https://stickers.example/retail/?")
    query = parse_qs(urlsplit(location).query)
    assert query["thingId"] == [thing["id"]]
    assert query["applicationId"] == [plain["id"]]
    own = await api.flow(A, settings={"consumerAppUrl": "https://my.shop/app"})
    other = await api.thing(A, applicationId=own["id"])
    assert (await tap(api, other["id"])).headers["location"].startswith("https://my.shop/app?")
    loose = await api.thing(A)  # no flow at all
    assert (
        (await tap(api, loose["id"]))
        .headers["location"]
        .startswith("https://stickers.example/retail/")
    )


async def test_unknown_and_deleted_stickers_get_a_friendly_404(api: RunningApi) -> None:
    page = await tap(api, "doesnotexist12", headers=HTML)
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert "isn't active" in page.text
    program = await tap(api, "not a sticker")
    assert program.status_code == 404
    assert program.headers["content-type"] == "application/problem+json"
    thing = await api.thing(A)
    await api.client.delete(f"/v1/things/{thing['id']}", headers=api.owner(A))
    assert (await tap(api, thing["id"], headers=HTML)).status_code == 404
    assert await api.outbox() == []


async def test_failing_logic_gets_a_page_and_the_owner_an_event(api: RunningApi) -> None:
    cases = {
        "throw": 'throw new Error("boom");',
        "loop": "while (true) {}",
        "javascript": 'return "javascript:alert(1)";',
        "require": 'return require("fs").readFileSync("/etc/passwd");',
    }
    for name, logic in cases.items():
        flow = await api.flow(A, logic=logic, name=name)
        thing = await api.thing(A, applicationId=flow["id"])
        page = await tap(api, thing["id"], headers=HTML)
        assert page.status_code == 502, name
        assert "taking a break" in page.text
        assert "boom" not in page.text and "passwd" not in page.text
    errors = [e for e in await api.outbox() if e["type"] == "LOGIC_ERROR"]
    assert [e["customData"]["kind"] for e in errors] == [
        "exception",
        "timeout",
        "bad-result",
        "exception",
    ]
    assert all(e["userId"] == A for e in errors)
    # ...and the next tap on good logic is served normally.
    good = await api.flow(A, logic='return "https://fine.example/";')
    thing = await api.thing(A, applicationId=good["id"])
    assert (await tap(api, thing["id"])).status_code == 302


async def test_go_flow_opens_a_live_flow_without_a_sticker(api: RunningApi) -> None:
    flow = await api.flow(A, logic='return "https://pay.example/?t=" + input.thingId;')
    response = await api.client.get(f"/go/flow/{flow['id']}", follow_redirects=False)
    assert response.status_code == 302
    assert response.headers["location"].startswith("https://pay.example/?t=null")
    draft_only = await api.post("/v1/applications", A, {"name": "not live"})
    assert (await api.client.get(f"/go/flow/{draft_only['id']}")).status_code == 404


async def test_a_session_reads_published_data_and_writes_only_itself(api: RunningApi) -> None:
    thing, session_id = await tapped(api)
    as_session = {"Sticky-Session": session_id}
    assert (
        await api.client.get(f"/v1/things/{thing['id']}", headers=as_session)
    ).status_code == 200
    flow_id = thing["applicationId"]
    published = await api.client.get(f"/v1/applications/{flow_id}", headers=as_session)
    assert published.status_code == 200
    assert "logic" not in published.json()
    write = await api.client.post("/v1/things", json={"name": "x"}, headers=as_session)
    assert write.status_code == 403
    changed = await api.client.patch(
        f"/v1/sessions/{session_id}",
        json={"userSector": {"cart": [1]}, "applicationSector": {"step": 2}},
        headers=as_session,
    )
    assert changed.status_code == 200
    body = changed.json()
    assert body["userSector"] == {"cart": [1]}
    assert body["applicationSector"] == {"step": 2}
    owner_view = await api.client.get(f"/v1/sessions/{session_id}", headers=api.owner(A))
    assert owner_view.json()["userSector"] == {"cart": [1]}
    assert (
        await api.client.get(f"/v1/sessions/{session_id}", headers=api.owner(B))
    ).status_code == 404
    other = await api.client.get("/v1/sessions/ses_aaaaaaaaaaaaaaaaaaaa", headers=as_session)
    assert other.status_code == 403
    recorded = await api.client.post(
        f"/v1/sessions/{session_id}/events",
        json={"type": "CHECK_IN", "customData": {"table": 9}},
        headers=as_session,
    )
    assert recorded.status_code == 202
    refused = await api.client.post(
        f"/v1/sessions/{session_id}/events",
        json={"type": "SESSION_CART_PAY"},
        headers=as_session,
    )
    assert refused.status_code == 422
    for nobody in ("ses_nope", "ses_\x00", "ses_" + "x" * 100):
        unknown = await api.client.get("/v1/things", headers={"Sticky-Session": nobody})
        problem(unknown, 401, "invalid-session")
    check_ins = [e for e in await api.outbox() if e["type"] == "CHECK_IN"]
    assert check_ins[0]["sessionId"] == session_id
    assert check_ins[0]["customData"] == {"table": 9}


async def test_a_session_event_type_the_events_service_would_refuse_is_refused_here(
    api: RunningApi,
) -> None:
    # Accepted here but refused later, it would sit at the head of the ordered outbox forever.
    _, session_id = await tapped(api)
    before = await api.outbox()
    for bad in ("X_", "X__DOOR", "x_door", "PAYMENT_CREATED", "SESSION_CART_REFUND"):
        refused = await api.client.post(
            f"/v1/sessions/{session_id}/events",
            json={"type": bad},
            headers={"Sticky-Session": session_id},
        )
        assert refused.status_code == 422, bad
        assert refused.headers["content-type"] == "application/problem+json"
    # Nor data the outbox's encoder refuses (a 500 once): numbers past 64 bits, NaN.
    for raw in (
        b'{"type": "CHECK_IN", "customData": {"n": 1000000000000000000000000000000}}',
        b'{"type": "CHECK_IN", "customData": {"n": NaN}}',
    ):
        unencodable = await api.client.post(
            f"/v1/sessions/{session_id}/events",
            content=raw,
            headers={"Sticky-Session": session_id, "content-type": "application/json"},
        )
        assert unencodable.status_code == 422, raw
        assert unencodable.headers["content-type"] == "application/problem+json"
    accepted = await api.client.post(
        f"/v1/sessions/{session_id}/events",
        json={"type": "X_DOOR_OPENED"},
        headers={"Sticky-Session": session_id},
    )
    assert accepted.status_code == 202
    assert len(await api.outbox()) == len(before) + 1


async def test_session_event_data_the_events_service_would_refuse_is_refused_here(
    api: RunningApi,
) -> None:
    # These were a 202 "recorded", then refused by the events service for good: dead letters.
    _, session_id = await tapped(api)
    before = await api.outbox()
    for body, field in (
        ({"type": "CHECK_IN", "customData": {"note": "x" * 70_000}}, "customData"),
        ({"type": "CHECK_IN", "applicationId": "app\u0001"}, "applicationId"),
        ({"type": "CHECK_IN", "thingId": "a\nb"}, "thingId"),
    ):
        refused = await api.client.post(
            f"/v1/sessions/{session_id}/events", json=body, headers={"Sticky-Session": session_id}
        )
        assert problem(refused, 422, "validation-error")["errors"][0]["field"] == field
    assert len(await api.outbox()) == len(before)
    fits = await api.client.post(
        f"/v1/sessions/{session_id}/events",
        json={"type": "CHECK_IN", "customData": {"note": "x" * 60_000}},
        headers={"Sticky-Session": session_id},
    )
    assert fits.status_code == 202


async def test_what_a_session_names_must_be_its_merchants(api: RunningApi) -> None:
    # Its events go into that merchant's log: a flow or sticker of nobody's is refused.
    thing, session_id = await tapped(api)
    theirs = await api.thing(B, applicationId=(await api.flow(B))["id"])
    mine = await api.flow(A, logic='return "https://shop.example/other";')
    as_session = {"Sticky-Session": session_id}
    before = await api.outbox()
    for body, field in (
        ({"type": "CHECK_IN", "applicationId": "app_nope"}, "applicationId"),
        ({"type": "CHECK_IN", "applicationId": theirs["applicationId"]}, "applicationId"),
        ({"type": "CHECK_IN", "thingId": theirs["id"]}, "thingId"),
    ):
        refused = await api.client.post(
            f"/v1/sessions/{session_id}/events", json=body, headers=as_session
        )
        assert problem(refused, 422, "validation-error")["errors"][0]["field"] == field, body
    sector = await api.client.patch(
        f"/v1/sessions/{session_id}",
        json={"applicationId": "app_nope", "applicationSector": {"step": 1}},
        headers=as_session,
    )
    assert problem(sector, 422, "validation-error")["errors"][0]["field"] == "applicationId"
    assert len(await api.outbox()) == len(before)
    named = {"type": "CHECK_IN", "applicationId": mine["id"], "thingId": thing["id"]}
    accepted = await api.client.post(
        f"/v1/sessions/{session_id}/events", json=named, headers=as_session
    )
    assert accepted.status_code == 202
    [event] = (await api.outbox())[len(before) :]
    assert (event["applicationId"], event["thingId"]) == (mine["id"], thing["id"])


def test_the_sessions_written_forget_the_older_half_and_stay_out_of_the_gcs_sight() -> None:
    written = SessionsWritten(6)
    for session in ("ses_a", "ses_b", "ses_c"):  # half full: these become the older half
        written.put(session, "usr_1 app_1 thg_1")
    written.put("ses_d", "usr_1 app_1 thg_2")
    written.put("ses_a", "usr_1 app_2 thg_1")  # written again, for another flow
    assert written.get("ses_a") == "usr_1 app_2 thg_1"
    assert written.get("ses_b") == "usr_1 app_1 thg_1"
    written.put("ses_e", "usr_1 app_1 thg_1")  # half full again: the older half goes
    assert written.get("ses_b") is None
    assert written.get("ses_c") is None
    assert written.get("ses_d") == "usr_1 app_1 thg_2"
    assert written.get("ses_a") == "usr_1 app_2 thg_1"
    gc.collect()
    # Never tracked, never walked: a full collection's pause does not grow with them.
    assert not any(gc.is_tracked(table) for table in vars(written).values())

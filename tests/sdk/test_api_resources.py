"""``things``, ``applications``, ``products``, ``categories`` and ``sessions``: request shapes,
parsing, pages, binary answers, consumer-session credentials, errors.

Each test runs with both clients against :class:`FakeApi` (the api service's routes as a
handler).
"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from sticky_sdk import (
    APIResponseValidationError,
    Application,
    ApplicationVersion,
    AsyncSticky,
    AuthenticationError,
    AvailabilityWindow,
    Category,
    ConflictError,
    InsufficientScopeError,
    Location,
    LogicResult,
    Media,
    NotFoundError,
    Page,
    Product,
    Question,
    QuestionOption,
    RecordedEvent,
    Session,
    Sticky,
    StickyError,
    Thing,
    ValidationError,
)
from tests.sdk.api_fake import ApiKit
from tests.sdk.conftest import collect, run
from tests.sdk.fake_platform import problem


@pytest.fixture(params=["sync", "async"])
def kit(request: pytest.FixtureRequest) -> ApiKit:
    """A client of each kind in turn, wired to a fake of the api service."""
    return ApiKit(request.param)


def body(request: httpx.Request) -> Any:
    return json.loads(request.content)


# Things.


async def test_create_sends_the_fields_given_in_camel_case(kit: ApiKit) -> None:
    sticky = kit.client()
    thing = await run(
        sticky.things.create(
            "Table 4",
            design_id="round-60",
            tags=("terrace", "vip"),
            location=Location(51.5, -0.12, name="Shop"),
            custom_data={"table_no": 4, "seats": {"max_people": 6}},
            is_kid_safe=True,
        )
    )
    (request,) = kit.fake.sent("POST", "/v1/things")
    assert body(request) == {
        "name": "Table 4",
        "designId": "round-60",
        "tags": ["terrace", "vip"],
        "location": {"latitude": 51.5, "longitude": -0.12, "name": "Shop"},
        "customData": {"table_no": 4, "seats": {"max_people": 6}},  # the caller's, as given
        "isKidSafe": True,
    }
    assert request.headers["idempotency-key"]
    assert request.headers["authorization"].startswith("Bearer ")
    assert isinstance(thing, Thing)
    assert thing.name == "Table 4" and thing.tags == ("terrace", "vip")
    assert thing.location == Location(latitude=51.5, longitude=-0.12, name="Shop")
    assert thing.custom_data == {"table_no": 4, "seats": {"max_people": 6}}
    assert thing.url == f"http://sticky.test/t/{thing.id}"
    assert thing.created_at == datetime(2026, 12, 4, 16, 20, 0, 123456, tzinfo=UTC)
    assert (thing.is_virtual, thing.is_kid_safe, thing.their_id) == (False, True, None)


async def test_a_location_may_be_a_mapping(kit: ApiKit) -> None:
    sticky = kit.client()
    await run(sticky.things.create("Door", location={"latitude": 1, "longitude": 2}))
    assert body(kit.fake.sent("POST", "/v1/things")[0])["location"] == {
        "latitude": 1,
        "longitude": 2,
    }


async def test_create_many_names_things_by_the_pattern(kit: ApiKit) -> None:
    sticky = kit.client()
    things = await run(
        sticky.things.create_many(3, name_pattern="Table {n:02}", start=7, tags=["bar"])
    )
    (request,) = kit.fake.sent("POST", "/v1/things/bulk")
    assert body(request) == {"count": 3, "namePattern": "Table {n:02}", "start": 7, "tags": ["bar"]}
    assert request.headers["idempotency-key"]
    assert [t.name for t in things] == ["Table 07", "Table 08", "Table 09"]
    assert all(isinstance(t, Thing) and t.tags == ("bar",) for t in things)


async def test_update_sends_only_the_fields_named(kit: ApiKit) -> None:
    sticky = kit.client()
    thing = await run(sticky.things.create("Door", application_id="app_1", their_id="D-1"))
    updated = await run(
        sticky.things.update(thing.id, name="Back door", application_id=None, location=None)
    )
    request = kit.fake.sent("PATCH", f"/v1/things/{thing.id}")[0]
    assert body(request) == {"name": "Back door", "applicationId": None, "location": None}
    assert "idempotency-key" not in request.headers
    assert (updated.name, updated.application_id, updated.their_id) == ("Back door", None, "D-1")


async def test_update_refuses_before_sending_what_the_platform_would(kit: ApiKit) -> None:
    sticky = kit.client()
    with pytest.raises(StickyError, match="name cannot be None"):
        await run(sticky.things.update("thg_1", name=None))
    with pytest.raises(TypeError, match="nmae"):
        await run(sticky.things.update("thg_1", nmae="Typo"))
    assert kit.fake.requests == []


async def test_list_follows_every_page_with_the_filters(kit: ApiKit) -> None:
    sticky = kit.client()
    for n in range(5):
        await run(sticky.things.create(f"T{n}", tags=["vip"] if n % 2 == 0 else []))
    await run(sticky.things.create("Virtual", is_virtual=True, tags=["vip"]))
    pager = sticky.things.list(tag="vip", is_virtual=False, limit=2)
    assert kit.fake.sent("GET", "/v1/things") == []  # nothing until iterated
    things = await collect(pager)
    assert [t.name for t in things] == ["T0", "T2", "T4"]
    pages = kit.fake.sent("GET", "/v1/things")
    assert len(pages) == 2
    assert dict(pages[0].url.params) == {"tag": "vip", "isVirtual": "false", "limit": "2"}
    assert pages[1].url.params["cursor"] == things[1].id


async def test_list_page_reads_one_page(kit: ApiKit) -> None:
    sticky = kit.client()
    made = [await run(sticky.things.create(f"T{n}")) for n in range(3)]
    page = await run(sticky.things.list_page(limit=2))
    assert (
        isinstance(page, Page)
        and page.has_more
        and [t.id for t in page] == [m.id for m in made[:2]]
    )
    rest = await run(sticky.things.list_page(cursor=page.next_cursor, limit=2))
    assert [t.id for t in rest] == [made[2].id] and not rest.has_more
    assert kit.fake.sent("GET", "/v1/things")[1].url.params["cursor"] == page.next_cursor


async def test_retrieve_and_delete(kit: ApiKit) -> None:
    sticky = kit.client()
    thing = await run(sticky.things.create("Door"))
    assert await run(sticky.things.retrieve(thing.id)) == thing
    assert await run(sticky.things.delete(thing.id)) is None
    with pytest.raises(NotFoundError) as caught:
        await run(sticky.things.retrieve(thing.id))
    assert caught.value.slug == "thing-not-found"


async def test_export_streams_csv_to_a_path_or_a_file(kit: ApiKit, tmp_path: Path) -> None:
    sticky = kit.client()
    for name in ("A", "B, with a comma"):
        await run(sticky.things.create(name, design_id="d1"))
    await run(sticky.things.create("C", design_id="d2"))
    target = tmp_path / "things.csv"
    written = await run(sticky.things.export(target, design_id="d1"))
    assert written == target.stat().st_size
    rows = list(csv.reader(io.StringIO(target.read_text())))
    assert rows[0] == ["id", "name", "url"] and [r[1] for r in rows[1:]] == ["A", "B, with a comma"]
    request = kit.fake.sent("GET", "/v1/things/export")[0]
    assert request.headers["accept"] == "text/csv"
    assert dict(request.url.params) == {"designId": "d1"}
    into = io.BytesIO()
    assert await run(sticky.things.export(into)) == len(into.getvalue())
    assert into.getvalue().count(b"\n") == 4


async def test_qr_codes_ndef_and_sheets_are_bytes(kit: ApiKit) -> None:
    sticky = kit.client()
    thing = await run(sticky.things.create("Door"))
    svg = await run(sticky.things.qr_svg(thing.id, scale=4, border=0))
    assert svg.startswith(b"<svg") and thing.url.encode() in svg
    request = kit.fake.sent("GET", f"/v1/things/{thing.id}/qr.svg")[0]
    assert dict(request.url.params) == {"scale": "4", "border": "0"}
    assert request.headers["accept"] == "image/svg+xml"
    png = await run(sticky.things.qr_png(thing.id))
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert (
        kit.fake.sent("GET", f"/v1/things/{thing.id}/qr.png")[0].url.params == httpx.QueryParams()
    )
    message = await run(sticky.things.ndef(thing.id))
    assert message[:4] == bytes([0xD1, 0x01, message[2], ord("U")])
    tlv = await run(sticky.things.ndef(thing.id, wrap="tlv"))
    assert tlv == bytes([0x03, len(message)]) + message + b"\xfe"
    pdf = await run(sticky.things.sheet_pdf([thing.id], title="Doors"))
    assert pdf.startswith(b"%PDF-") and b"Doors" in pdf
    sheet = kit.fake.sent("POST", "/v1/things/sheet")[0]
    assert body(sheet) == {"ids": [thing.id], "title": "Doors"}
    assert sheet.headers["accept"] == "application/pdf" and sheet.headers["idempotency-key"]


async def test_binary_answers_raise_the_platforms_errors(kit: ApiKit) -> None:
    sticky = kit.client()
    with pytest.raises(NotFoundError):
        await run(sticky.things.qr_png("thg_gone"))
    with pytest.raises(ValidationError) as caught:
        await run(sticky.things.sheet_pdf(["thg_gone"]))
    assert caught.value.errors[0].field == "ids"
    with pytest.raises(StickyError, match="'message' or 'tlv'"):
        await run(sticky.things.ndef("thg_1", wrap="nfc"))
    with pytest.raises(StickyError, match="list of ids"):
        await run(sticky.things.sheet_pdf("thg_1"))


async def test_a_validation_error_names_the_field(kit: ApiKit) -> None:
    sticky = kit.client()
    with pytest.raises(ValidationError) as caught:
        await run(sticky.things.create(""))
    assert caught.value.status == 422 and caught.value.errors[0].field == "name"


# Flows.


async def test_a_flow_from_draft_to_live(kit: ApiKit) -> None:
    sticky = kit.client()
    app = await run(
        sticky.applications.create(
            "Menu",
            public_name="Our menu",
            logic="return 'https://a'",
            settings={"theme_colour": "red"},
        )
    )
    assert body(kit.fake.sent("POST", "/v1/applications")[0]) == {
        "name": "Menu",
        "publicName": "Our menu",
        "logic": "return 'https://a'",
        "settings": {"theme_colour": "red"},
    }
    assert isinstance(app, Application)
    assert (app.draft_version, app.live_version, app.live) == (1, None, None)
    assert app.settings == {"theme_colour": "red"} and app.created_at is not None
    edited = await run(sticky.applications.update(app.id, public_name=None, logic="return 'b'"))
    assert body(kit.fake.sent("PATCH", f"/v1/applications/{app.id}")[0]) == {
        "publicName": None,
        "logic": "return 'b'",
    }
    assert edited.draft_version == 2
    live = await run(sticky.applications.make_live(app.id, draft_version=2))
    request = kit.fake.sent("POST", f"/v1/applications/{app.id}/make-live")[0]
    assert request.url.params["draftVersion"] == "2" and request.content == b""
    assert request.headers["idempotency-key"]
    assert live.live_version == 1 and isinstance(live.live, ApplicationVersion)
    assert live.live.logic == "return 'b'" and live.live.created_at.tzinfo is not None
    with pytest.raises(ConflictError) as caught:
        await run(sticky.applications.make_live(app.id, draft_version=1))
    assert caught.value.slug == "draft-changed"
    versions = await run(sticky.applications.versions(app.id))
    assert [v.version for v in versions] == [1]
    assert [a.id for a in await collect(sticky.applications.list())] == [app.id]
    await run(sticky.applications.delete(app.id))
    with pytest.raises(NotFoundError):
        await run(sticky.applications.retrieve(app.id))


async def test_try_logic_answers_the_url_or_the_error(kit: ApiKit) -> None:
    sticky = kit.client()
    app = await run(sticky.applications.create("Menu", logic="return 'x'"))
    result = await run(sticky.applications.try_logic(app.id, input={"thingId": "thg_9"}))
    assert body(kit.fake.sent("POST", f"/v1/applications/{app.id}/try-logic")[0]) == {
        "input": {"thingId": "thg_9"}
    }
    assert result == LogicResult(
        ok=True, url="https://shop.example/thg_9", console=("routing",), error=None, elapsed_ms=1.5
    )
    failed = await run(sticky.applications.try_logic(app.id, logic="throw new Error('boom')"))
    assert not failed.ok and failed.url is None
    assert failed.error == {"kind": "Error", "message": "boom"} and failed.elapsed_ms == 2.0


async def test_update_of_a_flow_refuses_clearing_its_name(kit: ApiKit) -> None:
    sticky = kit.client()
    with pytest.raises(StickyError, match="name cannot be None"):
        await run(sticky.applications.update("app_1", name=None))
    assert kit.fake.requests == []


# Products and categories.


async def test_products_with_questions_and_media(kit: ApiKit) -> None:
    sticky = kit.client()
    size = Question(
        "size", "Size", (QuestionOption("s", "Small"), QuestionOption("l", "Large", 150)), True
    )
    extras = {"id": "extras", "name": "Extras", "multiple": True,
              "options": [{"id": "shot", "name": "Extra shot", "price_delta": 50}]}  # fmt: skip
    product = await run(
        sticky.products.create(
            "Latte",
            320,
            "GBP",
            categories=["cat_1"],
            questions=[size, extras],
            media=[Media("https://img.example/latte.jpg")],
            their_id="SKU-1",
        )
    )
    sent = body(kit.fake.sent("POST", "/v1/products")[0])
    assert sent["questions"] == [
        {"id": "size", "name": "Size", "required": True, "multiple": False,
         "options": [{"id": "s", "name": "Small", "priceDelta": 0},
                     {"id": "l", "name": "Large", "priceDelta": 150}]},
        {"id": "extras", "name": "Extras", "multiple": True,
         "options": [{"id": "shot", "name": "Extra shot", "priceDelta": 50}]},
    ]  # fmt: skip
    assert sent["media"] == [{"url": "https://img.example/latte.jpg", "type": "image"}]
    assert {k: sent[k] for k in ("name", "price", "currency", "categories", "theirId")} == {
        "name": "Latte", "price": 320, "currency": "GBP", "categories": ["cat_1"],
        "theirId": "SKU-1",
    }  # fmt: skip
    assert isinstance(product, Product)
    assert product.questions[0] == size
    assert product.questions[1].options == (QuestionOption("shot", "Extra shot", 50),)
    assert product.media == (Media("https://img.example/latte.jpg", "image"),)
    assert (product.price, product.currency, product.categories) == (320, "GBP", ("cat_1",))
    updated = await run(sticky.products.update(product.id, is_enabled=False, their_id=None))
    assert body(kit.fake.sent("PATCH", f"/v1/products/{product.id}")[0]) == {
        "isEnabled": False,
        "theirId": None,
    }
    assert (updated.is_enabled, updated.their_id) == (False, None)
    with pytest.raises(StickyError, match="price cannot be None"):
        await run(sticky.products.update(product.id, price=None))


async def test_products_list_with_filters(kit: ApiKit) -> None:
    sticky = kit.client()
    await run(sticky.products.create("Tea", 250, "GBP", categories=["cat_1"]))
    await run(sticky.products.create("Cake", 400, "GBP", categories=["cat_2"]))
    await run(sticky.products.create("Old tea", 200, "GBP", categories=["cat_1"], is_enabled=False))
    names = [p.name for p in await collect(sticky.products.list(category="cat_1", is_enabled=True))]
    assert names == ["Tea"]
    assert dict(kit.fake.sent("GET", "/v1/products")[0].url.params) == {
        "category": "cat_1",
        "isEnabled": "true",
    }
    page = await run(sticky.products.list_page(limit=1))
    assert [p.name for p in page] == ["Tea"] and page.has_more


async def test_categories_with_availability(kit: ApiKit) -> None:
    sticky = kit.client()
    breakfast = AvailabilityWindow(days=(0, 1, 2, 3, 4), start="07:00", end="11:00")
    category = await run(
        sticky.categories.create("Breakfast", description="Mornings", availability=[breakfast])
    )
    assert body(kit.fake.sent("POST", "/v1/categories")[0]) == {
        "name": "Breakfast",
        "description": "Mornings",
        "availability": [{"days": [0, 1, 2, 3, 4], "start": "07:00", "end": "11:00"}],
    }
    assert isinstance(category, Category)
    assert category.availability == (breakfast,) and category.is_available is True
    late = {"days": [5], "start": "22:00", "end": "02:00"}
    updated = await run(sticky.categories.update(category.id, availability=[late]))
    assert updated.availability == (AvailabilityWindow((5,), "22:00", "02:00"),)
    assert [c.id for c in await collect(sticky.categories.list(limit=1))] == [category.id]
    assert await run(sticky.categories.retrieve(category.id)) == updated
    await run(sticky.categories.delete(category.id))
    with pytest.raises(NotFoundError):
        await run(sticky.categories.retrieve(category.id))


# Consumer sessions.


async def test_a_session_client_sends_its_id_and_no_token(kit: ApiKit) -> None:
    session_id = kit.fake.add_session(crossUserSector={"language": "cy"})
    shop = kit.client(session_id=session_id)
    assert shop.session_id == session_id and shop.access_token is None
    session = await run(shop.sessions.retrieve(session_id))
    request = kit.fake.sent("GET", f"/v1/sessions/{session_id}")[0]
    assert request.headers["sticky-session"] == session_id
    assert "authorization" not in request.headers
    assert isinstance(session, Session)
    assert session.cross_user_sector == {"language": "cy"} and session.application_sector == {}


async def test_a_session_reads_published_data_and_writes_only_itself(kit: ApiKit) -> None:
    owner = kit.client()
    app = await run(owner.applications.create("Menu", logic="return 'x'", settings={"a": 1}))
    await run(owner.applications.make_live(app.id))
    shop = kit.client(session_id=kit.fake.add_session())
    published = await run(shop.applications.retrieve(app.id))
    assert (published.name, published.settings, published.live_version) == ("Menu", {"a": 1}, 1)
    assert (published.logic, published.draft_version, published.live) == (None, None, None)
    assert published.created_at is None
    with pytest.raises(InsufficientScopeError):
        await run(shop.things.create("Mine now"))
    with pytest.raises(InsufficientScopeError):
        await run(shop.sessions.retrieve(kit.fake.add_session()))


async def test_a_session_updates_its_sectors_and_records_events(kit: ApiKit) -> None:
    session_id = kit.fake.add_session(applicationId="app_1", thingId="thg_1")
    shop = kit.client(session_id=session_id)
    session = await run(
        shop.sessions.update(
            session_id, user_sector={"cart": ["prd_1"]}, application_sector={"step": 2}
        )
    )
    assert body(kit.fake.sent("PATCH", f"/v1/sessions/{session_id}")[0]) == {
        "userSector": {"cart": ["prd_1"]},
        "applicationSector": {"step": 2},
    }
    assert session.user_sector == {"cart": ["prd_1"]} and session.application_sector == {"step": 2}
    other = await run(shop.sessions.retrieve(session_id, application_id="app_2"))
    assert other.application_sector == {}
    assert (
        kit.fake.sent("GET", f"/v1/sessions/{session_id}")[0].url.params["applicationId"] == "app_2"
    )
    recorded = await run(
        shop.sessions.record_event(
            session_id, "CHECK_IN", custom_data={"door": 3}, thing_id="thg_2"
        )
    )
    request = kit.fake.sent("POST", f"/v1/sessions/{session_id}/events")[0]
    assert body(request) == {"type": "CHECK_IN", "customData": {"door": 3}, "thingId": "thg_2"}
    assert request.headers["idempotency-key"] and request.headers["sticky-session"] == session_id
    assert recorded == RecordedEvent(id="evt_1", status="recorded")


async def test_the_owner_reads_a_session_with_its_token(kit: ApiKit) -> None:
    session_id = kit.fake.add_session()
    owner = kit.client()
    await run(owner.sessions.retrieve(session_id))
    request = kit.fake.sent("GET", f"/v1/sessions/{session_id}")[0]
    assert "sticky-session" not in request.headers and request.headers["authorization"]


async def test_an_unknown_session_is_an_authentication_error(kit: ApiKit) -> None:
    shop = kit.client(session_id="ses_forgotten")
    with pytest.raises(AuthenticationError) as caught:
        await run(shop.products.retrieve("prd_1"))
    assert caught.value.slug == "invalid-session"


async def test_calls_without_credentials_carry_no_session(kit: ApiKit) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(202, json={})

    shop: Any = (Sticky if kit.kind == "sync" else AsyncSticky)(
        "http://sticky.test", session_id="ses_1", transport=httpx.MockTransport(handler)
    )
    await run(shop.auth.resend_verification("ada@example.com"))
    assert "sticky-session" not in seen[0].headers and "authorization" not in seen[0].headers


def test_session_credentials_are_checked_and_never_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STICKY_KEY", "sk_from_environment_0001")
    shop = Sticky("http://sticky.test", session_id="ses_abcdefghijklmnopqrst")
    assert shop._credentials.key is None  # the environment's key is not used
    assert repr(shop) == (
        "Sticky(base_url='http://sticky.test', credentials='consumer session ses…qrst')"
    )
    with pytest.raises(StickyError, match="not both"):
        Sticky(session_id="ses_1", key="pk_live_0001")
    with pytest.raises(StickyError, match="not both"):
        AsyncSticky(session_id="ses_1", access_token="eyJ.a.b")
    with pytest.raises(StickyError, match="pass it as key="):
        Sticky(session_id="pk_live_public_0001")
    for wrong in ("", "ses_1 ", "ses\n1"):
        with pytest.raises(StickyError, match="not a session id"):
            Sticky(session_id=wrong)


# Across the resources.


async def test_a_post_keeps_its_idempotency_key_across_retries(kit: ApiKit) -> None:
    sticky = kit.client()
    busy = problem(503, "unavailable", retryAfter=1)
    kit.fake.canned.extend([busy, busy])
    await run(sticky.products.create("Tea", 250, "GBP", idempotency_key="tea-1"))
    attempts = kit.fake.sent("POST", "/v1/products")
    assert len(attempts) == 3 and kit.sleeps == [1.0, 1.0]
    assert {r.headers["idempotency-key"] for r in attempts} == {"tea-1"}


async def test_ids_cannot_reach_other_paths(kit: ApiKit) -> None:
    sticky = kit.client()
    with pytest.raises(NotFoundError):
        await run(sticky.things.qr_svg("../../applications"))
    assert kit.fake.requests[-1].url.raw_path == b"/v1/things/..%2F..%2Fapplications/qr.svg"


def test_models_refuse_what_they_cannot_read() -> None:
    thing = {"id": "thg_1", "userId": "usr_1", "name": "Door", "url": "http://s/t/thg_1",
             "tags": [], "customData": {}, "isVirtual": False, "isKidSafe": False,
             "createdAt": "2026-01-01T00:00:00Z", "updatedAt": "2026-01-01T00:00:00Z",
             "somethingNew": True}  # fmt: skip
    assert Thing.from_json(thing).location is None
    with pytest.raises(APIResponseValidationError, match=r"Location\.latitude"):
        Thing.from_json({**thing, "location": {"latitude": "north", "longitude": 0}})
    with pytest.raises(APIResponseValidationError, match="'url'"):
        Thing.from_json({k: v for k, v in thing.items() if k != "url"})
    with pytest.raises(APIResponseValidationError, match="days"):
        AvailabilityWindow.from_json({"days": [True], "start": "07:00", "end": "08:00"})
    option = QuestionOption.from_json({"id": "s", "name": "Small", "priceDelta": -20})
    assert option.price_delta == -20

"""Things over HTTP, on SQLite and PostgreSQL: CRUD, bulk, filters, pages, CSV, scopes, tenancy."""

from __future__ import annotations

import base64
import csv
import io

from tests.api.support import RunningApi
from tests.conftest import problem

A = "usr_alice"
B = "usr_bob"


async def test_a_new_user_starts_with_a_virtual_test_sticker_on_a_live_flow(
    api: RunningApi,
) -> None:
    response = await api.client.get("/v1/things", headers=api.owner(A))
    assert response.status_code == 200
    [sticker] = response.json()["data"]
    assert sticker["isVirtual"] is True
    assert sticker["name"] == "Test sticker"
    assert sticker["url"] == f"https://stickers.example/t/{sticker['id']}"
    flow = await api.client.get(
        f"/v1/applications/{sticker['applicationId']}", headers=api.owner(A)
    )
    assert flow.json()["liveVersion"] == 1
    # Only once, however many requests arrive.
    again = await api.client.get("/v1/things", headers=api.owner(A))
    assert len(again.json()["data"]) == 1


async def test_create_read_update_delete(api: RunningApi) -> None:
    flow = await api.flow(A)
    created = await api.thing(
        A,
        name="Table 7",
        designId="round-40mm",
        applicationId=flow["id"],
        tags=["terrace", "vip"],
        location={"latitude": 52.52, "longitude": 13.405, "name": "Berlin"},
        customData={"seats": 4},
        theirId="T-7",
        isKidSafe=True,
    )
    assert len(created["id"]) == 14
    assert created["tags"] == ["terrace", "vip"]
    assert created["customData"] == {"seats": 4}
    got = await api.client.get(f"/v1/things/{created['id']}", headers=api.owner(A))
    assert got.json() == created

    changed = await api.client.patch(
        f"/v1/things/{created['id']}",
        json={"name": "Table 8", "tags": ["terrace"]},
        headers=api.owner(A),
    )
    assert changed.status_code == 200
    assert changed.json()["name"] == "Table 8"
    assert changed.json()["designId"] == "round-40mm"  # untouched
    assert changed.json()["tags"] == ["terrace"]

    deleted = await api.client.delete(f"/v1/things/{created['id']}", headers=api.owner(A))
    assert deleted.status_code == 204
    gone = await api.client.get(f"/v1/things/{created['id']}", headers=api.owner(A))
    assert gone.status_code == 404
    assert gone.headers["content-type"] == "application/problem+json"
    assert gone.json()["type"].endswith("/thing-not-found")


async def test_bulk_create_names_by_pattern_all_or_nothing(api: RunningApi) -> None:
    response = await api.client.post(
        "/v1/things/bulk",
        json={"count": 250, "namePattern": "Table {n:03}", "start": 1, "tags": ["batch"]},
        headers=api.owner(A),
    )
    assert response.status_code == 201
    made = response.json()["data"]
    assert [t["name"] for t in made[:3]] == ["Table 001", "Table 002", "Table 003"]
    assert made[-1]["name"] == "Table 250"
    assert len({t["id"] for t in made}) == 250

    too_many = await api.client.post("/v1/things/bulk", json={"count": 1001}, headers=api.owner(A))
    assert too_many.status_code == 422
    bad_pattern = await api.client.post(
        "/v1/things/bulk", json={"count": 2, "namePattern": "T {x}"}, headers=api.owner(A)
    )
    assert bad_pattern.status_code == 422
    assert "namePattern" in bad_pattern.text
    # An index (a 500 once), a width that builds a gigabyte name, a NUL or surrogate name.
    for pattern, start in (
        ("T {n[0]}", 1),
        ("T {n:>1000000000}", 1),
        ("T {n:{n}}", 1),
        ("{n:c}", 0),
        ("{n:c}", 0xD800),
        ("{n:c}", 0x110000),
    ):
        refused_pattern = await api.client.post(
            "/v1/things/bulk",
            json={"count": 1000, "namePattern": pattern, "start": start},
            headers=api.owner(A),
        )
        assert refused_pattern.status_code == 422, (pattern, refused_pattern.text)
        assert refused_pattern.headers["content-type"] == "application/problem+json"
        assert "namePattern" in refused_pattern.text
    other_users_flow = await api.flow(B)
    refused = await api.client.post(
        "/v1/things/bulk",
        json={"count": 5, "applicationId": other_users_flow["id"]},
        headers=api.owner(A),
    )
    assert refused.status_code == 422
    listed = await api.client.get(
        "/v1/things", params={"tag": "batch", "limit": 100}, headers=api.owner(A)
    )
    assert len(listed.json()["data"]) == 100  # nothing of the refused batches was written


async def test_a_blank_name_pattern_is_refused_for_what_it_is(api: RunningApi) -> None:
    # It was refused as giving "names over 200 characters".
    response = await api.client.post(
        "/v1/things/bulk", json={"count": 2, "namePattern": "   "}, headers=api.owner(A)
    )
    body = problem(response, 422, "validation-error")
    assert body["errors"] == [
        {"field": "namePattern", "message": "gives blank names", "code": "invalid"}
    ]


async def test_filters_and_cursor_pages(api: RunningApi) -> None:
    flow = await api.flow(A)
    for n in range(7):
        await api.thing(
            A,
            name=f"S{n}",
            designId="square" if n % 2 else "round",
            isVirtual=n == 3,
            applicationId=flow["id"] if n < 2 else None,
            tags=["even"] if n % 2 == 0 else ["odd"],
        )

    async def names(**params: object) -> list[str]:
        collected: list[str] = []
        cursor = None
        while True:
            query = {**params, "limit": 2, **({"cursor": cursor} if cursor else {})}
            page = (await api.client.get("/v1/things", params=query, headers=api.owner(A))).json()
            collected += [t["name"] for t in page["data"]]
            if not page["hasMore"]:
                assert page["nextCursor"] is None
                return collected
            cursor = page["nextCursor"]

    assert await names(designId="square") == ["S1", "S3", "S5"]
    assert await names(tag="even") == ["S0", "S2", "S4", "S6"]
    assert await names(tag=" even ") == ["S0", "S2", "S4", "S6"]  # tags are kept trimmed
    assert await names(applicationId=flow["id"]) == ["S0", "S1"]
    assert await names(isVirtual="true") == ["Test sticker", "S3"]
    everything = await names()
    assert everything == ["Test sticker", *[f"S{n}" for n in range(7)]]

    bad = await api.client.get("/v1/things", params={"cursor": "nonsense!"}, headers=api.owner(A))
    # Well-formed, but not what a page gives out: a naive time, a number or NUL for the id,
    # a time at the calendar's ends (no UTC time), or not a pair.
    for forged in (
        b'["2020-01-01T00:00:00", "x"]',
        b'["2020-01-01T00:00:00+00:00", 5]',
        b'["2020-01-01T00:00:00+00:00", "\\u0000"]',
        b'["0001-01-01T00:00:00+14:00", "x"]',
        b'["9999-12-31T23:59:59-14:00", "x"]',
        b'["2020-01-01T00:00:00+00:00", "x", 1]',
        b'{"a": 1}',
    ):
        cursor = base64.urlsafe_b64encode(forged).decode().rstrip("=")
        refused = await api.client.get(
            "/v1/things", params={"cursor": cursor}, headers=api.owner(A)
        )
        assert refused.status_code == 400, (forged, refused.text)
        assert refused.json()["type"].endswith("/invalid-cursor")
    assert bad.status_code == 400
    assert bad.json()["type"].endswith("/invalid-cursor")
    over = await api.client.get("/v1/things", params={"limit": 1000}, headers=api.owner(A))
    assert over.status_code == 422


async def test_csv_export_streams_every_thing(api: RunningApi) -> None:
    await api.client.post(
        "/v1/things/bulk",
        json={"count": 1000, "namePattern": "=cmd|{n}", "customData": {"k": "v"}},
        headers=api.owner(A),
    )
    await api.client.post("/v1/things/bulk", json={"count": 1001 - 1000}, headers=api.owner(A))
    response = await api.client.get("/v1/things/export", headers=api.owner(A))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert len(rows) == 1 + 1000 + 1
    formula = [r for r in rows if "cmd" in r["name"]]
    assert len(formula) == 1000
    assert all(r["name"].startswith("'=") for r in formula)  # never run by a spreadsheet
    assert formula[0]["custom_data"] == '{"k":"v"}'
    assert formula[0]["url"].startswith("https://stickers.example/t/")
    other = await api.client.get("/v1/things/export", headers=api.owner(B))
    assert len(list(csv.DictReader(io.StringIO(other.text)))) == 1  # B's own test sticker


async def test_csv_export_quotes_a_formula_behind_a_tab_or_carriage_return(
    api: RunningApi,
) -> None:
    await api.thing(A, name="Door", designId="\t=cmd|' /C calc'!A1", theirId="\r=1+1")
    response = await api.client.get("/v1/things/export", headers=api.owner(A))
    [row] = [r for r in csv.DictReader(io.StringIO(response.text)) if r["name"] == "Door"]
    assert row["design_id"] == "'\t=cmd|' /C calc'!A1"
    assert row["their_id"] == "'\r=1+1"


async def test_tenancy_another_users_thing_is_not_found(api: RunningApi) -> None:
    thing = await api.thing(A)
    for method, kwargs in (
        ("GET", {}),
        ("PATCH", {"json": {"name": "mine now"}}),
        ("DELETE", {}),
    ):
        response = await api.client.request(
            method, f"/v1/things/{thing['id']}", headers=api.owner(B), **kwargs
        )
        assert response.status_code == 404, method
    for suffix in ("qr.svg", "qr.png", "ndef"):
        response = await api.client.get(f"/v1/things/{thing['id']}/{suffix}", headers=api.owner(B))
        assert response.status_code == 404
    sheet = await api.client.post(
        "/v1/things/sheet", json={"ids": [thing["id"]]}, headers=api.owner(B)
    )
    assert sheet.status_code == 422
    listed = await api.client.get("/v1/things", headers=api.owner(B))
    assert thing["id"] not in {t["id"] for t in listed.json()["data"]}
    still = await api.client.get(f"/v1/things/{thing['id']}", headers=api.owner(A))
    assert still.json()["name"] == "Table 1"


async def test_scopes_public_key_reads_team_members_need_permissions(api: RunningApi) -> None:
    thing = await api.thing(A)
    read = await api.client.get(f"/v1/things/{thing['id']}", headers=api.public(A))
    assert read.status_code == 200
    write = await api.client.patch(
        f"/v1/things/{thing['id']}", json={"name": "x"}, headers=api.public(A)
    )
    assert write.status_code == 403
    assert write.json()["type"].endswith("/insufficient-scope")
    reader = api.member(A, "things:read")
    assert (await api.client.get("/v1/things", headers=reader)).status_code == 200
    refused = await api.client.post("/v1/things", json={"name": "x"}, headers=reader)
    assert refused.status_code == 403
    assert refused.json()["type"].endswith("/insufficient-permission")
    writer = api.member(A, "things:read", "things:write")
    made = await api.client.post("/v1/things", json={"name": "by a member"}, headers=writer)
    assert made.status_code == 201
    nobody = await api.client.get("/v1/things")
    assert nobody.status_code == 401
    assert nobody.headers["content-type"] == "application/problem+json"


async def test_bad_input_is_a_clear_problem_and_writes_nothing(api: RunningApi) -> None:
    cases = [
        {"name": ""},
        {"name": "x" * 201},
        {"name": "ok", "unknown": 1},
        {"name": "ok", "tags": "not-a-list"},
        {"name": "ok", "location": {"latitude": 91, "longitude": 0}},
        {"name": "ok", "isVirtual": "maybe"},
        {"name": "ok", "applicationId": "app_nope"},
        {"name": "ok", "productId": "prd_nope"},
        {"name": "ok", "customData": {str(i): i for i in range(101)}},
    ]
    for body in cases:
        response = await api.client.post("/v1/things", json=body, headers=api.owner(A))
        assert response.status_code == 422, body
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["errors"], body
    broken = await api.client.post(
        "/v1/things",
        content=b"{not json",
        headers={**api.owner(A), "content-type": "application/json"},
    )
    assert broken.status_code in (400, 422)
    null_name = await api.client.patch(
        f"/v1/things/{(await api.thing(A))['id']}", json={"name": None}, headers=api.owner(A)
    )
    assert null_name.status_code == 422
    listed = await api.client.get("/v1/things", headers=api.owner(A))
    assert [t["name"] for t in listed.json()["data"]] == ["Test sticker", "Table 1"]


async def test_a_null_a_thing_cannot_hold_names_the_field_as_sent(api: RunningApi) -> None:
    # The errors named the column (custom_data, is_virtual), not the field on the wire.
    thing = await api.thing(A)
    for field in ("customData", "isVirtual", "isKidSafe", "tags"):
        response = await api.client.patch(
            f"/v1/things/{thing['id']}", json={field: None}, headers=api.owner(A)
        )
        body = problem(response, 422, "validation-error")
        assert body["errors"][0]["field"] == field


async def test_json_no_store_can_hold_is_refused_before_it_is_written(api: RunningApi) -> None:
    # The standard library parses all of these; a lone surrogate used to be written and then
    # broke every list of the account, NaN and NUL failed on PostgreSQL with a 500.
    thing = await api.thing(A)
    raw_cases = [
        b'{"name": "a\\u0000b"}',
        b'{"name": "a\\ud800b"}',
        b'{"name": "ok", "customData": {"s": "\\ud800"}}',
        b'{"name": "ok", "customData": {"f": NaN}}',
        b'{"name": "ok", "customData": {"f": [1e400]}}',
        b'{"name": "ok", "customData": {"n": 1000000000000000000000000000000}}',
        b'{"name": "ok", "customData": {"\\u0000": 1}}',
        b'{"name": "ok", "tags": ["a\\u0000"]}',
        b'{"name": "ok", "theirId": "\\u0000"}',
        b'{"name": "ok", "location": {"latitude": 1, "longitude": 2, "name": "\\u0000"}}',
    ]
    for raw in raw_cases:
        for method, path in (("POST", "/v1/things"), ("PATCH", f"/v1/things/{thing['id']}")):
            response = await api.client.request(
                method,
                path,
                content=raw,
                headers={**api.owner(A), "content-type": "application/json"},
            )
            assert response.status_code == 422, (method, raw, response.text)
            assert response.headers["content-type"] == "application/problem+json"
            assert response.json()["errors"], raw
    listed = await api.client.get("/v1/things", headers=api.owner(A))
    assert listed.status_code == 200
    assert [t["name"] for t in listed.json()["data"]] == ["Test sticker", "Table 1"]
    assert listed.json()["data"][1]["customData"] == {}


async def test_json_nested_past_what_answers_can_encode_is_refused(api: RunningApi) -> None:
    # 300 levels parsed, were written, then failed the answer's encoder: a 500 for a thing
    # that existed, and every list of the account a 500 from then on.
    def nested(depth: int) -> bytes:
        return b'{"name": "deep", "customData": ' + b'{"a": ' * depth + b"1" + b"}" * depth + b"}"

    for depth in (65, 300):
        response = await api.client.post(
            "/v1/things",
            content=nested(depth),
            headers={**api.owner(A), "content-type": "application/json"},
        )
        body = problem(response, 422, "validation-error")
        assert body["errors"][0]["field"] == "customData"
        assert "more than 64 deep" in body["errors"][0]["message"]
    listed = await api.client.get("/v1/things", headers=api.owner(A))
    assert listed.status_code == 200
    assert [t["name"] for t in listed.json()["data"]] == ["Test sticker"]
    deepest = await api.client.post(
        "/v1/things",
        content=nested(64),
        headers={**api.owner(A), "content-type": "application/json"},
    )
    assert deepest.status_code == 201, deepest.text


async def test_qr_options_past_the_printers_limits_are_a_field_error(api: RunningApi) -> None:
    # The route took scale up to 100 and the printer up to 50: 51 to 100 were a 400 naming no
    # field, where 101 was the 422 every other bad query parameter is.
    thing = await api.thing(A)
    for suffix in ("qr.svg", "qr.png"):
        for params in ({"scale": 51}, {"scale": 100}, {"border": 21}):
            response = await api.client.get(
                f"/v1/things/{thing['id']}/{suffix}", params=params, headers=api.owner(A)
            )
            body = problem(response, 422, "validation-error")
            assert body["errors"][0]["field"] == f"query.{next(iter(params))}"
        largest = await api.client.get(
            f"/v1/things/{thing['id']}/{suffix}",
            params={"scale": 50, "border": 20},
            headers=api.owner(A),
        )
        assert largest.status_code == 200


async def test_a_nul_in_the_url_is_a_400_on_every_backend(api: RunningApi) -> None:
    # PostgreSQL refuses NUL in a query: these were 500s there.
    thing = await api.thing(A)
    for path in (
        "/v1/things/%00",
        f"/v1/things/{thing['id']}%00/qr.png",
        "/v1/things?tag=%00",
        "/v1/things?designId=a%00b",
        "/v1/applications/%00",
        "/v1/products?category=%00",
    ):
        response = await api.client.get(path, headers=api.owner(A))
        assert response.status_code == 400, (path, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["type"].endswith("/invalid-url")
    # The tap's fast path answers before the kernel's middleware: its own friendly 404.
    for path in ("/go/flow/%00", "/t/%00"):
        unknown = await api.client.get(path)
        assert unknown.status_code == 404, (path, unknown.text)
    fine = await api.client.get("/v1/things?tag=%2500", headers=api.owner(A))
    assert fine.status_code == 200
    assert fine.json()["data"] == []


async def test_json_the_parser_gives_up_on_says_why(api: RunningApi) -> None:
    """Not a syntax error: JSON the standard library's parser cannot read, a 400 that says
    why (it was FastAPI's "There was an error parsing the body")."""
    cases = {
        b'{"name": ' + b"[" * 5000 + b"]" * 5000 + b"}": "nested too deeply",
        b'{"name": "a", "customData": {"n": ' + b"9" * 5000 + b"}}": "more digits than",
        b'{"name": "caf\xe9"}': "not UTF-8: byte 13",
    }
    for body, reason in cases.items():
        answer = await api.client.post(
            "/v1/things",
            content=body,
            headers={**api.owner(A), "content-type": "application/json"},
        )
        problem(answer, 400, "malformed-json")
        assert reason in answer.json()["detail"], answer.json()
    listed = await api.client.get("/v1/things", headers=api.owner(A))
    assert [thing["name"] for thing in listed.json()["data"]] == ["Test sticker"]

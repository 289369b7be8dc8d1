"""Events through the gateway: a signed-in user records events and reads them back."""

from __future__ import annotations

import csv
import io

import httpx
import orjson

from tests.e2e.test_accounts import signed_up
from tests.stack_fixture import RunningStack


def test_a_user_records_and_reads_events(stack: RunningStack) -> None:
    sticky, _ = signed_up(stack)
    other, _ = signed_up(stack)
    headers = {"Authorization": f"Bearer {sticky.access_token}"}
    url = f"{stack.base_url}/v1/events"
    appended = httpx.post(
        url,
        json=[
            {"type": "SESSION_READ", "thingId": "thg_1", "customData": {"city": "Leeds"}},
            {"type": "SESSION_CART_PAY", "customData": {"total": 1250, "currency": "GBP"}},
        ],
        headers=headers,
    )
    assert appended.status_code == 201, appended.text
    assert [d["duplicate"] for d in appended.json()["data"]] == [False, False]

    page = httpx.get(url, params={"limit": 1}, headers=headers).json()
    assert [e["type"] for e in page["data"]] == ["SESSION_READ"] and page["hasMore"]
    rest = httpx.get(url, params={"cursor": page["nextCursor"]}, headers=headers).json()
    assert [e["customData"]["total"] for e in rest["data"]] == [1250]

    ndjson = httpx.get(url, headers={**headers, "Accept": "application/x-ndjson"})
    assert [orjson.loads(line)["type"] for line in ndjson.content.splitlines()] == [
        "SESSION_READ",
        "SESSION_CART_PAY",
    ]
    rows = list(
        csv.DictReader(io.StringIO(httpx.get(url, headers={**headers, "Accept": "text/csv"}).text))
    )
    assert rows[0]["thingId"] == "thg_1" and orjson.loads(rows[0]["customData"]) == {
        "city": "Leeds"
    }

    stats = httpx.get(f"{url}/stats", params={"groupBy": "type"}, headers=headers).json()
    assert {r["type"]: r["total"] for r in stats["data"]} == {
        "SESSION_READ": 0,
        "SESSION_CART_PAY": 1250,
    }
    theirs = httpx.get(url, headers={"Authorization": f"Bearer {other.access_token}"})
    assert theirs.json()["data"] == []
    refused = httpx.post(url, json=[{"type": "SESION_READ"}], headers=headers)
    assert refused.status_code == 422
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["errors"][0]["field"] == "0.type"

"""``/v1/webhooks``: endpoints, their secrets, the delivery log and redelivery, over HTTP."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from sticky.api.webhooks import Webhooks
from sticky.api.webhooks.deliveries import NewDelivery
from sticky.kernel.settings import Settings
from tests.api.support import RunningApi, running_api

ANN, BEA = "usr_ann", "usr_bea"
HOOK = "https://merchant.example/hooks"


async def create(api: RunningApi, user: str = ANN, **fields: Any) -> dict[str, Any]:
    body = {"url": HOOK, "eventTypes": ["SESSION_CART_PAY"], **fields}
    response = await api.client.post("/v1/webhooks", json=body, headers=api.owner(user))
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def webhooks_of(api: RunningApi) -> Webhooks:
    found: Webhooks = api.app.state.webhooks
    return found


async def queue(api: RunningApi, endpoint: dict[str, Any], *event_ids: str) -> None:
    items = [
        NewDelivery(
            endpoint["id"],
            endpoint["userId"],
            event_id,
            "SESSION_CART_PAY",
            orjson.dumps({"event": {"id": event_id}, "payment": None}),
        )
        for event_id in event_ids
    ]
    await webhooks_of(api).deliveries.enqueue(items, datetime.now(UTC))


async def test_create_shows_the_secret_once(api: RunningApi) -> None:
    made = await create(api, description="Orders", notifyEmail="ops@ann.example")
    assert made["secret"].startswith("whsec_") and len(made["secret"]) > 40
    assert made["id"].startswith("whe_")
    assert made["url"] == HOOK and made["eventTypes"] == ["SESSION_CART_PAY"]
    assert made["enabled"] is True and made["disabledReason"] is None
    assert made["description"] == "Orders" and made["notifyEmail"] == "ops@ann.example"
    read = (await api.client.get(f"/v1/webhooks/{made['id']}", headers=api.owner(ANN))).json()
    assert "secret" not in read
    assert read == {k: v for k, v in made.items() if k != "secret"}
    listed = (await api.client.get("/v1/webhooks", headers=api.owner(ANN))).json()
    assert [e["id"] for e in listed["data"]] == [made["id"]] and "secret" not in listed["data"][0]


async def test_every_type_by_default_and_pages(api: RunningApi) -> None:
    made = [await create(api, eventTypes=["*"]) for _ in range(3)]
    assert made[0]["eventTypes"] == ["*"]
    default = await api.client.post("/v1/webhooks", json={"url": HOOK}, headers=api.owner(ANN))
    assert default.json()["eventTypes"] == ["*"]
    first = (await api.client.get("/v1/webhooks?limit=2", headers=api.owner(ANN))).json()
    assert first["hasMore"] and len(first["data"]) == 2
    rest = await api.client.get(
        f"/v1/webhooks?limit=2&cursor={first['nextCursor']}", headers=api.owner(ANN)
    )
    ids = [e["id"] for e in first["data"] + rest.json()["data"]]
    assert ids == [e["id"] for e in made] + [default.json()["id"]]
    bad = await api.client.get("/v1/webhooks?cursor=nonsense", headers=api.owner(ANN))
    assert bad.status_code == 400 and bad.json()["type"].endswith("invalid-cursor")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "ftp://merchant.example/hooks"}, "url"),
        ({"url": "/hooks"}, "url"),
        ({"url": "https://user:pw@merchant.example/"}, "url"),
        ({"url": "http://xn--/hooks"}, "url"),  # a punycode label that decodes to nothing
        ({"url": f"https://xn--{'a' * 60}.example/"}, "url"),
        ({"url": HOOK, "eventTypes": ["SESION_READ"]}, "eventTypes"),
        ({"url": HOOK, "eventTypes": ["*", "SESSION_READ"]}, "eventTypes"),
        ({"url": HOOK, "eventTypes": []}, "eventTypes"),
        ({"url": HOOK, "notifyEmail": "not an address"}, "notifyEmail"),
        ({"url": HOOK, "secret": "whsec_mine"}, "secret"),
        ({}, "url"),
    ],
)
async def test_bad_endpoints_are_refused(api: RunningApi, body: dict[str, Any], field: str) -> None:
    response = await api.client.post("/v1/webhooks", json=body, headers=api.owner(ANN))
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert any(e["field"].startswith(field) for e in response.json()["errors"]), response.json()


async def test_custom_types_are_taken(api: RunningApi) -> None:
    made = await create(api, eventTypes=["X_DOOR_OPENED", "SESSION_READ", "X_DOOR_OPENED"])
    assert made["eventTypes"] == ["X_DOOR_OPENED", "SESSION_READ"]


async def test_update_disable_enable_and_delete(api: RunningApi) -> None:
    made = await create(api)
    path = f"/v1/webhooks/{made['id']}"
    changed = await api.client.patch(
        path,
        json={"url": "https://other.example/in", "eventTypes": ["*"], "enabled": False},
        headers=api.owner(ANN),
    )
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert body["url"] == "https://other.example/in" and body["eventTypes"] == ["*"]
    assert body["enabled"] is False and body["disabledReason"] == "manual" and body["disabledAt"]
    enabled = (await api.client.patch(path, json={"enabled": True}, headers=api.owner(ANN))).json()
    assert enabled["enabled"] is True and enabled["disabledReason"] is None
    for bad in (
        {"url": None},
        {"enabled": None},
        {"url": "gopher://x"},
        {"url": "http://xn--/"},
        {"nope": 1},
    ):
        refused = await api.client.patch(path, json=bad, headers=api.owner(ANN))
        assert refused.status_code == 422, (bad, refused.text)
    assert (await api.client.delete(path, headers=api.owner(BEA))).status_code == 404
    assert (await api.client.delete(path, headers=api.owner(ANN))).status_code == 204
    assert (await api.client.get(path, headers=api.owner(ANN))).status_code == 404


async def test_rotating_the_secret(api: RunningApi) -> None:
    made = await create(api)
    response = await api.client.post(
        f"/v1/webhooks/{made['id']}/rotate-secret", headers=api.owner(ANN)
    )
    assert response.status_code == 200, response.text
    rotated = response.json()
    assert rotated["secret"].startswith("whsec_") and rotated["secret"] != made["secret"]
    assert rotated["previousSecretExpiresAt"] is not None
    keys = await webhooks_of(api).endpoints.signing_keys(made["id"], datetime.now(UTC))
    assert keys is not None and keys.secrets == (rotated["secret"], made["secret"])
    other = await api.client.post(
        f"/v1/webhooks/{made['id']}/rotate-secret", headers=api.owner(BEA)
    )
    assert other.status_code == 404


async def test_who_may_do_what(api: RunningApi) -> None:
    made = await create(api)
    path = f"/v1/webhooks/{made['id']}"
    assert (await api.client.get(path, headers=api.owner(BEA))).status_code == 404
    public = await api.client.get("/v1/webhooks", headers=api.public(ANN))
    assert public.status_code == 403 and public.json()["type"].endswith("insufficient-scope")
    service = await api.client.get("/v1/webhooks", headers=api.signer.service("mail"))
    assert service.status_code == 403
    nobody = api.member(ANN)
    assert (await api.client.get(path, headers=nobody)).status_code == 403
    reader = api.member(ANN, "webhooks:read")
    assert (await api.client.get(path, headers=reader)).status_code == 200
    assert (await api.client.get(f"{path}/deliveries", headers=reader)).status_code == 200
    refused = await api.client.patch(path, json={"enabled": False}, headers=reader)
    assert refused.status_code == 403 and refused.json()["type"].endswith("insufficient-permission")
    writer = api.member(ANN, "webhooks:write")
    assert (
        await api.client.patch(path, json={"enabled": False}, headers=writer)
    ).status_code == 200
    assert (await api.client.get("/v1/webhooks")).status_code == 401


async def test_the_delivery_log_and_redelivery(api: RunningApi) -> None:
    made = await create(api)
    await queue(api, made, "evt_1", "evt_2", "evt_3")
    base = f"/v1/webhooks/{made['id']}/deliveries"
    page = (await api.client.get(f"{base}?limit=2", headers=api.owner(ANN))).json()
    assert page["hasMore"] and len(page["data"]) == 2
    rest = (
        await api.client.get(f"{base}?limit=2&cursor={page['nextCursor']}", headers=api.owner(ANN))
    ).json()
    listed = page["data"] + rest["data"]
    assert sorted(d["eventId"] for d in listed) == ["evt_1", "evt_2", "evt_3"]
    first = listed[0]
    assert first["status"] == "pending" and first["attemptCount"] == 0 and first["attempts"] == []
    assert "body" not in first
    one = await api.client.get(f"{base}/{first['id']}", headers=api.owner(ANN))
    assert one.json()["body"] == {"event": {"id": first["eventId"]}, "payment": None}
    pending = await api.client.get(f"{base}?status=pending", headers=api.owner(ANN))
    assert len(pending.json()["data"]) == 3
    assert (await api.client.get(f"{base}?status=lost", headers=api.owner(ANN))).status_code == 422

    again = await api.client.post(f"{base}/{first['id']}/redeliver", headers=api.owner(ANN))
    assert again.status_code == 202, again.text
    assert again.json()["status"] == "pending" and again.json()["nextAttemptAt"]
    missing = await api.client.post(f"{base}/whd_nope/redeliver", headers=api.owner(ANN))
    assert missing.status_code == 404
    other = await api.client.post(f"{base}/{first['id']}/redeliver", headers=api.owner(BEA))
    assert other.status_code == 404
    await api.client.patch(
        f"/v1/webhooks/{made['id']}", json={"enabled": False}, headers=api.owner(ANN)
    )
    disabled = await api.client.post(f"{base}/{first['id']}/redeliver", headers=api.owner(ANN))
    assert disabled.status_code == 409 and disabled.json()["type"].endswith("endpoint-disabled")
    assert (await api.client.get(f"{base}/whd_nope", headers=api.owner(ANN))).status_code == 404
    assert (
        await api.client.get("/v1/webhooks/whe_nope/deliveries", headers=api.owner(ANN))
    ).status_code == 404


async def test_production_calls_only_https(tmp_path: Path) -> None:
    settings = Settings(
        env="production",
        data_dir=tmp_path / "data",
        api_database_url=f"sqlite:///{tmp_path / 'api.sqlite3'}",
        public_url="https://stickers.example",
        secret_key="s" * 40,
        service_key="k" * 40,
    )
    async with running_api(settings) as api:
        plain = await api.client.post(
            "/v1/webhooks", json={"url": "http://merchant.example/"}, headers=api.owner(ANN)
        )
        assert plain.status_code == 422 and "https" in plain.json()["detail"]
        assert (await create(api))["url"] == HOOK

"""The tap through the real gateway: a stack of its own, with a GeoIP database and an events
service that stops answering for a while (the outbox keeps every tap and delivers it later)."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.e2e.test_accounts import signed_up
from tests.geo.mmdb import SAMPLE_NETWORKS, write_city_database
from tests.stack_fixture import RunningStack, start_stack

AUCKLAND_PHONE = "121.72.31.200"


@pytest.fixture(scope="module")
def geo_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    data = tmp_path_factory.mktemp("tap-stack")
    database = write_city_database(data / "GeoLite2-City.mmdb", SAMPLE_NETWORKS)
    running = start_stack(
        data / "stack",
        STICKY_GEOIP_DATABASE=str(database),
        # The test client stands in for a load balancer that tells the gateway who tapped.
        STICKY_TRUSTED_PROXIES="127.0.0.1/32",
    )
    yield running
    running.stop()


def events_of(stack: RunningStack, token: str, **params: str) -> list[dict]:  # type: ignore[type-arg]
    response = httpx.get(
        f"{stack.base_url}/v1/events",
        params={"limit": "100", **params},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200, response.text
    data: list[dict] = response.json()["data"]  # type: ignore[type-arg]
    return data


def wait_for_events(
    stack: RunningStack, token: str, count: int, timeout: float = 20.0, **params: str
) -> list[dict]:  # type: ignore[type-arg]
    deadline = time.monotonic() + timeout
    while True:
        found = events_of(stack, token, **params)
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def test_a_tap_redirects_records_a_located_session_read(geo_stack: RunningStack) -> None:
    sticky, _ = signed_up(geo_stack)
    token = sticky.access_token
    auth = {"Authorization": f"Bearer {token}"}
    flow = httpx.post(
        f"{geo_stack.base_url}/v1/applications",
        json={"name": "Menu", "logic": 'return "https://menu.example/?t=" + input.thingId;'},
        headers=auth,
    ).json()
    httpx.post(f"{geo_stack.base_url}/v1/applications/{flow['id']}/make-live", headers=auth)
    thing = httpx.post(
        f"{geo_stack.base_url}/v1/things",
        json={"name": "Table 1", "applicationId": flow["id"]},
        headers=auth,
    ).json()

    with httpx.Client(base_url=geo_stack.base_url, follow_redirects=False) as phone:
        response = phone.get(
            f"/t/{thing['id']}",
            headers={"X-Forwarded-For": AUCKLAND_PHONE, "User-Agent": "Mozilla/5.0 (iPhone)"},
        )
    assert response.status_code == 302, response.text
    location = response.headers["location"]
    assert location.startswith(f"https://menu.example/?t={thing['id']}&sessionId=ses_")
    assert "sticky-sessionid" in response.headers["set-cookie"]

    [read] = wait_for_events(geo_stack, token, 1, type="SESSION_READ", thingId=thing["id"])
    assert read["applicationId"] == flow["id"]
    assert read["sessionId"] == parse_qs(urlsplit(location).query)["sessionId"][0]
    assert read["customData"]["userAgentClass"] == "ios"
    assert read["customData"]["location"]["city"] == "Auckland"
    assert read["customData"]["location"]["country"] == "NZ"
    assert AUCKLAND_PHONE not in str(read)  # never the address itself

    unknown = httpx.get(f"{geo_stack.base_url}/t/doesnotexist12", headers={"Accept": "text/html"})
    assert unknown.status_code == 404
    assert "text/html" in unknown.headers["content-type"]


def test_taps_keep_redirecting_while_events_is_down_and_arrive_after(
    geo_stack: RunningStack,
) -> None:
    sticky, _ = signed_up(geo_stack)
    token = sticky.access_token
    auth = {"Authorization": f"Bearer {token}"}
    [test_sticker] = httpx.get(f"{geo_stack.base_url}/v1/things", headers=auth).json()["data"]
    events_pid = geo_stack.processes()["events"]
    os.kill(events_pid, signal.SIGSTOP)  # alive but deaf: the worst kind of down
    try:
        started = time.monotonic()
        with httpx.Client(base_url=geo_stack.base_url, follow_redirects=False) as phone:
            for _ in range(30):
                response = phone.get(f"/t/{test_sticker['id']}")
                assert response.status_code == 302
        assert time.monotonic() - started < 10.0
    finally:
        os.kill(events_pid, signal.SIGCONT)
    reads = wait_for_events(geo_stack, token, 30, timeout=40.0, thingId=test_sticker["id"])
    assert len(reads) == 30
    positions = [e["position"] for e in reads]
    assert positions == sorted(positions)
    assert len({e["id"] for e in reads}) == 30


def test_qr_code_through_the_gateway_scans_to_the_tap_url(geo_stack: RunningStack) -> None:
    import io

    import zxingcpp
    from PIL import Image

    sticky, _ = signed_up(geo_stack)
    auth = {"Authorization": f"Bearer {sticky.access_token}"}
    [thing] = httpx.get(f"{geo_stack.base_url}/v1/things", headers=auth).json()["data"]
    png = httpx.get(f"{geo_stack.base_url}/v1/things/{thing['id']}/qr.png", headers=auth)
    assert png.headers["content-type"] == "image/png"
    [code] = zxingcpp.read_barcodes(Image.open(io.BytesIO(png.content)))
    assert code.text == f"{geo_stack.base_url}/t/{thing['id']}"

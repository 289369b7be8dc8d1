"""The geo service over HTTP, in process with its lifespan run, against a real .mmdb."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from sticky.geo.places import PlaceIndex
from sticky.kernel.settings import Settings
from tests.geo.conftest import problem, running_geo

UNKNOWN_PLACE = {
    "country": None,
    "countryName": None,
    "region": None,
    "regionName": None,
    "city": None,
    "latitude": None,
    "longitude": None,
}


async def test_a_known_address(geo: httpx.AsyncClient) -> None:
    response = await geo.get("/v1/geo/ip/121.72.1.2")
    assert response.status_code == 200
    assert response.json() == {
        "ip": "121.72.1.2",
        "network": "121.72.1.0",
        "known": True,
        "reason": None,
        "country": "NZ",
        "countryName": "New Zealand",
        "region": "AUK",
        "regionName": "Auckland",
        "city": "Auckland",
        "latitude": -36.8485,
        "longitude": 174.7633,
    }


async def test_an_ipv6_address(geo: httpx.AsyncClient) -> None:
    response = await geo.get("/v1/geo/ip/2A02:8108:1234:5678::9")
    assert response.status_code == 200
    body = response.json()
    assert body["ip"] == "2a02:8108:1234:5678::9"
    assert body["network"] == "2a02:8108:1234::"
    assert (body["known"], body["country"], body["city"]) == (True, "DE", "Berlin")


async def test_an_ipv4_mapped_address_is_its_ipv4(geo: httpx.AsyncClient) -> None:
    body = (await geo.get("/v1/geo/ip/::ffff:81.2.69.142")).json()
    assert (body["ip"], body["network"], body["city"]) == ("81.2.69.142", "81.2.69.0", "London")


async def test_an_address_not_in_the_database(geo: httpx.AsyncClient) -> None:
    response = await geo.get("/v1/geo/ip/1.1.1.1")
    assert response.status_code == 200
    assert response.json() == {
        "ip": "1.1.1.1",
        "network": "1.1.1.0",
        "known": False,
        "reason": "not-in-database",
        **UNKNOWN_PLACE,
    }


@pytest.mark.parametrize(
    ("ip", "reason"),
    [("127.0.0.1", "loopback"), ("::1", "loopback"), ("192.168.1.20", "private")],
)
async def test_private_addresses_are_unknown_with_a_reason(
    geo: httpx.AsyncClient, ip: str, reason: str
) -> None:
    body = (await geo.get(f"/v1/geo/ip/{ip}")).json()
    assert (body["known"], body["reason"], body["city"]) == (False, reason, None)


@pytest.mark.parametrize(
    "ip",
    ["not-an-ip", "1.2.3.999", "1.2.3", "example.com", "1.2.3.4%2F24", "1.2.3.4/24", "x" * 300],
)
async def test_a_malformed_address_is_a_bad_request(geo: httpx.AsyncClient, ip: str) -> None:
    body = problem(await geo.get(f"/v1/geo/ip/{ip}"), 400, "invalid-ip")
    assert "is not an IPv4 or IPv6 address" in body["detail"]
    assert len(body["detail"]) < 200


async def test_a_batch_answers_in_order(geo: httpx.AsyncClient) -> None:
    ips = ["121.72.9.9", "1.1.1.1", "2a02:8108::1", "10.0.0.1", "121.72.9.9"]
    response = await geo.post("/v1/geo/ip", json={"ips": ips})
    assert response.status_code == 200
    data = response.json()["data"]
    assert [(d["ip"], d["known"], d["city"], d["reason"]) for d in data] == [
        ("121.72.9.9", True, "Auckland", None),
        ("1.1.1.1", False, None, "not-in-database"),
        ("2a02:8108::1", True, "Berlin", None),
        ("10.0.0.1", False, None, "private"),
        ("121.72.9.9", True, "Auckland", None),
    ]


async def test_a_batch_names_every_bad_address(geo: httpx.AsyncClient) -> None:
    response = await geo.post("/v1/geo/ip", json={"ips": ["8.8.8.8", "nope", "1.2.3.4.5"]})
    body = problem(response, 422, "validation-error")
    assert [(e["field"], e["code"]) for e in body["errors"]] == [
        ("ips.1", "invalid-ip"),
        ("ips.2", "invalid-ip"),
    ]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"ips": []}, "ips"),
        ({"ips": ["1.1.1.1"] * 1001}, "ips"),
        ({"ips": "1.1.1.1"}, "ips"),
        ({"ips": [1]}, "ips.0"),
        ({"ips": ["1.1.1.1"], "more": True}, "more"),
    ],
)
async def test_a_batch_is_validated(
    geo: httpx.AsyncClient, payload: dict[str, object], field: str
) -> None:
    body = problem(await geo.post("/v1/geo/ip", json=payload), 422, "validation-error")
    assert field in [e["field"] for e in body["errors"]]


async def test_a_batch_of_a_thousand(geo: httpx.AsyncClient) -> None:
    ips = [f"121.72.{i // 256}.{i % 256}" for i in range(1000)]
    response = await geo.post("/v1/geo/ip", json={"ips": ips})
    assert response.status_code == 200
    assert {d["city"] for d in response.json()["data"]} == {"Auckland"}


async def test_ready_with_a_database(geo: httpx.AsyncClient) -> None:
    response = await geo.get("/readyz")
    assert response.status_code == 200, response.text
    checks = response.json()["checks"]
    assert checks["geoip"]["ok"]
    assert checks["geoip"]["detail"].startswith("GeoLite2-City.mmdb: GeoLite2-City (IPv6)")
    assert checks["places"]["ok"]
    assert checks["places"]["detail"].endswith(" places")


async def test_without_a_database_lookups_answer_unknown_and_the_service_is_ready(
    settings: Settings, places: PlaceIndex
) -> None:
    assert settings.geoip_database is None
    async with running_geo(settings, places) as geo:
        response = await geo.get("/v1/geo/ip/121.72.1.2")
        assert response.status_code == 200
        assert response.json() == {
            "ip": "121.72.1.2",
            "network": "121.72.1.0",
            "known": False,
            "reason": "no-database",
            **UNKNOWN_PLACE,
        }
        ready = await geo.get("/readyz")
        assert ready.status_code == 200
        detail = ready.json()["checks"]["geoip"]["detail"]
        assert "no database is configured" in detail
        assert "answer unknown" in detail
        # Coordinates need no database.
        nearest = await geo.get("/v1/geo/nearest", params={"latitude": -36.85, "longitude": 174.76})
        assert nearest.json()["city"] == "Auckland"


@pytest.mark.parametrize("corrupt", [False, True])
async def test_a_configured_database_that_cannot_be_read_is_not_ready(
    settings: Settings, places: PlaceIndex, tmp_path: Path, corrupt: bool
) -> None:
    path = tmp_path / "GeoLite2-City.mmdb"
    if corrupt:
        path.write_bytes(b"\x00" * 4096)
    broken = settings.model_copy(update={"geoip_database": path})
    async with running_geo(broken, places) as geo:
        ready = await geo.get("/readyz")
        body = problem(ready, 503, "not-ready")
        assert body["checks"]["geoip"]["ok"] is False
        assert str(path) in body["detail"]
        assert ("not a MaxMind database" if corrupt else "not a file") in body["detail"]
        # Still answers, never a 500.
        lookup = await geo.get("/v1/geo/ip/121.72.1.2")
        assert lookup.status_code == 200
        assert lookup.json()["reason"] == "database-unavailable"


@pytest.mark.parametrize(
    ("latitude", "longitude", "city", "country", "region"),
    [
        (-36.85, 174.76, "Auckland", "NZ", "E7"),
        (52.5244, 13.4105, "Berlin", "DE", "16"),
        (40.7128, -74.006, "New York City", "US", "NY"),
    ],
)
async def test_nearest_city(
    geo: httpx.AsyncClient,
    latitude: float,
    longitude: float,
    city: str,
    country: str,
    region: str,
) -> None:
    response = await geo.get(
        "/v1/geo/nearest", params={"latitude": latitude, "longitude": longitude}
    )
    assert response.status_code == 200
    body = response.json()
    assert (body["city"], body["country"], body["region"]) == (city, country, region)
    assert 0 <= body["distanceKm"] < 1
    assert set(body) == {
        "city",
        "country",
        "countryName",
        "region",
        "latitude",
        "longitude",
        "distanceKm",
        "population",
        "timezone",
        "geonameId",
    }


async def test_nearest_answers_the_distance(geo: httpx.AsyncClient) -> None:
    # 0.1 degrees of latitude south of Auckland's centre is about 11 km.
    body = (
        await geo.get("/v1/geo/nearest", params={"latitude": -36.9485, "longitude": 174.7633})
    ).json()
    assert body["country"] == "NZ"
    assert body["countryName"] == "New Zealand"
    assert body["timezone"] == "Pacific/Auckland"
    assert 0 < body["distanceKm"] < 12


@pytest.mark.parametrize(
    ("params", "field", "code"),
    [
        ({"latitude": "91", "longitude": "0"}, "query.latitude", "less_than_equal"),
        ({"latitude": "-90.5", "longitude": "0"}, "query.latitude", "greater_than_equal"),
        ({"latitude": "0", "longitude": "180.01"}, "query.longitude", "less_than_equal"),
        ({"latitude": "nan", "longitude": "0"}, "query.latitude", "less_than_equal"),
        ({"latitude": "0", "longitude": "inf"}, "query.longitude", "less_than_equal"),
        ({"latitude": "north", "longitude": "0"}, "query.latitude", "float_parsing"),
        ({"latitude": "0", "longitude": ""}, "query.longitude", "float_parsing"),
        ({"longitude": "0"}, "query.latitude", "required"),
        ({"latitude": "0"}, "query.longitude", "required"),
    ],
)
async def test_nearest_refuses_bad_coordinates(
    geo: httpx.AsyncClient, params: dict[str, str], field: str, code: str
) -> None:
    body = problem(await geo.get("/v1/geo/nearest", params=params), 422, "validation-error")
    assert [(e["field"], e["code"]) for e in body["errors"]] == [(field, code)]
    assert field in body["detail"]


async def test_the_api_is_described(geo: httpx.AsyncClient) -> None:
    paths = (await geo.get("/openapi.json")).json()["paths"]
    assert {"/v1/geo/ip/{ip}", "/v1/geo/ip", "/v1/geo/nearest"} <= set(paths), set(paths)

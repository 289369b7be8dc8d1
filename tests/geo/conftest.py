"""The geo service under test: a real .mmdb written per test, one shared place index."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from sticky.geo.app import create_app
from sticky.geo.places import PlaceIndex
from sticky.kernel.settings import Settings
from tests.conftest import problem as problem  # re-exported for this service's tests
from tests.geo.mmdb import SAMPLE_NETWORKS, write_city_database


@pytest.fixture(scope="session")
def places() -> PlaceIndex:
    """The real GeoNames index, built once for the session (it takes about half a second)."""
    return PlaceIndex.from_geonames()


@pytest.fixture
def city_database(tmp_path: Path) -> Path:
    return write_city_database(tmp_path / "GeoLite2-City.mmdb", SAMPLE_NETWORKS)


@pytest.fixture
def geo_settings(settings: Settings, city_database: Path) -> Settings:
    return settings.model_copy(update={"geoip_database": city_database})


@contextlib.asynccontextmanager
async def running_geo(
    settings: Settings, places: PlaceIndex | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    """The service in process, its lifespan run, and a client for it."""
    app = create_app(settings, places=places)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://geo") as client:
            yield client


@pytest.fixture
async def geo(geo_settings: Settings, places: PlaceIndex) -> AsyncIterator[httpx.AsyncClient]:
    async with running_geo(geo_settings, places) as client:
        yield client

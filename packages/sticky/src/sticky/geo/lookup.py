"""IP address to city-level location, read from a MaxMind-format database (``.mmdb``).

The database is opened once, memory-mapped, and read in microseconds per lookup. Records are
read in the GeoLite2-City layout (``country``, ``subdivisions``, ``city``, ``location``);
a GeoLite2-Country database works too and simply has no region, city or coordinates.
Without a database every lookup answers "unknown", so the rest of Sticky needs none.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import maxminddb
from maxminddb.types import Record

from sticky.geo.addresses import Address, unroutable_reason


@dataclass(frozen=True)
class Location:
    """Where an address is, as far as the database knows; ``reason`` says why it does not."""

    known: bool
    reason: str | None = None
    country: str | None = None
    country_name: str | None = None
    region: str | None = None
    region_name: str | None = None
    city: str | None = None
    latitude: float | None = None
    longitude: float | None = None

    @classmethod
    def unknown(cls, reason: str) -> Location:
        return cls(known=False, reason=reason)


class IpLocator:
    """The database reader, with what went wrong opening it (for ``/readyz``).

    States: no database configured (ready, lookups answer unknown), open (ready), or a
    configured database that could not be opened (not ready, lookups answer unknown).
    """

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._reader: maxminddb.Reader | None = None
        self._ip_version = 6
        self._error: str | None = None

    def open(self) -> None:
        if self.path is None or self._reader is not None:
            return
        if not self.path.is_file():
            self._error = (
                f"STICKY_GEOIP_DATABASE is {self.path}, which is not a file; "
                "IP lookups answer unknown"
            )
            return
        try:
            self._reader = maxminddb.open_database(self.path, mode=maxminddb.MODE_AUTO)
        except (OSError, ValueError, maxminddb.InvalidDatabaseError) as exc:
            self._error = (
                f"STICKY_GEOIP_DATABASE is {self.path}, which is not a MaxMind database "
                f"({exc}); IP lookups answer unknown"
            )
            return
        self._ip_version = self._reader.metadata().ip_version
        self._error = None

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    def status(self) -> tuple[bool, str]:
        """Readiness: ``(ok, detail)``."""
        if self.path is None:
            return True, (
                "no database is configured (set STICKY_GEOIP_DATABASE to a GeoLite2-City "
                ".mmdb file); IP lookups answer unknown"
            )
        if self._reader is None:
            return False, self._error or f"{self.path} is not open"
        meta = self._reader.metadata()
        built = dt.datetime.fromtimestamp(meta.build_epoch, dt.UTC).date().isoformat()
        return True, f"{self.path.name}: {meta.database_type} (IPv{meta.ip_version}), built {built}"

    def locate(self, address: Address) -> Location:
        """Where ``address`` is. Never raises for a valid address."""
        reason = unroutable_reason(address)
        if reason is not None:
            return Location.unknown(reason)
        if self._reader is None:
            return Location.unknown("no-database" if self.path is None else "database-unavailable")
        if address.version > self._ip_version:
            return Location.unknown("not-in-database")
        record = self._reader.get(address)
        if not isinstance(record, dict):
            return Location.unknown("not-in-database")
        return _location(record)


def _location(record: dict[str, Record]) -> Location:
    country = _field(record, "country") or _field(record, "registered_country")
    subdivisions = record.get("subdivisions")
    region = subdivisions[0] if isinstance(subdivisions, list) and subdivisions else None
    location = _field(record, "location")
    return Location(
        known=True,
        country=_text(country, "iso_code"),
        country_name=_name(country),
        region=_text(region, "iso_code"),
        region_name=_name(region),
        city=_name(_field(record, "city")),
        latitude=_number(location, "latitude"),
        longitude=_number(location, "longitude"),
    )


def _field(record: Record | None, key: str) -> Record | None:
    return record.get(key) if isinstance(record, dict) else None


def _text(record: Record | None, key: str) -> str | None:
    value = _field(record, key)
    return value if isinstance(value, str) else None


def _name(record: Record | None) -> str | None:
    return _text(_field(record, "names"), "en")


def _number(record: Record | None, key: str) -> float | None:
    value = _field(record, key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)

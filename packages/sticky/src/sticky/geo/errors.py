"""The geo service's errors; the HTTP layer turns them into problem responses."""

from __future__ import annotations


class GeoError(Exception):
    """The root of every error the geo service raises."""


class InvalidAddress(GeoError, ValueError):
    """Text that is not an IPv4 or IPv6 address."""

    def __init__(self, text: str) -> None:
        super().__init__(f"{text!r} is not an IPv4 or IPv6 address")
        self.text = text


class InvalidCoordinates(GeoError, ValueError):
    """A latitude outside -90..90 or a longitude outside -180..180 (or not a number)."""

    def __init__(self, field: str, value: float) -> None:
        bound = 90 if field == "latitude" else 180
        super().__init__(f"{field} must be a number from -{bound} to {bound}, not {value}")
        self.field = field
        self.value = value

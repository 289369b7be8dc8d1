"""Reading camelCase JSON objects into typed values, strictly where it matters.

Fields the SDK does not know are ignored, so a newer platform does not break an older SDK;
a field it needs that is missing or of the wrong type raises
:class:`~sticky_sdk.APIResponseValidationError` naming the object and the field.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

from sticky_sdk._exceptions import APIResponseValidationError


def parse_datetime(value: str) -> datetime:
    """An ISO-8601 timestamp as an aware datetime (UTC when the text names no offset)."""
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


class Fields:
    """Typed access to one JSON object's fields."""

    def __init__(self, data: object, what: str) -> None:
        if not isinstance(data, Mapping):
            raise APIResponseValidationError(
                f"Expected a JSON object for {what}, got {type(data).__name__}."
            )
        self._data: Mapping[str, Any] = data
        self._what = what

    def _wrong(self, name: str, expected: str) -> APIResponseValidationError:
        if name not in self._data:
            return APIResponseValidationError(f"{self._what} has no {name!r} field.")
        got = type(self._data[name]).__name__
        return APIResponseValidationError(f"{self._what}.{name} should be {expected}, not {got}.")

    def raw(self, name: str) -> object:
        return self._data.get(name)

    def text(self, name: str) -> str:
        value = self._data.get(name)
        if not isinstance(value, str):
            raise self._wrong(name, "a string")
        return value

    def optional_text(self, name: str) -> str | None:
        value = self._data.get(name)
        if value is None:
            return None
        if not isinstance(value, str):
            raise self._wrong(name, "a string or null")
        return value

    def boolean(self, name: str) -> bool:
        value = self._data.get(name)
        if not isinstance(value, bool):
            raise self._wrong(name, "true or false")
        return value

    def integer(self, name: str) -> int:
        value = self._data.get(name)
        if not isinstance(value, int) or isinstance(value, bool):
            raise self._wrong(name, "an integer")
        return value

    def optional_integer(self, name: str) -> int | None:
        value = self._data.get(name)
        if value is None:
            return None
        if not isinstance(value, int) or isinstance(value, bool):
            raise self._wrong(name, "an integer or null")
        return value

    def mapping(self, name: str) -> dict[str, Any]:
        """A JSON object field (null reads as an empty one)."""
        value = self._data.get(name)
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            raise self._wrong(name, "an object")
        return dict(value)

    def texts(self, name: str) -> tuple[str, ...]:
        value = self._data.get(name)
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise self._wrong(name, "a list of strings")
        return tuple(value)

    def items(self, name: str) -> list[object]:
        value = self._data.get(name)
        if not isinstance(value, list):
            raise self._wrong(name, "a list")
        return value

    def optional_date(self, name: str) -> date | None:
        text = self.optional_text(name)
        try:
            return None if text is None else date.fromisoformat(text)
        except ValueError:
            raise self._wrong(name, "an ISO-8601 date") from None

    def optional_timestamp(self, name: str) -> datetime | None:
        return None if self._data.get(name) is None else self.timestamp(name)

    def timestamp(self, name: str) -> datetime:
        text = self.text(name)
        try:
            return parse_datetime(text)
        except ValueError:
            raise self._wrong(name, "an ISO-8601 timestamp") from None

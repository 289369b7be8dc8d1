"""What callers hand the api resources, turned into the platform's camelCase JSON.

Structured values (a location, media, questions, availability windows) may be the SDK's
models or plain mappings with snake_case or camelCase keys; data that is the caller's own
(``custom_data``, ``settings``, the session sectors) is sent exactly as given. A create
leaves out the arguments that are None (the platform's defaults apply); an update sends only
the fields named, with None clearing those that may be cleared.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

from sticky_sdk._exceptions import StickyError

STRUCTURED = frozenset({"location", "media", "questions", "availability"})


def camel(name: str) -> str:
    """``"custom_data"`` as ``"customData"`` (camelCase names are left as they are)."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _is_list(value: object) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, str | bytes)


def wire(value: Any) -> Any:
    """A structured value as JSON: models by their ``to_json``, mappings with camelCase keys."""
    to_json = getattr(value, "to_json", None)
    if callable(to_json):
        return to_json()
    if isinstance(value, Mapping):
        return {camel(str(key)): wire(item) for key, item in value.items()}
    if _is_list(value):
        return [wire(item) for item in value]
    return value


def encode(name: str, value: Any) -> Any:
    """The JSON of the field ``name``: structured ones converted, the caller's data copied."""
    if name in STRUCTURED:
        return wire(value)
    if isinstance(value, Mapping):
        return dict(value)
    if _is_list(value):
        return list(value)
    return value


def fields_body(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The fields that have a value, in camelCase: the body of a create."""
    return {camel(name): encode(name, value) for name, value in fields.items() if value is not None}


def changes_body(
    changes: Mapping[str, Any], allowed: Collection[str], not_null: Collection[str], what: str
) -> dict[str, Any]:
    """The body of an update: exactly the fields named, checked before anything is sent."""
    unknown = sorted(set(changes) - set(allowed))
    if unknown:
        raise TypeError(f"Unknown {what} field(s) {unknown}; the fields are {sorted(allowed)}.")
    cleared = sorted(name for name in not_null if name in changes and changes[name] is None)
    if cleared:
        raise StickyError(
            f"A {what}'s {', '.join(cleared)} cannot be None: leave it out to keep it as it is."
        )
    return {
        camel(name): None if value is None else encode(name, value)
        for name, value in changes.items()
    }

"""Rows as callers see them: table rows become the Out models of :mod:`sticky.api.models`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sticky.api.models import (
    ApplicationOut,
    ApplicationVersionOut,
    CategoryOut,
    ProductOut,
    PublishedApplicationOut,
    ThingOut,
)
from sticky.api.store import Row, Transaction
from sticky.kernel.problems import FieldError, bad_request, not_found, validation_failed

THING_FIELDS = (
    "id",
    "user_id",
    "name",
    "design_id",
    "application_id",
    "product_id",
    "tags",
    "location",
    "custom_data",
    "their_id",
    "is_virtual",
    "is_kid_safe",
    "created_at",
    "updated_at",
)


async def check_references(
    tx: Transaction,
    user_id: str,
    *,
    application_id: str | None = None,
    product_id: str | None = None,
    thing_id: str | None = None,
) -> None:
    """A 422 naming each id given that is no record of ``user_id``'s."""
    named = (
        ("applicationId", "application", tx.applications, application_id),
        ("productId", "product", tx.products, product_id),
        ("thingId", "thing", tx.things, thing_id),
    )
    errors = [
        FieldError(field, f"names no {kind} of this account")
        for field, kind, owned, id_ in named
        if id_ and await owned.get(user_id, id_) is None
    ]
    if errors:
        raise validation_failed(errors)


def thing_out(row: Row, url: str) -> ThingOut:
    return ThingOut(url=url, **{name: row[name] for name in THING_FIELDS})


def version_out(row: Row) -> ApplicationVersionOut:
    return ApplicationVersionOut(
        version=row["version"],
        name=row["name"],
        public_name=row["public_name"],
        logic=row["logic"],
        settings=row["settings"],
        created_at=row["created_at"],
    )


def application_out(row: Row, live: Row | None) -> ApplicationOut:
    return ApplicationOut(
        id=row["id"],
        user_id=row["user_id"],
        name=row["name"],
        public_name=row["public_name"],
        logic=row["logic"],
        settings=row["settings"],
        draft_version=row["draft_version"],
        live_version=row["live_version"],
        live=version_out(live) if live else None,
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def published_application_out(row: Row, live: Row) -> PublishedApplicationOut:
    return PublishedApplicationOut(
        id=row["id"],
        user_id=row["user_id"],
        name=live["name"],
        public_name=live["public_name"],
        settings=live["settings"],
        live_version=live["version"],
    )


def product_out(row: Row) -> ProductOut:
    return ProductOut(**{name: row[name] for name in ProductOut.model_fields})


def is_available(availability: list[dict[str, Any]], at: datetime) -> bool:
    """Open now, by the category's windows (none: always open). Times are UTC."""
    if not availability:
        return True
    minute = at.hour * 60 + at.minute
    for window in availability:
        start = _minutes(window["start"])
        end = _minutes(window["end"])
        day = at.weekday()
        if start <= end:
            if day in window["days"] and start <= minute < end:
                return True
        # A window past midnight (22:00-02:00) belongs to the day it starts on.
        elif (day in window["days"] and minute >= start) or (
            (day - 1) % 7 in window["days"] and minute < end
        ):
            return True
    return False


def _minutes(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


def category_out(row: Row, now: datetime) -> CategoryOut:
    return CategoryOut(
        id=row["id"],
        user_id=row["user_id"],
        name=row["name"],
        description=row["description"],
        availability=row["availability"],
        is_available=is_available(row["availability"], now),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def missing(kind: str, id_: str) -> Exception:
    return not_found(f"There is no {kind} {id_!r} in this account.", slug=f"{kind}-not-found")


def bad_cursor() -> Exception:
    return bad_request("The cursor is not one this list gave out.", slug="invalid-cursor")

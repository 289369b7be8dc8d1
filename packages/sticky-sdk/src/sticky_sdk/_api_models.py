"""The api service's objects: things, flows, products, categories and consumer sessions.

Frozen dataclasses with snake_case attributes, read from the platform's camelCase JSON as in
:mod:`sticky_sdk._models`. The small ones a caller also sends (:class:`Location`,
:class:`Media`, :class:`Question`, :class:`QuestionOption`, :class:`AvailabilityWindow`)
turn themselves back into JSON with ``to_json``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sticky_sdk._exceptions import APIResponseValidationError
from sticky_sdk._parsing import Fields


def _number(data: object, name: str, what: str) -> float:
    value = Fields(data, what).raw(name)
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise APIResponseValidationError(f"{what}.{name} should be a number.")
    return float(value)


def _objects(f: Fields, name: str) -> list[object]:
    """A list field of objects (null reads as an empty one)."""
    return [] if f.raw(name) is None else f.items(name)


@dataclass(frozen=True)
class Location:
    """Where a thing is: a point, and a name for people."""

    latitude: float
    longitude: float
    name: str | None = None

    @classmethod
    def from_json(cls, data: object) -> Location:
        return cls(
            latitude=_number(data, "latitude", "Location"),
            longitude=_number(data, "longitude", "Location"),
            name=Fields(data, "Location").optional_text("name"),
        )

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"latitude": self.latitude, "longitude": self.longitude}
        if self.name is not None:
            body["name"] = self.name
        return body


@dataclass(frozen=True)
class Thing:
    """A sticker (or a virtual one): tapping ``url`` runs its flow's live routing logic."""

    id: str
    user_id: str
    name: str
    url: str
    created_at: datetime
    updated_at: datetime
    design_id: str | None = None
    application_id: str | None = None
    product_id: str | None = None
    tags: tuple[str, ...] = ()
    location: Location | None = None
    custom_data: dict[str, Any] = field(default_factory=dict)
    their_id: str | None = None
    is_virtual: bool = False
    is_kid_safe: bool = False

    @classmethod
    def from_json(cls, data: object) -> Thing:
        f = Fields(data, "Thing")
        location = f.raw("location")
        return cls(
            id=f.text("id"),
            user_id=f.text("userId"),
            name=f.text("name"),
            url=f.text("url"),
            created_at=f.timestamp("createdAt"),
            updated_at=f.timestamp("updatedAt"),
            design_id=f.optional_text("designId"),
            application_id=f.optional_text("applicationId"),
            product_id=f.optional_text("productId"),
            tags=f.texts("tags"),
            location=None if location is None else Location.from_json(location),
            custom_data=f.mapping("customData"),
            their_id=f.optional_text("theirId"),
            is_virtual=f.boolean("isVirtual"),
            is_kid_safe=f.boolean("isKidSafe"),
        )


def thing_list(data: object) -> list[Thing]:
    """The ``{"data": [Thing, ...]}`` answer of a bulk create, in the order made."""
    return [Thing.from_json(item) for item in Fields(data, "ThingList").items("data")]


@dataclass(frozen=True)
class ApplicationVersion:
    """A version of a flow as it was made live; taps run the newest."""

    version: int
    name: str
    public_name: str | None
    logic: str | None
    settings: dict[str, Any]
    created_at: datetime

    @classmethod
    def from_json(cls, data: object) -> ApplicationVersion:
        f = Fields(data, "ApplicationVersion")
        return cls(
            version=f.integer("version"),
            name=f.text("name"),
            public_name=f.optional_text("publicName"),
            logic=f.optional_text("logic"),
            settings=f.mapping("settings"),
            created_at=f.timestamp("createdAt"),
        )


def version_list(data: object) -> list[ApplicationVersion]:
    """The ``{"data": [ApplicationVersion, ...]}`` answer, newest first."""
    items = Fields(data, "ApplicationVersionList").items("data")
    return [ApplicationVersion.from_json(item) for item in items]


@dataclass(frozen=True)
class Application:
    """A flow: a draft its owners edit (``name``, ``logic``, ``settings``, ``draft_version``)
    and the ``live`` version taps run.

    The public key and consumer sessions see only what is live: ``name``, ``public_name`` and
    ``settings`` are the live version's, and the draft's fields (``logic``, ``draft_version``,
    ``live``, the timestamps) are None.
    """

    id: str
    user_id: str
    name: str
    public_name: str | None
    settings: dict[str, Any]
    live_version: int | None
    logic: str | None = None
    draft_version: int | None = None
    live: ApplicationVersion | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @classmethod
    def from_json(cls, data: object) -> Application:
        f = Fields(data, "Application")
        live = f.raw("live")
        return cls(
            id=f.text("id"),
            user_id=f.text("userId"),
            name=f.text("name"),
            public_name=f.optional_text("publicName"),
            settings=f.mapping("settings"),
            live_version=f.optional_integer("liveVersion"),
            logic=f.optional_text("logic"),
            draft_version=f.optional_integer("draftVersion"),
            live=None if live is None else ApplicationVersion.from_json(live),
            created_at=f.optional_timestamp("createdAt"),
            updated_at=f.optional_timestamp("updatedAt"),
        )


@dataclass(frozen=True)
class LogicResult:
    """What a flow's routing logic did with a made-up input: the ``url`` a tap would go to
    (``ok``), or the ``error`` (``kind`` and ``message``); its ``console`` lines either way."""

    ok: bool
    url: str | None
    console: tuple[str, ...]
    error: dict[str, str] | None
    elapsed_ms: float

    @classmethod
    def from_json(cls, data: object) -> LogicResult:
        f = Fields(data, "LogicResult")
        error = f.raw("error")
        return cls(
            ok=f.boolean("ok"),
            url=f.optional_text("url"),
            console=f.texts("console"),
            error=None if error is None else {k: str(v) for k, v in f.mapping("error").items()},
            elapsed_ms=_number(data, "elapsedMs", "LogicResult"),
        )


@dataclass(frozen=True)
class QuestionOption:
    """One answer to a product's question, and what it adds to the price (minor units)."""

    id: str
    name: str
    price_delta: int = 0

    @classmethod
    def from_json(cls, data: object) -> QuestionOption:
        f = Fields(data, "QuestionOption")
        # The platform stores options as validated, so it may answer ``price_delta``.
        name = "priceDelta" if f.raw("priceDelta") is not None else "price_delta"
        delta = f.optional_integer(name)
        return cls(id=f.text("id"), name=f.text("name"), price_delta=delta or 0)

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "priceDelta": self.price_delta}


@dataclass(frozen=True)
class Question:
    """A choice a buyer makes about a product (a size, extras), from ``options``."""

    id: str
    name: str
    options: tuple[QuestionOption, ...]
    required: bool = False
    multiple: bool = False

    @classmethod
    def from_json(cls, data: object) -> Question:
        f = Fields(data, "Question")
        return cls(
            id=f.text("id"),
            name=f.text("name"),
            options=tuple(QuestionOption.from_json(o) for o in f.items("options")),
            required=f.raw("required") is True,
            multiple=f.raw("multiple") is True,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "required": self.required,
            "multiple": self.multiple,
            "options": [option.to_json() for option in self.options],
        }


@dataclass(frozen=True)
class Media:
    """A picture (``type="image"``) or a video of a product, by URL."""

    url: str
    type: str = "image"

    @classmethod
    def from_json(cls, data: object) -> Media:
        f = Fields(data, "Media")
        return cls(url=f.text("url"), type=f.optional_text("type") or "image")

    def to_json(self) -> dict[str, Any]:
        return {"url": self.url, "type": self.type}


@dataclass(frozen=True)
class Product:
    """Something for sale: ``price`` in integer minor units of ``currency`` (1250 GBP is
    £12.50), in ``categories`` (their ids)."""

    id: str
    user_id: str
    name: str
    price: int
    currency: str
    created_at: datetime
    updated_at: datetime
    description: str = ""
    categories: tuple[str, ...] = ()
    is_enabled: bool = True
    media: tuple[Media, ...] = ()
    questions: tuple[Question, ...] = ()
    their_id: str | None = None

    @classmethod
    def from_json(cls, data: object) -> Product:
        f = Fields(data, "Product")
        return cls(
            id=f.text("id"),
            user_id=f.text("userId"),
            name=f.text("name"),
            price=f.integer("price"),
            currency=f.text("currency"),
            created_at=f.timestamp("createdAt"),
            updated_at=f.timestamp("updatedAt"),
            description=f.optional_text("description") or "",
            categories=f.texts("categories"),
            is_enabled=f.boolean("isEnabled"),
            media=tuple(Media.from_json(m) for m in _objects(f, "media")),
            questions=tuple(Question.from_json(q) for q in _objects(f, "questions")),
            their_id=f.optional_text("theirId"),
        )


@dataclass(frozen=True)
class AvailabilityWindow:
    """Open on ``days`` (0 is Monday) from ``start`` to ``end`` (``"HH:MM"``, UTC); a window
    past midnight (``"22:00"`` to ``"02:00"``) belongs to the day it starts on."""

    days: tuple[int, ...]
    start: str
    end: str

    @classmethod
    def from_json(cls, data: object) -> AvailabilityWindow:
        f = Fields(data, "AvailabilityWindow")
        days = f.items("days")
        numbers = [d for d in days if isinstance(d, int) and not isinstance(d, bool)]
        if len(numbers) != len(days):
            raise APIResponseValidationError("AvailabilityWindow.days should be integers.")
        return cls(days=tuple(numbers), start=f.text("start"), end=f.text("end"))

    def to_json(self) -> dict[str, Any]:
        return {"days": list(self.days), "start": self.start, "end": self.end}


@dataclass(frozen=True)
class Category:
    """A group of products, open in its ``availability`` windows (always, without any);
    ``is_available`` says whether it is open now."""

    id: str
    user_id: str
    name: str
    is_available: bool
    created_at: datetime
    updated_at: datetime
    description: str = ""
    availability: tuple[AvailabilityWindow, ...] = ()

    @classmethod
    def from_json(cls, data: object) -> Category:
        f = Fields(data, "Category")
        return cls(
            id=f.text("id"),
            user_id=f.text("userId"),
            name=f.text("name"),
            is_available=f.boolean("isAvailable"),
            created_at=f.timestamp("createdAt"),
            updated_at=f.timestamp("updatedAt"),
            description=f.optional_text("description") or "",
            availability=tuple(
                AvailabilityWindow.from_json(w) for w in _objects(f, "availability")
            ),
        )


@dataclass(frozen=True)
class Session:
    """A consumer's session, started by a tap, with its three sectors of data: one every
    merchant shares (``cross_user_sector``), the merchant's own (``user_sector``), and one
    per flow (``application_sector``, of the flow asked for, or the session's)."""

    id: str
    user_id: str
    application_id: str | None
    thing_id: str | None
    created_at: datetime
    updated_at: datetime
    cross_user_sector: dict[str, Any] = field(default_factory=dict)
    user_sector: dict[str, Any] = field(default_factory=dict)
    application_sector: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: object) -> Session:
        f = Fields(data, "Session")
        return cls(
            id=f.text("id"),
            user_id=f.text("userId"),
            application_id=f.optional_text("applicationId"),
            thing_id=f.optional_text("thingId"),
            created_at=f.timestamp("createdAt"),
            updated_at=f.timestamp("updatedAt"),
            cross_user_sector=f.mapping("crossUserSector"),
            user_sector=f.mapping("userSector"),
            application_sector=f.mapping("applicationSector"),
        )


@dataclass(frozen=True)
class RecordedEvent:
    """The acknowledgement of a session's event: its id in the event log, and ``status``
    ``"recorded"`` (it reaches the log moments later)."""

    id: str
    status: str

    @classmethod
    def from_json(cls, data: object) -> RecordedEvent:
        f = Fields(data, "RecordedEvent")
        return cls(id=f.text("id"), status=f.text("status"))

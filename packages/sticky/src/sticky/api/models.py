"""What the api accepts and answers, on the wire (camelCase). Tables hold something else.

Create models say what a new resource needs, Update models make every field optional
(``PATCH`` changes only what it names), Out models are what callers read back.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

import orjson
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
)
from pydantic.alias_generators import to_camel

from sticky.kernel.event_types import MAX_CUSTOM_DATA_BYTES, REF_ID_PATTERN
from sticky.kernel.storable import check_storable

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Text = Annotated[str, StringConstraints(max_length=10_000)]
# No control characters: the events service refuses them in the ids an event names.
Ref = Annotated[str, StringConstraints(min_length=1, max_length=40, pattern=REF_ID_PATTERN)]
Tag = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
TheirId = Annotated[str, StringConstraints(min_length=1, max_length=200)]
_URL_PATTERN = r"^https?://\S+$"
_URL_MAX = 2048
Url = Annotated[str, StringConstraints(max_length=_URL_MAX, pattern=_URL_PATTERN)]
CustomData = Annotated[dict[str, Any], Field(max_length=100)]

_CURRENCY = re.compile(r"^[A-Z]{3}$")
# ISO 4217 codes in use; a code outside this list is almost always a typo (``EUR`` vs ``EU``).
_ISO_4217 = (
    "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN "
    "BWP BYN BZD CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD "
    "FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY "
    "KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP "
    "MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR "
    "RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT "
    "TND TOP TRY TTD TWD TZS UAH UGX USD UYU UZS VES VND VUV WST XAF XCD XOF XPF YER ZAR ZMW "
    "ZWL"
)
CURRENCIES = frozenset(_ISO_4217.split())


def _currency(value: str) -> str:
    if not _CURRENCY.match(value) or value not in CURRENCIES:
        raise ValueError("must be an ISO 4217 currency code in capitals, such as EUR or USD")
    return value


Currency = Annotated[str, AfterValidator(_currency)]
Price = Annotated[int, Field(ge=0, le=100_000_000_00)]  # minor units
PriceDelta = Annotated[int, Field(ge=-100_000_000_00, le=100_000_000_00)]


class Incoming(BaseModel):
    model_config = ConfigDict(
        extra="forbid", strict=True, alias_generator=to_camel, populate_by_name=True
    )

    # The standard library's JSON parser, which FastAPI uses, takes NaN, 1e400 and lone
    # surrogates; PostgreSQL refuses NUL in text. Refused here, they are a 422, not a 500
    # or a record no list can read back.
    @field_validator("*")
    @classmethod
    def _refuse_unstorable(cls, value: Any) -> Any:
        check_storable(value)
        return value


class Outgoing(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class Location(Incoming):
    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)
    name: Annotated[str, StringConstraints(max_length=200)] | None = None


# Things ------------------------------------------------------------------------------------


class ThingFields(Incoming):
    design_id: Annotated[str, StringConstraints(max_length=100)] | None = None
    application_id: Ref | None = None
    product_id: Ref | None = None
    tags: Annotated[list[Tag], Field(max_length=50)] = []
    location: Location | None = None
    custom_data: CustomData = {}
    their_id: TheirId | None = None
    is_kid_safe: bool = False


class ThingCreate(ThingFields):
    name: Name
    is_virtual: bool = False


class ThingBulkCreate(ThingFields):
    """Many stickers at once; ``namePattern``'s ``{n}`` becomes 1, 2, 3... (``{n:03}`` pads)."""

    count: int = Field(ge=1, le=1000)
    name_pattern: Annotated[str, StringConstraints(min_length=1, max_length=180)] = "Sticker {n}"
    start: int = Field(default=1, ge=0, le=1_000_000_000)
    is_virtual: bool = False


class ThingUpdate(Incoming):
    name: Name | None = None
    design_id: Annotated[str, StringConstraints(max_length=100)] | None = None
    application_id: Ref | None = None
    product_id: Ref | None = None
    tags: Annotated[list[Tag], Field(max_length=50)] | None = None
    location: Location | None = None
    custom_data: CustomData | None = None
    their_id: TheirId | None = None
    is_virtual: bool | None = None
    is_kid_safe: bool | None = None


class ThingOut(Outgoing):
    id: str
    user_id: str
    name: str
    design_id: str | None
    application_id: str | None
    product_id: str | None
    tags: list[str]
    location: dict[str, Any] | None
    custom_data: dict[str, Any]
    their_id: str | None
    is_virtual: bool
    is_kid_safe: bool
    url: str
    created_at: datetime
    updated_at: datetime


class ThingList(Outgoing):
    data: list[ThingOut]


class SheetRequest(Incoming):
    ids: Annotated[list[Ref], Field(min_length=1, max_length=1000)]
    title: Annotated[str, StringConstraints(max_length=200)] | None = None


# Applications --------------------------------------------------------------------------------

Logic = Annotated[str, StringConstraints(max_length=100_000)]
_URL = re.compile(_URL_PATTERN)


def _settings(value: dict[str, Any]) -> dict[str, Any]:
    """``consumerAppUrl`` is where taps without logic go: a redirect needs an http(s) URL."""
    url = value.get("consumerAppUrl")
    if url is not None and not (isinstance(url, str) and len(url) <= _URL_MAX and _URL.match(url)):
        raise ValueError("consumerAppUrl must be an absolute http(s) URL (or null)")
    return value


AppSettings = Annotated[CustomData, AfterValidator(_settings)]


class ApplicationCreate(Incoming):
    name: Name
    public_name: Annotated[str, StringConstraints(max_length=200)] | None = None
    logic: Logic | None = None
    settings: AppSettings = {}


class ApplicationUpdate(Incoming):
    name: Name | None = None
    public_name: Annotated[str, StringConstraints(max_length=200)] | None = None
    logic: Logic | None = None
    settings: AppSettings | None = None


class ApplicationVersionOut(Outgoing):
    version: int
    name: str
    public_name: str | None
    logic: str | None
    settings: dict[str, Any]
    created_at: datetime


class ApplicationOut(Outgoing):
    id: str
    user_id: str
    name: str
    public_name: str | None
    logic: str | None
    settings: dict[str, Any]
    draft_version: int
    live_version: int | None
    live: ApplicationVersionOut | None
    created_at: datetime
    updated_at: datetime


class PublishedApplicationOut(Outgoing):
    """What the public key and consumer sessions see: the live version, without its logic."""

    id: str
    user_id: str
    name: str
    public_name: str | None
    settings: dict[str, Any]
    live_version: int


class ApplicationVersionList(Outgoing):
    data: list[ApplicationVersionOut]


class TryLogic(Incoming):
    """Run the draft (or ``logic``, when given) on a made-up input."""

    logic: Logic | None = None
    input: CustomData = {}


class TryLogicOut(Outgoing):
    ok: bool
    url: str | None
    console: list[str]
    error: dict[str, str] | None
    elapsed_ms: float


# Products and categories ----------------------------------------------------------------------


class QuestionOption(Incoming):
    id: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    name: Name
    price_delta: PriceDelta = 0


class Question(Incoming):
    id: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    name: Name
    required: bool = False
    multiple: bool = False
    options: Annotated[list[QuestionOption], Field(min_length=1, max_length=50)]


class Media(Incoming):
    url: Url
    type: Literal["image", "video"] = "image"


class ProductFields(Incoming):
    description: Text = ""
    categories: Annotated[list[Ref], Field(max_length=50)] = []
    is_enabled: bool = True
    media: Annotated[list[Media], Field(max_length=20)] = []
    questions: Annotated[list[Question], Field(max_length=20)] = []
    their_id: TheirId | None = None


class ProductCreate(ProductFields):
    name: Name
    price: Price
    currency: Currency


class ProductUpdate(Incoming):
    name: Name | None = None
    description: Text | None = None
    price: Price | None = None
    currency: Currency | None = None
    categories: Annotated[list[Ref], Field(max_length=50)] | None = None
    is_enabled: bool | None = None
    media: Annotated[list[Media], Field(max_length=20)] | None = None
    questions: Annotated[list[Question], Field(max_length=20)] | None = None
    their_id: TheirId | None = None


class ProductOut(Outgoing):
    id: str
    user_id: str
    name: str
    description: str
    price: int
    currency: str
    categories: list[str]
    is_enabled: bool
    media: list[dict[str, Any]]
    questions: list[dict[str, Any]]
    their_id: str | None
    created_at: datetime
    updated_at: datetime


_HHMM = r"^([01]\d|2[0-3]):[0-5]\d$"


class AvailabilityWindow(Incoming):
    """Open on ``days`` (0 = Monday) from ``start`` to ``end`` (UTC, ``HH:MM``)."""

    days: Annotated[list[Annotated[int, Field(ge=0, le=6)]], Field(min_length=1, max_length=7)]
    start: Annotated[str, StringConstraints(pattern=_HHMM)]
    end: Annotated[str, StringConstraints(pattern=_HHMM)]


class CategoryCreate(Incoming):
    name: Name
    description: Text = ""
    availability: Annotated[list[AvailabilityWindow], Field(max_length=50)] = []


class CategoryUpdate(Incoming):
    name: Name | None = None
    description: Text | None = None
    availability: Annotated[list[AvailabilityWindow], Field(max_length=50)] | None = None


class CategoryOut(Outgoing):
    id: str
    user_id: str
    name: str
    description: str
    availability: list[dict[str, Any]]
    is_available: bool
    created_at: datetime
    updated_at: datetime


# Sessions ---------------------------------------------------------------------------------


class SessionUpdate(Incoming):
    """Replace a sector's data; ``applicationSector`` needs ``applicationId``."""

    cross_user_sector: CustomData | None = None
    user_sector: CustomData | None = None
    application_sector: CustomData | None = None
    application_id: Ref | None = None


class SessionOut(Outgoing):
    id: str
    user_id: str
    application_id: str | None
    thing_id: str | None
    cross_user_sector: dict[str, Any]
    user_sector: dict[str, Any]
    application_sector: dict[str, Any]
    created_at: datetime
    updated_at: datetime


def _event_data(value: dict[str, Any]) -> dict[str, Any]:
    """The events service's limit: larger data, accepted here, would be refused there."""
    check_storable(value)  # before orjson, which raises TypeError past 64 bits
    size = len(orjson.dumps(value))
    if size > MAX_CUSTOM_DATA_BYTES:
        raise ValueError(f"is {size} bytes as JSON, more than the limit of {MAX_CUSTOM_DATA_BYTES}")
    return value


class SessionEvent(Incoming):
    type: Annotated[str, StringConstraints(pattern=r"^[A-Z][A-Z0-9_]{1,63}$")]
    custom_data: Annotated[CustomData, AfterValidator(_event_data)] = {}
    application_id: Ref | None = None
    thing_id: Ref | None = None


class Page(Outgoing):
    data: list[Any]
    has_more: bool
    next_cursor: str | None


def to_columns(
    model: BaseModel, *, exclude_unset: bool = False, exclude: frozenset[str] = frozenset()
) -> dict[str, Any]:
    """The model's fields by column name (snake_case); nested JSON stays in its wire form."""
    names = model.model_fields_set if exclude_unset else type(model).model_fields.keys()
    return {name: _wire(getattr(model, name)) for name in names if name not in exclude}


def _wire(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", by_alias=True)
    if isinstance(value, list):
        return [_wire(item) for item in value]
    return value

"""The public Python SDK for Sticky.

    from sticky_sdk import Sticky

    sticky = Sticky("http://localhost:8080", key="sk_...")
    me = sticky.users.me()

``sticky_sdk.webhooks.verify`` checks the signature of the webhooks Sticky sends (the client's
``sticky.webhooks`` manages the endpoints they are sent to).

Everything public is importable from here; the underscored modules are private.
"""

from sticky_sdk import webhooks
from sticky_sdk._api_models import (
    Application,
    ApplicationVersion,
    AvailabilityWindow,
    Category,
    Location,
    LogicResult,
    Media,
    Product,
    Question,
    QuestionOption,
    RecordedEvent,
    Session,
    Thing,
)
from sticky_sdk._async_client import AsyncSticky
from sticky_sdk._base_client import DEFAULT_BASE_URL, DEFAULT_MAX_RETRIES, DEFAULT_TIMEOUT
from sticky_sdk._client import Sticky
from sticky_sdk._exceptions import (
    APIConnectionError,
    APIError,
    APIResponseValidationError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    DuplicateEventIdError,
    EmailNotVerifiedError,
    EmailTakenError,
    FieldError,
    InsufficientScopeError,
    InternalServerError,
    InvalidCredentialsError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitError,
    RefreshTokenReusedError,
    StickyError,
    TokenExpiredError,
    UnprocessableEntityError,
    ValidationError,
    WeakPasswordError,
    WebhookVerificationError,
    WrongExpectedVersionError,
)
from sticky_sdk._models import (
    AccessToken,
    ApiKey,
    Appended,
    Event,
    KeyType,
    Me,
    StatsRow,
    TeamMember,
    TokenPair,
    User,
)
from sticky_sdk._pagination import AsyncPager, Page, Pager
from sticky_sdk._payment_models import Payment, PaymentLine, PaymentLineOption
from sticky_sdk._streaming import AsyncStream, Stream
from sticky_sdk._version import __version__
from sticky_sdk._webhook_models import WebhookAttempt, WebhookDelivery, WebhookEndpoint

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_MAX_RETRIES",
    "DEFAULT_TIMEOUT",
    "APIConnectionError",
    "APIError",
    "APIResponseValidationError",
    "APITimeoutError",
    "AccessToken",
    "ApiKey",
    "Appended",
    "Application",
    "ApplicationVersion",
    "AsyncPager",
    "AsyncSticky",
    "AsyncStream",
    "AuthenticationError",
    "AvailabilityWindow",
    "BadRequestError",
    "Category",
    "ConflictError",
    "DuplicateEventIdError",
    "EmailNotVerifiedError",
    "EmailTakenError",
    "Event",
    "FieldError",
    "InsufficientScopeError",
    "InternalServerError",
    "InvalidCredentialsError",
    "KeyType",
    "Location",
    "LogicResult",
    "Me",
    "Media",
    "NotFoundError",
    "Page",
    "Pager",
    "PayloadTooLargeError",
    "Payment",
    "PaymentLine",
    "PaymentLineOption",
    "PermissionDeniedError",
    "Product",
    "Question",
    "QuestionOption",
    "RateLimitError",
    "RecordedEvent",
    "RefreshTokenReusedError",
    "Session",
    "StatsRow",
    "Sticky",
    "StickyError",
    "Stream",
    "TeamMember",
    "Thing",
    "TokenExpiredError",
    "TokenPair",
    "UnprocessableEntityError",
    "User",
    "ValidationError",
    "WeakPasswordError",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WebhookVerificationError",
    "WrongExpectedVersionError",
    "__version__",
    "webhooks",
]

# Public objects say they live here, not in the private module that defines them.
for _name in __all__:
    _obj = globals()[_name]
    if isinstance(_obj, type) and _obj.__module__.startswith("sticky_sdk._"):
        _obj.__module__ = "sticky_sdk"
del _name, _obj

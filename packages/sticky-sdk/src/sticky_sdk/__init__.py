"""The public Python SDK for Sticky.

    from sticky_sdk import Sticky

    sticky = Sticky("http://localhost:8080", key="sk_...")
    me = sticky.users.me()

Everything public is importable from here; the underscored modules are private.
"""

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
from sticky_sdk._streaming import AsyncStream, Stream
from sticky_sdk._version import __version__

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
    "AsyncPager",
    "AsyncSticky",
    "AsyncStream",
    "AuthenticationError",
    "BadRequestError",
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
    "Me",
    "NotFoundError",
    "Page",
    "Pager",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "RateLimitError",
    "RefreshTokenReusedError",
    "StatsRow",
    "Sticky",
    "StickyError",
    "Stream",
    "TeamMember",
    "TokenExpiredError",
    "TokenPair",
    "UnprocessableEntityError",
    "User",
    "ValidationError",
    "WeakPasswordError",
    "WrongExpectedVersionError",
    "__version__",
]

# Public objects say they live here, not in the private module that defines them.
for _name in __all__:
    _obj = globals()[_name]
    if isinstance(_obj, type) and _obj.__module__.startswith("sticky_sdk._"):
        _obj.__module__ = "sticky_sdk"
del _name, _obj

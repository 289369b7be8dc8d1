"""The SDK's public surface is deliberate: exactly these names, documented, secret-free."""

from __future__ import annotations

import importlib.metadata
import inspect
import pathlib
import tomllib

import httpx
import pytest

import sticky_sdk
from sticky_sdk import AsyncSticky, Sticky

EXPECTED = {
    "DEFAULT_BASE_URL",
    "DEFAULT_MAX_RETRIES",
    "DEFAULT_TIMEOUT",
    "APIConnectionError",
    "APIError",
    "APIResponseValidationError",
    "APITimeoutError",
    "AccessToken",
    "ApiKey",
    "WrongExpectedVersionError",
    "Stream",
    "StatsRow",
    "Event",
    "DuplicateEventIdError",
    "AsyncStream",
    "Appended",
    "AsyncPager",
    "AsyncSticky",
    "AuthenticationError",
    "BadRequestError",
    "ConflictError",
    "EmailNotVerifiedError",
    "EmailTakenError",
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
    "Payment",
    "PaymentLine",
    "PaymentLineOption",
    "PermissionDeniedError",
    "RateLimitError",
    "RefreshTokenReusedError",
    "Sticky",
    "StickyError",
    "TeamMember",
    "TokenExpiredError",
    "TokenPair",
    "UnprocessableEntityError",
    "User",
    "ValidationError",
    "WeakPasswordError",
    "__version__",
    # The api service's resources.
    "Application",
    "ApplicationVersion",
    "AvailabilityWindow",
    "Category",
    "Location",
    "LogicResult",
    "Media",
    "Product",
    "Question",
    "QuestionOption",
    "RecordedEvent",
    "Session",
    "Thing",
    # Receiving webhooks.
    "WebhookVerificationError",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
    "webhooks",
}


def test_all_is_exactly_the_public_surface() -> None:
    assert set(sticky_sdk.__all__) == EXPECTED
    assert len(sticky_sdk.__all__) == len(EXPECTED)
    for name in sticky_sdk.__all__:
        assert hasattr(sticky_sdk, name)


def test_public_classes_live_in_the_package_namespace() -> None:
    for name in sticky_sdk.__all__:
        obj = getattr(sticky_sdk, name)
        if inspect.isclass(obj):
            assert obj.__module__ == "sticky_sdk", name
            assert obj.__doc__, f"{name} has no docstring"


def test_every_public_exception_is_a_sticky_error() -> None:
    for name in sticky_sdk.__all__:
        obj = getattr(sticky_sdk, name)
        if inspect.isclass(obj) and issubclass(obj, Exception):
            assert issubclass(obj, sticky_sdk.StickyError), name


def test_the_version_is_the_package_version() -> None:
    assert sticky_sdk.__version__ == importlib.metadata.version("sticky-sdk")
    project = pathlib.Path(__file__).parents[2] / "packages/sticky-sdk/pyproject.toml"
    assert tomllib.loads(project.read_text())["project"]["version"] == sticky_sdk.__version__


def test_the_sdk_imports_nothing_of_the_platform() -> None:
    source = pathlib.Path(sticky_sdk.__file__).parent
    for module in source.rglob("*.py"):
        text = module.read_text()
        assert "import sticky\n" not in text and "from sticky." not in text, module


def test_every_request_says_who_is_asking() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(202, json={})

    sticky = Sticky("http://sticky.test", transport=httpx.MockTransport(handler))
    sticky.auth.resend_verification("ada@example.com")
    assert seen[0].headers["user-agent"] == f"sticky-sdk-python/{sticky_sdk.__version__}"
    assert seen[0].headers["accept"] == "application/json"


def test_extra_headers_are_sent() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(202, json={})

    sticky = Sticky(
        "http://sticky.test", transport=httpx.MockTransport(handler), headers={"X-App": "retail"}
    )
    sticky.auth.request_password_reset("ada@example.com")
    assert seen[0].headers["x-app"] == "retail"


def test_reprs_never_show_secrets() -> None:
    key = "sk_live_abcdefghijklmnop_wxyz"
    sticky = Sticky("http://sticky.test", key=key)
    assert repr(sticky) == "Sticky(base_url='http://sticky.test', credentials='key sk_…wxyz')"
    session = AsyncSticky(access_token="eyJ.secret.token", refresh_token="rt_secret")
    assert "secret" not in repr(session)
    assert "session" in repr(session)


def test_configuration_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Sticky().base_url == sticky_sdk.DEFAULT_BASE_URL == "http://localhost:8080"
    monkeypatch.setenv("STICKY_URL", "https://api.sticky.example/")
    monkeypatch.setenv("STICKY_KEY", "pk_from_environment_0001")
    sticky = Sticky()
    assert sticky.base_url == "https://api.sticky.example"
    assert "pk_…0001" in repr(sticky)
    assert Sticky("http://other.test").base_url == "http://other.test"
    # Explicit credentials of any kind win over the environment's key.
    assert "key" not in repr(Sticky(access_token="eyJ.a.b"))


def test_bad_configuration_fails_with_a_sentence() -> None:
    with pytest.raises(sticky_sdk.StickyError, match="start with pk_, sk_ or tk_"):
        Sticky(key="eyJhbGciOi.not-a-key.xyz")
    with pytest.raises(sticky_sdk.StickyError, match="http:// or https://"):
        Sticky("localhost:8080")
    with pytest.raises(sticky_sdk.StickyError, match="max_retries"):
        Sticky(max_retries=-1)


def test_clients_are_context_managers() -> None:
    with Sticky("http://sticky.test") as sticky:
        assert isinstance(sticky, Sticky)
    assert sticky._http.is_closed


async def test_async_clients_are_async_context_managers() -> None:
    async with AsyncSticky("http://sticky.test") as sticky:
        assert isinstance(sticky, AsyncSticky)
    assert sticky._http.is_closed

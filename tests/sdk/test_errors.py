"""Problem answers become the SDK's exceptions: by slug first, then by status."""

from __future__ import annotations

import pickle
from typing import Any

import httpx
import pytest

import sticky_sdk
from sticky_sdk import (
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
    InsufficientScopeError,
    InternalServerError,
    InvalidCredentialsError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitError,
    RefreshTokenReusedError,
    Sticky,
    StickyError,
    TokenExpiredError,
    UnprocessableEntityError,
    ValidationError,
    WeakPasswordError,
    WrongExpectedVersionError,
)
from tests.sdk.conftest import Harness, run
from tests.sdk.fake_platform import problem


def _raised(response: httpx.Response | Exception, max_retries: int = 0) -> StickyError:
    def handler(request: httpx.Request) -> httpx.Response:
        if isinstance(response, Exception):
            raise response
        return response

    sticky = Sticky(
        "http://sticky.test",
        transport=httpx.MockTransport(handler),
        max_retries=max_retries,
        sleep=lambda seconds: None,
    )
    with pytest.raises(StickyError) as caught:
        sticky.users.me()
    return caught.value


@pytest.mark.parametrize(
    ("status", "slug", "cls", "parents"),
    [
        (401, "invalid-credentials", InvalidCredentialsError, [AuthenticationError]),
        (401, "token-expired", TokenExpiredError, [AuthenticationError]),
        (401, "refresh-token-reused", RefreshTokenReusedError, [AuthenticationError]),
        (403, "email-not-verified", EmailNotVerifiedError, [PermissionDeniedError]),
        (403, "insufficient-scope", InsufficientScopeError, [PermissionDeniedError]),
        (409, "email-taken", EmailTakenError, [ConflictError]),
        (409, "wrong-expected-version", WrongExpectedVersionError, [ConflictError]),
        (409, "duplicate-event-id", DuplicateEventIdError, [ConflictError]),
        (422, "weak-password", WeakPasswordError, [UnprocessableEntityError, ValidationError]),
        (400, "invalid-verification-token", BadRequestError, []),
        (401, "invalid-api-key", AuthenticationError, []),
        (403, "insufficient-permission", PermissionDeniedError, []),
        (404, "not-found", NotFoundError, []),
        (409, "conflict", ConflictError, []),
        (413, "payload-too-large", PayloadTooLargeError, []),
        (422, "validation-error", UnprocessableEntityError, []),
        (429, "rate-limited", RateLimitError, []),
        (500, "internal-error", InternalServerError, []),
        (503, "unavailable", InternalServerError, []),
        (405, "method-not-allowed", APIError, []),
        (418, "something-new", APIError, []),
    ],
)
def test_each_problem_becomes_its_exception(
    status: int, slug: str, cls: type[APIError], parents: list[type[APIError]]
) -> None:
    error = _raised(problem(status, slug, "What went wrong."))
    assert type(error) is cls
    for parent in [*parents, APIError, StickyError]:
        assert isinstance(error, parent)
    assert isinstance(error, APIError)
    assert error.status == status
    assert error.slug == slug
    assert error.type == f"https://sticky.dev/problems/{slug}"
    assert error.detail == "What went wrong."
    assert error.request_id == "req_test"
    assert str(error) == f"{status} {slug}: What went wrong. (request id req_test)"


def test_validation_errors_carry_their_field_errors() -> None:
    errors = [
        {"field": "email", "message": "is not an email address", "code": "value_error"},
        {"field": "name", "message": "is required"},
        "garbage",
        {"message": "no field"},
    ]
    error = _raised(problem(422, "validation-error", "email: is not valid", errors=errors))
    assert isinstance(error, ValidationError)
    assert error.errors == (
        sticky_sdk.FieldError("email", "is not an email address", "value_error"),
        sticky_sdk.FieldError("name", "is required", "invalid"),
    )
    assert isinstance(error.body, dict) and error.body["errors"] == errors


def test_rate_limits_carry_retry_after() -> None:
    error = _raised(problem(429, "rate-limited", "Slow down.", retryAfter=900))
    assert isinstance(error, RateLimitError)
    assert error.retry_after == 900
    from_header = _raised(httpx.Response(429, headers={"Retry-After": "7"}, text="slow down"))
    assert isinstance(from_header, RateLimitError)
    assert from_header.retry_after == 7


@pytest.mark.parametrize(
    ("response", "cls", "detail"),
    [
        (
            httpx.Response(502, text="<html><body>Bad gateway</body></html>"),
            InternalServerError,
            "<html><body>Bad gateway</body></html>",
        ),
        (httpx.Response(404), NotFoundError, "The server answered 404 without details."),
        (httpx.Response(400, text="{not json"), BadRequestError, "{not json"),
        (httpx.Response(409, json=["a", "list"]), ConflictError, '["a","list"]'),
        (httpx.Response(401, text="x" * 1000), AuthenticationError, "x" * 300 + "…"),
    ],
)
def test_bodies_that_are_not_problems_still_make_sensible_errors(
    response: httpx.Response, cls: type[APIError], detail: str
) -> None:
    error = _raised(response)
    assert type(error) is cls
    assert isinstance(error, APIError)
    assert error.detail == detail
    assert error.title == response.reason_phrase
    assert error.type is None and error.slug is None


def test_odd_problem_fields_are_tolerated() -> None:
    body: dict[str, Any] = {"type": 42, "title": None, "detail": ["?"], "errors": "nope"}
    error = _raised(
        httpx.Response(403, json=body, headers={"X-Request-ID": "req_header"}),
    )
    assert type(error) is PermissionDeniedError
    assert isinstance(error, APIError)
    assert (error.type, error.title, error.detail, error.errors) == (None, "Forbidden", "", ())
    assert error.request_id == "req_header"
    assert str(error) == "403 Forbidden: Forbidden (request id req_header)"


def test_transport_failures_are_translated() -> None:
    refused = _raised(httpx.ConnectError("connection refused"))
    assert type(refused) is APIConnectionError
    assert "connection refused" in str(refused)
    assert isinstance(refused.__cause__, httpx.ConnectError)
    timeout = _raised(httpx.ReadTimeout("read timed out"))
    assert type(timeout) is APITimeoutError
    assert isinstance(timeout, APIConnectionError)
    assert "GET http://sticky.test/v1/users/me" in str(timeout)


def test_successful_answers_that_cannot_be_read() -> None:
    not_json = _raised(httpx.Response(200, text="<html>hello</html>"))
    assert type(not_json) is APIResponseValidationError
    assert "not JSON" in str(not_json)
    wrong_shape = _raised(httpx.Response(200, json={"id": 1}))
    assert type(wrong_shape) is APIResponseValidationError


async def test_errors_never_carry_credentials(harness: Harness) -> None:
    secret = harness.platform.private_key
    sticky = harness.client(key=secret)
    harness.platform.answer_next("GET", "/v1/users/me", problem(404, "not-found"))
    with pytest.raises(NotFoundError) as caught:
        await run(sticky.users.me())
    error = caught.value
    for text in (str(error), repr(error), repr(error.body), repr(vars(error))):
        assert secret not in text
        assert "eyJ" not in text


def test_errors_survive_pickling() -> None:
    error = _raised(problem(429, "rate-limited", "Slow down.", retryAfter=3))
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is RateLimitError
    assert isinstance(copy, RateLimitError)
    assert (copy.status, copy.slug, copy.retry_after, str(copy)) == (
        429,
        "rate-limited",
        3,
        str(error),
    )

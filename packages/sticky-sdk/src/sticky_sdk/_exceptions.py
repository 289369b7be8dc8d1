"""Every error the SDK raises, under one root, :class:`StickyError`.

The tree::

    StickyError
    ├── APIConnectionError                 no answer: refused, reset, DNS, TLS
    │   └── APITimeoutError                no answer within the timeout
    ├── APIResponseValidationError         a 2xx answer the SDK could not read
    ├── WebhookVerificationError           a webhook whose signature does not hold (webhooks.verify)
    └── APIError                           the platform answered with a problem (4xx, 5xx)
        ├── BadRequestError                400
        ├── AuthenticationError            401
        │   ├── InvalidCredentialsError    401 invalid-credentials
        │   ├── TokenExpiredError          401 token-expired
        │   └── RefreshTokenReusedError    401 refresh-token-reused
        ├── PermissionDeniedError          403
        │   ├── EmailNotVerifiedError      403 email-not-verified
        │   └── InsufficientScopeError     403 insufficient-scope
        ├── NotFoundError                  404
        ├── ConflictError                  409
        │   ├── EmailTakenError            409 email-taken
        │   ├── WrongExpectedVersionError  409 wrong-expected-version
        │   └── DuplicateEventIdError      409 duplicate-event-id
        ├── PayloadTooLargeError           413
        ├── UnprocessableEntityError       422 (also importable as ValidationError)
        │   └── WeakPasswordError          422 weak-password
        ├── RateLimitError                 429 (with retry_after)
        └── InternalServerError            500 and above

An :class:`APIError` is chosen by the problem's type slug first
(``https://sticky.dev/problems/<slug>``), then by HTTP status; a slug the SDK does not know
falls back to the class for the status, and a status without a class to :class:`APIError`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from sticky_sdk._retries import parse_retry_after

PROBLEM_PATH = "/problems/"
_SNIPPET = 300


@dataclass(frozen=True)
class FieldError:
    """One invalid field of a request, as the platform reports it."""

    field: str
    message: str
    code: str = "invalid"


def slug_of(problem_type: str | None) -> str | None:
    """``"email-taken"`` for ``"https://sticky.dev/problems/email-taken"``."""
    if problem_type and PROBLEM_PATH in problem_type:
        return problem_type.rsplit(PROBLEM_PATH, 1)[1]
    return None


class StickyError(Exception):
    """The root of every error the SDK raises."""


class APIConnectionError(StickyError):
    """The request got no answer from the platform."""


class APITimeoutError(APIConnectionError):
    """The request got no answer within the timeout."""


class APIResponseValidationError(StickyError):
    """The platform answered successfully, but not in a shape the SDK can read."""


class WebhookVerificationError(StickyError):
    """A webhook request is not proven to come from Sticky, unaltered and recent.

    :attr:`reason` says why: ``"missing-header"``, ``"malformed-header"``,
    ``"signature-mismatch"``, ``"timestamp-outside-tolerance"`` or ``"invalid-body"``.
    Answer such a request with a 400 and do not act on it.
    """

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason

    def __reduce__(self) -> tuple[Any, ...]:
        return (_webhook_error, (str(self), self.reason))


def _webhook_error(message: str, reason: str) -> WebhookVerificationError:
    return WebhookVerificationError(message, reason=reason)


class APIError(StickyError):
    """The platform answered with an ``application/problem+json`` error (or a bare 4xx/5xx)."""

    def __init__(
        self,
        *,
        status: int,
        type: str | None = None,
        title: str = "",
        detail: str = "",
        errors: tuple[FieldError, ...] = (),
        request_id: str | None = None,
        body: object = None,
    ) -> None:
        self.status = status
        self.type = type
        self.title = title
        self.detail = detail
        self.errors = errors
        self.request_id = request_id
        self.body = body
        super().__init__(self._message())

    @property
    def slug(self) -> str | None:
        """The last part of the problem type (``"email-taken"``), or None without one."""
        return slug_of(self.type)

    def _message(self) -> str:
        head = f"{self.status} {self.slug or self.title or 'error'}"
        text = self.detail or self.title
        message = f"{head}: {text}" if text else head
        if self.request_id:
            message += f" (request id {self.request_id})"
        return message

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only arguments defeat Exception's default pickling; workers need it.
        return (_restore, (type(self), dict(vars(self))))

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(status={self.status}, type={self.type!r},"
            f" detail={self.detail!r}, request_id={self.request_id!r})"
        )


def _restore(cls: type[APIError], state: dict[str, Any]) -> APIError:
    error = cls.__new__(cls)
    error.__dict__.update(state)
    Exception.__init__(error, error._message())
    return error


class BadRequestError(APIError):
    """400: the request is malformed."""


class AuthenticationError(APIError):
    """401: the request carried no credentials, or ones the platform does not accept."""


class InvalidCredentialsError(AuthenticationError):
    """401 invalid-credentials: the email or the password is wrong."""


class TokenExpiredError(AuthenticationError):
    """401 token-expired: the access token expired and could not be renewed."""


class RefreshTokenReusedError(AuthenticationError):
    """401 refresh-token-reused: a spent refresh token was presented; its family is revoked."""


class PermissionDeniedError(APIError):
    """403: the credentials are valid but may not do this."""


class EmailNotVerifiedError(PermissionDeniedError):
    """403 email-not-verified: the account must verify its email address first."""


class InsufficientScopeError(PermissionDeniedError):
    """403 insufficient-scope: this needs another kind of credential (e.g. the private key)."""


class NotFoundError(APIError):
    """404: there is nothing there (or it belongs to someone else)."""


class ConflictError(APIError):
    """409: the request conflicts with the current state."""


class EmailTakenError(ConflictError):
    """409 email-taken: an account already uses this email address."""


class WrongExpectedVersionError(ConflictError):
    """409 wrong-expected-version: the stream is not at the version the append expected.

    :attr:`stream`, :attr:`expected_version` and :attr:`actual_version` say where it is
    (``-1``: the stream does not exist); nothing of the batch was written.
    """

    def __init__(self, **fields: Any) -> None:
        body = fields.get("body")
        extra: Mapping[str, Any] = body if isinstance(body, Mapping) else {}
        self.stream: str | None = _text_or_none(extra.get("stream"))
        self.expected_version: int | None = _int_or_none(extra.get("expectedVersion"))
        self.actual_version: int | None = _int_or_none(extra.get("actualVersion"))
        super().__init__(**fields)


class DuplicateEventIdError(ConflictError):
    """409 duplicate-event-id: an event with this id is already stored with other content."""


def _text_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _int_or_none(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


class PayloadTooLargeError(APIError):
    """413: the request body is larger than the platform accepts."""


class UnprocessableEntityError(APIError):
    """422: some fields are invalid; :attr:`errors` says which."""


ValidationError = UnprocessableEntityError


class WeakPasswordError(UnprocessableEntityError):
    """422 weak-password: the password is too short, too common, or contains the email."""


class RateLimitError(APIError):
    """429: too many requests; :attr:`retry_after` says how many seconds to wait."""

    def __init__(self, *, retry_after: float | None = None, **fields: Any) -> None:
        self.retry_after = retry_after
        super().__init__(**fields)


class InternalServerError(APIError):
    """5xx: the platform failed; the request id identifies it in the platform's logs."""


_BY_SLUG: dict[str, type[APIError]] = {
    "invalid-credentials": InvalidCredentialsError,
    "token-expired": TokenExpiredError,
    "refresh-token-reused": RefreshTokenReusedError,
    "email-not-verified": EmailNotVerifiedError,
    "insufficient-scope": InsufficientScopeError,
    "email-taken": EmailTakenError,
    "wrong-expected-version": WrongExpectedVersionError,
    "duplicate-event-id": DuplicateEventIdError,
    "weak-password": WeakPasswordError,
}

_BY_STATUS: dict[int, type[APIError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    413: PayloadTooLargeError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}


def _error_class(status: int, slug: str | None) -> type[APIError]:
    if slug in _BY_SLUG:
        return _BY_SLUG[slug]
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    return InternalServerError if status >= 500 else APIError


def _field_errors(raw: object) -> tuple[FieldError, ...]:
    if not isinstance(raw, list):
        return ()
    found = []
    for item in raw:
        if isinstance(item, Mapping) and isinstance(item.get("field"), str):
            code = item.get("code")
            found.append(
                FieldError(
                    field=item["field"],
                    message=str(item.get("message", "")),
                    code=code if isinstance(code, str) else "invalid",
                )
            )
    return tuple(found)


def _decode_body(response: httpx.Response) -> object:
    content = response.content
    if not content:
        return None
    try:
        return json.loads(content)
    except ValueError:
        return response.text


def error_from_response(response: httpx.Response) -> APIError:
    """The error an unsuccessful (already read) response stands for."""
    status = response.status_code
    body = _decode_body(response)
    header_id = response.headers.get("x-request-id")
    header_retry = parse_retry_after(response.headers.get("retry-after"))
    fields: dict[str, Any]
    if isinstance(body, Mapping):
        kind = body.get("type")
        title = body.get("title")
        detail = body.get("detail")
        request_id = body.get("requestId")
        fields = {
            "type": kind if isinstance(kind, str) else None,
            "title": title if isinstance(title, str) else response.reason_phrase,
            "detail": detail if isinstance(detail, str) else "",
            "errors": _field_errors(body.get("errors")),
            "request_id": request_id if isinstance(request_id, str) else header_id,
        }
        retry_after = body.get("retryAfter")
        if not isinstance(retry_after, int | float) or isinstance(retry_after, bool):
            retry_after = header_retry
    else:
        text = response.text.strip()
        if len(text) > _SNIPPET:
            text = text[:_SNIPPET] + "…"
        fields = {
            "title": response.reason_phrase or "HTTP error",
            "detail": text or f"The server answered {status} without details.",
            "request_id": header_id,
        }
        retry_after = header_retry
    cls = _error_class(status, slug_of(fields.get("type")))
    if issubclass(cls, RateLimitError):
        return cls(status=status, retry_after=retry_after, body=body, **fields)
    return cls(status=status, body=body, **fields)


def connection_error(exc: httpx.RequestError) -> APIConnectionError:
    """Translate an httpx failure into the SDK's own (the caller chains ``from exc``)."""
    try:
        where = f" ({exc.request.method} {exc.request.url})"
    except RuntimeError:
        where = ""
    if isinstance(exc, httpx.TimeoutException):
        return APITimeoutError(f"The request timed out{where}: {type(exc).__name__}.")
    reason = str(exc) or type(exc).__name__
    return APIConnectionError(f"Could not reach Sticky{where}: {reason}")

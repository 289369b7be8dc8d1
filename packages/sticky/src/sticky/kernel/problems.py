"""RFC 9457 problem details: the one shape every 4xx and 5xx response takes.

Services raise :class:`Problem` (or let the kernel translate framework errors); the handlers
installed by :func:`install_problem_handlers` render them as ``application/problem+json``.
No stack trace ever leaves a process: unexpected exceptions are logged and answered with a
generic ``internal-error`` problem.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.routing import Match

PROBLEM_BASE = "https://sticky.dev/problems/"
PROBLEM_MEDIA_TYPE = "application/problem+json"

log = structlog.get_logger("sticky.problems")


@dataclass(frozen=True)
class FieldError:
    """One invalid field of a request: where it is (``body.email``) and what is wrong."""

    field: str
    message: str
    code: str = "invalid"

    def to_json(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message, "code": self.code}


@dataclass
class Problem(Exception):
    """An error a client should see. ``slug`` becomes the stable ``type`` URI."""

    status: int
    slug: str
    title: str
    detail: str = ""
    errors: Sequence[FieldError] = ()
    headers: Mapping[str, str] = field(default_factory=dict)
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(self.detail or self.title)

    @property
    def type(self) -> str:
        return PROBLEM_BASE + self.slug

    def to_json(self, instance: str | None = None, request_id: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": self.type,
            "title": self.title,
            "status": self.status,
            "detail": self.detail or self.title,
        }
        if instance:
            body["instance"] = instance
        if self.errors:
            body["errors"] = [error.to_json() for error in self.errors]
        if request_id:
            body["requestId"] = request_id
        body.update(self.extra)
        return body


def problem_response(problem: Problem, request: Request | None = None) -> Response:
    request_id = None
    instance = None
    if request is not None:
        request_id = request.headers.get("x-request-id")
        instance = request.url.path
    return Response(
        orjson.dumps(problem.to_json(instance, request_id)),
        status_code=problem.status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=dict(problem.headers),
    )


# Stock problems, so the same situation always carries the same type.
def bad_request(detail: str, slug: str = "bad-request") -> Problem:
    return Problem(400, slug, "Bad request", detail)


def unauthorized(detail: str, slug: str = "unauthorized") -> Problem:
    return Problem(401, slug, "Unauthorized", detail, headers={"WWW-Authenticate": "Bearer"})


def forbidden(detail: str, slug: str = "forbidden") -> Problem:
    return Problem(403, slug, "Forbidden", detail)


def not_found(detail: str, slug: str = "not-found") -> Problem:
    return Problem(404, slug, "Not found", detail)


def conflict(detail: str, slug: str = "conflict") -> Problem:
    return Problem(409, slug, "Conflict", detail)


def validation_failed(errors: Sequence[FieldError], detail: str | None = None) -> Problem:
    summary = detail or "; ".join(f"{e.field}: {e.message}" for e in errors)
    return Problem(422, "validation-error", "Your request has invalid fields", summary, errors)


def too_many_requests(detail: str, retry_after: int) -> Problem:
    return Problem(
        429,
        "rate-limited",
        "Too many requests",
        detail,
        headers={"Retry-After": str(max(1, retry_after))},
        extra={"retryAfter": max(1, retry_after)},
    )


def payload_too_large(limit: int) -> Problem:
    return Problem(
        413,
        "payload-too-large",
        "Request body too large",
        f"The request body is larger than the limit of {limit} bytes.",
    )


_STATUS_SLUGS = {
    400: ("bad-request", "Bad request"),
    401: ("unauthorized", "Unauthorized"),
    403: ("forbidden", "Forbidden"),
    404: ("not-found", "Not found"),
    405: ("method-not-allowed", "Method not allowed"),
    406: ("not-acceptable", "Not acceptable"),
    409: ("conflict", "Conflict"),
    413: ("payload-too-large", "Request body too large"),
    415: ("unsupported-media-type", "Unsupported media type"),
    429: ("rate-limited", "Too many requests"),
    503: ("unavailable", "Service unavailable"),
}


def _field_name(loc: Sequence[Any]) -> str:
    parts = [str(part) for part in loc]
    if parts and parts[0] == "body":
        parts = parts[1:]
    return ".".join(parts) or "body"


def from_validation(exc: RequestValidationError) -> Problem:
    errors: list[FieldError] = []
    for item in exc.errors():
        kind = str(item.get("type", "invalid"))
        if kind == "json_invalid":
            ctx = item.get("ctx") or {}
            return bad_request(
                f"The request body is not valid JSON ({ctx.get('error', 'parse error')}).",
                slug="malformed-json",
            )
        loc = item.get("loc", ())
        where = _field_name(loc)
        if kind == "extra_forbidden":
            message = "is not a field this endpoint accepts"
            code = "unknown_field"
        elif kind == "missing":
            message = "is required"
            code = "required"
        else:
            message = str(item.get("msg", "is invalid")).removeprefix("Value error, ")
            code = kind
        errors.append(FieldError(where, message, code))
    if any(e.field == "body" and e.code == "required" for e in errors):
        return bad_request("This endpoint needs a JSON request body.", slug="missing-body")
    return validation_failed(errors)


_METHODS = ("DELETE", "GET", "HEAD", "PATCH", "POST", "PUT")


def _allowed(request: Request) -> list[str]:
    """Every method some route takes at this path. The router's own ``Allow`` names only the
    first route that matched the path, and FastAPI makes a route per method: a ``PATCH`` to a
    path with GET, PATCH and DELETE routes would have been told ``Allow: GET``. Each method is
    matched as the router matches it (the public ``matches`` of each route)."""
    routes = request.app.router.routes
    return [
        method
        for method in _METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] is Match.FULL for route in routes
        )
    ]


# What FastAPI says of a body its JSON parser gave up on other than by a syntax error.
_UNPARSED = "There was an error parsing the body"


def _unreadable(cause: BaseException) -> str:
    """Why the standard library's parser could not read a body, in the caller's terms."""
    if isinstance(cause, RecursionError):
        return "its objects and arrays are nested too deeply to read"
    if isinstance(cause, UnicodeDecodeError):
        return f"it is not UTF-8: byte {cause.start} is not valid there"
    if "integer string conversion" in str(cause):
        return "it holds a number with more digits than can be read"
    return "it could not be read"


def install_problem_handlers(app: FastAPI) -> None:
    """Make every error the app can produce an ``application/problem+json`` response."""

    async def on_problem(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, Problem)
        return problem_response(exc, request)

    async def on_validation(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        return problem_response(from_validation(exc), request)

    async def on_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code == 400 and exc.detail == _UNPARSED and exc.__cause__ is not None:
            reason = _unreadable(exc.__cause__)
            problem = bad_request(
                f"The request body is not valid JSON ({reason}).", "malformed-json"
            )
            return problem_response(problem, request)
        slug, title = _STATUS_SLUGS.get(exc.status_code, ("error", "Error"))
        detail = exc.detail if isinstance(exc.detail, str) else title
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"There is nothing at {request.url.path}."
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            detail = f"{request.method} is not allowed on {request.url.path}."
            headers["Allow"] = ", ".join(_allowed(request))
        problem = Problem(exc.status_code, slug, title, detail, headers=headers)
        return problem_response(problem, request)

    async def on_unexpected(request: Request, exc: Exception) -> Response:
        log.error("unhandled exception", exc_info=exc, path=request.url.path)
        problem = Problem(
            500,
            "internal-error",
            "Internal error",
            "Something went wrong on our side. The request id identifies it in our logs.",
        )
        return problem_response(problem, request)

    app.add_exception_handler(Problem, on_problem)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(Exception, on_unexpected)

"""ASGI middleware every service runs: request context, metrics, logs, body and URL limits."""

from __future__ import annotations

import logging
import time

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sticky.kernel import tracing
from sticky.kernel.metrics import HttpMetrics
from sticky.kernel.problems import bad_request, payload_too_large, problem_response

log = structlog.get_logger("sticky.http")

_QUIET_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


def _route_template(scope: Scope) -> str:
    # The router records the matched route in the scope; label by its template, never by
    # the raw path, so metrics keep a bounded number of series.
    route = scope.get("route")
    return str(getattr(route, "path", "<unmatched>"))


class RequestContextMiddleware:
    """Adopt or create the request id and trace, then time, count and log the request."""

    def __init__(self, app: ASGIApp, metrics: HttpMetrics) -> None:
        self.app = app
        self.metrics = metrics
        # Read once: the level is configured before an app is built. Below info, a request
        # line would be built for nothing (2 us a request).
        self._log_requests = log.is_enabled_for(logging.INFO)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = traceparent = None
        for key, value in scope["headers"]:  # the last of each, as a dict of them would keep
            if key == b"x-request-id":
                request_id = value.decode("latin-1")
            elif key == b"traceparent":
                traceparent = value.decode("latin-1")
        ctx = tracing.from_headers(request_id, traceparent)
        if request_id is None:
            scope["headers"] = [*scope["headers"], (b"x-request-id", ctx.request_id.encode())]
        token = tracing.current.set(ctx)
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [
                    *message["headers"],
                    (b"x-request-id", ctx.request_id.encode("latin-1")),
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = _route_template(scope)
            self.metrics.observe(scope["method"], route, status, elapsed)
            if self._log_requests and scope["path"] not in _QUIET_PATHS:
                log.info(
                    "request",
                    method=scope["method"],
                    path=scope["path"],
                    route=route,
                    status=status,
                    duration_ms=round(elapsed * 1000, 2),
                )
            tracing.current.reset(token)


class BodyLimitMiddleware:
    """Refuse request bodies over ``limit`` bytes with 413, declared or streamed."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for key, value in scope["headers"]:
            if key == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0
                if declared > self.limit:
                    await _send_problem(scope, send, self.limit)
                    return
        received = 0
        refused = False
        started = False

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if refused:
                return  # the 413 has been sent; whatever the app says after is dropped
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        async def limited_receive() -> Message:
            nonlocal received, refused
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit and not refused:
                    if not started:
                        await _send_problem(scope, send, self.limit)
                    refused = True
                    return {"type": "http.disconnect"}
            return message

        await self.app(scope, limited_receive, guarded_send)


class NulGuardMiddleware:
    """Refuse a NUL character (``%00``) in the path or query string with 400.

    No id, filter or cursor holds one, and PostgreSQL refuses it in a query: passed on, it
    would be a 500 rather than a not-found or an empty list.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and (
            "\x00" in scope["path"]
            or b"%00" in scope["query_string"]
            or b"\x00" in scope["query_string"]
        ):
            problem = bad_request(
                "The URL holds a NUL character (%00), which no path or parameter takes.",
                slug="invalid-url",
            )
            await problem_response(problem)(scope, _drain, send)
            return
        await self.app(scope, receive, send)


async def _send_problem(scope: Scope, send: Send, limit: int) -> None:
    response = problem_response(payload_too_large(limit))
    await response(scope, _drain, send)


async def _drain() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}

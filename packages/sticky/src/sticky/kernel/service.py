"""The app factory every service uses, so knowing one service means knowing all.

A service passes its routers, a lifespan for its own resources and its readiness checks;
the kernel adds ``/healthz``, ``/readyz``, ``/metrics``, the OpenAPI document, problem
responses, request context, logs and the body size limit.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

import orjson
import structlog
from fastapi import APIRouter, Depends, FastAPI, Header, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sticky.kernel.idempotency import IdempotencyMiddleware
from sticky.kernel.metrics import CONTENT_TYPE_LATEST, HttpMetrics
from sticky.kernel.middleware import (
    BodyLimitMiddleware,
    NulGuardMiddleware,
    RequestContextMiddleware,
)
from sticky.kernel.problems import (
    PROBLEM_MEDIA_TYPE,
    Problem,
    install_problem_handlers,
    problem_response,
)
from sticky.kernel.settings import Settings
from sticky.kernel.tokens import (
    Principal,
    TokenVerifier,
    api_key_hint,
    bearer_token,
    looks_like_api_key,
)

log = structlog.get_logger("sticky.http")

ReadinessCheck = Callable[[], Awaitable[tuple[bool, str]]]
Lifespan = Callable[[FastAPI], contextlib.AbstractAsyncContextManager[None]]


@dataclass(frozen=True)
class FastPath:
    """Requests a service answers before FastAPI sees them: ``claims(scope)`` picks them."""

    claims: Callable[[Scope], bool]
    handler: ASGIApp  # called with ``scope["app"]`` set to the service's app


class ServiceApp(FastAPI):
    """A FastAPI app that hands the requests its fast path claims straight to it."""

    fast_path: FastPath | None = None
    fast_front: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        fast, front = self.fast_path, self.fast_front
        if (
            fast is not None
            and front is not None
            and scope["type"] == "http"
            and fast.claims(scope)
        ):
            scope["app"] = self
            await front(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


class _Guarded:
    """What FastAPI's error middleware does for routes: a problem, never a stack trace."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watched)
        except Exception as exc:
            log.error("unhandled exception", exc_info=exc, path=scope.get("path"))
            if started:
                raise
            problem = Problem(
                500,
                "internal-error",
                "Internal error",
                "Something went wrong on our side. The request id identifies it in our logs.",
            )
            await problem_response(problem)(scope, receive, send)


def json_response(content: Any, status_code: int = 200, **kwargs: Any) -> Response:
    return Response(
        orjson.dumps(content), status_code=status_code, media_type="application/json", **kwargs
    )


def create_service_app(
    name: str,
    settings: Settings,
    *,
    routers: Sequence[APIRouter],
    lifespan: Lifespan | None = None,
    readiness: Mapping[str, ReadinessCheck] | None = None,
    description: str = "",
    idempotency: Callable[[], AsyncEngine] | None = None,
    max_body_bytes: int | None = None,
    fast_path: FastPath | None = None,
) -> FastAPI:
    """``max_body_bytes`` overrides ``settings.max_body_bytes`` for a service that takes
    larger bodies (the events service's batches). ``fast_path`` serves the few requests it
    claims (the tap) with request ids, logs and metrics but without FastAPI's middleware,
    routing and dependency injection; everything else takes the usual way."""
    checks = dict(readiness or {})
    started_at = time.time()

    @contextlib.asynccontextmanager
    async def run(app: FastAPI) -> AsyncIterator[None]:
        if lifespan is None:
            yield
            return
        async with lifespan(app):
            yield

    app = ServiceApp(
        title=f"Sticky {name}",
        description=description,
        version="0.1.0",
        lifespan=run,
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.service = name
    metrics = HttpMetrics(name)
    app.state.metrics = metrics
    install_problem_handlers(app)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> Response:
        return json_response({"status": "alive", "service": name, "startedAt": started_at})

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> Response:
        results: dict[str, dict[str, Any]] = {}
        ready = True
        for check_name, check in checks.items():
            try:
                ok, detail = await check()
            except Exception as exc:
                ok, detail = False, f"{type(exc).__name__}: {exc}"
            ready = ready and ok
            results[check_name] = {"ok": ok, "detail": detail}
        if ready:
            return json_response({"status": "ready", "service": name, "checks": results})
        body = {
            "type": "https://sticky.dev/problems/not-ready",
            "title": "Not ready",
            "status": 503,
            "detail": "; ".join(f"{k}: {v['detail']}" for k, v in results.items() if not v["ok"]),
            "service": name,
            "checks": results,
        }
        return Response(orjson.dumps(body), status_code=503, media_type=PROBLEM_MEDIA_TYPE)

    @app.get("/metrics", include_in_schema=False)
    async def prometheus() -> Response:
        return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)

    for router in routers:
        app.include_router(router)

    if fast_path is not None:
        app.fast_path = fast_path
        app.fast_front = RequestContextMiddleware(_Guarded(fast_path.handler), metrics=metrics)
    if idempotency is not None:
        # Inside the body limit, so the body it buffers is already bounded.
        app.add_middleware(
            IdempotencyMiddleware, engine=idempotency, secret_key=settings.secret_key
        )
    app.add_middleware(BodyLimitMiddleware, limit=max_body_bytes or settings.max_body_bytes)
    app.add_middleware(NulGuardMiddleware)
    app.add_middleware(RequestContextMiddleware, metrics=metrics)
    return app


async def current_principal(
    request: Request, authorization: Annotated[str | None, Header()] = None
) -> Principal:
    """The verified caller, from ``Authorization: Bearer <access token>``."""
    token = bearer_token(authorization)
    if looks_like_api_key(token):
        raise api_key_hint()
    verifier: TokenVerifier = request.app.state.verifier
    principal = await verifier.verify(token)
    request.state.principal = principal
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]

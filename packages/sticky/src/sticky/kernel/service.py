"""The app factory every service uses, so knowing one service means knowing all.

A service passes its routers, a lifespan for its own resources and its readiness checks;
the kernel adds ``/healthz``, ``/readyz``, ``/metrics``, the OpenAPI document, problem
responses, request context, logs and the body size limit.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, FastAPI, Header, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.types import ASGIApp

from sticky.kernel.idempotency import IdempotencyMiddleware
from sticky.kernel.metrics import CONTENT_TYPE_LATEST, HttpMetrics
from sticky.kernel.middleware import BodyLimitMiddleware, RequestContextMiddleware
from sticky.kernel.problems import PROBLEM_MEDIA_TYPE, install_problem_handlers
from sticky.kernel.settings import Settings
from sticky.kernel.tokens import (
    Principal,
    TokenVerifier,
    api_key_hint,
    bearer_token,
    looks_like_api_key,
)

ReadinessCheck = Callable[[], Awaitable[tuple[bool, str]]]
Lifespan = Callable[[FastAPI], contextlib.AbstractAsyncContextManager[None]]


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
    fast_path: Callable[[ASGIApp], ASGIApp] | None = None,
) -> FastAPI:
    """``max_body_bytes`` overrides ``settings.max_body_bytes`` for a service that takes
    larger bodies (the events service's batches). ``fast_path`` is an ASGI middleware class
    placed inside the kernel's (request ids, logs, metrics, limits) but in front of the
    router, for the few requests that must skip routing and dependency injection (the tap)."""
    checks = dict(readiness or {})
    started_at = time.time()

    @contextlib.asynccontextmanager
    async def run(app: FastAPI) -> AsyncIterator[None]:
        if lifespan is None:
            yield
            return
        async with lifespan(app):
            yield

    app = FastAPI(
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
        app.add_middleware(fast_path)
    if idempotency is not None:
        # Inside the body limit, so the body it buffers is already bounded.
        app.add_middleware(
            IdempotencyMiddleware, engine=idempotency, secret_key=settings.secret_key
        )
    app.add_middleware(BodyLimitMiddleware, limit=max_body_bytes or settings.max_body_bytes)
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

"""``GET /t/{thingId}`` (the tap) and ``GET /go/flow/{applicationId}`` (a flow, no sticker).

The answer is a ``302`` to where the flow's live routing logic says, with the consumer's
session passed on. A sticker nobody knows, or logic that fails, gets a friendly page (HTML
to browsers, ``problem+json`` to programs), and a failing flow's owner gets a
``LOGIC_ERROR`` event to see why.
"""

from __future__ import annotations

import html
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.types import Receive, Scope, Send

from sticky.api.context import Api, ApiDep
from sticky.api.routes import payments
from sticky.api.tap import (
    SESSION_COOKIE,
    Flow,
    logic_input,
    record_tap,
    set_session_cookie,
    tap_event,
    user_agent_class,
    with_params,
    with_session,
)
from sticky.kernel.problems import Problem, problem_response
from sticky.kernel.service import FastPath

router = APIRouter(tags=["tap"])


def _page(request: Request, status: int, slug: str, title: str, detail: str) -> Response:
    if "text/html" in request.headers.get("accept", ""):
        body = _PAGE.format(
            title=html.escape(title, quote=False), detail=html.escape(detail, quote=False)
        )
        return Response(
            body,
            status_code=status,
            media_type="text/html; charset=utf-8",
            headers={"Cache-Control": "no-store"},
        )
    return problem_response(Problem(status, slug, title, detail), request)


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:32rem;margin:15vh auto;padding:0 1.5rem;
color:#222}}h1{{font-size:1.4rem}}p{{line-height:1.5;color:#555}}</style></head>
<body><h1>{title}</h1><p>{detail}</p></body></html>
"""


def _client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


async def _go(
    request: Request,
    api: Api,
    *,
    thing: dict[str, Any] | None,
    flow: Flow | None,
    user_id: str,
) -> Response:
    now = api.now()
    application = flow.application if flow else None
    application_id = application["id"] if application else None
    thing_id = thing["id"] if thing else None
    kid_safe = bool(thing and thing["is_kid_safe"])
    session_id, set_cookie, session = api.taps.session(
        request.cookies.get(SESSION_COOKIE), user_id, application_id, thing_id, kid_safe, now
    )
    live = flow.live if flow else None
    settings: dict[str, Any] = dict(live["settings"]) if live else {}
    custom: dict[str, Any] = {
        "userAgentClass": user_agent_class(request.headers.get("user-agent", "")),
        "applicationVersion": live["version"] if live else None,
    }
    events = []
    failure = None
    if live is not None and application is not None and live["logic"]:
        input_ = logic_input(
            api,
            thing=thing,
            application=application,
            settings=settings,
            session_id=session_id,
            query=dict(request.query_params) if request.scope["query_string"] else {},
        )
        key = f"{application_id}:{live['version']}"
        outcome = await api.sandbox.run_async(key, user_id, live["logic"], input_)
        failure = outcome.error
        destination = outcome.url
        if failure is not None:
            events.append(
                tap_event(
                    "LOGIC_ERROR",
                    user_id=user_id,
                    application_id=application_id,
                    thing_id=thing_id,
                    session_id=session_id,
                    custom_data={
                        "kind": failure.kind,
                        "message": failure.message[:1000],
                        "applicationVersion": live["version"],
                        "console": list(outcome.console)[-10:],
                    },
                    created_at=now,
                )
            )
    else:
        destination = settings.get("consumerAppUrl") or api.consumer_app_url
        params = {"thingId": thing_id, "applicationId": application_id}
        destination = with_params(destination, params)
    custom["destination"] = destination
    events.insert(
        0,
        tap_event(
            "SESSION_READ",
            user_id=user_id,
            application_id=application_id,
            thing_id=thing_id,
            session_id=session_id,
            custom_data=custom,
            created_at=now,
        ),
    )
    await record_tap(api.recorder, session, events, _client_ip(request))
    if failure is not None or destination is None:
        response = _page(
            request,
            502,
            "logic-error",
            "This sticker's page is taking a break",
            "The app behind this sticker could not decide where to send you. Its owner has"
            " been told; please try again in a little while.",
        )
    else:
        response = RedirectResponse(with_session(destination, session_id), status_code=302)
        response.raw_headers.append((b"cache-control", b"no-store"))  # no header parsing
    if set_cookie:
        set_session_cookie(response, request, session_id)
    return response


def _unknown_sticker(request: Request) -> Response:
    return _page(
        request,
        404,
        "thing-not-found",
        "This sticker isn't active",
        "We couldn't find what this sticker points to. It may have been removed, or not"
        " set up yet.",
    )


@router.get("/t/{thing_id}", include_in_schema=True)
async def tap(thing_id: str, request: Request, api: ApiDep) -> Response:
    """Tap a sticker: 302 to where its flow's live routing logic says."""
    target = await api.taps.target(thing_id)
    if target.thing is None:
        return _unknown_sticker(request)
    return await _go(
        request, api, thing=target.thing, flow=target.flow, user_id=target.thing["user_id"]
    )


@router.get("/go/flow/{application_id}")
async def go_flow(application_id: str, request: Request, api: ApiDep) -> Response:
    """Open a flow without a sticker (a link or a button on the merchant's own site)."""
    # No id is longer, or holds NUL (which PostgreSQL refuses in a query: a 500, not a 404).
    known = len(application_id) <= 40 and "\x00" not in application_id
    flow = await api.taps.flow(application_id) if known else None
    if flow is None or flow.live is None:
        return _page(
            request,
            404,
            "application-not-found",
            "This link isn't active",
            "We couldn't find the app this link points to.",
        )
    if payments.is_checkout(request):
        try:
            return await payments.open_checkout(request, api, flow)
        except payments.CheckoutRefused as refused:
            title = "This payment link isn't valid"
            return _page(request, 400, refused.slug, title, str(refused))
    return await _go(request, api, thing=None, flow=flow, user_id=flow.application["user_id"])


class _Template:
    """What the kernel's metrics and logs read of a matched route: its template."""

    def __init__(self, path: str) -> None:
        self.path = path


_TAP = _Template("/t/{thing_id}")
_GO = _Template("/go/flow/{application_id}")


def _claims(scope: Scope) -> bool:
    if scope["method"] not in ("GET", "HEAD"):
        return False
    path: str = scope["path"]
    return (path.startswith("/t/") and "/" not in path[3:]) or (
        path.startswith("/go/flow/") and "/" not in path[9:]
    )


async def _serve(scope: Scope, receive: Receive, send: Send) -> None:
    """A tap without the router: the routes' own handlers, so both ways answer the same."""
    path: str = scope["path"]
    request = Request(scope, receive)
    api: Api = scope["app"].state.api
    if path.startswith("/t/"):
        scope["route"] = _TAP
        response = await tap(path[3:], request, api)
    else:
        scope["route"] = _GO
        response = await go_flow(path[9:], request, api)
    await response(scope, receive, send)


# A tap is the one request that must stay fast under load: it costs the kernel's request
# context and the handler, not FastAPI's middleware, route matching and injection.
TAP_FAST_PATH = FastPath(claims=_claims, handler=_serve)

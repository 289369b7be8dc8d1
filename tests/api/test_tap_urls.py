"""Where a tap sends the phone: the session id and the flow's ids added to the app's URL, and
the session cookie, each written directly in the usual case and as before otherwise."""

from __future__ import annotations

import pytest
from starlette.requests import Request
from starlette.responses import Response

from sticky.api.tap import set_session_cookie, with_params, with_session


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://shop.example/app", "https://shop.example/app?sessionId=ses_1"),
        ("https://shop.example/app?table=4", "https://shop.example/app?table=4&sessionId=ses_1"),
        ("https://shop.example/app?", "https://shop.example/app?sessionId=ses_1"),
        ("https://shop.example/app?a=1&", "https://shop.example/app?a=1&sessionId=ses_1"),
        # The logic chose a session itself: left alone.
        ("https://shop.example/app?sessionId=mine", "https://shop.example/app?sessionId=mine"),
        # A fragment stays last.
        ("https://shop.example/app?a=1#menu", "https://shop.example/app?a=1&sessionId=ses_1#menu"),
    ],
)
def test_the_session_id_is_added_to_the_query(url: str, expected: str) -> None:
    assert with_session(url, "ses_1") == expected


def test_an_id_that_needs_escaping_is_escaped() -> None:
    assert with_session("https://a.example/", "a b&c") == "https://a.example/?sessionId=a+b%26c"


def test_the_flows_ids_are_added_unless_present() -> None:
    ids: dict[str, str | None] = {"thingId": "t1", "applicationId": "app_1"}
    assert with_params("https://a.example/x", ids) == (
        "https://a.example/x?thingId=t1&applicationId=app_1"
    )
    assert with_params("https://a.example/x?thingId=mine", ids) == (
        "https://a.example/x?thingId=mine&applicationId=app_1"
    )
    assert with_params("https://a.example/x", {"thingId": None}) == "https://a.example/x"


def _request(scheme: str, forwarded: str | None = None) -> Request:
    headers = [(b"x-forwarded-proto", forwarded.encode())] if forwarded else []
    return Request({"type": "http", "scheme": scheme, "headers": headers, "path": "/t/x"})


@pytest.mark.parametrize(
    ("session_id", "scheme", "forwarded"),
    [
        ("ses_abc", "https", None),
        ("ses_abc", "http", None),
        ("ses_abc", "http", "https"),
        ("odd value;", "https", None),
    ],
)
def test_the_cookie_is_what_starlette_would_write(
    session_id: str, scheme: str, forwarded: str | None
) -> None:
    ours, theirs = Response(), Response()
    request = _request(scheme, forwarded)
    set_session_cookie(ours, request, session_id)
    theirs.set_cookie(
        "sticky-sessionid",
        session_id,
        max_age=365 * 24 * 3600,
        httponly=True,
        samesite="lax",
        secure=(forwarded or scheme) == "https",
        path="/",
    )
    assert ours.headers.getlist("set-cookie") == theirs.headers.getlist("set-cookie")

"""The few HTML pages people reach from an email: confirm the address, choose a new password.

Opening a link changes nothing (mail scanners open links too); the page's form does, with a
POST to the same JSON endpoints the SDK calls.
"""

from __future__ import annotations

from html import escape

from fastapi.responses import HTMLResponse

_HEADERS = {
    # The token is in the URL: never send it on as a referrer, never cache the page.
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self';"
        " frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
}

_STYLE = """
body{font:16px/1.5 system-ui,sans-serif;background:#f6f6f4;color:#222;margin:0}
main{max-width:26rem;margin:12vh auto;padding:2rem;background:#fff;border-radius:12px;
box-shadow:0 1px 4px #0002}
h1{font-size:1.4rem;margin:0 0 1rem}
label{display:block;margin:1rem 0 .3rem}
input{box-sizing:border-box;width:100%;padding:.6rem;font:inherit;border:1px solid #bbb;
border-radius:6px}
button{margin-top:1.2rem;padding:.6rem 1.2rem;font:inherit;color:#fff;background:#1d6b57;
border:0;border-radius:6px;cursor:pointer}
.error{color:#a3261b}
"""


def _page(title: str, body: str, status_code: int = 200) -> HTMLResponse:
    html = (
        "<!doctype html>\n<html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width,initial-scale=1">'
        f"<title>{escape(title)} · Sticky</title><style>{_STYLE}</style></head>"
        f"<body><main><h1>{escape(title)}</h1>{body}</main></body></html>\n"
    )
    return HTMLResponse(html, status_code=status_code, headers=_HEADERS)


def _error(message: str | None) -> str:
    return f"<p class=error role=alert>{escape(message)}</p>" if message else ""


def verify_email(token: str) -> HTMLResponse:
    """The page behind the link in the verification email."""
    if not token:
        return missing_token("verification")
    return _page(
        "Confirm your email address",
        "<p>Confirm that this address is yours to finish setting up your Sticky account.</p>"
        '<form method=post action="/v1/auth/verify-email">'
        f'<input type=hidden name=token value="{escape(token)}">'
        "<button type=submit>Confirm</button></form>",
    )


def reset_password(token: str, error: str | None = None, status_code: int = 200) -> HTMLResponse:
    """The page behind the link in the password-reset email."""
    if not token:
        return missing_token("password-reset")
    return _page(
        "Choose a new password",
        _error(error) + '<form method=post action="/v1/auth/password-reset/confirm">'
        f'<input type=hidden name=token value="{escape(token)}">'
        "<label for=password>New password (10 characters or more)</label>"
        "<input id=password name=password type=password required minlength=10 maxlength=256"
        " autocomplete=new-password autofocus>"
        "<button type=submit>Set password</button></form>",
        status_code,
    )


def missing_token(kind: str) -> HTMLResponse:
    return _page(
        "This link is incomplete",
        f"<p>The {escape(kind)} link has no token: open the link from the email again, whole.</p>",
        400,
    )


def done(title: str, message: str) -> HTMLResponse:
    return _page(title, f"<p>{escape(message)}</p>")


def failed(message: str, status_code: int) -> HTMLResponse:
    return _page("That did not work", _error(message), status_code)

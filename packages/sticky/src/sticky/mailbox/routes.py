"""The mailbox over HTTP: a page for people at ``/mail``, JSON for tests at ``/mail/api``."""

from __future__ import annotations

import re
from typing import Annotated

import jinja2
from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import HTMLResponse

from sticky.kernel.problems import not_found
from sticky.kernel.service import json_response
from sticky.mailbox.parsing import headers_of
from sticky.mailbox.store import MailboxStore, StoredMail

PAGE_SIZE = 200
_HEAD = re.compile(r"<head(\s[^>]*)?>", re.IGNORECASE)
_DOCTYPE = re.compile(r"^\s*<!doctype[^>]*>", re.IGNORECASE)

# The page's own CSS is inline; the email itself is shown in a sandboxed iframe, which inherits
# this policy, so nothing in a message can run scripts or post forms.
PAGE_POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src * data:; form-action 'self'"

_pages = jinja2.Environment(
    loader=jinja2.PackageLoader("sticky.mailbox", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def framed(html: str) -> str:
    """The HTML for the message frame: its links open in a new tab, not inside the frame."""
    base = '<base target="_blank">'
    # Inside <head> if there is one; never before the doctype (that would mean quirks mode).
    anchor = _HEAD.search(html) or _DOCTYPE.match(html)
    if anchor is None:
        return base + html
    return html[: anchor.end()] + base + html[anchor.end() :]


async def mailbox_store(request: Request) -> MailboxStore:
    store: MailboxStore = request.app.state.mailbox
    return store


StoreDep = Annotated[MailboxStore, Depends(mailbox_store)]

router = APIRouter(prefix="/mail", tags=["mailbox"])


async def _page(
    request: Request, store: MailboxStore, to: str | None, selected: StoredMail | None
) -> HTMLResponse:
    missing = "message_id" in request.path_params and selected is None
    headers: list[tuple[str, str]] = []
    if selected is not None:
        raw = await store.raw(selected.id)
        headers = headers_of(raw) if raw else []
    html = _pages.get_template("mailbox.html").render(
        messages=await store.newest(to=to, limit=PAGE_SIZE),
        total=await store.count(),
        to=to,
        selected=selected,
        missing=missing,
        srcdoc=framed(selected.html or "") if selected else "",
        headers=headers,
        request_path=request.url.path + (f"?{request.url.query}" if request.url.query else ""),
    )
    return HTMLResponse(
        html,
        status_code=404 if missing else 200,
        headers={"Content-Security-Policy": PAGE_POLICY, "Cache-Control": "no-store"},
    )


@router.get("", response_class=HTMLResponse)
async def mailbox_page(request: Request, store: StoreDep, to: str | None = None) -> HTMLResponse:
    """Every message received, newest first."""
    return await _page(request, store, to or None, None)


@router.get("/messages/{message_id}", response_class=HTMLResponse)
async def message_page(
    request: Request, message_id: str, store: StoreDep, to: str | None = None
) -> HTMLResponse:
    """One message, its HTML and its text, beside the list."""
    return await _page(request, store, to or None, await store.get(message_id))


@router.get("/api/messages")
async def list_messages(
    store: StoreDep,
    to: Annotated[str | None, Query(max_length=320)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> Response:
    """Messages received, newest first; ``to`` keeps those sent to one address."""
    mails = await store.newest(to=to or None, limit=limit)
    return json_response({"data": [mail.to_json() for mail in mails]})


@router.get("/api/messages/{message_id}")
async def get_message(message_id: str, store: StoreDep) -> Response:
    """One message received."""
    mail = await store.get(message_id)
    if mail is None:
        raise not_found(f"There is no message {message_id!r} in the mailbox.")
    return json_response(mail.to_json())


@router.get("/api/messages/{message_id}/raw")
async def raw_message(message_id: str, store: StoreDep) -> Response:
    """The message exactly as it was received (RFC 5322)."""
    raw = await store.raw(message_id)
    if raw is None:
        raise not_found(f"There is no message {message_id!r} in the mailbox.")
    # Plain text, so a browser shows it rather than offering to download it.
    return Response(raw, media_type="text/plain; charset=utf-8")


@router.delete("/api/messages", status_code=204)
async def clear_messages(store: StoreDep) -> Response:
    """Empty the mailbox."""
    await store.clear()
    return Response(status_code=204)

"""The development mailbox: a real SMTP server in, a page and a JSON API out."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator
from email.message import EmailMessage
from html import unescape
from typing import Any

import aiosmtplib
import httpx
import pytest

from sticky.kernel.settings import Settings
from sticky.mailbox.app import create_app
from sticky.mailbox.routes import framed
from tests.conftest import free_port


@pytest.fixture
def box_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"smtp_sink_port": free_port()})


@contextlib.asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://box") as client,
    ):
        yield client


@pytest.fixture
async def mailbox(box_settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with running(box_settings) as client:
        yield client


def message(
    to: str = "ann@example.com",
    subject: str = "Hello",
    text: str | None = "Hi Ann",
    html: str | None = "<p>Hi <b>Ann</b></p>",
) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = "Sticky <no-reply@sticky.localhost>"
    mail["To"] = to
    mail["Subject"] = subject
    if text is not None:
        mail.set_content(text)
    if html is not None:
        if text is None:
            mail.set_content(html, subtype="html")
        else:
            mail.add_alternative(html, subtype="html")
    return mail


async def send(settings: Settings, mail: EmailMessage, **options: Any) -> None:
    await aiosmtplib.send(mail, hostname="127.0.0.1", port=settings.smtp_sink_port, **options)


async def listed(mailbox: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    response = await mailbox.get("/mail/api/messages", params=params)
    assert response.status_code == 200
    data: list[dict[str, Any]] = response.json()["data"]
    return data


async def test_a_message_sent_over_smtp_is_listed(
    box_settings: Settings, mailbox: httpx.AsyncClient
) -> None:
    await send(box_settings, message())
    [got] = await listed(mailbox)
    assert got["id"].startswith("mbx_")
    assert got["from"] == "Sticky <no-reply@sticky.localhost>"
    assert got["to"] == ["ann@example.com"]
    assert got["subject"] == "Hello"
    assert got["text"] == "Hi Ann\n"
    assert got["html"] == "<p>Hi <b>Ann</b></p>\n"
    assert got["receivedAt"].endswith("Z")
    one = await mailbox.get(f"/mail/api/messages/{got['id']}")
    assert one.json() == got
    raw = await mailbox.get(f"/mail/api/messages/{got['id']}/raw")
    assert b"Subject: Hello" in raw.content


async def test_newest_first_filtered_and_limited(
    box_settings: Settings, mailbox: httpx.AsyncClient
) -> None:
    for n in range(3):
        await send(box_settings, message("ann@example.com", f"ann {n}"))
    await send(box_settings, message("bob@example.com", "bob"))
    # The envelope decides who a message is for, Bcc included.
    await send(box_settings, message("ann@example.com", "bcc"), recipients=["Cid@Example.com"])
    assert [m["subject"] for m in await listed(mailbox)] == [
        "bcc",
        "bob",
        "ann 2",
        "ann 1",
        "ann 0",
    ]
    assert [m["subject"] for m in await listed(mailbox, to="ann@example.com")] == [
        "ann 2",
        "ann 1",
        "ann 0",
    ]
    assert [m["subject"] for m in await listed(mailbox, to="CID@example.COM")] == ["bcc"]
    assert await listed(mailbox, to="nobody@example.com") == []
    assert [m["subject"] for m in await listed(mailbox, limit=2)] == ["bcc", "bob"]
    bad = await mailbox.get("/mail/api/messages", params={"limit": 0})
    assert bad.status_code == 422
    assert bad.headers["content-type"] == "application/problem+json"


async def test_text_only_html_only_and_odd_messages(
    box_settings: Settings, mailbox: httpx.AsyncClient
) -> None:
    await send(box_settings, message(subject="text only", html=None))
    await send(box_settings, message(subject="html only", text=None))
    await send(box_settings, message(subject="Ünïcode ✉", text="Grüße", html=None))
    odd = (
        b"From: x@example.com\r\nSubject: broken\r\n"
        b"Content-Type: text/plain; charset=klingon\r\n\r\nQapla'\r\n"
    )
    await aiosmtplib.send(
        odd,
        sender="x@example.com",
        recipients=["ann@example.com"],
        hostname="127.0.0.1",
        port=box_settings.smtp_sink_port,
    )
    broken, unicode, html_only, text_only = await listed(mailbox)
    assert (text_only["text"], text_only["html"]) == ("Hi Ann\n", None)
    assert (html_only["text"], html_only["html"]) == (None, "<p>Hi <b>Ann</b></p>\n")
    assert (unicode["subject"], unicode["text"]) == ("Ünïcode ✉", "Grüße\n")
    assert broken["subject"] == "broken"
    assert "Qapla'" in broken["text"]


async def test_the_mailbox_can_be_emptied(
    box_settings: Settings, mailbox: httpx.AsyncClient
) -> None:
    await send(box_settings, message())
    [got] = await listed(mailbox)
    deleted = await mailbox.delete("/mail/api/messages")
    assert deleted.status_code == 204
    assert await listed(mailbox) == []
    missing = await mailbox.get(f"/mail/api/messages/{got['id']}")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"


async def test_messages_outlive_a_restart(box_settings: Settings) -> None:
    async with running(box_settings):
        await send(box_settings, message(subject="kept"))
    async with running(box_settings) as mailbox:
        assert [m["subject"] for m in await listed(mailbox)] == ["kept"]


async def test_the_page_lists_and_shows_messages(
    box_settings: Settings, mailbox: httpx.AsyncClient
) -> None:
    empty = await mailbox.get("/mail")
    assert empty.status_code == 200
    assert "No messages yet" in empty.text
    hostile = '<img src=x onerror="alert(1)"><a href="https://sticky.test/v?t=1&u=2">Verify</a>'
    await send(box_settings, message(subject="<script>alert(1)</script>", html=hostile))
    await send(box_settings, message("bob@example.com", "for bob"))
    page = await mailbox.get("/mail")
    assert page.headers["content-type"].startswith("text/html")
    assert "script-src" not in page.headers["content-security-policy"]
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert "<script>" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert page.text.index("for bob") < page.text.index("&lt;script&gt;")
    assert "2 messages" in page.text

    got = (await listed(mailbox, to="ann@example.com"))[0]
    shown = await mailbox.get(f"/mail/messages/{got['id']}")
    assert shown.status_code == 200
    [iframe] = re.findall(r"<iframe[^>]*>", shown.text)
    assert 'sandbox="allow-popups allow-popups-to-escape-sandbox"' in iframe
    srcdoc = unescape(re.search(r'srcdoc="([^"]*)"', iframe).group(1))  # type: ignore[union-attr]
    assert srcdoc == '<base target="_blank">' + hostile + "\n"
    assert "<pre>Hi Ann\n</pre>" in shown.text
    assert "Subject: &lt;script&gt;" in shown.text, "the headers view"

    filtered = await mailbox.get("/mail", params={"to": "bob@example.com"})
    assert "for bob" in filtered.text
    assert "&lt;script&gt;" not in filtered.text
    gone = await mailbox.get("/mail/messages/mbx_nope")
    assert gone.status_code == 404
    assert "not in the mailbox" in gone.text


async def test_ready_while_listening(box_settings: Settings) -> None:
    app = create_app(box_settings)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://box"
    ) as client:
        assert (await client.get("/readyz")).status_code == 503
        async with app.router.lifespan_context(app):
            ready = await client.get("/readyz")
            assert ready.status_code == 200, ready.text
            assert set(ready.json()["checks"]) == {"smtp", "store"}
        stopped = await client.get("/readyz")
        assert stopped.status_code == 503
        assert "not listening" in stopped.json()["checks"]["smtp"]["detail"]


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        ("<p>Hi</p>", '<base target="_blank"><p>Hi</p>'),
        (
            "<!DOCTYPE html><html><head><title>t</title></head></html>",
            '<!DOCTYPE html><html><head><base target="_blank"><title>t</title></head></html>',
        ),
        (
            '<!doctype html>\n<head lang="en">x',
            '<!doctype html>\n<head lang="en"><base target="_blank">x',
        ),
        ("<!doctype html><p>Hi</p>", '<!doctype html><base target="_blank"><p>Hi</p>'),
    ],
)
def test_links_in_the_frame_open_in_a_new_tab(html: str, expected: str) -> None:
    assert framed(html) == expected

"""Delivery over real SMTP: the mail service sends, an aiosmtpd server receives."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import datetime
from email import message_from_bytes, policy
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP

from sticky.kernel.database import create_engine
from sticky.kernel.migrations import upgrade
from sticky.kernel.settings import Settings
from sticky.mail.store import MailStore
from tests.conftest import free_port
from tests.mail.conftest import (
    FAST,
    RunningMail,
    Signer,
    eventually,
    running_mail,
    running_mailbox,
    verify_email,
)


async def inbox(mailbox: Any, to: str) -> list[dict[str, Any]]:
    response = await mailbox.get("/mail/api/messages", params={"to": to})
    assert response.status_code == 200
    data: list[dict[str, Any]] = response.json()["data"]
    return data


async def wait_status(mail: RunningMail, message_id: str, status: str) -> dict[str, Any]:
    async def settled() -> dict[str, Any] | None:
        message = await mail.message(message_id)
        return message if message["status"] == status else None

    return await eventually(settled)


async def test_a_message_is_delivered_over_smtp(mail_settings: Settings, signer: Signer) -> None:
    async with (
        running_mailbox(mail_settings) as mailbox,
        running_mail(mail_settings, signer) as mail,
    ):
        response = await mail.send(**verify_email("ann@example.com"))
        assert response.status_code == 202, response.text
        queued = response.json()
        assert queued["id"].startswith("msg_")
        assert queued["subject"] == "Confirm your email address for Sticky"
        assert queued["template"] == "verify-email"

        received = await eventually(lambda: inbox(mailbox, "ann@example.com"))
        assert len(received) == 1
        got = received[0]
        assert got["subject"] == "Confirm your email address for Sticky"
        assert got["from"] == mail_settings.mail_from
        assert got["to"] == ["ann@example.com"]
        assert "Hi Ann," in got["text"]
        assert "https://sticky.test/verify?t=abc&x=1" in got["text"]
        assert "123456" in got["text"]
        assert 'href="https://sticky.test/verify?t=abc&amp;x=1"' in got["html"]

        raw = (await mailbox.get(f"/mail/api/messages/{got['id']}/raw")).content
        parsed = message_from_bytes(raw, policy=policy.default)
        assert parsed.get_content_type() == "multipart/alternative"
        assert [p.get_content_type() for p in parsed.iter_parts()] == ["text/plain", "text/html"]
        assert parsed["Message-ID"] == f"<{queued['id']}@sticky.localhost>"

        sent = await wait_status(mail, queued["id"], "sent")
        assert sent["attempts"] == 1
        assert sent["sentAt"] is not None
        assert sent["lastError"] is None
        [delivery] = await mail.deliveries(queued["id"])
        assert delivery["attempt"] == 1
        assert delivery["ok"] is True
        assert delivery["durationMs"] >= 0
        assert "accepted" in delivery["response"].lower()


async def test_a_message_accepted_while_smtp_is_down_is_sent_when_it_comes_up(
    mail_settings: Settings, signer: Signer
) -> None:
    async with running_mail(mail_settings, signer) as mail:
        message_id = (await mail.send(**verify_email("bob@example.com"))).json()["id"]
        await eventually(lambda: mail.deliveries(message_id))
        assert (await mail.message(message_id))["status"] == "queued"
        async with running_mailbox(mail_settings) as mailbox:
            assert await eventually(lambda: inbox(mailbox, "bob@example.com"))
            await wait_status(mail, message_id, "sent")
        log = await mail.deliveries(message_id)
        assert [d["ok"] for d in log] == [False] * (len(log) - 1) + [True]
        assert [d["attempt"] for d in log] == list(range(1, len(log) + 1))


async def test_the_outbox_survives_a_restart(mail_settings: Settings, signer: Signer) -> None:
    async with running_mail(mail_settings, signer) as mail:
        message_id = (await mail.send(**verify_email("cid@example.com"))).json()["id"]
        await eventually(lambda: mail.deliveries(message_id))
    # A new process on the same database, with SMTP back.
    async with (
        running_mailbox(mail_settings) as mailbox,
        running_mail(mail_settings, signer) as mail,
    ):
        [got] = await eventually(lambda: inbox(mailbox, "cid@example.com"))
        assert got["subject"] == "Confirm your email address for Sticky"
        sent = await wait_status(mail, message_id, "sent")
        assert sent["attempts"] >= 2


async def test_retries_back_off_then_give_up(mail_settings: Settings, signer: Signer) -> None:
    policy = replace(FAST, max_attempts=3, first_retry_seconds=0.1)
    async with running_mail(mail_settings, signer, policy) as mail:
        message_id = (await mail.send(**verify_email())).json()["id"]
        failed = await wait_status(mail, message_id, "failed")
        assert failed["attempts"] == 3
        assert failed["sentAt"] is None
        assert failed["nextAttemptAt"] is None
        assert "cannot reach smtp://127.0.0.1" in failed["lastError"]
        log = await mail.deliveries(message_id)
        assert [(d["attempt"], d["ok"]) for d in log] == [(1, False), (2, False), (3, False)]
        assert all("cannot reach" in d["response"] for d in log)
        at = [datetime.fromisoformat(d["at"]) for d in log]
        assert (at[1] - at[0]).total_seconds() >= 0.1
        assert (at[2] - at[1]).total_seconds() >= 0.2
        await asyncio.sleep(0.3)
        assert len(await mail.deliveries(message_id)) == 3


class Refusing:
    """An SMTP server's handler that refuses some recipients and, at first, some messages."""

    def __init__(self, refuse_first: int = 0) -> None:
        self.refuse_first = refuse_first
        self.accepted: list[bytes] = []
        self.data_started = asyncio.Event()
        self.data_delay = 0.0

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if address.startswith("nobody@"):
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.data_started.set()
        await asyncio.sleep(self.data_delay)
        if self.refuse_first > 0:
            self.refuse_first -= 1
            return "451 4.3.2 Try again later"
        self.accepted.append(envelope.original_content)
        return "250 2.0.0 Accepted"


@contextlib.asynccontextmanager
async def smtp_server(handler: Refusing, port: int) -> AsyncIterator[None]:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(handler, hostname="test.localhost"), "127.0.0.1", port
    )
    try:
        yield
    finally:
        server.close()
        await server.wait_closed()


async def test_a_refused_recipient_fails_at_once(
    mail_settings: Settings, signer: Signer, smtp_port: int
) -> None:
    async with smtp_server(Refusing(), smtp_port), running_mail(mail_settings, signer) as mail:
        message_id = (await mail.send(**verify_email("nobody@example.com"))).json()["id"]
        failed = await wait_status(mail, message_id, "failed")
        assert failed["attempts"] == 1
        assert "550" in failed["lastError"]


async def test_a_temporary_refusal_is_retried(
    mail_settings: Settings, signer: Signer, smtp_port: int
) -> None:
    handler = Refusing(refuse_first=2)
    async with smtp_server(handler, smtp_port), running_mail(mail_settings, signer) as mail:
        message_id = (await mail.send(**verify_email())).json()["id"]
        await wait_status(mail, message_id, "sent")
        log = await mail.deliveries(message_id)
        assert [d["ok"] for d in log] == [False, False, True]
        assert "451" in log[0]["response"]
        assert len(handler.accepted) == 1


async def test_shutdown_finishes_the_send_in_flight(
    mail_settings: Settings, signer: Signer, smtp_port: int
) -> None:
    handler = Refusing()
    handler.data_delay = 0.5
    async with smtp_server(handler, smtp_port):
        async with running_mail(mail_settings, signer) as mail:
            message_id = (await mail.send(**verify_email())).json()["id"]
            await asyncio.wait_for(handler.data_started.wait(), 5)
        # The lifespan has ended: the send it had started was finished and recorded.
        assert len(handler.accepted) == 1
        engine = create_engine(mail_settings.database_url("mail"))
        try:
            store = MailStore(engine, mail_settings.secret_key)
            assert (await store.get(message_id)).status == "sent"
            assert [d.ok for d in await store.deliveries_of(message_id)] == [True]
        finally:
            await engine.dispose()


async def sent_by(mail: RunningMail) -> int:
    """How many messages this replica's worker sent, from its own metrics."""
    metrics = (await mail.client.get("/metrics")).text
    found = re.search(
        r'^sticky_mail_delivery_attempts_total\{outcome="sent"\} (\S+)$', metrics, re.M
    )
    return int(float(found.group(1))) if found else 0


async def test_two_workers_on_one_database_never_send_a_message_twice(
    mail_settings: Settings, signer: Signer
) -> None:
    count = 24
    async with (
        running_mailbox(mail_settings) as mailbox,
        running_mail(mail_settings, signer) as first,
        running_mail(mail_settings, signer) as second,
    ):
        ids = []
        for n in range(count):
            replica = first if n % 2 else second
            response = await replica.send(**verify_email(f"user{n}@example.com"))
            ids.append(response.json()["id"])

        async def all_sent() -> bool:
            page = await first.client.get("/internal/messages", params={"limit": 100})
            return all(m["status"] == "sent" for m in page.json()["data"])

        await eventually(all_sent, timeout=20)
        received = (await mailbox.get("/mail/api/messages", params={"limit": 1000})).json()
        recipients = sorted(to for m in received["data"] for to in m["to"])
        assert recipients == sorted(f"user{n}@example.com" for n in range(count))
        for message_id in ids:
            assert [d["ok"] for d in await first.deliveries(message_id)] == [True]
        assert await sent_by(first) + await sent_by(second) == count


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_metrics_count_delivery_attempts(mail_settings: Settings, signer: Signer) -> None:
    async with running_mailbox(mail_settings), running_mail(mail_settings, signer) as mail:
        message_id = (await mail.send(**verify_email())).json()["id"]
        await wait_status(mail, message_id, "sent")
        assert await sent_by(mail) == 1


async def test_the_worker_outlasts_a_database_it_cannot_read(
    settings: Settings, signer: Signer, tmp_path: Any
) -> None:
    url = f"sqlite:///{tmp_path / 'late.sqlite3'}"
    port = free_port()
    late = settings.model_copy(
        update={
            "mail_database_url": url,
            "smtp_url": f"smtp://127.0.0.1:{port}",
            "smtp_sink_port": port,
        }
    )
    async with running_mailbox(late) as mailbox, running_mail(late, signer) as mail:
        await asyncio.sleep(0.2)
        assert mail.app.state.worker.running
        await asyncio.to_thread(upgrade, "sticky.mail", url)
        await mail.send(**verify_email("late@example.com"))
        assert await eventually(lambda: inbox(mailbox, "late@example.com"))

"""The SMTP sink: a real SMTP server (aiosmtpd) that accepts every message into the store."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import structlog
from aiosmtpd.smtp import SMTP

from sticky.mailbox.parsing import parse
from sticky.mailbox.store import MailboxStore

log = structlog.get_logger("sticky.mailbox.smtp")


class MailboxHandler:
    """aiosmtpd calls ``handle_DATA`` once per message, after the envelope is known."""

    def __init__(self, store: MailboxStore) -> None:
        self.store = store

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw: bytes = envelope.original_content or envelope.content or b""
        try:
            mail = parse(
                raw,
                envelope_from=envelope.mail_from or "",
                envelope_to=list(envelope.rcpt_tos),
                received_at=datetime.now(UTC),
            )
            message_id = await self.store.add(mail)
        except Exception:
            log.exception("a received message could not be stored")
            # 4xx: the sender keeps the message and tries again later.
            return "451 4.3.0 The mailbox could not store the message; try again"
        log.info("message received", message_id=message_id, to=mail.recipients)
        return "250 2.0.0 Message accepted"


class SmtpSink:
    """Listens on ``host:port`` while started."""

    def __init__(self, store: MailboxStore, host: str, port: int) -> None:
        self.handler = MailboxHandler(store)
        self.host = host
        self.port = port
        self._server: asyncio.Server | None = None

    @property
    def serving(self) -> bool:
        return self._server is not None and self._server.is_serving()

    def _protocol(self) -> SMTP:
        # A fixed hostname: aiosmtpd would otherwise ask DNS for this machine's name.
        return SMTP(self.handler, hostname="mailbox.sticky.localhost", enable_SMTPUTF8=True)

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._protocol, host=self.host, port=self.port)
        log.info("smtp sink listening", host=self.host, port=self.port)

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
            await server.wait_closed()

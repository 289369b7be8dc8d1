"""SMTP: where to deliver (``STICKY_SMTP_URL``), what a message looks like, and sending it.

``smtp://host:port`` speaks plain SMTP and upgrades with STARTTLS when the server offers it;
``smtps://host:port`` opens TLS first (implicit TLS, port 465 by default). A user and password
in the URL are used to log in. Failures come out as :class:`DeliveryFailed`, saying whether a
retry could help.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from urllib.parse import unquote, urlsplit

import aiosmtplib

from sticky.mail.errors import DeliveryFailed, MailConfigError

_DEFAULT_PORTS = {"smtp": 25, "smtps": 465}
_EXCERPT = 500


def excerpt(text: str) -> str:
    """What the delivery log keeps of a server's answer or an error: one line, bounded."""
    line = " ".join(text.split())
    return line if len(line) <= _EXCERPT else line[: _EXCERPT - 1] + "…"


@dataclass(frozen=True)
class SmtpConfig:
    hostname: str
    port: int
    use_tls: bool
    username: str | None = None
    password: str | None = None

    @classmethod
    def from_url(cls, url: str) -> SmtpConfig:
        """Parse ``smtp[s]://[user:password@]host[:port]``; the error never echoes a password."""

        def invalid(reason: str) -> MailConfigError:
            return MailConfigError(f"STICKY_SMTP_URL is invalid: {reason}")

        parts = urlsplit(url.strip())
        if parts.scheme not in _DEFAULT_PORTS:
            shown = f"{parts.scheme}://" if parts.scheme else "no scheme"
            raise invalid(f"it must start with smtp:// or smtps:// (it has {shown})")
        try:
            port = parts.port or _DEFAULT_PORTS[parts.scheme]
        except ValueError:
            raise invalid("the port must be a number from 1 to 65535") from None
        if not parts.hostname:
            raise invalid("it names no host (smtp://host:port)")
        if parts.path not in ("", "/") or parts.query or parts.fragment:
            raise invalid("it may hold only a user, a password, a host and a port")
        if parts.password is not None and not parts.username:
            raise invalid("it has a password but no user")
        return cls(
            hostname=parts.hostname,
            port=port,
            use_tls=parts.scheme == "smtps",
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password is not None else None,
        )

    def __str__(self) -> str:
        scheme = "smtps" if self.use_tls else "smtp"
        user = f"{self.username}:***@" if self.username else ""
        return f"{scheme}://{user}{self.hostname}:{self.port}"


def check_sender(sender: str) -> str:
    """The ``From:`` of every message (``STICKY_MAIL_FROM``); fail fast if it has no address."""
    _, address = parseaddr(sender)
    if "@" not in address:
        raise MailConfigError(
            f"STICKY_MAIL_FROM is invalid: {sender!r} has no address (use 'Name <me@host>')"
        )
    return sender


def message_id_header(message_id: str, sender: str) -> str:
    """The RFC 5322 Message-ID: fixed per outbox message, so a retry is recognisably the same."""
    address = parseaddr(sender)[1]
    domain = address.rpartition("@")[2] if "@" in address else "sticky.localhost"
    return f"<{message_id}@{domain}>"


def compose(
    *,
    message_id: str,
    sender: str,
    to: str,
    subject: str,
    text: str,
    html: str,
    created_at: datetime,
) -> EmailMessage:
    """A ``multipart/alternative`` message: the text part first, the HTML part preferred."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = format_datetime(created_at)
    message["Message-ID"] = message_id_header(message_id, sender)
    # Tells autoresponders (vacation replies) not to answer.
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    return message


class SmtpTransport:
    """Sends one message per connection to the configured server."""

    def __init__(self, config: SmtpConfig, timeout: float = 30.0) -> None:
        self.config = config
        self.timeout = timeout

    async def send(self, message: EmailMessage) -> str:
        """Deliver ``message``; return the server's answer or raise :class:`DeliveryFailed`."""
        config = self.config
        try:
            async with asyncio.timeout(self.timeout):
                _, response = await aiosmtplib.send(
                    message,
                    hostname=config.hostname,
                    port=config.port,
                    username=config.username,
                    password=config.password,
                    use_tls=config.use_tls,
                    timeout=self.timeout,
                )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [refused.code for refused in exc.recipients]
            reason = "; ".join(f"{r.code} {r.message}" for r in exc.recipients)
            raise DeliveryFailed(
                excerpt(f"recipient refused: {reason}"), permanent=all(c >= 500 for c in codes)
            ) from exc
        except aiosmtplib.SMTPDataError as exc:
            # A 5xx to the message itself (content refused) will be refused again.
            raise DeliveryFailed(
                excerpt(f"message refused: {exc.code} {exc.message}"), permanent=exc.code >= 500
            ) from exc
        except aiosmtplib.SMTPResponseException as exc:
            # Sender, login or greeting refused: configuration an operator can fix, so retry.
            raise DeliveryFailed(
                excerpt(f"{type(exc).__name__}: {exc.code} {exc.message}"), permanent=False
            ) from exc
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            reason = str(exc) or type(exc).__name__
            raise DeliveryFailed(
                excerpt(f"cannot reach {config}: {reason}"), permanent=False
            ) from exc
        return excerpt(response)

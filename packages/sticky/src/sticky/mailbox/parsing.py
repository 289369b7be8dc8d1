"""Reading a received message: subject, sender, and its text and HTML parts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser


@dataclass(frozen=True)
class ReceivedMail:
    sender: str
    recipients: tuple[str, ...]
    subject: str
    text: str | None
    html: str | None
    raw: bytes
    received_at: datetime


def _part(message: EmailMessage, subtype: str) -> str | None:
    part = message.get_body(preferencelist=(subtype,))
    if part is None or part.get_content_subtype() != subtype:
        return None
    try:
        content = part.get_content()
    except (LookupError, ValueError):
        # An unknown charset or a broken encoding: show what can be shown.
        payload = part.get_payload(decode=True)
        content = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else None
    # SMTP carries CRLF line ends; people and JSON readers expect plain newlines.
    return content.replace("\r\n", "\n") if isinstance(content, str) else None


def parse(
    raw: bytes, *, envelope_from: str, envelope_to: list[str], received_at: datetime
) -> ReceivedMail:
    """What the mailbox shows of ``raw``; never fails on a malformed message."""
    message = BytesParser(policy=policy.default).parsebytes(raw)
    try:
        subject = str(message.get("subject", ""))
        sender = str(message.get("from", "")) or envelope_from
    except (IndexError, ValueError):
        subject, sender = "", envelope_from
    return ReceivedMail(
        sender=sender,
        recipients=tuple(envelope_to),
        subject=" ".join(subject.split()),
        text=_part(message, "plain"),
        html=_part(message, "html"),
        raw=raw,
        received_at=received_at,
    )


def headers_of(raw: bytes) -> list[tuple[str, str]]:
    """The header fields of ``raw``, in order, for the page's headers view."""
    message = BytesParser(policy=policy.default).parsebytes(raw, headersonly=True)
    return [(name, str(value)) for name, value in message.items()]

"""What the internal API accepts and answers (camelCase on the wire)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, EmailStr, Field
from pydantic.alias_generators import to_camel

from sticky.kernel.storable import storable
from sticky.mail.store import DeliveryRecord, MessageRecord

Status = Literal["queued", "sent", "failed"]


def _well_formed(data: dict[str, Any]) -> dict[str, Any]:
    try:
        json.dumps(data, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode (it holds a lone surrogate)") from None
    return data


class _Wire(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class SendMessage(_Wire):
    """Ask for an email: a template, the data it needs, and who it is for."""

    model_config = ConfigDict(extra="forbid")

    to: EmailStr = Field(description="The recipient's address.")
    template: str = Field(min_length=1, max_length=64, description="A template name.")
    # Any JSON, but text must be text: a lone surrogate failed rendering (500).
    data: Annotated[dict[str, Any], AfterValidator(_well_formed)] = Field(
        default_factory=dict, description="Values the template needs; unused keys are ignored."
    )
    # Stored as text: a NUL failed PostgreSQL's insert (500).
    idempotency_key: Annotated[str | None, AfterValidator(storable)] = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="Asking again with the same key answers the same message, sent once.",
    )


class Message(_Wire):
    id: str
    to: str
    template: str
    subject: str
    status: Status
    attempts: int
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None
    next_attempt_at: datetime | None

    @classmethod
    def of(cls, record: MessageRecord) -> Message:
        return cls(
            id=record.id,
            to=record.to,
            template=record.template,
            subject=record.subject,
            status=record.status.value,
            attempts=record.attempts,
            last_error=record.last_error,
            created_at=record.created_at,
            sent_at=record.sent_at,
            next_attempt_at=record.next_attempt_at,
        )


class MessagePage(_Wire):
    data: list[Message]
    has_more: bool
    next_cursor: str | None


class Delivery(_Wire):
    attempt: int
    at: datetime
    ok: bool
    duration_ms: int
    response: str

    @classmethod
    def of(cls, record: DeliveryRecord) -> Delivery:
        return cls(
            attempt=record.attempt,
            at=record.at,
            ok=record.ok,
            duration_ms=record.duration_ms,
            response=record.response,
        )


class DeliveryLog(_Wire):
    data: list[Delivery]

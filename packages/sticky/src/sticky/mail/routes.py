"""The internal API: other services queue messages and read the outbox (scope ``service``)."""

from __future__ import annotations

from typing import Annotated

import structlog
from fastapi import APIRouter, Depends, Query, Request, Response

from sticky.kernel.problems import (
    FieldError,
    Problem,
    bad_request,
    conflict,
    not_found,
    validation_failed,
)
from sticky.kernel.service import CurrentPrincipal
from sticky.kernel.tokens import Principal, Scope
from sticky.mail.errors import (
    IdempotencyKeyReused,
    InvalidCursor,
    MessageNotFound,
    MissingTemplateData,
    UnknownTemplate,
    UnusableTemplateData,
)
from sticky.mail.models import Delivery, DeliveryLog, Message, MessagePage, SendMessage, Status
from sticky.mail.service import MailService
from sticky.mail.store import MessageStatus

log = structlog.get_logger("sticky.mail")


async def require_service(principal: CurrentPrincipal) -> Principal:
    principal.require_scope(Scope.SERVICE)
    return principal


async def mail_service(request: Request) -> MailService:
    service: MailService = request.app.state.mail
    return service


ServiceCaller = Annotated[Principal, Depends(require_service)]
MailDep = Annotated[MailService, Depends(mail_service)]

router = APIRouter(prefix="/internal/messages", tags=["messages"])


def _not_found(message_id: str) -> Problem:
    return not_found(f"There is no message {message_id!r}.")


@router.post(
    "",
    status_code=202,
    response_model=Message,
    responses={200: {"model": Message, "description": "The message this idempotency key made"}},
)
async def send_message(
    body: SendMessage, caller: ServiceCaller, mail: MailDep, response: Response
) -> Message:
    """Render a template into a message and queue it for delivery."""
    try:
        record, created = await mail.send(
            to=str(body.to),
            template=body.template,
            data=body.data,
            idempotency_key=body.idempotency_key,
        )
    except UnknownTemplate as exc:
        known = ", ".join(exc.known)
        raise validation_failed(
            [FieldError("template", f"is not a template (the templates are {known})", "unknown")]
        ) from None
    except MissingTemplateData as exc:
        raise validation_failed(
            [
                FieldError(f"data.{key}", f"is required by the {exc.template} template", "required")
                for key in exc.keys
            ]
        ) from None
    except UnusableTemplateData as exc:
        raise validation_failed(
            [
                FieldError(
                    "data", f"does not fit the {exc.template} template ({exc.reason})", "invalid"
                )
            ]
        ) from None
    except IdempotencyKeyReused as exc:
        raise conflict(
            f"The idempotency key {exc.key!r} was already used for a different message.",
            slug="idempotency-key-reused",
        ) from None
    if created:
        log.info(
            "message queued", message_id=record.id, template=record.template, by=caller.service
        )
    else:
        response.status_code = 200
    return Message.of(record)


@router.get("", response_model=MessagePage)
async def list_messages(
    _: ServiceCaller,
    mail: MailDep,
    status: Status | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> MessagePage:
    """The outbox, newest first, optionally only messages with one status."""
    try:
        records, next_cursor = await mail.page(
            status=MessageStatus(status) if status else None, limit=limit, cursor=cursor
        )
    except InvalidCursor:
        raise bad_request(
            "The cursor is not one this endpoint returned.", slug="invalid-cursor"
        ) from None
    return MessagePage(
        data=[Message.of(r) for r in records],
        has_more=next_cursor is not None,
        next_cursor=next_cursor,
    )


@router.get("/{message_id}", response_model=Message)
async def get_message(message_id: str, _: ServiceCaller, mail: MailDep) -> Message:
    """One message and where its delivery stands."""
    try:
        return Message.of(await mail.get(message_id))
    except MessageNotFound:
        raise _not_found(message_id) from None


@router.get("/{message_id}/deliveries", response_model=DeliveryLog)
async def list_deliveries(message_id: str, _: ServiceCaller, mail: MailDep) -> DeliveryLog:
    """Every attempt to deliver the message, oldest first."""
    try:
        records = await mail.deliveries(message_id)
    except MessageNotFound:
        raise _not_found(message_id) from None
    return DeliveryLog(data=[Delivery.of(r) for r in records])

"""Payments over HTTP: create (priced here), read, list, export, refund; the gateways'
payhooks; a merchant's payment settings; and the hosted checkout behind ``/go/flow``.

A consumer session creates and reads the payments of its own session; the owner reads and
refunds all of theirs (a team member with ``payments:read`` / ``payments:refund``); another
user's payment is simply not found.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import RedirectResponse, Response, StreamingResponse

from sticky.api.access import Caller, CallerDep
from sticky.api.context import Api, ApiDep
from sticky.api.payments import checkout as links
from sticky.api.payments.errors import CheckoutRefused as CheckoutRefused
from sticky.api.payments.errors import (
    GatewayNotConfigured,
    NotPayable,
    PaymentNotFound,
    RefundRefused,
)
from sticky.api.payments.gateways import (
    GATEWAY_NAMES,
    CallbackRefused,
    Card,
    GatewayError,
    IdempotencyConflict,
    InvalidPaymentDetails,
    ProviderUnavailable,
    RefundRejected,
    StripeKeys,
    seal_keys,
)
from sticky.api.payments.ledger import Ledger
from sticky.api.payments.models import (
    CheckoutSecretOut,
    PaymentAction,
    PaymentCharge,
    PaymentCreate,
    PaymentMethodFields,
    PaymentOut,
    RefundCreate,
    StripeSettingsIn,
    StripeSettingsOut,
    mask,
    payment_out,
)
from sticky.api.payments.pricing import Choice, Line, Priced, PricingError, price_cart
from sticky.api.payments.registry import gateway_of
from sticky.api.payments.service import (
    Charged,
    NewPayment,
    PaymentDetails,
    Payments,
    idempotency_digest,
)
from sticky.api.payments.tables import payments as payments_table
from sticky.api.recorder import Writes
from sticky.api.store import Cursor, InvalidCursor, Row
from sticky.api.tap import SESSION_COOKIE, Flow, set_session_cookie, with_session
from sticky.api.views import bad_cursor
from sticky.kernel.problems import (
    FieldError,
    Problem,
    bad_request,
    conflict,
    forbidden,
    not_found,
    validation_failed,
)
from sticky.kernel.service import json_response
from sticky.kernel.tokens import Scope

router = APIRouter(tags=["payments"])

_EXPORT_PAGE = 1000
Status = Literal["pending", "paid", "failed", "refunded"]


async def _payments(request: Request) -> Payments:
    payments: Payments = request.app.state.payments
    return payments


PaymentsDep = Annotated[Payments, Depends(_payments)]


# Who may do what ------------------------------------------------------------------------------


def _require(caller: Caller, permission: str) -> None:
    """The merchant's side: the owner, or a team member with ``permission``."""
    caller.require_owner_side()
    assert caller.principal is not None
    caller.principal.require_permission(permission)


def _require_payer(caller: Caller) -> None:
    """Who may create and charge payments besides a consumer session: the owner alone."""
    caller.require_owner_side()
    assert caller.principal is not None
    if not caller.principal.is_owner:
        raise forbidden(
            "Only the owner (or a consumer session) creates and charges payments.",
            slug="insufficient-permission",
        )


def _may_read(caller: Caller) -> None:
    if caller.scope != "session":
        _require(caller, "payments:read")


def _visible(caller: Caller, row: Row | None) -> bool:
    if row is None:
        return False
    return caller.scope != "session" or row["session_id"] == caller.session_id


def _missing(payment_id: str) -> Problem:
    return not_found(f"There is no payment {payment_id!r} in this account.", "payment-not-found")


def _gateway_problem(exc: Exception) -> Problem:
    if isinstance(exc, InvalidPaymentDetails):
        return validation_failed([FieldError(exc.field, exc.message)])
    if isinstance(exc, ProviderUnavailable):
        return Problem(
            502,
            "gateway-unavailable",
            "The payment gateway is unavailable",
            f"{exc} Nothing was charged; retry with the same Idempotency-Key.",
        )
    if isinstance(exc, IdempotencyConflict):
        return conflict(str(exc), "idempotency-conflict")
    if isinstance(exc, RefundRejected):
        return conflict(f"The gateway refused the refund: {exc.reason}", "refund-rejected")
    if isinstance(exc, GatewayNotConfigured):
        return conflict(
            f"The flow's gateway cannot take payments: {exc.why}", "gateway-not-configured"
        )
    if isinstance(exc, PricingError):
        return validation_failed([FieldError(f, m) for f, m in exc.errors])
    if isinstance(exc, NotPayable):
        return conflict(str(exc), "payment-not-payable")
    if isinstance(exc, RefundRefused):
        return Problem(
            409,
            "refund-exceeds-payment",
            "Conflict",
            str(exc),
            extra={"refundable": exc.refundable},
        )
    if isinstance(exc, PaymentNotFound):
        return _missing(exc.payment_id)
    raise exc


def _details(body: PaymentMethodFields) -> PaymentDetails:
    card = None
    if body.card is not None:
        c = body.card
        card = Card(c.number, c.exp_month, c.exp_year, c.cvc)
    return PaymentDetails(card, body.payment_method, body.return_url)


def _charged_out(charged: Charged) -> PaymentOut:
    action = None
    result = charged.result
    if result is not None and (result.action_url or result.client_secret):
        action = PaymentAction(url=result.action_url, client_secret=result.client_secret)
    return payment_out(charged.payment, action)


# Creating and paying --------------------------------------------------------------------------


async def _new_payment(api: Api, caller: Caller, body: PaymentCreate) -> NewPayment:
    """Who pays for what, through which flow's gateway; refuses what names another account."""
    errors: list[FieldError] = []
    session_id = body.session_id
    if caller.scope == "session":
        if session_id is not None and session_id != caller.session_id:
            raise forbidden("A session pays only for itself.", slug="insufficient-scope")
        session_id = caller.session_id
    else:
        _require_payer(caller)
    application_id, thing_id = body.application_id, body.thing_id
    async with api.store.reading() as tx:
        if session_id is not None:
            session = await tx.sessions.get(session_id)
            if session is None or session["user_id"] != caller.user_id:
                errors.append(FieldError("sessionId", "names no session of this account"))
            else:
                application_id = application_id or session["application_id"]
                thing_id = thing_id or session["thing_id"]
        if thing_id is not None and await tx.things.get(caller.user_id, thing_id) is None:
            errors.append(FieldError("thingId", "names no thing of this account"))
    flow = await api.taps.flow(application_id) if application_id else None
    if application_id is not None and (
        flow is None or flow.application["user_id"] != caller.user_id
    ):
        errors.append(FieldError("applicationId", "names no flow of this account"))
    if errors:
        raise validation_failed(errors)
    return NewPayment(
        user_id=caller.user_id,
        session_id=session_id,
        application_id=application_id,
        thing_id=thing_id,
        gateway=_flow_gateway(flow),
        currency=body.currency,
        lines=[
            Line(
                line.product_id,
                line.quantity,
                tuple(Choice(o.question_id, o.option_id) for o in line.options),
            )
            for line in body.cart
        ],
        discount=body.discount,
        tip=body.tip,
        customer=body.customer.model_dump(mode="json") if body.customer else None,
        user_payment_id=body.user_payment_id,
    )


def _flow_gateway(flow: Flow | None) -> str:
    return gateway_of(flow.live["settings"] if flow is not None and flow.live else None)


@router.post("/v1/payments", status_code=201, response_model=PaymentOut)
async def create(
    body: PaymentCreate,
    caller: CallerDep,
    api: ApiDep,
    payments: PaymentsDep,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", max_length=255)] = None,
) -> Any:
    """Create a payment from a cart, priced from the account's products, and charge it."""
    new = await _new_payment(api, caller, body)
    async with api.store.reading() as tx:
        found = await tx.products.many(caller.user_id, [line.product_id for line in new.lines])
    key = None
    if idempotency_key:
        key = idempotency_digest(
            caller.session_id or caller.team_member_id or "owner", idempotency_key
        )
    try:
        priced = price_cart(
            new.lines,
            {row["id"]: row for row in found},
            currency=new.currency,
            discount=new.discount,
            tip=new.tip,
        )
        charged = await payments.create(new, priced, _details(body), key)
    except (GatewayError, PricingError, GatewayNotConfigured, NotPayable) as exc:
        raise _gateway_problem(exc) from None
    return json_response(_charged_out(charged).model_dump(mode="json", by_alias=True), 201)


@router.post("/v1/payments/{payment_id}/charge", response_model=PaymentOut)
async def charge(
    payment_id: str, body: PaymentCharge, caller: CallerDep, api: ApiDep, payments: PaymentsDep
) -> PaymentOut:
    """Pay a payment that was created without a charge (a hosted checkout's)."""
    await _readable(api, caller, payment_id)
    if caller.scope != "session":
        _require_payer(caller)
    try:
        charged = await payments.pay(caller.user_id, payment_id, _details(body))
    except (GatewayError, GatewayNotConfigured, NotPayable, PaymentNotFound) as exc:
        raise _gateway_problem(exc) from None
    return _charged_out(charged)


# Reading --------------------------------------------------------------------------------------


async def _readable(api: Api, caller: Caller, payment_id: str) -> Row:
    _may_read(caller)
    async with api.store.reading() as tx:
        row = (
            await Ledger(tx.conn).get(caller.user_id, payment_id) if len(payment_id) <= 40 else None
        )
    if row is None or not _visible(caller, row):
        raise _missing(payment_id)
    return row


def _utc(name: str, value: datetime) -> datetime:
    """The filter ``name``'s time in UTC, or a 422 naming it."""
    if value.tzinfo is None:
        raise validation_failed([FieldError(name, "needs a time zone, such as Z")])
    try:
        return value.astimezone(UTC)
    except OverflowError:  # the calendar's ends: 0001-01-01T00:00+14:00 has no UTC time
        raise validation_failed([FieldError(name, "has no time in UTC")]) from None


def _filters(
    caller: Caller,
    created_after: datetime | None,
    created_before: datetime | None,
    status: str | None,
    application_id: str | None,
) -> list[sa.ColumnElement[bool]]:
    t = payments_table
    where: list[sa.ColumnElement[bool]] = []
    if created_after is not None:
        where.append(t.c.created_at >= _utc("createdAfter", created_after))
    if created_before is not None:
        where.append(t.c.created_at < _utc("createdBefore", created_before))
    if status is not None:
        where.append(t.c.status == status)
    if application_id is not None:
        where.append(t.c.application_id == application_id)
    if caller.scope == "session":
        where.append(t.c.session_id == caller.session_id)
    return where


CreatedAfter = Annotated[datetime | None, Query(alias="createdAfter")]
CreatedBefore = Annotated[datetime | None, Query(alias="createdBefore")]
ApplicationFilter = Annotated[str | None, Query(alias="applicationId", max_length=40)]


@router.get("/v1/payments", response_model=None)
async def list_payments(
    caller: CallerDep,
    api: ApiDep,
    created_after: CreatedAfter = None,
    created_before: CreatedBefore = None,
    status: Status | None = None,
    application_id: ApplicationFilter = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=300)] = None,
) -> Response:
    """The account's payments (a session's own), oldest first, in cursor pages."""
    _may_read(caller)
    try:
        after = Cursor.decode(cursor) if cursor else None
    except InvalidCursor:
        raise bad_cursor() from None
    where = _filters(caller, created_after, created_before, status, application_id)
    async with api.store.reading() as tx:
        page = await Ledger(tx.conn).page(caller.user_id, limit=limit, cursor=after, where=where)
    return json_response(
        {
            "data": [payment_out(row).model_dump(mode="json", by_alias=True) for row in page.rows],
            "hasMore": page.has_more,
            "nextCursor": page.next_cursor,
        }
    )


_CSV_COLUMNS = (
    "id", "createdAt", "status", "total", "currency", "subtotal", "discount", "tip",
    "refundedTotal", "gateway", "reference", "applicationId", "thingId", "sessionId",
    "userPaymentId", "customerEmail", "customerName", "sessionPaidAt", "sessionFailedAt",
    "refundedAt",
)  # fmt: skip


def _csv_row(row: Row) -> list[Any]:
    out = payment_out(row)
    customer = out.customer or {}

    def when(value: datetime | None) -> str:
        return value.isoformat() if value else ""

    return [
        out.id, when(out.created_at), out.status, out.total, out.currency, out.subtotal,
        out.discount, out.tip, out.refunded_total, out.gateway, out.reference or "",
        out.application_id or "", out.thing_id or "", out.session_id or "",
        out.user_payment_id or "", customer.get("email") or "", customer.get("name") or "",
        when(out.session_paid_at), when(out.session_failed_at), when(out.refunded_at),
    ]  # fmt: skip


@router.get("/v1/payments/export", response_class=StreamingResponse)
async def export(
    caller: CallerDep,
    api: ApiDep,
    created_after: CreatedAfter = None,
    created_before: CreatedBefore = None,
    status: Status | None = None,
    application_id: ApplicationFilter = None,
) -> StreamingResponse:
    """Every matching payment as CSV, streamed a page at a time."""
    _may_read(caller)
    where = _filters(caller, created_after, created_before, status, application_id)

    async def rows() -> AsyncIterator[bytes]:
        after: Cursor | None = None
        chunk = io.StringIO()
        csv.writer(chunk).writerow(_CSV_COLUMNS)
        yield chunk.getvalue().encode()
        while True:
            async with api.store.reading() as tx:
                page = await Ledger(tx.conn).page(
                    caller.user_id, limit=_EXPORT_PAGE, cursor=after, where=where
                )
            chunk = io.StringIO()
            writer = csv.writer(chunk)
            for row in page.rows:
                writer.writerow(_csv_row(row))
            yield chunk.getvalue().encode()
            if not page.has_more:
                return
            last = page.rows[-1]
            after = Cursor(last["created_at"], last["id"])

    return StreamingResponse(
        rows(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="payments.csv"'},
    )


@router.get("/v1/payments/{payment_id}", response_model=PaymentOut)
async def get(payment_id: str, caller: CallerDep, api: ApiDep) -> PaymentOut:
    """One payment."""
    return payment_out(await _readable(api, caller, payment_id))


@router.post("/v1/payments/{payment_id}/refunds", status_code=201, response_model=PaymentOut)
async def refund(
    payment_id: str,
    caller: CallerDep,
    payments: PaymentsDep,
    body: RefundCreate | None = None,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", max_length=255)] = None,
) -> PaymentOut:
    """Refund part (``amount``) or all of a paid payment; never more than is left (409)."""
    _require(caller, "payments:refund")
    amount = body.amount if body is not None else None
    try:
        row = await payments.refund(caller.user_id, payment_id, amount, idempotency_key)
    except (GatewayError, GatewayNotConfigured, RefundRefused, PaymentNotFound) as exc:
        raise _gateway_problem(exc) from None
    return payment_out(row)


# Payhooks -------------------------------------------------------------------------------------


@router.post("/v2/payhook/{gateway}", include_in_schema=True)
async def payhook(gateway: str, request: Request, payments: PaymentsDep) -> Response:
    """A gateway's signed callback: the outcome of a charge or refund (no credentials)."""
    if gateway not in GATEWAY_NAMES:
        raise not_found(f"There is no payment gateway {gateway!r}.", "gateway-not-found")
    body = await request.body()
    try:
        event = await payments.verify_payhook(gateway, body, request.headers)
    except CallbackRefused as exc:
        raise bad_request(f"The payhook was refused: {exc}", "payhook-refused") from None
    except GatewayNotConfigured as exc:
        raise bad_request(f"The payhook cannot be checked: {exc.why}", "payhook-refused") from None
    if event is None:
        return json_response({"status": "ignored"})
    return json_response({"status": await payments.apply_gateway_event(event)})


# Payment settings -----------------------------------------------------------------------------


def _stripe_out(row: Row | None) -> StripeSettingsOut:
    hint = (row or {}).get("stripe_hint") or {}
    return StripeSettingsOut(
        configured=bool(row and row["stripe_keys"]),
        secret_key=hint.get("secretKey"),
        webhook_secret=hint.get("webhookSecret"),
        publishable_key=hint.get("publishableKey"),
        updated_at=row["updated_at"] if row and row["stripe_keys"] else None,
    )


def _owner_only(caller: Caller) -> None:
    caller.require_owner_side()
    if caller.principal is None or not caller.principal.is_owner or caller.scope == Scope.SERVICE:
        raise forbidden(
            "Only the account's owner manages its payment settings.", "insufficient-permission"
        )


@router.put("/v1/payment-settings/stripe", response_model=StripeSettingsOut)
async def put_stripe(body: StripeSettingsIn, caller: CallerDep, api: ApiDep) -> StripeSettingsOut:
    """Set the account's Stripe keys (stored encrypted; answered masked)."""
    _owner_only(caller)
    keys = StripeKeys(body.secret_key, body.webhook_secret, body.publishable_key)
    hint = {
        "secretKey": mask(body.secret_key),
        "webhookSecret": mask(body.webhook_secret),
        "publishableKey": body.publishable_key or None,
    }
    async with api.store.transaction() as tx:
        ledger = Ledger(tx.conn)
        sealed = seal_keys(api.settings.secret_key, keys)
        await ledger.put_settings(
            caller.user_id, {"stripe_keys": sealed, "stripe_hint": hint}, api.now()
        )
        row = await ledger.settings(caller.user_id)
    return _stripe_out(row)


@router.get("/v1/payment-settings/stripe", response_model=StripeSettingsOut)
async def get_stripe(caller: CallerDep, api: ApiDep) -> StripeSettingsOut:
    """Whether Stripe keys are set, masked."""
    _owner_only(caller)
    async with api.store.reading() as tx:
        row = await Ledger(tx.conn).settings(caller.user_id)
    return _stripe_out(row)


async def _issue_secret(api: Api, user_id: str) -> CheckoutSecretOut:
    secret = links.new_secret()
    now = api.now()
    async with api.store.transaction() as tx:
        await Ledger(tx.conn).put_settings(
            user_id,
            {
                "checkout_secret": links.seal_secret(api.settings.secret_key, secret),
                "checkout_secret_at": now,
            },
            now,
        )
    return CheckoutSecretOut(secret=secret, hint=links.hint(secret), created_at=now)


@router.get("/v1/payment-settings/checkout-secret", response_model=CheckoutSecretOut)
async def get_checkout_secret(caller: CallerDep, api: ApiDep) -> CheckoutSecretOut:
    """The secret that signs hosted-checkout links: issued (and shown) on the first call,
    afterwards only its hint."""
    _owner_only(caller)
    async with api.store.reading() as tx:
        row = await Ledger(tx.conn).settings(caller.user_id)
    if row is None or not row["checkout_secret"]:
        return await _issue_secret(api, caller.user_id)
    secret = links.open_secret(api.settings.secret_key, row["checkout_secret"])
    return CheckoutSecretOut(
        secret=None, hint=links.hint(secret), created_at=row["checkout_secret_at"]
    )


@router.post(
    "/v1/payment-settings/checkout-secret", status_code=201, response_model=CheckoutSecretOut
)
async def rotate_checkout_secret(caller: CallerDep, api: ApiDep) -> CheckoutSecretOut:
    """A new checkout signing secret, shown once; links signed with the old one stop working."""
    _owner_only(caller)
    return await _issue_secret(api, caller.user_id)


# Hosted checkout (``/go/flow/{applicationId}?total&currency&...&hash``) -----------------------


def is_checkout(request: Request) -> bool:
    """Whether a ``/go/flow`` request is a hosted checkout link (signed or not)."""
    return "hash" in request.query_params or "total" in request.query_params


async def open_checkout(request: Request, api: Api, flow: Flow) -> Response:
    """Create the link's payment (pending) and send the buyer to the flow's app to pay it.

    Raises ``CheckoutRefused`` for a link that is not whole or not signed by the merchant.
    """
    payments: Payments = request.app.state.payments
    user_id = flow.application["user_id"]
    link = links.parse_link(flow.application["id"], dict(request.query_params))
    async with api.store.reading() as tx:
        settings = await Ledger(tx.conn).settings(user_id)
    sealed = settings["checkout_secret"] if settings else None
    links.verify(link, links.open_secret(api.settings.secret_key, sealed) if sealed else None)
    now = api.now()
    session_id, set_cookie, seen = api.taps.session(
        request.cookies.get(SESSION_COOKIE), user_id, flow.application["id"], None, False, now
    )
    if seen is not None:
        await api.recorder.record(Writes(sessions=[seen]))
    live_settings: dict[str, Any] = dict(flow.live["settings"]) if flow.live else {}
    new = NewPayment(
        user_id=user_id,
        session_id=session_id,
        application_id=flow.application["id"],
        thing_id=None,
        gateway=_flow_gateway(flow),
        currency=link.currency,
        user_payment_id=link.user_payment_id,
        redirect_url=link.redirect_url,
    )
    fixed = Priced([], link.total, 0, 0, link.currency)
    try:
        charged = await payments.create(new, fixed, None)
    except GatewayNotConfigured as exc:
        raise CheckoutRefused(
            "gateway-not-configured", f"This shop cannot take payments yet: {exc.why}"
        ) from None
    destination = live_settings.get("consumerAppUrl") or api.consumer_app_url
    query = {"paymentId": charged.payment["id"], "applicationId": flow.application["id"]}
    if link.redirect_url:
        query["redirectUrl"] = link.redirect_url
    separator = "&" if "?" in destination else "?"
    response = RedirectResponse(
        with_session(f"{destination}{separator}{urlencode(query)}", session_id), status_code=302
    )
    response.headers["Cache-Control"] = "no-store"
    if set_cookie:
        set_session_cookie(response, request, session_id)
    return response

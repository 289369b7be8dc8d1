"""GATEWAY_STRIPE: PaymentIntents on the merchant's own Stripe account, with the official library.

Each merchant brings their keys (kept sealed at rest with ``seal_keys``). A charge creates and
confirms a PaymentIntent in one call, under our idempotency key, so a retried request never
charges twice. Stripe's answer is usually final; ``requires_action`` (3-D Secure) is
``pending`` and settles through the webhook at ``/v2/payhook/GATEWAY_STRIPE``, verified with
Stripe's own scheme (``Stripe-Signature: t=...,v1=...``, HMAC-SHA256 of ``t.body``, 300 s).

HTTP goes through ``StripeHttpClient``, the library's client hook implemented on httpx, whose
transport is injectable: tests replay recorded Stripe responses through it.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple, TypeGuard

import httpx
import orjson
import stripe
from stripe.params import PaymentIntentCreateParams, RefundCreateParams

from sticky.api.payments.gateways.base import (
    GATEWAY_STRIPE,
    ChargeRequest,
    ChargeResult,
    ChargeStatus,
    Decline,
    EventOutcome,
    GatewayEvent,
    PaymentGateway,
    RefundRequest,
    RefundResult,
    RefundStatus,
    header,
    parse_signature_header,
)
from sticky.api.payments.gateways.errors import (
    ForgedCallback,
    IdempotencyConflict,
    InvalidPaymentDetails,
    ProviderUnavailable,
    RefundRejected,
    StaleCallback,
)
from sticky.kernel import crypto

SIGNATURE_HEADER = "Stripe-Signature"
TOLERANCE_SECONDS = stripe.Webhook.DEFAULT_TOLERANCE
METADATA_PAYMENT_ID = "stickyPaymentId"
_KEYS_PURPOSE = "payments-stripe-keys"

_PENDING_INTENT = frozenset(
    {"requires_action", "processing", "requires_capture", "requires_confirmation"}
)
_REFUND_STATUS = {
    "succeeded": RefundStatus.SUCCEEDED,
    "pending": RefundStatus.PENDING,
    "requires_action": RefundStatus.PENDING,
    "failed": RefundStatus.FAILED,
    "canceled": RefundStatus.FAILED,
}


@dataclass(frozen=True, slots=True)
class StripeKeys:
    """A merchant's Stripe credentials: the secret API key and the webhook signing secret."""

    secret_key: str = field(repr=False)
    webhook_secret: str = field(repr=False)
    publishable_key: str = ""


def seal_keys(secret_key: str, keys: StripeKeys) -> str:
    """The keys encrypted for storage, with a key derived from ``STICKY_SECRET_KEY``."""
    plain = orjson.dumps(
        {
            "secretKey": keys.secret_key,
            "webhookSecret": keys.webhook_secret,
            "publishableKey": keys.publishable_key,
        }
    )
    return crypto.encrypt(secret_key, _KEYS_PURPOSE, plain)


def open_keys(secret_key: str, sealed: str) -> StripeKeys:
    """The keys ``seal_keys`` sealed; ``crypto.DecryptionError`` under another secret key."""
    plain = orjson.loads(crypto.decrypt(secret_key, _KEYS_PURPOSE, sealed))
    return StripeKeys(plain["secretKey"], plain["webhookSecret"], plain["publishableKey"])


class StripeHttpClient(stripe.HTTPClient):
    """Stripe's HTTP client hook on an ``httpx.AsyncClient`` (async only). Share one per process
    and ``await close_async()`` at shutdown."""

    name = "sticky-httpx"

    def __init__(
        self, *, transport: httpx.AsyncBaseTransport | None = None, timeout: float = 30.0
    ) -> None:
        super().__init__()
        self._http = httpx.AsyncClient(transport=transport, timeout=timeout)

    async def request_async(
        self, method: str, url: str, headers: Mapping[str, str], post_data: Any = None
    ) -> tuple[bytes, int, Mapping[str, str]]:
        try:
            response = await self._http.request(method, url, headers=headers, content=post_data)
        except httpx.HTTPError as exc:
            # should_retry lets the library retry (with the same idempotency key). The
            # library leaves this constructor unannotated.
            raise stripe.APIConnectionError(  # type: ignore[no-untyped-call]
                f"could not reach Stripe ({type(exc).__name__})", should_retry=True
            ) from exc
        return response.content, response.status_code, response.headers

    def sleep_async(self, secs: float) -> Awaitable[None]:
        return asyncio.sleep(secs)

    async def close_async(self) -> None:
        await self._http.aclose()


class StripeGateway(PaymentGateway):
    """One merchant's Stripe account: cheap to build per request around a shared client."""

    name = GATEWAY_STRIPE

    def __init__(
        self,
        keys: StripeKeys,
        http_client: stripe.HTTPClient,
        *,
        max_network_retries: int = 2,
        api_base: str | None = None,
    ) -> None:
        self._keys = keys
        self._client = stripe.StripeClient(
            keys.secret_key,
            http_client=http_client,
            max_network_retries=max_network_retries,
            base_addresses={"api": api_base} if api_base else None,
        )

    async def charge(self, request: ChargeRequest) -> ChargeResult:
        request.check()
        if not request.payment_method:
            raise InvalidPaymentDetails("paymentMethod", "Stripe charges a PaymentMethod (pm_...)")
        params: PaymentIntentCreateParams = {
            "amount": request.amount,
            "currency": request.currency.lower(),
            "payment_method": request.payment_method,
            "allowed_payment_method_types": ["card"],
            "confirm": True,
            "metadata": {METADATA_PAYMENT_ID: request.payment_id},
        }
        if request.description:
            params["description"] = request.description
        if request.return_url:
            params["return_url"] = request.return_url
        try:
            intent = await self._client.v1.payment_intents.create_async(
                params, {"idempotency_key": request.idempotency_key}
            )
        except stripe.CardError as exc:
            return _declined(exc)
        except stripe.IdempotencyError as exc:
            raise IdempotencyConflict(request.idempotency_key) from exc
        except stripe.InvalidRequestError as exc:
            raise InvalidPaymentDetails(
                _camel(exc.param or "payment_method"), exc.user_message or "refused by Stripe"
            ) from exc
        except stripe.StripeError as exc:
            raise ProviderUnavailable(f"Stripe: {exc.user_message or type(exc).__name__}") from exc
        if intent.status == "succeeded":
            return ChargeResult(ChargeStatus.SUCCEEDED, intent.id)
        if intent.status in _PENDING_INTENT:
            redirect = intent.next_action.redirect_to_url if intent.next_action else None
            return ChargeResult(
                ChargeStatus.PENDING,
                intent.id,
                action_url=redirect.url if redirect else None,
                client_secret=intent.client_secret,
            )
        error = intent.last_payment_error
        code = (error.decline_code or error.code) if error else None
        message = error.message if error else None
        decline = Decline(code or intent.status, message or f"The payment is {intent.status}.")
        return ChargeResult(ChargeStatus.DECLINED, intent.id, decline=decline)

    async def refund(self, request: RefundRequest) -> RefundResult:
        request.check()
        params: RefundCreateParams = {
            "payment_intent": request.reference,
            "amount": request.amount,
            "metadata": {METADATA_PAYMENT_ID: request.payment_id},
        }
        try:
            refund = await self._client.v1.refunds.create_async(
                params, {"idempotency_key": request.idempotency_key}
            )
        except stripe.IdempotencyError as exc:
            raise IdempotencyConflict(request.idempotency_key) from exc
        except stripe.InvalidRequestError as exc:
            raise RefundRejected(request.reference, exc.user_message or "refused") from exc
        except stripe.StripeError as exc:
            raise ProviderUnavailable(f"Stripe: {exc.user_message or type(exc).__name__}") from exc
        status = _REFUND_STATUS.get(refund.status or "pending", RefundStatus.PENDING)
        return RefundResult(status, refund.id, refund.amount)

    def verify_callback(
        self, body: bytes, headers: Mapping[str, str], now: float
    ) -> GatewayEvent | None:
        value = header(headers, SIGNATURE_HEADER)
        try:
            timestamp, _ = parse_signature_header(value or "")
            # The library checks the signature; the tolerance we check against our clock.
            stripe.WebhookSignature.verify_header(body, value, self._keys.webhook_secret, None)
        except (ValueError, stripe.SignatureVerificationError) as exc:
            raise ForgedCallback(f"not signed with this merchant's Stripe secret: {exc}") from exc
        if abs(now - timestamp) > TOLERANCE_SECONDS:
            raise StaleCallback(timestamp, now, TOLERANCE_SECONDS)
        try:
            return _event(orjson.loads(body))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ForgedCallback("a signed body that is not a Stripe event") from exc


class Claims(NamedTuple):
    """What a payhook *claims* to be about, read before any verification: its PaymentIntent
    and the Sticky payment in its metadata (for a webhook that outran the charge's own
    answer). Only to find whose webhook secret to verify it with; nothing here is believed."""

    reference: str | None
    payment_id: str | None


def peek_claims(body: bytes) -> Claims:
    try:
        obj = orjson.loads(body)["data"]["object"]
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return Claims(None, None)
    if not isinstance(obj, dict):
        return Claims(None, None)
    is_intent = obj.get("object") == "payment_intent"
    reference = obj.get("id") if is_intent else obj.get("payment_intent")
    metadata = obj.get("metadata")
    claimed = metadata.get(METADATA_PAYMENT_ID) if isinstance(metadata, dict) else None
    return Claims(
        reference if _looks_like_id(reference) else None,
        claimed if _looks_like_id(claimed) else None,
    )


def _looks_like_id(value: object) -> TypeGuard[str]:
    """An id as Stripe and Sticky make them; anything else (a NUL, a megabyte) is never
    looked up: the body is not verified yet."""
    return isinstance(value, str) and _ID.fullmatch(value) is not None


_ID = re.compile(r"[A-Za-z0-9_]{1,64}")


def _event(event: dict[str, Any]) -> GatewayEvent | None:
    kind = event["type"]
    obj = event["data"]["object"]
    metadata = obj.get("metadata") or {}
    common: dict[str, Any] = {
        "gateway": GATEWAY_STRIPE,
        "event_id": str(event["id"]),
        "payment_id": metadata.get(METADATA_PAYMENT_ID),
        "currency": str(obj["currency"]).upper(),
        "created": int(event["created"]),
    }
    if kind == "payment_intent.succeeded":
        return GatewayEvent(
            outcome=EventOutcome.SUCCEEDED,
            reference=str(obj["id"]),
            amount=int(obj["amount_received"] or obj["amount"]),
            **common,
        )
    if kind == "payment_intent.payment_failed":
        error = obj.get("last_payment_error") or {}
        code = error.get("decline_code") or error.get("code") or "payment_failed"
        message = error.get("message") or "The payment failed."
        return GatewayEvent(
            outcome=EventOutcome.FAILED,
            reference=str(obj["id"]),
            amount=int(obj["amount"]),
            decline=Decline(str(code), str(message)),
            **common,
        )
    if kind == "charge.refunded" and obj.get("payment_intent"):
        return GatewayEvent(
            outcome=EventOutcome.REFUNDED,
            reference=str(obj["payment_intent"]),
            amount=int(obj["amount_refunded"]),
            **common,
        )
    return None


def _declined(exc: stripe.CardError) -> ChargeResult:
    error = exc.error
    code = (error.decline_code if error else None) or exc.code or "card_declined"
    intent = error.payment_intent if error else None
    decline = Decline(code, exc.user_message or "Your card was declined.")
    return ChargeResult(ChargeStatus.DECLINED, intent.id if intent else "", decline=decline)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)

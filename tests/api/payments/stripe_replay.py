"""Stripe's API, replayed from recordings: Stripe's servers are outside this network.

Plugged in below the official library, as the httpx transport of ``StripeHttpClient`` (the
library's own HTTP client hook), so everything above it (encoding, headers, retries, error
classes) is the real library. It keeps what Stripe keeps: an idempotency key answers the
same response again, and reused with other parameters is an ``idempotency_error``.

``StripeReplay`` answers only the very requests recorded; ``AdaptingStripeReplay`` adapts a
recording to each request, for callers (the api) whose payment ids and prices are their own.
"""

from __future__ import annotations

import copy
import json
import secrets
import string
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx

RECORDED = Path(__file__).parent / "recorded"
MERCHANT_KEY = "sk_test_sticky_merchant_a"
WEBHOOK_SECRET = "whsec_sticky_test_merchant_a"


def recorded(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((RECORDED / name).read_text())
    return data


@dataclass
class Seen:
    method: str
    path: str
    headers: httpx.Headers
    params: dict[str, str]
    replayed: bool = False


@dataclass
class StripeReplay:
    recordings: list[str]
    api_key: str = MERCHANT_KEY
    seen: list[Seen] = field(default_factory=list)
    unmatched: list[str] = field(default_factory=list)
    fail_first: int = 0  # connection failures before the first answer
    failed_keys: list[str | None] = field(default_factory=list)
    _by_key: dict[str, tuple[Seen, httpx.Response]] = field(default_factory=dict)

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.answer)

    def created(self, path: str) -> int:
        """How many objects the account really created at ``path`` (replays excluded)."""
        return sum(1 for s in self.seen if s.path == path and not s.replayed)

    def answer(self, request: httpx.Request) -> httpx.Response:
        """Stripe's answer to ``request``, as its API would give it."""
        if self.fail_first > 0:
            self.fail_first -= 1
            self.failed_keys.append(request.headers.get("Idempotency-Key"))
            raise httpx.ConnectError("connection refused", request=request)
        seen = Seen(
            request.method,
            request.url.path,
            request.headers,
            dict(parse_qsl(request.content.decode(), keep_blank_values=True)),
        )
        self.seen.append(seen)
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return _response(recorded("unauthorized.json")["response"])
        key = request.headers.get("Idempotency-Key")
        if key and key in self._by_key:
            first, response = self._by_key[key]
            seen.replayed = True
            if (first.path, first.params) != (seen.path, seen.params):
                return httpx.Response(400, json=_idempotency_error(key))
            headers = {**response.headers, "Idempotent-Replayed": "true"}
            return httpx.Response(response.status_code, headers=headers, content=response.content)
        response = self._match(seen)
        if key:
            self._by_key[key] = (seen, response)
        return response

    def _match(self, seen: Seen) -> httpx.Response:
        for name in self.recordings:
            wanted = recorded(name)["request"]
            if (wanted["method"], wanted["path"]) == (seen.method, seen.path) and wanted[
                "params"
            ] == seen.params:
                return _response(recorded(name)["response"])
        self.unmatched.append(f"{seen.method} {seen.path} {seen.params}")
        error = {"type": "invalid_request_error", "message": f"no recording for {seen.params}"}
        return httpx.Response(400, json={"error": error})


@dataclass
class AdaptingStripeReplay(StripeReplay):
    """Recordings answered as Stripe would answer this request rather than the recorded one.

    A recording is chosen by method, path and PaymentMethod (what decides Stripe's answer:
    ``pm_card_visa`` pays, ``pm_card_chargeDeclined`` is declined). A PaymentIntent answered
    carries the request's amount, currency, description and metadata under a fresh ``pi_`` id,
    one per new idempotency key (a repeated key still answers the first response); a refund
    carries the request's amount and PaymentIntent. ``intents`` holds what the account holds.
    """

    intents: dict[str, dict[str, Any]] = field(default_factory=dict)
    refunds: dict[str, dict[str, Any]] = field(default_factory=dict)

    def event(self, name: str, intent_id: str) -> dict[str, Any]:
        """The recorded webhook event ``name`` as Stripe would send it now about ``intent_id``
        (its PaymentIntent moved on to the event's state)."""
        event = recorded(name)
        obj = event["data"]["object"]
        assert obj["object"] == "payment_intent", f"{name} is not about a PaymentIntent"
        intent = self.intents[intent_id]
        for key in ("id", "amount", "currency", "description", "metadata", "client_secret"):
            obj[key] = intent[key]
        obj["amount_received"] = intent["amount"] if obj["amount_received"] else 0
        if obj["latest_charge"]:
            obj["latest_charge"] = intent["latest_charge"] or _fresh("ch")
        self.intents[intent_id] = copy.deepcopy(obj)
        event["id"] = _fresh("evt")
        event["created"] = int(time.time())
        return event

    def _match(self, seen: Seen) -> httpx.Response:
        asked = (seen.method, seen.path, seen.params.get("payment_method"))
        for name in self.recordings:
            wanted = recorded(name)["request"]
            if (wanted["method"], wanted["path"], wanted["params"].get("payment_method")) == asked:
                response = recorded(name)["response"]
                body = response["body"]
                if seen.path == "/v1/payment_intents":
                    body = self._adapt_intent(body, seen.params)
                elif body.get("object") == "refund":
                    body = self._adapt_refund(body, seen.params)
                return _response({**response, "body": body})
        return super()._match(seen)

    def _adapt_intent(self, body: dict[str, Any], params: dict[str, str]) -> dict[str, Any]:
        old = body.get("error", {}).get("payment_intent") or body
        text = json.dumps(body).replace(old["id"], _fresh("pi"))
        if old["latest_charge"]:
            text = text.replace(old["latest_charge"], _fresh("ch"))
        body = json.loads(text)
        intent = body.get("error", {}).get("payment_intent") or body
        amount = int(params["amount"])
        intent["amount"] = amount
        intent["amount_received"] = amount if intent["amount_received"] else 0
        intent["currency"] = params["currency"]
        intent["description"] = params.get("description")
        intent["metadata"] = _metadata(params)
        redirect = (intent["next_action"] or {}).get("redirect_to_url")
        if redirect:
            redirect["return_url"] = params.get("return_url")
        self.intents[intent["id"]] = copy.deepcopy(intent)
        return body

    def _adapt_refund(self, body: dict[str, Any], params: dict[str, str]) -> dict[str, Any]:
        refund = copy.deepcopy(body)
        intent = self.intents.get(params["payment_intent"], {})
        refund["id"] = _fresh("re")
        refund["amount"] = int(params["amount"])
        refund["payment_intent"] = params["payment_intent"]
        refund["charge"] = intent.get("latest_charge") or refund["charge"]
        refund["currency"] = intent.get("currency", refund["currency"])
        refund["metadata"] = _metadata(params)
        refund["created"] = int(time.time())
        self.refunds[refund["id"]] = refund
        return refund


def _fresh(prefix: str) -> str:
    """A new Stripe-looking id (``pi_3Rk...``): 24 characters of base62 after the prefix."""
    alphabet = string.ascii_letters + string.digits
    return f"{prefix}_3Rk" + "".join(secrets.choice(alphabet) for _ in range(21))


def _metadata(params: dict[str, str]) -> dict[str, str]:
    """``metadata[key]=value`` form fields, as the object Stripe stores."""
    return {
        name[len("metadata[") : -1]: value
        for name, value in params.items()
        if name.startswith("metadata[") and name.endswith("]")
    }


def _response(recording: dict[str, Any]) -> httpx.Response:
    return httpx.Response(
        recording["status"],
        headers=recording["headers"],
        content=json.dumps(recording["body"]).encode(),
    )


def _idempotency_error(key: str) -> dict[str, Any]:
    return {
        "error": {
            "message": (
                "Keys for idempotent requests can only be used with the same parameters they "
                f"were first used with. Try using a key other than '{key}' if you meant to "
                "execute a different request."
            ),
            "type": "idempotency_error",
        }
    }

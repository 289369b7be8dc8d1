"""Stripe's API, replayed from recordings: Stripe's servers are outside this network.

Plugged in below the official library, as the httpx transport of ``StripeHttpClient`` (the
library's own HTTP client hook), so everything above it (encoding, headers, retries, error
classes) is the real library. It keeps what Stripe keeps: an idempotency key answers the
same response again, and reused with other parameters is an ``idempotency_error``.
"""

from __future__ import annotations

import json
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
        return httpx.MockTransport(self._handle)

    def created(self, path: str) -> int:
        """How many objects the account really created at ``path`` (replays excluded)."""
        return sum(1 for s in self.seen if s.path == path and not s.replayed)

    def _handle(self, request: httpx.Request) -> httpx.Response:
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
